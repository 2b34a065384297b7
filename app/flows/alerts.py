"""What needs a person's attention, for the console's overview (issue 10, *Overzicht*): key SMS
that did not reach the contact or whose outcome is unknown, key resends waiting for a second
person, deliveries deferred because a recipient's server was unreachable, files on the drop that
expire soon without having been fetched, and agreements whose notice period runs.

Each kind is one SQL query with a limit (``ALERTS_SHOWN``, ``app.store.alerts``): the store may
hold thousands of runs and the overview is rendered per request, so nothing here reads every
run. An alert names a run
by its reference and a recipient by its name, never a person or a phone number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.flows.execution import DEFERRAL_LIMIT
from app.flows.recipient_changes import ChangeOut, pending
from app.store import alerts as store
from app.store.db import reading
from app.store.snapshots import shared
from exchange import sms_status
from exchange.clock import in_brussels
from exchange.exports import RunState

__all__ = [
    "ALERTS_SHOWN",
    "DROP_EXPIRY_HORIZON",
    "Alert",
    "AlertKind",
    "alerts",
    "changes_for",
]

# A file on the drop that expires within this horizon and was not fetched is an alert: two
# days leave the contact a working day to fetch it, or staff to call them.
DROP_EXPIRY_HORIZON = timedelta(days=2)
# At most this many alerts of each kind (and changes waiting) on the overview, most urgent first.
ALERTS_SHOWN = 20

_SMS_ALERT = sorted(sms_status.NOT_DELIVERED | {sms_status.UNKNOWN})
_SMS_STATUS_NL = {
    sms_status.UNDELIVERED: "niet afgeleverd",
    sms_status.FAILED: "mislukt",
    "canceled": "geannuleerd",
}
# A key SMS alert concerns a run whose file is still with the recipient (or on its way).
_KEY_STATES = [RunState.DELIVERED.value, RunState.KEY_SENT.value, RunState.FETCHED.value]
# A deferred delivery: the run waits for the recipient's server (app.flows.execution._defer).
_WAITING_STATES = [RunState.APPROVED.value, RunState.BUILT.value]
_ON_THE_DROP = [RunState.DELIVERED.value, RunState.KEY_SENT.value]


class AlertKind(enum.StrEnum):
    """What an alert is about; the value names it in the page's markup."""

    KEY_SMS = "key_sms"  # the key SMS undelivered, failed, or its outcome unknown
    RESEND_ASKED = "resend_asked"  # a key resend waits for a second person
    DELIVERY_DEFERRED = "delivery_deferred"  # the recipient's server was unreachable
    DROP_EXPIRING = "drop_expiring"  # a file on the drop expires soon, not fetched
    NOTICE_RUNNING = "notice_running"  # an agreement's notice period runs


@dataclass(frozen=True, slots=True)
class Alert:
    """One line of the overview's alerts: its ``kind``, the run it is about (``run`` id and
    ``reference``) or else the agreement (``protocol``), the recipient (id and Dutch name),
    ``when`` (a moment in Brussels time for a run, the end day for an agreement) and the Dutch
    sentence ``text_nl`` a person reads."""

    kind: AlertKind
    recipient: str
    recipient_name: str
    when: datetime | date
    text_nl: str
    run: int | None = None
    reference: str | None = None
    protocol: str | None = None


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else in_brussels(value)


def _time(moment: datetime) -> str:
    return moment.strftime("%d-%m-%Y %H:%M")


def _day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _key_sms(session: Session) -> list[Alert]:
    """Runs whose latest key SMS is undelivered, failed, cancelled or of unknown outcome."""
    rows = store.last_key_sms_in(session, _SMS_ALERT, _KEY_STATES, ALERTS_SHOWN)
    found = []
    for run in rows:
        name, status, at = run.name, run.status, in_brussels(run.status_at)
        ref = run.reference or str(run.id)
        if status == sms_status.UNKNOWN:
            text = (
                f"De uitkomst van de sleutel-sms voor {ref} ({name}) is onbekend sinds "
                f"{_time(at)}; kbx kijkt ze na bij de provider voor er een nieuwe vertrekt."
            )
        else:
            text = (
                f"De sleutel-sms voor {ref} ({name}) is {_SMS_STATUS_NL.get(status, status)} "
                f"({_time(at)}); een herzending vraagt twee personen."
            )
        found.append(
            Alert(AlertKind.KEY_SMS, run.recipient_id, name, at, text, run.id, run.reference)
        )
    return found


def _resends(session: Session) -> list[Alert]:
    """Runs whose key resend was asked and waits for a second person."""
    found = []
    for run in store.resends_asked(session, ALERTS_SHOWN):
        name = run.name
        at = _moment(run.key_sent_at) or in_brussels(run.requested_at)
        ref = run.reference or str(run.id)
        text = (
            f"{run.resend_requested_by} vroeg de sleutel van {ref} ({name}) opnieuw te versturen; "
            "een tweede persoon keurt de herzending goed."
        )
        found.append(
            Alert(AlertKind.RESEND_ASKED, run.recipient_id, name, at, text, run.id, run.reference)
        )
    return found


def _deferred(session: Session, retry_every: timedelta) -> list[Alert]:
    """Runs waiting for a recipient's server that could not be reached (``remote_checked_at``
    is their last attempt, ``app.flows.execution._defer``)."""
    found = []
    for run in store.deferred_deliveries(session, _WAITING_STATES, ALERTS_SHOWN):
        name = run.name
        last = _moment(run.remote_checked_at)
        assert last is not None  # the query asks for it
        since = _moment(run.state_changed_at) or last
        ref = run.reference or str(run.id)
        text = (
            f"De aflevering van {ref} aan {name} is uitgesteld: de server was onbereikbaar bij "
            f"de laatste poging ({_time(last)}). kbx probeert opnieuw vanaf "
            f"{_time(last + retry_every)}; lukt het niet vóór {_time(since + DEFERRAL_LIMIT)}, "
            "dan mislukt de export."
        )
        found.append(
            Alert(
                AlertKind.DELIVERY_DEFERRED,
                run.recipient_id,
                name,
                last,
                text,
                run.id,
                run.reference,
            )
        )
    return found


def _expiring(session: Session, now: datetime) -> list[Alert]:
    """Files on kbx's own drop, not fetched, that expire within ``DROP_EXPIRY_HORIZON`` (or
    have expired and wait for the worker to remove them)."""
    before = now + DROP_EXPIRY_HORIZON
    rows = store.expiring_on_the_drop(session, _ON_THE_DROP, before, ALERTS_SHOWN)
    found = []
    for run in rows:
        name, expires = run.name, _moment(run.expires_at)
        assert expires is not None  # the query compares it
        ref = run.reference or str(run.id)
        text = (
            f"Het bestand {ref} voor {name} staat op de SFTP-drop en is nog niet opgehaald; "
            f"het vervalt op {_time(expires)} en wordt dan verwijderd."
        )
        found.append(
            Alert(
                AlertKind.DROP_EXPIRING,
                run.recipient_id,
                name,
                expires,
                text,
                run.id,
                run.reference,
            )
        )
    return found


def _notices(session: Session, today: date) -> list[Alert]:
    """Agreements with notice given whose end has not come yet (``exchange.agreements``:
    notice ends an agreement on the notice date plus the protocol's notice period)."""
    found = []
    for agreement in store.notices_running(session, today, ALERTS_SHOWN):
        name = agreement.name
        assert agreement.notice_on is not None  # the query asks for both
        assert agreement.ends_on is not None
        text = (
            f"De overeenkomst van {name} onder {agreement.protocol_id} is opgezegd op "
            f"{_day(agreement.notice_on)}; ze eindigt op {_day(agreement.ends_on)}: vanaf die "
            "dag gaat er geen lijst meer."
        )
        found.append(
            Alert(
                AlertKind.NOTICE_RUNNING,
                agreement.recipient_id,
                name,
                agreement.ends_on,
                text,
                protocol=agreement.protocol_id,
            )
        )
    return found


def alerts(engine: Engine, now: datetime, retry_every: timedelta) -> tuple[Alert, ...]:
    """Every alert of the overview, by kind (key SMS, resends asked, deferred deliveries,
    expiring files, notices), each kind most urgent first and at most ``ALERTS_SHOWN``.
    ``now`` is aware (``Settings.now``); ``retry_every`` is how often kbx tries an unreachable
    server again (``Settings.remote_check_minutes``). Shared by the requests of the same second
    (``app.store.snapshots.shared``: never older than this process's last commit). Reads only;
    raises nothing of its own."""
    today = in_brussels(now).date()

    def read() -> tuple[Alert, ...]:
        with reading(engine) as session:
            return (
                *_key_sms(session),
                *_resends(session),
                *_deferred(session, retry_every),
                *_expiring(session, now),
                *_notices(session, today),
            )

    return shared(engine, f"alerts:{retry_every.total_seconds():g}", now, read)


def changes_for(engine: Engine, name: str) -> list[ChangeOut]:
    """The recipient changes ``name`` may decide on: pending, proposed by someone else (four
    eyes), oldest first, at most ``ALERTS_SHOWN``. Whether the role may decide at all is the
    caller's question (``app.flows.roles``)."""
    return [
        replace(c, requested_at=in_brussels(c.requested_at))
        for c in pending(engine, not_by=name, limit=ALERTS_SHOWN)
    ]
