"""The database schema, as SQLAlchemy 2 typed models. Migrations (``migrations/``) are the only
way the schema changes; a test checks that these models and the migrations agree."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "LIVE_RUN_STATES",
    "Agreement",
    "ApiToken",
    "AuditEvent",
    "Base",
    "ExportRun",
    "Integree",
    "PendingChange",
    "ProtocolDate",
    "RateLimitHit",
    "Recipient",
    "RecipientContact",
    "RecipientKey",
    "RecipientMail",
    "RecipientSftp",
    "SmsMessage",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Integree(Base):
    """One person in the KBI-style store (see docs/kbi-extract.md for every column)."""

    __tablename__ = "integrees"

    id: Mapped[int] = mapped_column(primary_key=True)
    national_number: Mapped[str] = mapped_column(String(11), unique=True)
    number_kind: Mapped[str] = mapped_column(String(3))  # "nn" or "bis"
    last_name: Mapped[str] = mapped_column(String(48))
    first_name: Mapped[str] = mapped_column(String(48))
    # None: unknown, only when the national number says so (docs/kbi-extract.md); never made up.
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    nationality: Mapped[str | None] = mapped_column(String(2))
    nis_code: Mapped[str] = mapped_column(String(5), index=True)
    street: Mapped[str | None] = mapped_column(String(100))
    house_number: Mapped[str | None] = mapped_column(String(16))
    postal_code: Mapped[str | None] = mapped_column(String(4))
    city: Mapped[str | None] = mapped_column(String(48))
    email: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    target_group: Mapped[str] = mapped_column(String(8))
    target_group_since: Mapped[date | None] = mapped_column(Date)
    registered_on: Mapped[date | None] = mapped_column(Date)
    contract_signed_on: Mapped[date | None] = mapped_column(Date)
    certificate_on: Mapped[date | None] = mapped_column(Date)
    obligation_since: Mapped[date | None] = mapped_column(Date)
    obligation_met_on: Mapped[date | None] = mapped_column(Date)
    contact_language: Mapped[str | None] = mapped_column(String(2))
    nt2_level: Mapped[str | None] = mapped_column(String(2))
    civic_orientation_status: Mapped[str | None] = mapped_column(String(16))
    pilot_consent: Mapped[bool | None]
    education_level: Mapped[str | None] = mapped_column(String(8))
    kbi_region: Mapped[str | None] = mapped_column(String(16))
    residence_status: Mapped[str | None] = mapped_column(String(24))
    trajectory_type: Mapped[str | None] = mapped_column(String(8))
    vdab_referral_on: Mapped[date | None] = mapped_column(Date)
    career_orientation_decision: Mapped[str | None] = mapped_column(String(16))
    career_orientation_reason: Mapped[str | None] = mapped_column(String(16))
    language_learning_ability: Mapped[str | None] = mapped_column(String(8))
    diploma_recognition_referral: Mapped[bool | None]
    diploma_recognition_result: Mapped[str | None] = mapped_column(String(24))
    living_wage: Mapped[bool | None]


class Recipient(Base):
    """A municipality (id = its NIS code) or an agency (``vdab``, ``vsb``)."""

    __tablename__ = "recipients"
    __table_args__ = (CheckConstraint("kind IN ('municipality', 'agency')", name="kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_nl: Mapped[str] = mapped_column(String(120))
    province_nl: Mapped[str | None] = mapped_column(String(48))
    active: Mapped[bool] = mapped_column(default=True)


class RecipientContact(Base):
    """The person who receives the key SMS; one current contact per recipient."""

    __tablename__ = "recipient_contacts"

    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecipientKey(Base):
    """An SSH public key a recipient logs in with on the SFTP drop."""

    __tablename__ = "recipient_keys"
    __table_args__ = (UniqueConstraint("recipient_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(2000))
    fingerprint: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecipientSftp(Base):
    """The recipient's own SFTP server, for the ``sftp_push`` channel. The host key is pinned;
    kbx's client key for this server is kept only sealed under the service key."""

    __tablename__ = "recipient_sftp"

    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int]
    username: Mapped[str] = mapped_column(String(64))
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    host_key: Mapped[str] = mapped_column(String(2000))  # "ssh-ed25519 AAAA..."
    path: Mapped[str] = mapped_column(String(255))
    return_path: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecipientMail(Base):
    """The recipient's registered mailbox for the mail channels, and which relay route it uses."""

    __tablename__ = "recipient_mail"
    __table_args__ = (CheckConstraint("route IN ('secure_mail', 'zivver')", name="route"),)

    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    route: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PendingChange(Base):
    """A change to a recipient's contact, keys or delivery settings, waiting for a second person.
    The payload is sealed under the service key: it may hold a phone number or a private key."""

    __tablename__ = "pending_changes"
    __table_args__ = (CheckConstraint("state IN ('pending', 'applied', 'rejected')", name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    summary: Mapped[str] = mapped_column(String(200))  # what a reviewer sees; no secret
    # The same in Dutch, for the console; None on changes proposed before migration 0008.
    summary_nl: Mapped[str | None] = mapped_column(String(200))
    payload_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Agreement(Base):
    """A recipient's signature of a protocol text, its accession to a general deliberation, or an
    agency's own party to a protocol (``party``, recorded once a transition concerns it).

    Its lifecycle (``exchange.agreements``): signed -> in force -> notice given -> ended;
    suspended and resumed; an accession withdrawn. Each transition is proposed by one staff
    member and applied when a second approves (``app.flows.agreements``)."""

    __tablename__ = "agreements"
    __table_args__ = (
        UniqueConstraint("recipient_id", "protocol_id", "kind"),
        CheckConstraint("kind IN ('signature', 'accession', 'party')", name="kind"),
        CheckConstraint("cadence IS NULL OR cadence IN ('yearly', 'two-yearly')", name="cadence"),
        CheckConstraint(
            "end_kind IS NULL OR end_kind IN ('notice', 'termination', 'withdrawal')",
            name="end_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"))
    protocol_id: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(16))
    signed_on: Mapped[date] = mapped_column(Date)
    in_force_on: Mapped[date | None] = mapped_column(Date)
    document_ref: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The VCMP ceremony cadence the municipality declared (seed 003 rn. 42): yearly, two-yearly.
    cadence: Mapped[str | None] = mapped_column(String(16))
    # Notice given on ``notice_on``; the agreement ends on ``ends_on`` (also set by an end under
    # art. 8 or a withdrawal, see ``end_kind``): no list from that day on.
    notice_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    end_kind: Mapped[str | None] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(200))
    end_article: Mapped[str | None] = mapped_column(String(200))
    # A suspension in effect from ``suspended_on`` until it is resumed (then cleared).
    suspended_on: Mapped[date | None] = mapped_column(Date)
    suspension_reason: Mapped[str | None] = mapped_column(String(200))
    suspension_article: Mapped[str | None] = mapped_column(String(200))
    # Who proposed the agreement and who approved it (four eyes); empty on rows made before.
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))


# A run in one of these states holds its (protocol, recipient, period) slot.
LIVE_RUN_STATES = (
    "requested",
    "approved",
    "built",
    "delivered",
    "key_sent",
    "fetched",
    "purged",
)
# A run derived from another (a round trip's dataset, ``parent_id``) holds no slot of its own:
# its parent holds the period's.
_RESEND_ASKED = "resend_requested_by IS NOT NULL"
_LIVE = "state NOT IN ('refused', 'cancelled', 'failed') AND parent_id IS NULL"


class ExportRun(Base):
    """One export; the partial unique index is the claim: one live run per protocol, recipient and
    period, whatever the number of simultaneous requests (runs derived from another one, such as
    a round trip's dataset, are not counted: their parent holds the slot)."""

    __tablename__ = "export_runs"
    __table_args__ = (
        Index(
            "uq_export_runs_live_slot",
            "protocol_id",
            "recipient_id",
            "period",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
        # The overview's resends waiting for a second person (app.store.alerts): a few runs.
        Index(
            "ix_export_runs_resend_asked",
            "id",
            sqlite_where=text(_RESEND_ASKED),
            postgresql_where=text(_RESEND_ASKED),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_id: Mapped[str] = mapped_column(String(48))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"))
    period: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    lookback_years: Mapped[int | None]
    definition_hash: Mapped[str] = mapped_column(String(80))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A file's reference: what the SMS, the file name and the drop name; never a person.
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    refusal: Mapped[str | None] = mapped_column(Text)  # JSON list of policy reasons
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    row_count: Mapped[int | None]
    field_list: Mapped[str | None] = mapped_column(Text)  # JSON list, the definition's order
    file_name: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int | None]
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    password_destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    key_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resend_requested_by: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure: Mapped[str | None] = mapped_column(String(200))
    # A run made from another one (the BI working group's dataset of a VDAB round trip).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("export_runs.id"), index=True)
    remote_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_file: Mapped[str | None] = mapped_column(String(255))
    return_sha256: Mapped[str | None] = mapped_column(String(64))
    return_rows: Mapped[int | None]
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Runs with a return leg: the national numbers sent, sealed under the service key, so that
    # the return can be checked against exactly them; destroyed once the return is in.
    sent_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The municipality's request this run answers (art20-municipal, seed 000 overweging C): the
    # day it was made and the municipality's own reference (a letter's reference, no person).
    requested_on: Mapped[date | None] = mapped_column(Date)
    request_ref: Mapped[str | None] = mapped_column(String(64))


class ProtocolDate(Base):
    """A date of a protocol that its text does not give and an admin records (vdab-pillar3: the
    entry into force of the samenwerkingsovereenkomst, seed 001 art. 5); one per kind."""

    __tablename__ = "protocol_dates"

    protocol_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsMessage(Base):
    """One key SMS as the provider knows it. The body is never stored (it holds the password);
    ``status`` only moves forward (see exchange.sms_status)."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("export_runs.id"), index=True)
    reference: Mapped[str] = mapped_column(String(32), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # "outbox" or "twilio"
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # unknown, queued, sent, delivered, ...
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A staff account; the password is kept only as an argon2 hash."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'approver', 'auditor', 'admin', 'vsb')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The last sign-out from the console: a console session begun before it is refused.
    signed_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A short-lived bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only, hash-chained (see exchange.audit). ``prev_hash`` is unique: two writers that
    read the same head cannot both append, the second retries on the new head."""

    __tablename__ = "audit_events"
    # A run's timeline, a recipient's events, the audit page's filter on either: newest first.
    __table_args__ = (Index("ix_audit_events_subject_seq", "subject", "seq"),)

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class RateLimitHit(Base):
    """One counted hit of a rate limit (``app.store.rate_limits``): a row per hit, so that every
    HTTP process of ``kbx serve --workers N`` and every restart counts against the same window.
    ``key_hash`` is the SHA-256 (hex) of the key text: a typed account name or a source address
    is never stored in clear. Rows older than their window are deleted as hits come in."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_kind_key_at", "kind", "key_hash", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
