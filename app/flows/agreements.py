"""Agreements as records with a lifecycle: what a proposal to record or change one must satisfy,
what approving it does, and the read side (``kbx agreements``, ``/api/v1/agreements``,
``kbx protocols show``, ``kbx recipients show``).

Every agreement and every transition goes through four eyes (DESIGN invariant 8), as every other
recipient setting does: one staff member proposes (``app.flows.recipient_changes.propose``, a
``PendingChange`` of kind ``agreement`` or ``agreement_state``), another approves
(``app.flows.recipient_changes.decide``), and only then does ``apply`` write it, with its audit
event (actor: the approver; the proposer is in the details). The rules of the lifecycle itself
are pure and live in ``exchange.agreements``; the policy engine reads the result
(``exchange.policy``).

Agreements the definitions themselves name (Lommel's signed instance of ``art20-municipal``,
Mechelen's of ``mechelen-amif507``, the agencies that are parties to ``vdab-pillar3`` and
``vsb-care``) are listed from the definition until a transition concerns them; the approved
transition then records them (``source`` becomes ``record``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.store.audit import record
from app.store.db import aware, reading
from app.store.recipients import add_agreement, agreement_kind, get_recipient
from exchange.agreements import (
    Agreement,
    AgreementState,
    Cadence,
    EndKind,
    Transition,
    TransitionProblem,
    check_transition,
    state_nl,
    transition_updates,
)
from exchange.clock import BRUSSELS
from exchange.free_text import may_hold_national_number
from exchange.models import Agreement as AgreementRow
from exchange.models import Recipient
from exchange.protocols import CertificateWithinLookback, ProtocolDefinition, RecipientRequirement
from exchange.recipient_changes import ChangeKind, Checked
from exchange.shown import shown

if TYPE_CHECKING:
    from app.registry import Registry

__all__ = [
    "AGREEMENT_KINDS",
    "TRANSITION_CODES",
    "AgreementView",
    "TransitionRefused",
    "apply",
    "check_proposal",
    "find",
    "list_agreements",
    "views",
]

AGREEMENT_KINDS = frozenset({ChangeKind.AGREEMENT, ChangeKind.AGREEMENT_STATE})

_KIND_NL = {"signature": "ondertekening", "accession": "toetreding", "party": "partij"}
_TRANSITION_NL = {
    "notice": "opzegging",
    "suspend": "schorsing",
    "resume": "hervatting",
    "end": "beëindiging",
    "withdraw": "intrekking",
}
_CADENCE_NL = {"yearly": "jaarlijkse", "two-yearly": "tweejaarlijkse"}


def _nl_day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


_TEXT_MAX = 200


class TransitionRefused(Conflict):
    """A transition the lifecycle does not allow (``exchange.agreements.check_transition``); the
    code is the problem's (``TRANSITION_CODES``), HTTP 409, CLI exit 2."""

    def __init__(self, problem: TransitionProblem) -> None:
        super().__init__(
            f"agreement.{problem.code.removeprefix('agreement.')}", problem.en, problem.nl
        )


# Every code ``TransitionRefused`` can carry (the API documents them).
TRANSITION_CODES = (
    "agreement.future_date",
    "agreement.before_signature",
    "agreement.ended",
    "agreement.no_notice_period",
    "agreement.notice_given",
    "agreement.not_accession",
    "agreement.suspended",
    "agreement.not_suspended",
    "agreement.before_suspension",
)


@dataclass(frozen=True)
class AgreementView:
    """One agreement as staff see it; ``state`` on ``today`` (``exchange.agreements``).
    ``source`` is ``record`` (in the database) or ``definition`` (named by the protocol file)."""

    protocol_id: str
    recipient_id: str
    recipient_name: str
    kind: str
    source: str
    state: str
    state_nl: str
    signed_on: date
    in_force_on: date | None
    document_ref: str | None
    cadence: str | None
    notice_on: date | None
    ends_on: date | None
    end_kind: str | None
    end_reason: str | None
    end_article: str | None
    suspended_on: date | None
    suspension_reason: str | None
    suspension_article: str | None
    recorded_by: str | None
    approved_by: str | None
    recorded_at: datetime | None


def _domain(row: AgreementRow) -> Agreement:
    return Agreement(
        row.protocol_id,
        agreement_kind(row.kind),
        row.signed_on,
        row.in_force_on,
        Cadence(row.cadence) if row.cadence else None,
        row.notice_on,
        row.ends_on,
        EndKind(row.end_kind) if row.end_kind else None,
        row.end_article,
        row.suspended_on,
        row.suspension_article,
    )


def _view(
    row: AgreementRow, name: str, source: str, today: date, registry: Registry
) -> AgreementView:
    state = _domain(row).state_on(today)
    definition = registry.get(row.protocol_id)
    until = definition.validity.until if definition else None
    if until is not None and today > until:
        state = AgreementState.ENDED  # the protocol itself ended (e.g. seed 004 art. 12)
    return AgreementView(
        row.protocol_id,
        row.recipient_id,
        name,
        row.kind,
        source,
        state.value,
        state_nl(state),
        row.signed_on,
        row.in_force_on,
        row.document_ref,
        row.cadence,
        row.notice_on,
        row.ends_on,
        row.end_kind,
        row.end_reason,
        row.end_article,
        row.suspended_on,
        row.suspension_reason,
        row.suspension_article,
        row.recorded_by,
        row.approved_by,
        aware(row.recorded_at) if row.recorded_at else None,
    )


def _given(definition: ProtocolDefinition) -> list[AgreementRow]:
    """The agreements a definition names itself, as unsaved rows."""
    rows = [
        AgreementRow(
            recipient_id=i.recipient,
            protocol_id=definition.id,
            kind="signature",
            signed_on=i.signed_on,
            in_force_on=i.in_force,
            document_ref=i.document[:_TEXT_MAX],
        )
        for i in definition.instances
    ]
    rule = definition.recipients
    if rule.requires is RecipientRequirement.NONE and rule.ids:
        rows += [
            AgreementRow(
                recipient_id=party,
                protocol_id=definition.id,
                kind="party",
                signed_on=definition.validity.valid_from,
                in_force_on=definition.validity.valid_from,
                document_ref=definition.source_document[:_TEXT_MAX],
            )
            for party in rule.ids
        ]
    return rows


def _all(
    session: Session,
    registry: Registry,
    protocol_id: str | None,
    recipient_id: str | None,
) -> list[tuple[AgreementRow, str]]:
    stmt = select(AgreementRow)
    if protocol_id is not None:
        stmt = stmt.where(AgreementRow.protocol_id == protocol_id)
    if recipient_id is not None:
        stmt = stmt.where(AgreementRow.recipient_id == recipient_id)
    found: list[tuple[AgreementRow, str]] = [(r, "record") for r in session.scalars(stmt)]
    recorded = {(r.protocol_id, r.recipient_id, r.kind) for r, _ in found}
    for definition in registry:
        if protocol_id is not None and definition.id != protocol_id:
            continue
        for row in _given(definition):
            if recipient_id is not None and row.recipient_id != recipient_id:
                continue
            if (row.protocol_id, row.recipient_id, row.kind) not in recorded:
                found.append((row, "definition"))
    return found


def list_agreements(
    engine: Engine,
    registry: Registry,
    today: date,
    *,
    protocol_id: str | None = None,
    recipient_id: str | None = None,
) -> list[AgreementView]:
    """Every agreement (recorded, or named by a definition), by protocol then recipient, with its
    state on ``today``. Raises ``NotFound`` for an unknown protocol or recipient."""
    if protocol_id is not None:
        registry.require(protocol_id)
    with reading(engine) as session:
        if recipient_id is not None:
            get_recipient(session, recipient_id)
        return views(session, registry, today, protocol_id=protocol_id, recipient_id=recipient_id)


def views(
    session: Session,
    registry: Registry,
    today: date,
    *,
    protocol_id: str | None = None,
    recipient_id: str | None = None,
) -> list[AgreementView]:
    """``list_agreements`` inside the caller's transaction."""
    rows = _all(session, registry, protocol_id, recipient_id)
    # The names of the recipients listed only (one recipient's page lists one), as two columns.
    named = select(Recipient.id, Recipient.name_nl)
    if recipient_id is not None:
        named = named.where(Recipient.id == recipient_id)
    names: dict[str, str] = {rid: name for rid, name in session.execute(named)}
    found = [_view(row, names.get(row.recipient_id, ""), src, today, registry) for row, src in rows]
    return sorted(found, key=lambda v: (v.protocol_id, v.recipient_id, v.kind))


def find(
    engine: Engine, registry: Registry, today: date, protocol_id: str, recipient_id: str
) -> AgreementView:
    """The recipient's agreement under ``protocol_id``. Raises ``NotFound``
    (``agreement.unknown``, ``protocol.unknown``, ``recipient.unknown``)."""
    views = list_agreements(
        engine, registry, today, protocol_id=protocol_id, recipient_id=recipient_id
    )
    if not views:
        raise NotFound(
            "agreement.unknown",
            f"{recipient_id} has no agreement under {protocol_id}",
            f"{recipient_id} heeft geen overeenkomst onder {protocol_id}",
        )
    return views[0]


def _text(payload: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(
                "agreement.missing",
                f"{name} is required",
                f"{_NAMES_NL.get(name, name)} is verplicht",
            )
        return None
    if not isinstance(value, str) or len(value.strip()) > _TEXT_MAX:
        raise InvalidInput(
            "agreement.invalid",
            f"{name} must be a text of at most {_TEXT_MAX} characters",
            f"{_NAMES_NL.get(name, name)} moet een tekst van hoogstens {_TEXT_MAX} tekens zijn",
        )
    if may_hold_national_number(value):
        # It would stay in the audit trail for good (and a document reference on the files).
        raise InvalidInput(
            "agreement.invalid",
            f"{name} holds a number that could be a national number",
            f"{_NAMES_NL.get(name, name)} bevat een getal dat een rijksregisternummer zou "
            "kunnen zijn",
        )
    return " ".join(value.split())


def _a(word: str) -> str:
    """``word`` with its English indefinite article: "a signature", "an accession"."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


_NAMES_NL = {
    "reason": "de reden",
    "article": "het artikel",
    "document": "de referentie van het document",
    "protocol": "het protocol",
}


def _day(payload: dict[str, Any], name: str, *, required: bool) -> date | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput("agreement.missing", f"{name} is required", f"{name} is verplicht")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(
            "agreement.invalid_date",
            f"{name} is not a date (YYYY-MM-DD)",
            f"{name} is geen datum (JJJJ-MM-DD)",
        ) from exc


def _definition(registry: Registry, payload: dict[str, Any]) -> ProtocolDefinition:
    protocol = _text(payload, "protocol", required=True)
    assert protocol is not None
    return registry.require(protocol)


def _row(session: Session, protocol_id: str, recipient_id: str) -> AgreementRow | None:
    return session.scalar(
        select(AgreementRow).where(
            AgreementRow.protocol_id == protocol_id, AgreementRow.recipient_id == recipient_id
        )
    )


def _current(
    session: Session, definition: ProtocolDefinition, recipient_id: str
) -> tuple[AgreementRow, bool]:
    """The agreement a transition concerns and whether it is on record. Raises ``NotFound``."""
    row = _row(session, definition.id, recipient_id)
    if row is not None:
        return row, True
    given = next((r for r in _given(definition) if r.recipient_id == recipient_id), None)
    if given is None:
        raise NotFound(
            "agreement.unknown",
            f"{recipient_id} has no agreement under {definition.id}",
            f"{recipient_id} heeft geen overeenkomst onder {definition.id}",
        )
    return given, False


def _check_new(
    session: Session,
    definition: ProtocolDefinition,
    recipient_id: str,
    payload: dict[str, Any],
    today: date,
) -> Checked:
    """A new signature or accession. Seed 003, Besluit: an accession dated before the
    deliberation (the definition's ``validity.from``, 18.11.2024) is refused
    (``accession.before_deliberation``); seed 003 rn. 42: an accession declares its ceremony
    cadence."""
    kind = RecipientRequirement(str(payload.get("kind")))
    rule = definition.recipients
    if rule.requires is not kind:
        raise InvalidInput(
            "agreement.wrong_kind",
            f"protocol {definition.id} does not work with {_a(kind.value)} "
            f"(it requires: {rule.requires.value})",
            f"protocol {definition.id} werkt niet met een {_KIND_NL.get(kind.value, kind.value)} "
            f"(vereist: {_KIND_NL.get(rule.requires.value, rule.requires.value)})",
        )
    if rule.ids is not None and recipient_id not in rule.ids:
        raise InvalidInput(
            "recipient.not_covered",
            f"{recipient_id} is not a party to {definition.id}",
            f"{recipient_id} is geen partij bij {definition.id}",
        )
    signed_on = _day(payload, "signed_on", required=True)
    in_force_on = _day(payload, "in_force_on", required=False)
    assert signed_on is not None
    document = _text(payload, "document", required=kind is RecipientRequirement.ACCESSION)
    cadence: Cadence | None = None
    if kind is RecipientRequirement.ACCESSION:
        deliberation = definition.validity.valid_from
        if signed_on < deliberation:
            raise InvalidInput(
                "accession.before_deliberation",
                f"the accession is dated {signed_on.isoformat()}, before the deliberation of "
                f"{deliberation.isoformat()} ({rule.article})",
                f"de toetreding is gedateerd op {signed_on.isoformat()}, vóór de beraadslaging "
                f"van {deliberation.isoformat()} ({rule.article})",
            )
    if isinstance(definition.population, CertificateWithinLookback):
        try:
            cadence = Cadence(str(payload.get("cadence")))
        except ValueError as exc:
            raise InvalidInput(
                "agreement.cadence",
                "the ceremony cadence must be yearly or two-yearly "
                "(VCMP deliberation 05/2024, rn. 42)",
                "de ceremoniefrequentie moet yearly (jaarlijks) of two-yearly (tweejaarlijks) "
                "zijn (randnr. 42)",
            ) from exc
    elif payload.get("cadence") is not None:
        raise InvalidInput(
            "agreement.cadence",
            f"protocol {definition.id} has no ceremony cadence",
            f"protocol {definition.id} kent geen ceremoniefrequentie",
        )
    # A signed instance the definition names may be recorded here: the record then wins.
    if _row(session, definition.id, recipient_id) is not None:
        raise Conflict(
            "agreement.duplicate",
            f"{recipient_id} already has {_a(kind.value)} on record",
            f"voor {recipient_id} is al een {_KIND_NL[kind.value]} geregistreerd",
        )
    if signed_on > today:
        raise InvalidInput(
            "agreement.future",
            f"the signing date {signed_on.isoformat()} lies in the future",
            f"de datum van ondertekening {signed_on.isoformat()} ligt in de toekomst",
        )
    normal = {
        "protocol": definition.id,
        "kind": kind.value,
        "signed_on": signed_on.isoformat(),
        "in_force_on": in_force_on.isoformat() if in_force_on else None,
        "document": document,
        "cadence": cadence.value if cadence else None,
    }
    summary = f"{kind.value} of {definition.id} signed {signed_on.isoformat()}"
    summary_nl = f"{_KIND_NL[kind.value]} van {definition.id}, ondertekend {_nl_day(signed_on)}"
    if in_force_on:
        summary += f", in force {in_force_on.isoformat()}"
        summary_nl += f", van kracht {_nl_day(in_force_on)}"
    if cadence:
        summary += f", {cadence.value} ceremony"
        summary_nl += f", {_CADENCE_NL[cadence.value]} ceremonie"
    return Checked(normal, summary[:_TEXT_MAX], summary_nl[:_TEXT_MAX])


def _check_state(
    session: Session,
    definition: ProtocolDefinition,
    recipient_id: str,
    payload: dict[str, Any],
    today: date,
) -> Checked:
    try:
        transition = Transition(str(payload.get("transition")))
    except ValueError as exc:
        raise InvalidInput(
            "agreement.transition",
            "transition must be notice, suspend, resume, end or withdraw",
            "de overgang moet notice, suspend, resume, end of withdraw zijn",
        ) from exc
    on = _day(payload, "on", required=False) or today
    needs_reason = transition in (Transition.SUSPEND, Transition.RESUME, Transition.END)
    reason = _text(payload, "reason", required=needs_reason)
    article = _text(payload, "article", required=needs_reason)
    if transition is Transition.NOTICE:
        article = article or definition.validity.article
    if transition is Transition.WITHDRAW:
        article = article or definition.recipients.article
    row, on_record = _current(session, definition, recipient_id)
    months = definition.validity.notice_months
    _check(_domain(row), transition, on, today, months)
    normal = {
        "protocol": definition.id,
        "transition": transition.value,
        "on": on.isoformat(),
        "reason": reason,
        "article": article,
        "notice_months": months,
        # An agreement the definition names is recorded when the transition is approved.
        "base": None
        if on_record
        else {
            "kind": row.kind,
            "signed_on": row.signed_on.isoformat(),
            "in_force_on": row.in_force_on.isoformat() if row.in_force_on else None,
            "document": row.document_ref,
        },
    }
    summary = f"{transition.value} of {row.kind} {definition.id} on {on.isoformat()}"
    summary_nl = (
        f"{_TRANSITION_NL[transition.value]} van de {_KIND_NL.get(row.kind, row.kind)} van "
        f"{definition.id} op {_nl_day(on)}"
    )
    if transition is Transition.NOTICE:
        updates = transition_updates(transition, on, months, reason, article)
        ends = updates["ends_on"]
        assert isinstance(ends, date)
        summary += f", ends {ends.isoformat()} ({months} months)"
        summary_nl += f", eindigt {_nl_day(ends)} ({months} maanden)"
    if article:
        summary += f" [{article}]"
        summary_nl += f" [{article}]"
    return Checked(normal, summary[:_TEXT_MAX], summary_nl[:_TEXT_MAX])


def _check(
    agreement: Agreement, transition: Transition, on: date, today: date, months: int | None
) -> None:
    try:
        check_transition(agreement, transition, on, today, months)
    except TransitionProblem as exc:
        raise TransitionRefused(exc) from exc


def check_proposal(
    session: Session,
    registry: Registry,
    kind: ChangeKind,
    recipient_id: str,
    payload: dict[str, Any],
    today: date,
) -> Checked:
    """Checks a proposed agreement (``kind`` ``agreement``: payload ``protocol``, ``kind``
    ``signature``/``accession``, ``signed_on``, ``in_force_on``, ``document``, ``cadence``) or
    transition (``agreement_state``: ``protocol``, ``transition``, ``on`` (default today),
    ``reason``, ``article``). Returns the normalised payload and the summary the approver sees
    (no personal data). Raises ``InvalidInput``, ``NotFound`` or ``Conflict``."""
    recipient = get_recipient(session, recipient_id)
    definition = _definition(registry, payload)
    if kind is ChangeKind.AGREEMENT:
        if recipient.kind != "municipality":
            raise InvalidInput(
                "agreement.not_municipality",
                f"{recipient_id} is not a municipality",
                f"{recipient_id} is geen gemeente",
            )
        return _check_new(session, definition, recipient_id, payload, today)
    return _check_state(session, definition, recipient_id, payload, today)


def apply(
    session: Session,
    kind: ChangeKind,
    recipient_id: str,
    payload: dict[str, Any],
    *,
    proposed_by: str,
    approved_by: str,
    change_id: int,
    now: datetime,
) -> None:
    """Applies an approved agreement or transition, with its audit event (actor: the approver).
    The transition is checked again on the day it is approved: the agreement may have moved
    since it was proposed. Raises ``Conflict``."""
    today = now.astimezone(BRUSSELS).date()
    protocol = str(payload["protocol"])
    if kind is ChangeKind.AGREEMENT:
        requirement = RecipientRequirement(payload["kind"])
        signed_on = date.fromisoformat(payload["signed_on"])
        in_force = payload["in_force_on"]
        row = add_agreement(
            session,
            recipient_id=recipient_id,
            protocol_id=protocol,
            kind=requirement,
            signed_on=signed_on,
            in_force_on=date.fromisoformat(in_force) if in_force else None,
            document_ref=payload["document"],
            now=now,
        )
        row.cadence, row.recorded_by, row.approved_by = payload["cadence"], proposed_by, approved_by
        record(
            session,
            actor=approved_by,
            action=f"agreement.{requirement.value}",
            subject=f"recipient:{recipient_id}",
            details={
                "protocol": protocol,
                "signed_on": payload["signed_on"],
                "in_force": in_force,
                "document": payload["document"],
                "cadence": payload["cadence"],
                "proposed_by": proposed_by,
                "change": change_id,
            },
            now=now,
        )
        return
    transition = Transition(payload["transition"])
    on = date.fromisoformat(payload["on"])
    months = payload["notice_months"]
    found = _row(session, protocol, recipient_id)
    row = found or _materialise(session, protocol, recipient_id, payload["base"], now)
    _check(_domain(row), transition, on, today, months)
    updates = transition_updates(transition, on, months, payload["reason"], payload["article"])
    for column, value in updates.items():
        setattr(row, column, value)
    session.flush()
    record(
        session,
        actor=approved_by,
        action=f"agreement.{transition.value}",
        subject=f"recipient:{recipient_id}",
        details={
            "protocol": protocol,
            "kind": row.kind,
            "on": on.isoformat(),
            "ends_on": row.ends_on.isoformat() if row.ends_on else None,
            "article": payload["article"],
            "proposed_by": proposed_by,
            "change": change_id,
        },
        now=now,
    )


def _materialise(
    session: Session,
    protocol_id: str,
    recipient_id: str,
    base: dict[str, Any] | None,
    now: datetime,
) -> AgreementRow:
    """Records an agreement a definition names, the first time a transition concerns it."""
    if base is None:
        raise NotFound(
            "agreement.unknown",
            f"the agreement of {shown(recipient_id)} under {protocol_id} is no longer on record",
            f"de overeenkomst van {shown(recipient_id)} onder {protocol_id} is niet meer "
            "geregistreerd",
        )
    row = AgreementRow(
        recipient_id=recipient_id,
        protocol_id=protocol_id,
        kind=base["kind"],
        signed_on=date.fromisoformat(base["signed_on"]),
        in_force_on=date.fromisoformat(base["in_force_on"]) if base["in_force_on"] else None,
        document_ref=base["document"],
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row
