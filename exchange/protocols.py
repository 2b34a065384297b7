"""Protocol definitions: what one signed protocol (or deliberation) allows, as data.

A definition is read from a TOML file under ``protocols/`` (reviewed like code) and validated here.
Every rule carries the article of the source document it comes from, so that a refusal or a column
in a file can always be traced back to the text a lawyer signed.
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from exchange.fields import FIELD_CATALOGUE
from exchange.periods import PeriodUnit

__all__ = [
    "Channel",
    "ChannelRule",
    "DefinitionError",
    "OnRequest",
    "ProtocolDefinition",
    "RecipientRequirement",
    "Term",
    "parse_definition",
    "term_end",
]


class Channel(enum.StrEnum):
    SFTP_DROP = "sftp_drop"
    SFTP_PUSH = "sftp_push"
    SECURE_MAIL = "secure_mail"
    ZIVVER = "zivver"


class RecipientRequirement(enum.StrEnum):
    """What must be on record for a recipient before a list may go to it."""

    NONE = "none"
    SIGNATURE = "signature"  # the recipient signed its own instance of the protocol text
    ACCESSION = "accession"  # the municipality sent its signed commitment to a deliberation


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Strict):
    """An inclusive date window; ``until`` absent means no end is known yet."""

    valid_from: date = Field(alias="from")
    until: date | None = None
    article: str

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.until is not None and self.until < self.valid_from:
            raise ValueError("'until' lies before 'from'")
        return self

    def contains(self, day: date) -> bool:
        return self.valid_from <= day and (self.until is None or day <= self.until)


def term_end(start: date, years: int) -> date:
    """The last day of a term of ``years`` years that begins on ``start`` (both inclusive): the
    day before the same calendar day ``years`` later. "Gedurende 5 jaar na in voege treden" from
    03.03.2023 runs up to and including 02.03.2028; a term that begins on 29 February has its
    anniversary on 1 March (no 29 February that year) and so ends on 28 February."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:  # 29 February, and the later year is no leap year
        anniversary = date(start.year + years, 3, 1)
    return anniversary - timedelta(days=1)


class Term(_Strict):
    """A validity that lasts ``years`` from a date the protocol's text names but does not give
    (``counted_from``), recorded by an admin; until it is, it counts from the protocol's own
    entry into force (``Validity.valid_from``) and says so (``Validity.until_basis_nl``)."""

    years: int = Field(ge=1)
    counted_from: Literal["cooperation_agreement_in_force"]
    label_nl: (
        str  # the date's name in Dutch, e.g. "inwerkingtreding van de samenwerkingsovereenkomst"
    )
    article: str


class Validity(Window):
    notice_months: int | None = None
    end_note: str | None = None
    term: Term | None = None
    # How ``until`` was found, when a term computes it (set by ``ProtocolDefinition.with_dates``).
    until_basis_nl: str | None = None

    @property
    def until_article(self) -> str:
        """The article an end rests on: the term's when it is computed, else the validity's."""
        return self.term.article if self.term is not None else self.article


class ChannelRule(Window):
    channel: Channel


class FieldRule(_Strict):
    name: str
    article: str

    @model_validator(mode="after")
    def _known(self) -> FieldRule:
        if self.name not in FIELD_CATALOGUE:
            raise ValueError(f"unknown field {self.name!r}")
        return self


class FrequencyRule(_Strict):
    unit: PeriodUnit
    max_lists: int | None = Field(default=None, ge=1)  # None: no cap (continuous access)
    article: str


class RegisteredResidents(_Strict):
    """Integrees of the target groups whose main residence (national register) is the recipient."""

    kind: Literal["registered_residents"]
    target_groups: list[Literal["obliged", "entitled"]]
    article: str


class ContractSignedSince(_Strict):
    """Everyone who signed an integration contract from ``since`` up to the period's end."""

    kind: Literal["contract_signed_since"]
    since: date
    article: str


class ObligationUnmetOnJanuaryFirst(_Strict):
    """People under the integration obligation on 1 January of the period who do not meet it."""

    kind: Literal["obligation_unmet_on_january_first"]
    article: str


class CertificateWithinLookback(_Strict):
    """Residents who obtained their certificate in the last N years (N chosen per request)."""

    kind: Literal["certificate_within_lookback"]
    lookback_years: list[int]
    default_lookback_years: int
    article: str

    @model_validator(mode="after")
    def _default_allowed(self) -> CertificateWithinLookback:
        if self.default_lookback_years not in self.lookback_years:
            raise ValueError("default_lookback_years is not one of lookback_years")
        return self


class ConsentedResidents(_Strict):
    """Residents of the recipient who gave consent (pilot projects)."""

    kind: Literal["consented_residents"]
    article: str


PopulationRule = Annotated[
    RegisteredResidents
    | ContractSignedSince
    | ObligationUnmetOnJanuaryFirst
    | CertificateWithinLookback
    | ConsentedResidents,
    Field(discriminator="kind"),
]


class Recipients(_Strict):
    kind: Literal["municipality", "agency"]
    ids: list[str] | None = None  # None: any Flemish municipality that meets `requires`
    requires: RecipientRequirement
    national_register_only: bool = Field(
        description="Only people with a national register number (no bis number) may be listed"
    )
    article: str
    # Where the need for a signature and its entry into force come from, when that is not the
    # article naming the recipients (seed 000: art. 3 names them, art. 12 the entry into force).
    agreement_article: str | None = None

    @property
    def signature_article(self) -> str:
        """The article a refusal about the recipient's signature cites."""
        return self.agreement_article or self.article


class SignedInstance(_Strict):
    recipient: str
    signed_on: date
    in_force: date
    document: str


class Retention(_Strict):
    """How long the recipient may keep the data, as the source text says it.

    ``years`` counted from the day the file is made (``counted_from = "file"``) give a date
    that every file states; counted from an event kbx does not know (the end of VDAB's
    cooperation agreement, seed 001 art. 3) or absent, the file states ``text_nl`` only."""

    years: int | None = None  # None: the extracted source text does not state a period
    counted_from: Literal["file", "end_of_cooperation"] = "file"
    text_nl: str  # goes into every file as it is: the source's words, no internal notes
    article: str


class ProfileFields(_Strict):
    """Fields that are not sent, but joined on the return leg (vdab-pillar3), and who receives
    the pseudonymised dataset made of them (``dataset_recipients``, each its own run: file,
    password and key SMS)."""

    fields: list[FieldRule]
    return_columns: list[str]
    article: str
    dataset_recipients: list[str] = Field(default=["bi-werkgroep"], min_length=1)
    dataset_article: str | None = None


class OnRequest(_Strict):
    """A list goes only to a recipient that asked for it (art20-municipal, seed 000 overweging
    C: "kunnen gemeenten deze lijsten maximaal 1 keer per jaar opvragen"): each run records the
    request it answers."""

    article: str


class ProtocolDefinition(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,40}$")
    version: int = Field(ge=1)
    title_nl: str
    title_en: str
    # What a recipient reads (parties, title, date); never a repository path: it goes into files.
    source_document: str
    source_file: str | None = None  # the extracted text in this repository, for staff only
    legal_basis: list[str] = Field(min_length=1)
    validity: Validity
    recipients: Recipients
    instances: list[SignedInstance] = []
    population: PopulationRule
    fields: list[FieldRule] = Field(min_length=1)
    frequency: FrequencyRule
    channels: list[ChannelRule] = Field(min_length=1)
    key_delivery: Literal["sms"] = "sms"
    mail_disclaimer_nl: str | None = None
    retention: Retention
    profile: ProfileFields | None = None
    on_request: OnRequest | None = None
    content_hash: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> ProtocolDefinition:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("a field is listed twice")
        channels = [c.channel for c in self.channels]
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice")
        if self.instances and self.recipients.requires is not RecipientRequirement.SIGNATURE:
            raise ValueError("signed instances only make sense when recipients require a signature")
        if "seeds/" in self.source_document or ".txt" in self.source_document:
            raise ValueError("source_document names the document; its path goes in source_file")
        mail = {Channel.SECURE_MAIL, Channel.ZIVVER} & set(channels)
        if mail and not self.mail_disclaimer_nl:
            raise ValueError("a mail channel needs mail_disclaimer_nl")
        return self

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def channel_rule(self, channel: Channel) -> ChannelRule | None:
        return next((c for c in self.channels if c.channel is channel), None)

    def instance_for(self, recipient_id: str) -> SignedInstance | None:
        return next((i for i in self.instances if i.recipient == recipient_id), None)

    def with_dates(self, recorded: Mapping[str, date]) -> ProtocolDefinition:
        """This definition with its validity's end computed from a term (``Validity.term``):
        ``term_end`` of the recorded date the term counts from (``recorded``, by kind), or, while
        none is recorded, of the protocol's own entry into force, and ``until_basis_nl`` saying
        which. A definition without a term is returned as it is. The content hash is kept: it is
        the file's; the recorded date has its own audit event."""
        v = self.validity
        if v.term is None:
            return self
        start = recorded.get(v.term.counted_from)
        if start is not None:
            basis = (
                f"{v.term.years} jaar vanaf de {v.term.label_nl} op {start:%d.%m.%Y} "
                "(geregistreerd)"
            )
        else:
            start = v.valid_from
            basis = (
                f"{v.term.years} jaar vanaf de inwerkingtreding van het protocol op "
                f"{start:%d.%m.%Y}: de datum van de {v.term.label_nl} is nog niet geregistreerd"
            )
        until = term_end(start, v.term.years)
        return self.model_copy(
            update={"validity": v.model_copy(update={"until": until, "until_basis_nl": basis})}
        )


class DefinitionError(Exception):
    """A definition file that cannot be used; the message names the file and the problem."""


def parse_definition(content: bytes, source: str) -> ProtocolDefinition:
    """Parse and validate one definition; its content hash is the SHA-256 of the exact bytes."""
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"{source}: not valid UTF-8 TOML: {exc}") from exc
    try:
        definition = ProtocolDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise DefinitionError(f"{source}: {problems}") from exc
    if definition.validity.term is not None and definition.validity.until is not None:
        raise DefinitionError(f"{source}: validity: a term computes 'until'; do not give both")
    digest = hashlib.sha256(content).hexdigest()
    return definition.model_copy(update={"content_hash": f"sha256:{digest}"}).with_dates({})
