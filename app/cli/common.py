"""What every ``kbx`` command shares: the context (settings, engine, registry, deps) and the
way a command fails (one line on stderr, an exit code).

This module is imported by every command module, and click runs the root callback that makes
the context even for ``kbx export list --help``: it imports only typer and the standard library
at its top. Settings, the engine, the registry and the deps are made on first use.
"""

from __future__ import annotations

import getpass
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from exchange.shown import shown_nl

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.flows.deps import ExportDeps
    from app.flows.roles import Action
    from app.registry import Registry
    from app.settings import Settings
    from exchange.protocols import ProtocolDefinition

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_REFUSED",
    "Context",
    "DateOpt",
    "JsonOpt",
    "RequestRefOpt",
    "RequestedOnOpt",
    "configure_logging",
    "ctx_of",
    "emit_json",
    "fail",
    "recipient_id",
    "staff",
]

EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_REFUSED = 3


class Context:
    """One command's settings, engine, protocol registry and deps, each made when first asked
    for. Bad settings or a malformed protocol definition end the command with exit 1 and one
    line on stderr."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._registry: Registry | None = None
        self._deps: ExportDeps | None = None
        # Only `kbx db upgrade` makes a database; every other command refuses to start on a
        # missing SQLite file rather than leave an empty one behind.
        self.may_create_database = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from pydantic import ValidationError

            from app.settings import Settings

            try:
                self._settings = Settings()
            except ValidationError as exc:
                # Each error names its variable and says what is wrong, never the value given
                # (it may be a key).
                errors = "; ".join(
                    f"KBX_{'_'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
                    if e["loc"]
                    else str(e["msg"])
                    for e in exc.errors(include_input=False)
                )
                fail(f"instellingen geweigerd: {errors} [settings.invalid]", code=EXIT_INTERNAL)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from app.store.db import make_engine, not_migrated

            settings = self.settings
            file = settings.default_database_file
            if file is not None and not file.exists() and not self.may_create_database:
                raise not_migrated()
            self._engine = make_engine(settings)
        return self._engine

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from app.registry import load_registry
            from exchange.protocols import DefinitionError

            try:
                self._registry = load_registry(self.settings.protocols_dir)
            except DefinitionError as exc:
                fail(f"protocoldefinities geweigerd: {exc}", code=EXIT_INTERNAL)
        return self._registry

    @property
    def deps(self) -> ExportDeps:
        if self._deps is None:
            from app.wiring import StartupError, build_deps

            try:
                self._deps = build_deps(self.settings, self.registry)
            except StartupError as exc:
                fail(f"kbx kan niet starten: {exc}", code=EXIT_INTERNAL)
        return self._deps

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def actor(self) -> str:
        # The CLI runs on AgII's admin host; staff accounts and four-eyes come with the API.
        return f"cli:{getpass.getuser()}"

    def now(self) -> datetime:
        return self.settings.now()

    def definition(self, protocol_id: str) -> ProtocolDefinition:
        definition = self.registry.get(protocol_id)
        if definition is None:
            known = ", ".join(d.id for d in self.registry)
            fail(f"onbekend protocol '{shown_nl(protocol_id)}' (bekend: {known})")
        return definition


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    typer.echo(f"kbx: {message}", err=True)
    raise typer.Exit(code)


def ctx_of(ctx: typer.Context) -> Context:
    obj = ctx.obj
    assert isinstance(obj, Context)
    return obj


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON: dataclasses as objects, every datetime ISO 8601 in Brussels time
    with its offset (a naive one from SQLite is UTC), dates ISO 8601 (``app.cli.render``)."""
    from app.cli.render import as_json

    typer.echo(as_json(data))


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]
RequestedOnOpt = Annotated[
    datetime | None,
    typer.Option(
        "--requested-on",
        formats=["%Y-%m-%d"],
        help="art20-municipal: the day the municipality asked for its list (YYYY-MM-DD)",
    ),
]
RequestRefOpt = Annotated[
    str | None,
    typer.Option(
        "--request-ref", help="art20-municipal: the municipality's reference of its request"
    ),
]


def configure_logging() -> None:
    """For the long-running commands: kbx's own lines at INFO (they carry ids, never personal
    data), third parties at WARNING."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kbx").setLevel(logging.INFO)


def recipient_id(c: Context, text: str) -> str:
    """The id of the recipient named by ``text``: a NIS code or agency id, or a name in any case
    (``Gent``, ``sint-niklaas``). An unknown or ambiguous name ends the command with exit 2 and
    the closest names with their codes (``app.store.recipients.resolve``)."""
    from app.store.db import transaction
    from app.store.recipients import resolve

    with transaction(c.engine) as session:
        return resolve(session, text).id


def staff(c: Context, name: str, action: Action) -> str:
    """The named active staff member, if the role table (``app.flows.roles``) lets their role
    do ``action``. Raises ``NotFound`` (``user.unknown``) or ``RoleRefused`` (``auth.role``):
    exit 2 and one line with the code, as every error of the project's own."""
    from app.errors import NotFound
    from app.flows.roles import require
    from app.store.db import transaction
    from app.store.users import find_user

    with transaction(c.engine) as session:
        user = find_user(session, name)
        role = None if user is None else user.role
    if role is None:
        raise NotFound("user.unknown", f"unknown user '{name}'", f"onbekende gebruiker '{name}'")
    require(name, role, action)
    return name
