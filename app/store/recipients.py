"""Recipients, their contacts, keys and agreements: the database side."""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.store import runs
from crypto import PublicKey
from exchange.agreements import Agreement as PolicyAgreement
from exchange.agreements import Cadence, EndKind
from exchange.exports import OwnAgreement
from exchange.models import Agreement, Recipient, RecipientContact, RecipientKey
from exchange.policy import PastRun, RecipientFacts
from exchange.protocols import ProtocolDefinition, RecipientRequirement
from exchange.recipients import ContactProblem, check_contact
from exchange.shown import shown

__all__ = [
    "RecipientRow",
    "add_agreement",
    "add_key",
    "agreement_kind",
    "check_key_free",
    "get_recipient",
    "list_recipients",
    "own_agreement",
    "recipient_facts",
    "resolve",
    "run_history",
    "search_recipients",
    "set_contact",
]


@dataclass(frozen=True, slots=True)
class RecipientRow:
    id: str
    kind: str
    name_nl: str
    province_nl: str | None
    has_contact: bool
    keys: int


def get_recipient(session: Session, recipient_id: str) -> Recipient:
    recipient = session.get(Recipient, recipient_id)
    if recipient is None:
        asked = shown(recipient_id)
        raise NotFound(
            "recipient.unknown",
            f"unknown recipient '{asked}'",
            f"onbekende ontvanger '{asked}'",
        )
    return recipient


def _folded(text: str) -> str:
    """A name as people type it: no case, no accents, ``-`` and spaces alike."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.replace("-", " ").casefold().split())


_SUGGESTED = 5
_KIND_NL = {"signature": "ondertekening", "accession": "toetreding"}


def resolve(session: Session, text: str) -> Recipient:
    """The recipient named by ``text``: its id (``72020``, ``vdab``) or its whole name in any
    case, accents and hyphens alike (``Gent``, ``gent``, ``sint-niklaas``). A part of a name
    never picks a recipient on its own (``Heist`` is Heist-op-den-Berg or Knokke-Heist; a list
    sent to the wrong municipality cannot be called back): it is refused with the names it could
    mean. Raises ``InvalidInput`` (``recipient.ambiguous``: a name or part of one that fits
    several, listed with their codes) or ``NotFound`` (``recipient.unknown``, suggesting the
    names it starts or resembles, by ``difflib``)."""
    value = text.strip()
    found = session.get(Recipient, value) or session.get(Recipient, value.casefold())
    if found is not None:
        return found
    everyone = list(session.scalars(select(Recipient).order_by(Recipient.id)))
    wanted = _folded(value)
    exact = [r for r in everyone if _folded(r.name_nl) == wanted]
    if len(exact) == 1:
        return exact[0]
    asked = shown(value)
    partial = [
        r
        for r in everyone
        if wanted
        and (_folded(r.name_nl).startswith(wanted) or wanted in _folded(r.name_nl).split())
    ]
    if len(exact) > 1 or len(partial) > 1:
        many = sorted(exact if len(exact) > 1 else partial, key=lambda r: _folded(r.name_nl))
        hint = ", ".join(f"{r.name_nl} ({r.id})" for r in many[:_SUGGESTED])
        more = len(many) - _SUGGESTED
        raise InvalidInput(
            "recipient.ambiguous",
            f"'{asked}' names {len(many)} recipients: {hint}"
            + (f" and {more} more" if more > 0 else ""),
            f"'{asked}' wijst {len(many)} ontvangers aan: {hint}"
            + (f" en nog {more}" if more > 0 else ""),
        )
    named: dict[str, list[Recipient]] = {}
    for r in everyone:
        named.setdefault(_folded(r.name_nl), []).append(r)
    close = partial or [
        r
        for name in difflib.get_close_matches(wanted, list(named), n=_SUGGESTED, cutoff=0.6)
        for r in named[name]
    ]
    hint = ", ".join(f"{r.name_nl} ({r.id})" for r in close)
    raise NotFound(
        "recipient.unknown",
        f"unknown recipient '{asked}'" + (f"; did you mean {hint}?" if hint else ""),
        f"onbekende ontvanger '{asked}'" + (f"; bedoelde u {hint}?" if hint else ""),
    )


def list_recipients(session: Session, only: str | None = None) -> list[RecipientRow]:
    """Every recipient (agencies first, then by code) with whether a contact is registered and
    how many drop keys; ``only`` narrows it to one recipient's id."""
    stmt = _listing() if only is None else _one()
    params = {} if only is None else {"only": only}
    return [
        RecipientRow(r.id, r.kind, r.name_nl, r.province_nl, contact is not None, n or 0)
        for r, contact, n in session.execute(stmt, params)
    ]


# Built once: building this statement and its cache key cost more than running it (~1 ms).
@functools.cache
def _listing() -> Select[Recipient, str | None, int | None]:
    keys = (
        select(RecipientKey.recipient_id, func.count().label("n"))
        .group_by(RecipientKey.recipient_id)
        .subquery()
    )
    return (
        select(Recipient, RecipientContact.recipient_id, keys.c.n)
        .outerjoin(RecipientContact, RecipientContact.recipient_id == Recipient.id)
        .outerjoin(keys, keys.c.recipient_id == Recipient.id)
        .order_by(Recipient.kind.desc(), Recipient.id)
    )


@functools.cache
def _one() -> Select[Recipient, str | None, int | None]:
    return _listing().where(Recipient.id == bindparam("only"))


def search_recipients(session: Session, text: str) -> list[RecipientRow]:
    """The recipients ``text`` may mean, for a person to choose from (``resolve`` picks one):
    its id or NIS code (or its beginning, ``720``), or a part of its name in any case, accents
    and hyphens alike (``heist``: Heist-op-den-Berg and Knokke-Heist). Empty text: all."""
    wanted = _folded(text)
    code = text.strip().casefold()
    return [
        row
        for row in list_recipients(session)
        if not wanted or row.id.casefold().startswith(code) or wanted in _folded(row.name_nl)
    ]


def set_contact(
    session: Session, recipient_id: str, name: str, phone: str, email: str, now: datetime
) -> RecipientContact:
    get_recipient(session, recipient_id)
    try:
        name, phone, email = check_contact(name, phone, email)
    except ContactProblem as exc:
        raise InvalidInput(
            "contact.invalid", str(exc), f"de contactpersoon is ongeldig: {exc.nl}"
        ) from exc
    contact = session.get(RecipientContact, recipient_id)
    if contact is None:
        contact = RecipientContact(recipient_id=recipient_id)
        session.add(contact)
    contact.name, contact.phone, contact.email, contact.updated_at = name, phone, email, now
    return contact


def check_key_free(session: Session, recipient_id: str, fingerprint: str) -> None:
    """Refuse a drop key that is already registered: for this recipient (``key.duplicate``) or
    for another one (``key.other_recipient``). A key is how the SFTP drop knows who logs in, so
    one key opens one recipient's outbox only (DESIGN.md, invariant 5). Raises ``Conflict``."""
    owner = session.scalar(
        select(RecipientKey.recipient_id).where(RecipientKey.fingerprint == fingerprint)
    )
    if owner is None:
        return
    if owner == recipient_id:
        raise Conflict(
            "key.duplicate",
            f"key {fingerprint} is already registered",
            f"sleutel {fingerprint} is al geregistreerd",
        )
    raise Conflict(
        "key.other_recipient",
        f"key {fingerprint} is registered for recipient {owner}: one key logs in as one "
        "recipient only; ask for a key of its own",
        f"sleutel {fingerprint} is geregistreerd voor ontvanger {owner}: een sleutel meldt "
        "aan als een enkele ontvanger; vraag een eigen sleutel",
    )


def add_key(session: Session, recipient_id: str, key: PublicKey, now: datetime) -> RecipientKey:
    """Register a drop key for ``recipient_id`` (``check_key_free`` first). Raises ``NotFound``,
    ``Conflict``."""
    get_recipient(session, recipient_id)
    check_key_free(session, recipient_id, key.fingerprint)
    row = RecipientKey(
        recipient_id=recipient_id,
        algorithm=key.algorithm,
        public_key=key.line,
        fingerprint=key.fingerprint,
        added_at=now,
    )
    session.add(row)
    return row


def add_agreement(
    session: Session,
    *,
    recipient_id: str,
    protocol_id: str,
    kind: RecipientRequirement,
    signed_on: date,
    in_force_on: date | None,
    document_ref: str | None,
    now: datetime,
) -> Agreement:
    recipient = get_recipient(session, recipient_id)
    if recipient.kind != "municipality":
        raise InvalidInput(
            "agreement.not_municipality",
            f"{recipient_id} is not a municipality",
            f"{recipient_id} is geen gemeente",
        )
    if signed_on > now.date():
        raise InvalidInput(
            "agreement.future",
            f"the signing date {signed_on.isoformat()} lies in the future",
            f"de datum van ondertekening {signed_on.isoformat()} ligt in de toekomst",
        )
    existing = session.scalar(
        select(Agreement).where(
            Agreement.recipient_id == recipient_id,
            Agreement.protocol_id == protocol_id,
            Agreement.kind == kind.value,
        )
    )
    if existing is not None:
        raise Conflict(
            "agreement.duplicate",
            f"{recipient_id} already has a {kind.value} on record",
            f"voor {recipient_id} is al een {_KIND_NL[kind.value]} geregistreerd",
        )
    row = Agreement(
        recipient_id=recipient_id,
        protocol_id=protocol_id,
        kind=kind.value,
        signed_on=signed_on,
        in_force_on=in_force_on,
        document_ref=document_ref,
        recorded_at=now,
    )
    session.add(row)
    return row


def own_agreement(
    session: Session, recipient_id: str, definition: ProtocolDefinition
) -> OwnAgreement | None:
    """The recipient's own signed copy of ``definition`` (or accession to it) that its files
    name: of the recorded agreements and the definition's ``[[instances]]`` entry, the one
    signed last (on the same day, a recorded one). ``None`` when the protocol asks for neither
    (agencies) or none is on record. Sources: each municipality signs its own copy of the
    art. 20 protocol (seed 000, art. 12); a municipality accedes to the VCMP deliberation with
    a signed commitment (seed 003, Besluit). One query; the lead may adapt it to an agreement's
    lifecycle (e.g. ended agreements)."""
    kind = definition.recipients.requires
    if kind is RecipientRequirement.NONE:
        return None
    found: list[OwnAgreement] = []
    if (instance := definition.instance_for(recipient_id)) is not None:
        found.append(OwnAgreement(kind, instance.signed_on, instance.document))
    recorded = session.scalars(
        select(Agreement)
        .where(
            Agreement.recipient_id == recipient_id,
            Agreement.protocol_id == definition.id,
            Agreement.kind == kind.value,
        )
        .order_by(Agreement.signed_on.desc(), Agreement.id.desc())
        .limit(1)
    ).first()
    if recorded is not None:
        found.append(OwnAgreement(kind, recorded.signed_on, recorded.document_ref))
    # max keeps the first of equals: the recorded one, appended last, is put first here.
    return max(reversed(found), key=lambda a: a.signed_on, default=None)


def agreement_kind(kind: str) -> RecipientRequirement:
    """The requirement an agreement row fulfils: ``party`` (an agency's own party to a protocol)
    is what a protocol that requires nothing has."""
    return RecipientRequirement.NONE if kind == "party" else RecipientRequirement(kind)


def recipient_facts(session: Session, recipient_id: str) -> RecipientFacts:
    """What the policy engine knows of a recipient: its kind, whether it is active, and its
    agreements with their lifecycle."""
    recipient = get_recipient(session, recipient_id)
    agreements = session.scalars(select(Agreement).where(Agreement.recipient_id == recipient_id))
    return RecipientFacts(
        id=recipient.id,
        kind=recipient.kind,
        agreements=tuple(
            PolicyAgreement(
                a.protocol_id,
                agreement_kind(a.kind),
                a.signed_on,
                a.in_force_on,
                cadence=Cadence(a.cadence) if a.cadence else None,
                notice_on=a.notice_on,
                ends_on=a.ends_on,
                end_kind=EndKind(a.end_kind) if a.end_kind else None,
                end_article=a.end_article,
                suspended_on=a.suspended_on,
                suspension_article=a.suspension_article,
            )
            for a in agreements
        ),
        active=recipient.active,
    )


def run_history(session: Session, protocol_id: str, recipient_id: str) -> Sequence[PastRun]:
    """The runs the policy counts for ``protocol_id`` and ``recipient_id``."""
    return [
        PastRun(protocol_id, recipient_id, period, state)
        for period, state in runs.history(session, protocol_id, recipient_id)
    ]
