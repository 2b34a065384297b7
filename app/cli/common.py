"""What every ``kbx`` command shares: the context (settings, engine, registry, deps) and the
way a command fails (one line on stderr, an exit code)."""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy import Engine, select

from app.flows.deps import ExportDeps
from app.registry import Registry, load_registry
from app.settings import Settings
from app.store.db import make_engine, transaction
from app.store.users import Role
from app.wiring import StartupError, build_deps
from exchange.models import User
from exchange.protocols import DefinitionError, ProtocolDefinition
from exchange.shown import shown

EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_REFUSED = 3


@dataclass
class Context:
    settings: Settings
    _engine: Engine | None = None
    _registry: Registry | None = field(default=None)
    _deps: ExportDeps | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings)
        return self._engine

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            try:
                self._registry = load_registry(self.settings.protocols_dir)
            except DefinitionError as exc:
                fail(f"protocol definitions refused: {exc}", code=1)
        return self._registry

    @property
    def deps(self) -> ExportDeps:
        if self._deps is None:
            try:
                self._deps = build_deps(self.settings, self.registry)
            except StartupError as exc:
                fail(str(exc), code=EXIT_INTERNAL)
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
            fail(f"unknown protocol '{shown(protocol_id)}' (known: {known})")
        return definition


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    typer.echo(f"kbx: {message}", err=True)
    raise typer.Exit(code)


def ctx_of(ctx: typer.Context) -> Context:
    obj = ctx.obj
    assert isinstance(obj, Context)
    return obj


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def configure_logging() -> None:
    """For the long-running commands: kbx's own lines at INFO (they carry ids, never personal
    data), third parties at WARNING."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kbx").setLevel(logging.INFO)


def staff(c: Context, name: str, roles: set[Role], action: str) -> str:
    """The named active staff member, if their role allows ``action``; else exit 2 saying why."""
    with transaction(c.engine) as session:
        user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
        role = None if user is None else Role(user.role)
    if role is None:
        fail(f"unknown user '{name}'")
    if role not in roles:
        fail(f"user '{name}' ({role.value}) may not {action}")
    return name
