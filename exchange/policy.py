"""The policy engine: may this export happen? Pure functions, no I/O.

``evaluate`` checks every rule of the protocol and returns ``Allowed`` or ``Refused`` with *every*
reason, each naming the rule, the article of the source document it comes from, and a Dutch and an
English sentence. It is the only place these rules are checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from exchange.agreements import Agreement, AgreementState, Cadence, add_months
from exchange.periods import Period, PeriodUnit, parse_period, period_containing
from exchange.protocols import (
    CertificateWithinLookback,
    Channel,
    ProtocolDefinition,
    RecipientRequirement,
)
from exchange.requests import ListRequest
from exchange.shown import shown, shown_nl

__all__ = [
    "Agreement",
    "Allowed",
    "Decision",
    "PastRun",
    "Reason",
    "RecipientFacts",
    "Refused",
    "evaluate",
    "next_list_period",
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
class RecipientFacts:
    """What the policy knows of a recipient. ``active`` False: AgII stopped every list to it
    (``recipients.active``); ``agreements`` as recorded, with their lifecycle
    (``exchange.agreements``)."""

    id: str
    kind: str  # "municipality" or "agency"
    agreements: tuple[Agreement, ...] = ()
    active: bool = True


@dataclass(frozen=True, slots=True)
class PastRun:
    protocol_id: str
    recipient_id: str
    period: str
    state: str


# A run in these states no longer holds its slot: it never produced a list.
_SLOT_RELEASED = frozenset({"refused", "cancelled", "failed"})


_CADENCE_NL = {Cadence.YEARLY: "jaarlijkse", Cadence.TWO_YEARLY: "tweejaarlijkse"}


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
    cadence = _declared_cadence(definition, recipient)
    lookback, lookback_reasons = _lookback(definition, lookback_years, cadence)
    reasons += lookback_reasons
    if period is not None:
        reasons += _frequency(definition, recipient, period, history)
        reasons += _cadence(definition, recipient, period, history, cadence)
    if reasons or period is None or channel is None:
        return Refused(tuple(reasons))
    return Allowed(period, channel, lookback)


def next_list_period(
    definition: ProtocolDefinition,
    recipient: RecipientFacts,
    today: date,
    history: Sequence[PastRun],
    horizon: int = 4,
) -> Period | None:
    """The first period, from the one running on ``today`` (a Brussels date), for which the rules
    that do not depend on a request allow a list to ``recipient``: the protocol's validity, the
    recipient and its agreement (judged on the period's first day, or ``today`` within the
    running period), the number of lists per period and the ceremony cadence. None when none of
    the next ``horizon`` periods is allowed (the protocol or the agreement ends first, the
    agreement is suspended or missing). The request's own rules (channel, period form,
    look-back, an art. 20 request) are ``evaluate``'s, asked by the request form."""
    period = period_containing(definition.frequency.unit, today)
    cadence = _declared_cadence(definition, recipient)
    for _ in range(horizon):
        day = max(today, period.start)
        reasons = (
            _validity(definition, day)
            + _recipient(definition, recipient, day)
            + _frequency(definition, recipient, period, history)
            + _cadence(definition, recipient, period, history, cadence)
        )
        if not reasons:
            return period
        period = period.following()
    return None


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
    a list answers a request of the municipality, made on or before today, not before the
    protocol entered into force, and within the past twelve months (a yearly list answers a
    request of its year, not one made for an earlier list). A protocol whose lists do not go on
    request takes none."""
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
    asked = request.requested_on
    if asked > today:
        return [
            Reason(
                "request.date_in_future",
                rule.article,
                f"De aanvraag is gedateerd op {_d(asked)}, na vandaag.",
                f"The request is dated {asked}, after today.",
            )
        ]
    if asked < definition.validity.valid_from:
        return [
            Reason(
                "request.before_protocol",
                rule.article,
                f"De aanvraag van {_d(asked)} is ouder dan het protocol "
                f"(in werking op {_d(definition.validity.valid_from)}).",
                f"The request of {asked} is older than the protocol "
                f"(in force on {definition.validity.valid_from}).",
            )
        ]
    # At most one list a year, on request: a request answers this year's list, not a later one.
    oldest = add_months(today, -12)
    if asked < oldest:
        return [
            Reason(
                "request.too_old",
                rule.article,
                f"De aanvraag van {_d(asked)} is meer dan een jaar oud (vóór {_d(oldest)}); "
                "een jaarlijkse lijst beantwoordt een aanvraag van het voorbije jaar.",
                f"The request of {asked} is more than a year old (before {oldest}); a yearly "
                "list answers a request of the past year.",
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
    if not recipient.active:
        return [
            Reason(
                "recipient.inactive",
                rule.article,
                f"Ontvanger {recipient.id} staat op niet actief: AgII stuurt er geen lijsten heen.",
                f"Recipient {recipient.id} is set inactive: AgII sends it no lists.",
            )
        ]
    if rule.requires is RecipientRequirement.SIGNATURE:
        return _signature(definition, recipient, today)
    if rule.requires is RecipientRequirement.ACCESSION:
        return _accession(definition, recipient, today)
    party = _agreement_of(definition, recipient, RecipientRequirement.NONE)
    return [] if party is None else _lifecycle(definition, recipient, party, today)


def _agreement_of(
    definition: ProtocolDefinition, recipient: RecipientFacts, kind: RecipientRequirement
) -> Agreement | None:
    """The recipient's agreement of ``kind`` under this protocol: the one on record, else the
    signed instance the definition itself names (Lommel's protocol, seed 000)."""
    for a in recipient.agreements:
        if a.protocol_id == definition.id and a.kind is kind:
            return a
    instance = definition.instance_for(recipient.id)
    if kind is RecipientRequirement.SIGNATURE and instance is not None:
        return Agreement(definition.id, kind, instance.signed_on, instance.in_force)
    return None


def _signature(
    definition: ProtocolDefinition, recipient: RecipientFacts, today: date
) -> list[Reason]:
    article = definition.recipients.signature_article
    signature = _agreement_of(definition, recipient, RecipientRequirement.SIGNATURE)
    if signature is None:
        return [
            Reason(
                "recipient.not_signed",
                article,
                f"Ontvanger {recipient.id} heeft dit protocol niet ondertekend.",
                f"Recipient {recipient.id} has not signed this protocol.",
            )
        ]
    # Every reason at once: a signature not yet in force may also have been ended already.
    reasons: list[Reason] = []
    start = signature.starts_on
    if today < signature.signed_on:
        reasons.append(_not_yet_signed(recipient, signature, article))
    elif today < start:
        reasons.append(
            Reason(
                "recipient.signature_not_in_force",
                article,
                f"Het door {recipient.id} ondertekende protocol treedt pas in werking op "
                f"{_d(start)}.",
                f"The protocol signed by {recipient.id} only enters into force on {start}.",
            )
        )
    return reasons + _lifecycle(definition, recipient, signature, today)


def _not_yet_signed(recipient: RecipientFacts, agreement: Agreement, article: str) -> Reason:
    return Reason(
        "recipient.not_yet_signed",
        article,
        f"Ontvanger {recipient.id} ondertekende pas op {_d(agreement.signed_on)}; "
        "vóór die datum mag geen lijst vertrekken.",
        f"Recipient {recipient.id} only signed on {agreement.signed_on}; no list may leave "
        "before that date.",
    )


def _accession(
    definition: ProtocolDefinition, recipient: RecipientFacts, today: date
) -> list[Reason]:
    """Seed 003, Besluit: only a municipality that sent its signed commitment to the deliberation
    of 18.11.2024 (the definition's ``validity.from``) receives a list."""
    article = definition.recipients.article
    accession = _agreement_of(definition, recipient, RecipientRequirement.ACCESSION)
    if accession is None:
        return [
            Reason(
                "recipient.no_accession",
                article,
                f"Gemeente {recipient.id} is niet toegetreden tot de beraadslaging "
                "(geen ondertekende verbintenis geregistreerd).",
                f"Municipality {recipient.id} has not acceded to the deliberation "
                "(no signed commitment on record).",
            )
        ]
    deliberation = definition.validity.valid_from
    if accession.signed_on < deliberation:
        return [
            Reason(
                "accession.before_deliberation",
                article,
                f"De toetreding van {recipient.id} is gedateerd op {_d(accession.signed_on)}, "
                f"vóór de beraadslaging van {_d(deliberation)}: ze is niet geldig.",
                f"The accession of {recipient.id} is dated {accession.signed_on}, before the "
                f"deliberation of {deliberation}: it is not valid.",
            )
        ]
    if today < accession.signed_on:
        return [_not_yet_signed(recipient, accession, article)]
    return _lifecycle(definition, recipient, accession, today)


def _lifecycle(
    definition: ProtocolDefinition, recipient: RecipientFacts, agreement: Agreement, today: date
) -> list[Reason]:
    """An agreement that ended, was withdrawn, or is suspended allows nothing (seed 000 art. 8
    and 12; seed 003, Besluit)."""
    state = agreement.state_on(today)
    end_article = agreement.end_article or definition.validity.article
    if state is AgreementState.ENDED:
        return [
            Reason(
                "agreement.ended",
                end_article,
                f"De overeenkomst met {recipient.id} is beëindigd op {_d(agreement.ends_on)}.",
                f"The agreement with {recipient.id} ended on {agreement.ends_on}.",
            )
        ]
    if state is AgreementState.WITHDRAWN:
        return [
            Reason(
                "accession.withdrawn",
                end_article,
                f"Gemeente {recipient.id} heeft haar toetreding ingetrokken op "
                f"{_d(agreement.ends_on)}.",
                f"Municipality {recipient.id} withdrew its accession on {agreement.ends_on}.",
            )
        ]
    if state is AgreementState.SUSPENDED:
        return [
            Reason(
                "agreement.suspended",
                agreement.suspension_article or definition.recipients.article,
                f"De overeenkomst met {recipient.id} is geschorst sinds "
                f"{_d(agreement.suspended_on)}.",
                f"The agreement with {recipient.id} is suspended since {agreement.suspended_on}.",
            )
        ]
    return []


def _declared_cadence(definition: ProtocolDefinition, recipient: RecipientFacts) -> Cadence | None:
    if not isinstance(definition.population, CertificateWithinLookback):
        return None
    accession = _agreement_of(definition, recipient, RecipientRequirement.ACCESSION)
    return None if accession is None else accession.cadence


def _cadence(
    definition: ProtocolDefinition,
    recipient: RecipientFacts,
    period: Period,
    history: Sequence[PastRun],
    cadence: Cadence | None,
) -> list[Reason]:
    """Seed 003 rn. 42: a two-yearly ceremony takes the last two years and then skips a year, so
    that no person goes twice to the same municipality."""
    if cadence is not Cadence.TWO_YEARLY or period.unit is not PeriodUnit.CALENDAR_YEAR:
        return []
    previous = str(period.year - 1)
    if not any(
        run.protocol_id == definition.id
        and run.recipient_id == recipient.id
        and run.period == previous
        and run.state not in _SLOT_RELEASED
        for run in history
    ):
        return []
    return [
        Reason(
            "frequency.two_yearly_cadence",
            definition.population.article,
            f"Gemeente {recipient.id} houdt een tweejaarlijkse ceremonie en kreeg al een lijst "
            f"voor {previous} (twee jaar terug); de volgende lijst kan voor {period.year + 1}.",
            f"Municipality {recipient.id} holds a two-yearly ceremony and already received a "
            f"list for {previous} (two years back); the next list can be for {period.year + 1}.",
        )
    ]


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
                f"Kanaal '{shown_nl(channel_text)}' is voor dit protocol niet toegestaan "
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
                f"Periode '{shown_nl(period_text)}' past niet bij dit protocol; verwacht: {form}.",
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
    definition: ProtocolDefinition, lookback_years: int | None, cadence: Cadence | None = None
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
    if cadence is not None:
        # Seed 003 rn. 42: the look-back follows the ceremony cadence the municipality declared.
        if lookback_years is not None and lookback_years != cadence.lookback_years:
            return None, [
                Reason(
                    "lookback.not_cadence",
                    rule.article,
                    f"De gemeente verklaarde een {_CADENCE_NL[cadence]} ceremonie: de "
                    f"terugblikperiode is {cadence.lookback_years} jaar, niet {lookback_years}.",
                    f"The municipality declared a {cadence.value} ceremony: the look-back is "
                    f"{cadence.lookback_years} year(s), not {lookback_years}.",
                )
            ]
        return cadence.lookback_years, []
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
            f"Voor periode {period} is al een lijst voor {recipient.id} aangevraagd, aangemaakt "
            f"of geleverd (maximaal {rule.max_lists}; een geweigerde, geannuleerde of mislukte "
            "telt niet).",
            f"A list for period {period} was already requested, made or delivered for "
            f"{recipient.id} (at most {rule.max_lists}; a refused, cancelled or failed one does "
            "not count).",
        )
    ]
