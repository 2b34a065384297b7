"""``kbx agreements``: signatures, accessions and the agencies' own parties, with their lifecycle.

``list`` and ``show`` read; ``notice``, ``suspend``, ``resume``, ``end`` and ``withdraw`` propose a
transition that takes effect once another person approves it (``kbx recipients changes approve
N --by OTHER``), as every change to a recipient does (``app.flows.agreements``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.changes import By, propose_change
from app.cli.common import JsonOpt, ctx_of, emit_json
from app.cli.common import recipient_id as resolve_recipient

if TYPE_CHECKING:
    from app.flows.agreements import AgreementView

__all__ = ["agreements_app", "describe"]

agreements_app = typer.Typer(no_args_is_help=True, help="Overeenkomsten en hun levensloop")

Protocol = Annotated[str, typer.Argument(metavar="PROTOCOL", help="e.g. art20-municipal")]
RecipientOpt = Annotated[str, typer.Option("--recipient", help="NIS code, agency id or name")]
OnOpt = Annotated[
    datetime | None,
    typer.Option("--on", formats=["%Y-%m-%d"], help="YYYY-MM-DD; takes effect on (default today)"),
]
ReasonOpt = Annotated[str | None, typer.Option(help="Why (no personal data)")]
ArticleOpt = Annotated[str | None, typer.Option(help='The article it rests on, e.g. "Art. 8"')]
# A suspension, its lifting and an end at once always say why and on which article.
Reason = Annotated[str, typer.Option(help="Why (no personal data)")]
Article = Annotated[str, typer.Option(help='The article it rests on, e.g. "Art. 8"')]


def describe(v: AgreementView) -> str:
    """One agreement on one line, in Dutch: state and dates."""
    line = f"{v.kind} ondertekend {v.signed_on}"
    if v.in_force_on:
        line += f", in werking {v.in_force_on}"
    if v.cadence:
        line += f", ceremonie {v.cadence}"
    line += f": {v.state_nl}"
    if v.notice_on:
        line += f" (opgezegd op {v.notice_on})"
    if v.ends_on:
        line += f", einde {v.ends_on}"
    if v.suspended_on:
        line += f", geschorst sinds {v.suspended_on} [{v.suspension_article}]"
    if v.approved_by:
        line += f"; vastgelegd door {v.recorded_by}, goedgekeurd door {v.approved_by}"
    return line


@agreements_app.command("list")
def agreements_list(
    ctx: typer.Context,
    protocol: Annotated[str | None, typer.Option(help="Only this protocol")] = None,
    recipient: Annotated[str | None, typer.Option(help="Only this recipient")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every agreement with its state today: signatures, accessions, the agencies' parties."""
    from app.flows.agreements import list_agreements

    c = ctx_of(ctx)
    wanted = resolve_recipient(c, recipient) if recipient else None
    rows = list_agreements(
        c.engine, c.registry, c.settings.current_date(), protocol_id=protocol, recipient_id=wanted
    )
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    from app.cli import render

    render.agreement_rows(rows, describe)


@agreements_app.command("show")
def agreements_show(
    ctx: typer.Context, protocol: Protocol, recipient: RecipientOpt, as_json: JsonOpt = False
) -> None:
    """One agreement in full: dates, state, notice, end, suspension, who recorded it."""
    from app.flows.agreements import find

    c = ctx_of(ctx)
    view = find(
        c.engine,
        c.registry,
        c.settings.current_date(),
        protocol,
        resolve_recipient(c, recipient),
    )
    if as_json:
        emit_json(asdict(view))
        return
    lines = [
        f"{view.protocol_id} - {view.recipient_name} ({view.recipient_id})",
        f"Soort: {view.kind} (bron: {view.source})",
        f"Toestand: {view.state_nl} ({view.state})",
        f"Ondertekend: {view.signed_on}; in werking: {view.in_force_on or view.signed_on}",
        f"Document: {view.document_ref or '-'}",
    ]
    if view.cadence:
        lines.append(f"Ceremonie: {view.cadence}")
    if view.notice_on:
        lines.append(f"Opgezegd op {view.notice_on}")
    if view.ends_on:
        lines.append(f"Einde: {view.ends_on} ({view.end_kind}) [{view.end_article}]")
        if view.end_reason:
            lines.append(f"  reden: {view.end_reason}")
    if view.suspended_on:
        lines.append(f"Geschorst sinds {view.suspended_on} [{view.suspension_article}]")
        lines.append(f"  reden: {view.suspension_reason}")
    if view.recorded_by:
        lines.append(f"Voorgesteld door {view.recorded_by}, goedgekeurd door {view.approved_by}")
    typer.echo("\n".join(lines))


def _propose(
    ctx: typer.Context,
    transition: str,
    protocol: str,
    recipient: str,
    on: datetime | None,
    reason: str | None,
    article: str | None,
    by: str,
) -> None:
    from exchange.recipient_changes import ChangeKind

    c = ctx_of(ctx)
    payload = {
        "protocol": c.definition(protocol).id,
        "transition": transition,
        "on": on.date().isoformat() if on else None,
        "reason": reason,
        "article": article,
    }
    propose_change(c, ChangeKind.AGREEMENT_STATE, recipient, payload, by)


@agreements_app.command("notice")
def agreements_notice(
    ctx: typer.Context,
    protocol: Protocol,
    recipient: RecipientOpt,
    by: By,
    on: OnOpt = None,
    reason: ReasonOpt = None,
    article: ArticleOpt = None,
) -> None:
    """Propose notice: the agreement ends on the notice date + the protocol's notice period
    (seed 000 art. 12: 12 months; seed 004 art. 12: 3 months)."""
    _propose(ctx, "notice", protocol, recipient, on, reason, article, by)


@agreements_app.command("suspend")
def agreements_suspend(
    ctx: typer.Context,
    protocol: Protocol,
    recipient: RecipientOpt,
    reason: Reason,
    article: Article,
    by: By,
    on: OnOpt = None,
) -> None:
    """Propose a suspension (seed 000 art. 8): no list while it lasts."""
    _propose(ctx, "suspend", protocol, recipient, on, reason, article, by)


@agreements_app.command("resume")
def agreements_resume(
    ctx: typer.Context,
    protocol: Protocol,
    recipient: RecipientOpt,
    reason: Reason,
    article: Article,
    by: By,
    on: OnOpt = None,
) -> None:
    """Propose to lift a suspension."""
    _propose(ctx, "resume", protocol, recipient, on, reason, article, by)


@agreements_app.command("end")
def agreements_end(
    ctx: typer.Context,
    protocol: Protocol,
    recipient: RecipientOpt,
    reason: Reason,
    article: Article,
    by: By,
    on: OnOpt = None,
) -> None:
    """Propose to end the agreement at once (seed 000 art. 8: on a breach, by simple
    notification); no list from that day on."""
    _propose(ctx, "end", protocol, recipient, on, reason, article, by)


@agreements_app.command("withdraw")
def agreements_withdraw(
    ctx: typer.Context,
    protocol: Protocol,
    recipient: RecipientOpt,
    by: By,
    on: OnOpt = None,
    reason: ReasonOpt = None,
    article: ArticleOpt = None,
) -> None:
    """Propose that a municipality withdraws its accession; no list from that day on."""
    _propose(ctx, "withdraw", protocol, recipient, on, reason, article, by)
