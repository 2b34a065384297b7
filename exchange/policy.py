"""The policy engine: may this export happen? Pure functions, no I/O.

``evaluate`` checks every rule of the protocol and returns ``Allowed`` or ``Refused`` with *every*
reason, each naming the rule, the article of the source document it comes from, and a Dutch and an
English sentence. It is the only place these rules are checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from exchange.periods import Period, parse_period
from exchange.protocols import (
    CertificateWithinLookback,
    Channel,
    ProtocolDefinition,
    RecipientRequirement,
)
from exchange.requests import ListRequest
from exchange.shown import shown

__all__ = [
    "Agreement",
    "Allowed",
    "Decision",
    "PastRun",
    "Reason",
    "RecipientFacts",
    "Refused",
    "evaluate",
]


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    article: str
    nl: str
    en: str


@dataclass(frozen=True, slots=True)
class Allowed:
    period: Period
    channel: Channel
    lookback_years: int | None

    allowed = True


@dataclass(frozen=True, slots=True)
class Refused:
    reasons: tuple[Reason, ...]

    allowed = False


Decision = Allowed | Refused


@dataclass(frozen=True, slots=True)
class Agreement:
    """A signature of the protocol text, or an accession to a deliberation, as recorded."""

    protocol_id: str
    kind: RecipientRequirement
    signed_on: date
    in_force_on: date | None = None


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    id: str
    kind: str  # "municipality" or "agency"
    agreements: tuple[Agreement, ...] = ()


@dataclass(frozen=True, slots=True)
class PastRun:
    protocol_id: str
    recipient_id: str
    period: str
    state: str


# A run in these states no longer holds its slot: it never produced a list.
_SLOT_RELEASED = frozenset({"refused", "cancelled", "failed"})


def _d(day: date | None) -> str:
    return day.strftime("%d.%m.%Y") if day else "?"


def evaluate(
    definition: ProtocolDefinition,
    recipient: RecipientFacts,
    period_text: str,
    channel_text: str,
    today: date,
    history: Sequence[PastRun],
    lookback_years: int | None = None,
    request: ListRequest | None = None,
) -> Decision:
    """Every rule of ``definition`` for a list to ``recipient`` in the period ``period_text``
    over ``channel_text``, judged on ``today`` (Brussels) against the recipient's ``history``;
    ``request`` is the recipient's request the list answers (only for a protocol whose lists go
    on request, ``definition.on_request``)."""
    reasons: list[Reason] = []
    reasons += _validity(definition, today)
    reasons += _on_request(definition, request, today)
    reasons += _recipient(definition, recipient, today)
    channel, channel_reasons = _channel(definition, channel_text, today)
    reasons += channel_reasons
    period, period_reasons = _period(definition, period_text, today)
    reasons += period_reasons
    lookback, lookback_reasons = _lookback(definition, lookback_years)
    reasons += lookback_reasons
    if period is not None:
        reasons += _frequency(definition, recipient, period, history)
    if reasons or period is None or channel is None:
        return Refused(tuple(reasons))
    return Allowed(period, channel, lookback)


def _validity(definition: ProtocolDefinition, today: date) -> list[Reason]:
    v = definition.validity
    if today < v.valid_from:
        return [
            Reason(
                "protocol.not_in_force",
                v.article,
                f"Het protocol treedt pas in werking op {_d(v.valid_from)}.",
                f"The protocol only enters into force on {v.valid_from}.",
            )
        ]
    if v.until is not None and today > v.until:
        return [
            Reason(
                "protocol.ended",
                v.until_article,
                f"Het protocol is beëindigd op {_d(v.until)}; er mag niets meer worden meegedeeld.",
                f"The protocol ended on {v.until}; nothing may be communicated any more.",
            )
        ]
    return []


def _on_request(
    definition: ProtocolDefinition, request: ListRequest | None, today: date
) -> list[Reason]:
    """Seed 000, overweging C: "kunnen gemeenten deze lijsten maximaal 1 keer per jaar opvragen":
    a list answers a request of the municipality, made on or before today. A protocol whose
    lists do not go on request takes none."""
    rule = definition.on_request
    if rule is None:
        if request is None:
            return []
        return [
            Reason(
                "request.not_applicable",
                definition.frequency.article,
                "Lijsten van dit protocol worden niet op aanvraag bezorgd; laat de aanvraag weg.",
                "Lists of this protocol are not sent on request; leave the request out.",
            )
        ]
    if request is None:
        return [
            Reason(
                "request.missing",
                rule.article,
                "De lijst wordt enkel op aanvraag van de gemeente bezorgd: geef de datum en de "
                "referentie van haar aanvraag.",
                "The list is only sent on the municipality's request: give the date and the "
                "reference of its request.",
            )
        ]
    if request.requested_on > today:
        return [
            Reason(
                "request.date_in_future",
                rule.article,
                f"De aanvraag is gedateerd op {_d(request.requested_on)}, na vandaag.",
                f"The request is dated {request.requested_on}, after today.",
            )
        ]
    return []


def _recipient(
    definition: ProtocolDefinition, recipient: RecipientFacts, today: date
) -> list[Reason]:
    rule = definition.recipients
    if recipient.kind != rule.kind or (rule.ids is not None and recipient.id not in rule.ids):
        return [
            Reason(
                "recipient.not_covered",
                rule.article,
                f"Ontvanger {recipient.id} is geen partij bij dit protocol.",
                f"Recipient {recipient.id} is not a party to this protocol.",
            )
        ]
    if rule.requires is RecipientRequirement.SIGNATURE:
        return _signature(definition, recipient, today)
    if rule.requires is RecipientRequirement.ACCESSION:
        accessions = [
            a
            for a in recipient.agreements
            if a.protocol_id == definition.id and a.kind is RecipientRequirement.ACCESSION
        ]
        if not any(a.signed_on <= today for a in accessions):
            return [
                Reason(
                    "recipient.no_accession",
                    rule.article,
                    f"Gemeente {recipient.id} is niet toegetreden tot de beraadslaging "
                    "(geen ondertekende verbintenis geregistreerd).",
                    f"Municipality {recipient.id} has not acceded to the deliberation "
                    "(no signed commitment on record).",
                )
            ]
    return []


def _signature(
    definition: ProtocolDefinition, recipient: RecipientFacts, today: date
) -> list[Reason]:
    article = definition.recipients.article
    in_force: list[date] = [
        a.in_force_on or a.signed_on
        for a in recipient.agreements
        if a.protocol_id == definition.id and a.kind is RecipientRequirement.SIGNATURE
    ]
    if (instance := definition.instance_for(recipient.id)) is not None:
        in_force.append(instance.in_force)
    if not in_force:
        return [
            Reason(
                "recipient.not_signed",
                article,
                f"Ontvanger {recipient.id} heeft dit protocol niet ondertekend.",
                f"Recipient {recipient.id} has not signed this protocol.",
            )
        ]
    start = min(in_force)
    if today < start:
        return [
            Reason(
                "recipient.signature_not_in_force",
                article,
                f"Het door {recipient.id} ondertekende protocol treedt pas in werking op "
                f"{_d(start)}.",
                f"The protocol signed by {recipient.id} only enters into force on {start}.",
            )
        ]
    return []


def _channel(
    definition: ProtocolDefinition, channel_text: str, today: date
) -> tuple[Channel | None, list[Reason]]:
    allowed = ", ".join(c.channel.value for c in definition.channels)
    try:
        channel = Channel(channel_text)
    except ValueError:
        channel = None
    rule = definition.channel_rule(channel) if channel else None
    if channel is None or rule is None:
        article = definition.channels[0].article
        return None, [
            Reason(
                "channel.not_allowed",
                article,
                f"Kanaal '{shown(channel_text)}' is voor dit protocol niet toegestaan "
                f"(wel: {allowed}).",
                f"Channel '{shown(channel_text)}' is not allowed under this protocol "
                f"(allowed: {allowed}).",
            )
        ]
    if today < rule.valid_from:
        return channel, [
            Reason(
                "channel.not_yet_open",
                rule.article,
                f"Kanaal '{channel.value}' is pas toegestaan vanaf {_d(rule.valid_from)}.",
                f"Channel '{channel.value}' is only allowed from {rule.valid_from}.",
            )
        ]
    if rule.until is not None and today > rule.until:
        return channel, [
            Reason(
                "channel.expired",
                rule.article,
                f"Kanaal '{channel.value}' was slechts toegestaan tot en met {_d(rule.until)}.",
                f"Channel '{channel.value}' was only allowed up to and including {rule.until}.",
            )
        ]
    return channel, []


def _period(
    definition: ProtocolDefinition, period_text: str, today: date
) -> tuple[Period | None, list[Reason]]:
    rule = definition.frequency
    period = parse_period(period_text)
    if period is None or period.unit is not rule.unit:
        form = "JJJJ (bv. 2026)" if rule.unit.value == "calendar_year" else "JJJJ-H1 of JJJJ-H2"
        form_en = "YYYY (e.g. 2026)" if rule.unit.value == "calendar_year" else "YYYY-H1 or YYYY-H2"
        return None, [
            Reason(
                "period.form",
                rule.article,
                f"Periode '{shown(period_text)}' past niet bij dit protocol; verwacht: {form}.",
                f"Period '{shown(period_text)}' does not fit this protocol; expected: {form_en}.",
            )
        ]
    if not period.contains(today):
        return period, [
            Reason(
                "period.not_current",
                rule.article,
                f"Een lijst kan enkel voor de lopende periode worden gevraagd, niet voor {period}.",
                f"A list can only be requested for the running period, not for {period}.",
            )
        ]
    return period, []


def _lookback(
    definition: ProtocolDefinition, lookback_years: int | None
) -> tuple[int | None, list[Reason]]:
    rule = definition.population
    if not isinstance(rule, CertificateWithinLookback):
        if lookback_years is None:
            return None, []
        return None, [
            Reason(
                "lookback.not_applicable",
                rule.article,
                "Dit protocol kent geen terugblikperiode.",
                "This protocol has no look-back period.",
            )
        ]
    if lookback_years is None:
        return rule.default_lookback_years, []
    if lookback_years not in rule.lookback_years:
        choices = " of ".join(str(n) for n in rule.lookback_years)
        return None, [
            Reason(
                "lookback.not_allowed",
                rule.article,
                f"De terugblikperiode moet {choices} jaar zijn.",
                f"The look-back period must be {choices.replace(' of ', ' or ')} years.",
            )
        ]
    return lookback_years, []


def _frequency(
    definition: ProtocolDefinition,
    recipient: RecipientFacts,
    period: Period,
    history: Sequence[PastRun],
) -> list[Reason]:
    rule = definition.frequency
    if rule.max_lists is None:
        return []
    used = sum(
        1
        for run in history
        if run.protocol_id == definition.id
        and run.recipient_id == recipient.id
        and run.period == str(period)
        and run.state not in _SLOT_RELEASED
    )
    if used < rule.max_lists:
        return []
    return [
        Reason(
            "frequency.exhausted",
            rule.article,
            f"Voor periode {period} werd al een lijst aangemaakt of geleverd aan {recipient.id} "
            f"(maximaal {rule.max_lists}).",
            f"A list for period {period} was already made or delivered to {recipient.id} "
            f"(at most {rule.max_lists}).",
        )
    ]
