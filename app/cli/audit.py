"""``kbx audit``: the hash chain of the audit trail."""

from __future__ import annotations

import typer

from app.cli.common import ctx_of, fail

__all__ = ["EXIT_TAMPERED", "audit_app"]

EXIT_TAMPERED = 4

audit_app = typer.Typer(no_args_is_help=True, help="Audittrail")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Walk the hash chain; exit 4 naming the first broken link if any event was edited, deleted
    or reordered."""
    from app.store.audit import read_chain
    from app.store.db import transaction
    from exchange.audit import verify_chain

    with transaction(ctx_of(ctx).engine) as session:
        report = verify_chain(read_chain(session))
    if report.broken is not None:
        fail(f"audit trail broken at {report.broken}", code=EXIT_TAMPERED)
    typer.echo(f"audit trail intact: {report.events} event(s), head {report.head}")
