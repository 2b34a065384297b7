"""Four-eyes changes to recipients (DESIGN invariant 8): one person proposes a new contact, drop
key or delivery setting, another approves it, and only then does it take effect. Each step is an
audit event in the transaction that makes it. The payload is sealed under the service key while
it waits: it may hold a phone number or an SFTP private key."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.flows import agreements
from app.flows.rejections import rejection_reason
from app.store.audit import record
from app.store.db import reading, transaction
from app.store.recipients import add_key, check_key_free, get_recipient, set_contact
from crypto import parse_public_key
from crypto.vault import SecretBox
from exchange.exports import FourEyesViolation, check_four_eyes
from exchange.models import PendingChange, RecipientMail, RecipientSftp
from exchange.recipient_changes import ChangeKind, ChangeProblem, Checked, check_change

if TYPE_CHECKING:
    from app.registry import Registry

__all__ = ["ChangeOut", "decide", "one", "pending", "propose"]


@dataclass(frozen=True)
class ChangeOut:
    id: int
    kind: str
    recipient_id: str
    summary: str
    summary_nl: str  # the Dutch summary (the English one for a change from before 0008)
    state: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    # The reason of a rejection, as ``decide`` recorded it (the audit trail keeps it).
    reason: str | None = None


_DECIDED_NL = {"applied": "goedgekeurd en toegepast", "rejected": "afgewezen"}


def _out(change: PendingChange) -> ChangeOut:
    return ChangeOut(
        change.id,
        change.kind,
        change.recipient_id,
        change.summary,
        change.summary_nl or change.summary,
        change.state,
        change.requested_by,
        change.requested_at,
        change.decided_by,
    )


def _aad(change_kind: str, recipient_id: str) -> bytes:
    return f"change:{change_kind}:{recipient_id}".encode()


def propose(
    engine: Engine,
    vault: SecretBox,
    kind: ChangeKind,
    recipient_id: str,
    payload: dict[str, Any],
    by: str,
    now: datetime,
    *,
    registry: Registry | None = None,
    today: date | None = None,
) -> ChangeOut:
    """Records a proposed change, sealed, with its audit event. An agreement or a transition of
    one (``ChangeKind.AGREEMENT``, ``AGREEMENT_STATE``) needs the ``registry`` and ``today``
    (``app.flows.agreements.check_proposal``). Raises ``InvalidInput``, ``NotFound``,
    ``Conflict``."""
    checked: Checked | None = None
    if kind not in agreements.AGREEMENT_KINDS:
        try:
            checked = check_change(kind, payload)
        except ChangeProblem as exc:
            raise InvalidInput(
                f"change.invalid_{kind.value}",
                str(exc),
                f"de voorgestelde wijziging is ongeldig: {exc.nl}",
            ) from exc
    with transaction(engine) as session:
        get_recipient(session, recipient_id)
        if checked is None:
            assert registry is not None
            assert today is not None
            checked = agreements.check_proposal(
                session, registry, kind, recipient_id, payload, today
            )
        if kind is ChangeKind.KEY:
            fingerprint = parse_public_key(checked.payload["public_key"]).fingerprint
            check_key_free(session, recipient_id, fingerprint)
        change = PendingChange(
            kind=kind.value,
            recipient_id=recipient_id,
            summary=checked.summary,
            summary_nl=checked.summary_nl,
            payload_sealed=vault.seal(
                json.dumps(checked.payload).encode(), _aad(kind.value, recipient_id)
            ),
            state="pending",
            requested_by=by,
            requested_at=now,
        )
        session.add(change)
        session.flush()
        record(
            session,
            actor=by,
            action="recipient.change_proposed",
            subject=f"recipient:{recipient_id}",
            details={"change": change.id, "kind": kind.value, "summary": checked.summary},
            now=now,
        )
        return _out(change)


def _apply(
    session: Session,
    vault: SecretBox,
    kind: ChangeKind,
    recipient_id: str,
    p: dict[str, Any],
    now: datetime,
) -> None:
    if kind is ChangeKind.CONTACT:
        set_contact(session, recipient_id, p["name"], p["phone"], p["email"], now)
    elif kind is ChangeKind.KEY:
        add_key(session, recipient_id, parse_public_key(p["public_key"]), now)
    elif kind is ChangeKind.SFTP:
        row = session.get(RecipientSftp, recipient_id) or RecipientSftp(recipient_id=recipient_id)
        row.host, row.port, row.username = p["host"], p["port"], p["username"]
        row.private_key_sealed = vault.seal(p["private_key"].encode(), recipient_id.encode())
        row.host_key, row.path, row.return_path = p["host_key"], p["path"], p["return_path"]
        row.updated_at = now
        session.add(row)
    else:
        mail = session.get(RecipientMail, recipient_id) or RecipientMail(recipient_id=recipient_id)
        mail.address, mail.route, mail.updated_at = p["address"], p["route"], now
        session.add(mail)


def decide(
    engine: Engine,
    vault: SecretBox,
    change_id: int,
    by: str,
    *,
    approve: bool,
    now: datetime,
    reason: str | None = None,
) -> ChangeOut:
    """Approve (and apply) or reject a pending change, never by its proposer (four eyes). A
    rejection needs a ``reason`` (``app.flows.rejections.rejection_reason``: 3 to 300
    characters, never a national number), kept in the ``recipient.change_rejected`` event's
    details (``reason``) and returned in ``ChangeOut.reason``; an approval takes none. Raises
    ``NotFound`` (``change.unknown``), ``Conflict`` (``change.decided``, ``change.four_eyes``,
    and what applying the change refuses), ``InvalidInput`` (``rejection.reason_missing``,
    ``rejection.reason_invalid``, ``rejection.reason_national_number``): a refusal records
    nothing."""
    with transaction(engine) as session:
        change = session.get(PendingChange, change_id)
        if change is None:
            raise NotFound(
                "change.unknown", f"unknown change {change_id}", f"onbekende wijziging {change_id}"
            )
        if change.state != "pending":
            raise Conflict(
                "change.decided",
                f"change {change_id} is already {change.state}",
                f"over wijziging {change_id} is al beslist "
                f"({_DECIDED_NL.get(change.state, change.state)})",
            )
        try:
            check_four_eyes(change.requested_by, by)
        except FourEyesViolation as exc:
            raise Conflict(
                "change.four_eyes",
                str(exc),
                f"{by} stelde wijziging {change_id} zelf voor en kan ze niet goedkeuren",
            ) from exc
        said = None if approve else rejection_reason(reason)
        kind = ChangeKind(change.kind)
        if approve:
            payload = json.loads(
                vault.open(change.payload_sealed, _aad(change.kind, change.recipient_id))
            )
            if kind in agreements.AGREEMENT_KINDS:
                agreements.apply(
                    session,
                    kind,
                    change.recipient_id,
                    payload,
                    proposed_by=change.requested_by,
                    approved_by=by,
                    change_id=change.id,
                    now=now,
                )
            else:
                _apply(session, vault, kind, change.recipient_id, payload, now)
        change.state = "applied" if approve else "rejected"
        change.decided_by, change.decided_at = by, now
        # The sealed payload has done its work; a rejected one must not linger either.
        change.payload_sealed = b""
        record(
            session,
            actor=by,
            action="recipient.change_applied" if approve else "recipient.change_rejected",
            subject=f"recipient:{change.recipient_id}",
            details={
                "change": change.id,
                "kind": change.kind,
                "summary": change.summary,
                **({} if said is None else {"reason": said}),
            },
            now=now,
        )
        return replace(_out(change), reason=said)


def one(engine: Engine, change_id: int) -> ChangeOut:
    """The change numbered ``change_id``, whatever its state (the console's confirmation page
    shows it before a decision). Raises ``NotFound`` (``change.unknown``)."""
    with reading(engine) as session:
        change = session.get(PendingChange, change_id)
        if change is None:
            raise NotFound(
                "change.unknown", f"unknown change {change_id}", f"onbekende wijziging {change_id}"
            )
        return _out(change)


def pending(
    engine: Engine, *, not_by: str | None = None, limit: int | None = None
) -> list[ChangeOut]:
    """The changes waiting for a second person, oldest first; with ``not_by``, only those that
    person may decide (four eyes: never their own proposals), at most ``limit``."""
    query = select(PendingChange).where(PendingChange.state == "pending")
    if not_by is not None:
        query = query.where(PendingChange.requested_by != not_by)
    query = query.order_by(PendingChange.id)
    if limit is not None:
        query = query.limit(limit)
    with reading(engine) as session:
        return [_out(c) for c in session.scalars(query)]
