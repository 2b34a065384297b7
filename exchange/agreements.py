"""Agreements as records with a lifecycle. Pure: no I/O, no database session.

An agreement is what a recipient must have on record before a list may go to it: a municipality's
signature of a protocol text (``art20-municipal``, seed 000), a municipality's accession to a
general deliberation (``vcmp-ceremony``, seed 003), or an agency's own party to a protocol
(``vdab-pillar3``, ``vsb-care``).

Lifecycle, judged on a day (``Agreement.state_on``)::

    not yet signed -> signed -> in force -> notice given -> ended
                                  |  ^
                          suspend v  | resume            (an accession: withdrawn)

- notice (seed 000 art. 12: 12 months; seed 004 art. 12: 3 months; seed 001 art. 12: one month;
  seed 002 art. 12: 12 months): the agreement ends on ``notice date + notice_months``;
- end (seed 000 art. 8: AgII may end the protocol by simple notification on a breach): ends on the
  date given, with a reason and the article;
- suspend / resume (seed 000 art. 8, the lesser measure of the same power): no list while
  suspended, with a reason and the article;
- withdraw: a municipality withdraws its accession (seed 003, Besluit); no list from that day on.

``check_transition`` says whether a transition may be recorded; ``transition_updates`` gives
the new values of the record. The policy engine (``exchange.policy``) reads the state.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date

from exchange.protocols import RecipientRequirement

__all__ = [
    "Agreement",
    "AgreementState",
    "Cadence",
    "EndKind",
    "Transition",
    "TransitionProblem",
    "add_months",
    "check_transition",
    "state_nl",
    "transition_updates",
]


class Cadence(enum.StrEnum):
    """How often a municipality holds its integration ceremony (seed 003 rn. 30 and 42)."""

    YEARLY = "yearly"
    TWO_YEARLY = "two-yearly"

    @property
    def lookback_years(self) -> int:
        """Rn. 42 pairs them: a yearly ceremony takes the last year, a two-yearly one two."""
        return 1 if self is Cadence.YEARLY else 2


class AgreementState(enum.StrEnum):
    NOT_YET_SIGNED = "not_yet_signed"
    SIGNED = "signed"  # signed, not yet in force
    IN_FORCE = "in_force"
    NOTICE_GIVEN = "notice_given"  # in force until ``ends_on``
    SUSPENDED = "suspended"
    ENDED = "ended"
    WITHDRAWN = "withdrawn"


class Transition(enum.StrEnum):
    NOTICE = "notice"
    SUSPEND = "suspend"
    RESUME = "resume"
    END = "end"
    WITHDRAW = "withdraw"


class EndKind(enum.StrEnum):
    NOTICE = "notice"  # the notice period ran out
    TERMINATION = "termination"  # ended at once (seed 000 art. 8)
    WITHDRAWAL = "withdrawal"  # an accession withdrawn


_STATE_NL = {
    AgreementState.NOT_YET_SIGNED: "nog niet ondertekend",
    AgreementState.SIGNED: "ondertekend, nog niet in werking",
    AgreementState.IN_FORCE: "in werking",
    AgreementState.NOTICE_GIVEN: "opgezegd",
    AgreementState.SUSPENDED: "geschorst",
    AgreementState.ENDED: "beëindigd",
    AgreementState.WITHDRAWN: "ingetrokken",
}


@dataclass(frozen=True, slots=True)
class Agreement:
    """A signature of the protocol text, an accession to a deliberation, or an agency's own
    party to a protocol (``kind`` ``NONE``), as recorded. Dates are calendar days (Brussels)."""

    protocol_id: str
    kind: RecipientRequirement
    signed_on: date
    in_force_on: date | None = None
    cadence: Cadence | None = None
    notice_on: date | None = None
    ends_on: date | None = None
    end_kind: EndKind | None = None
    end_article: str | None = None
    suspended_on: date | None = None
    suspension_article: str | None = None

    @property
    def starts_on(self) -> date:
        """The first day a list may go: the in-force date, but never before the signature."""
        return max(self.signed_on, self.in_force_on or self.signed_on)

    def state_on(self, day: date) -> AgreementState:
        """The agreement's state on ``day``: an end or withdrawal wins over a suspension, a
        suspension over notice."""
        if self.ends_on is not None and day >= self.ends_on:
            if self.end_kind is EndKind.WITHDRAWAL:
                return AgreementState.WITHDRAWN
            return AgreementState.ENDED
        if self.suspended_on is not None and day >= self.suspended_on:
            return AgreementState.SUSPENDED
        if day < self.signed_on:
            return AgreementState.NOT_YET_SIGNED
        if day < self.starts_on:
            return AgreementState.SIGNED
        if self.notice_on is not None and day >= self.notice_on:
            return AgreementState.NOTICE_GIVEN
        return AgreementState.IN_FORCE


def state_nl(state: AgreementState) -> str:
    """The state as staff read it in Dutch."""
    return _STATE_NL[state]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day
    (2026-01-31 + 1 month = 2026-02-28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class TransitionProblem(ValueError):
    """A transition that cannot be recorded. ``code`` is stable; ``en`` and ``nl`` say why."""

    def __init__(self, code: str, en: str, nl: str) -> None:
        super().__init__(en)
        self.code, self.en, self.nl = code, en, nl


def check_transition(
    agreement: Agreement,
    transition: Transition,
    on: date,
    today: date,
    notice_months: int | None,
) -> None:
    """Raises ``TransitionProblem`` unless ``transition`` may be recorded as taking effect on
    ``on`` (a day not after ``today``, not before the signature). ``notice_months`` is the
    protocol's notice period (``[validity] notice_months``), None when it has none."""
    if on > today:
        raise TransitionProblem(
            "agreement.future_date",
            f"the date {on.isoformat()} lies in the future",
            f"de datum {on.isoformat()} ligt in de toekomst",
        )
    if on < agreement.signed_on:
        raise TransitionProblem(
            "agreement.before_signature",
            f"the date {on.isoformat()} lies before the signature "
            f"({agreement.signed_on.isoformat()})",
            f"de datum {on.isoformat()} ligt vóór de ondertekening "
            f"({agreement.signed_on.isoformat()})",
        )
    over = (AgreementState.ENDED, AgreementState.WITHDRAWN)
    if agreement.state_on(on) in over or agreement.state_on(today) in over:
        raise TransitionProblem(
            "agreement.ended",
            f"the agreement ended on {agreement.ends_on}",
            f"de overeenkomst is beëindigd op {agreement.ends_on}",
        )
    if transition is Transition.NOTICE:
        if agreement.kind is RecipientRequirement.ACCESSION or notice_months is None:
            raise TransitionProblem(
                "agreement.no_notice_period",
                "this agreement has no notice period (an accession is withdrawn)",
                "deze overeenkomst kent geen opzegtermijn (een toetreding wordt ingetrokken)",
            )
        if agreement.notice_on is not None:
            raise TransitionProblem(
                "agreement.notice_given",
                f"notice was already given on {agreement.notice_on.isoformat()}",
                f"de overeenkomst werd al opgezegd op {agreement.notice_on.isoformat()}",
            )
    elif transition is Transition.WITHDRAW:
        if agreement.kind is not RecipientRequirement.ACCESSION:
            raise TransitionProblem(
                "agreement.not_accession",
                "only an accession is withdrawn (a protocol is given notice or ended)",
                "enkel een toetreding wordt ingetrokken (een protocol wordt opgezegd of beëindigd)",
            )
    elif transition is Transition.SUSPEND:
        if agreement.suspended_on is not None:
            raise TransitionProblem(
                "agreement.suspended",
                f"the agreement is already suspended since {agreement.suspended_on.isoformat()}",
                f"de overeenkomst is al geschorst sinds {agreement.suspended_on.isoformat()}",
            )
    elif transition is Transition.RESUME:
        if agreement.suspended_on is None:
            raise TransitionProblem(
                "agreement.not_suspended",
                "the agreement is not suspended",
                "de overeenkomst is niet geschorst",
            )
        if on < agreement.suspended_on:
            raise TransitionProblem(
                "agreement.before_suspension",
                f"the date {on.isoformat()} lies before the suspension "
                f"({agreement.suspended_on.isoformat()})",
                f"de datum {on.isoformat()} ligt vóór de schorsing "
                f"({agreement.suspended_on.isoformat()})",
            )


def transition_updates(
    transition: Transition,
    on: date,
    notice_months: int | None,
    reason: str | None,
    article: str | None,
) -> dict[str, object]:
    """The record's new values (column name -> value) once ``transition`` is applied; call
    ``check_transition`` first. A notice ends the agreement on ``on + notice_months``."""
    if transition is Transition.NOTICE:
        assert notice_months is not None  # check_transition refused it otherwise
        return {
            "notice_on": on,
            "ends_on": add_months(on, notice_months),
            "end_kind": EndKind.NOTICE.value,
            "end_reason": reason,
            "end_article": article,
        }
    if transition in (Transition.END, Transition.WITHDRAW):
        kind = EndKind.TERMINATION if transition is Transition.END else EndKind.WITHDRAWAL
        return {
            "ends_on": on,
            "end_kind": kind.value,
            "end_reason": reason,
            "end_article": article,
        }
    if transition is Transition.SUSPEND:
        return {"suspended_on": on, "suspension_reason": reason, "suspension_article": article}
    return {"suspended_on": None, "suspension_reason": None, "suspension_article": None}
