"""The one error catalogue: every error code kbx raises or answers, with its HTTP status and a
generic message in English and Dutch, and the one choice of an error's Dutch text (``dutch``).

``ERRORS`` holds every code raised anywhere in ``app/`` (``KbxError`` and its kind) and every code
the API's own handlers answer. It is a literal, read-only mapping: nothing adds to it at import
time (``tests/test_error_catalogue.py`` walks ``app/`` for every code raised and holds it to this
list). The API (``app.api.errors``) answers with it, and the command line (``app.cli``) prints
with it: this module imports only the standard library, so that a failing ``kbx`` command does
not pay for FastAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.errors import KbxError

__all__ = ["ERRORS", "ErrorCode", "dutch"]

log = logging.getLogger("kbx.errors")


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    en: str
    nl: str


ERRORS: Mapping[str, ErrorCode] = MappingProxyType(
    {
        # -- the API's own: authentication, roles, malformed requests, the framework ----------
        "auth.failed": ErrorCode(401, "Wrong name or password", "Verkeerde naam of wachtwoord"),
        "auth.throttled": ErrorCode(
            429,
            "Too many failed logins; try again after the number of seconds in Retry-After",
            "Te veel mislukte aanmeldingen; probeer opnieuw na het aantal seconden in Retry-After",
        ),
        "auth.missing": ErrorCode(401, "Authentication required", "Aanmelding vereist"),
        "auth.invalid": ErrorCode(401, "Invalid or expired token", "Ongeldig of verlopen token"),
        "auth.role": ErrorCode(403, "Your role may not do this", "Uw rol mag dit niet"),
        "request.invalid": ErrorCode(422, "The request is not valid", "De aanvraag is ongeldig"),
        "http.bad_request": ErrorCode(
            400, "The request could not be read", "De aanvraag kon niet gelezen worden"
        ),
        "http.not_found": ErrorCode(404, "No such path", "Dit pad bestaat niet"),
        "http.method_not_allowed": ErrorCode(
            405, "Method not allowed", "Deze methode is niet toegestaan"
        ),
        "internal.error": ErrorCode(500, "Internal error", "Interne fout"),
        # -- protocols, recipients, policy ----------------------------------------------------
        "protocol.unknown": ErrorCode(404, "Unknown protocol", "Onbekend protocol"),
        "recipient.unknown": ErrorCode(404, "Unknown recipient", "Onbekende ontvanger"),
        "policy.refused": ErrorCode(
            409,
            "Refused by the protocol; every reason is listed",
            "Geweigerd door het protocol; elke reden staat erbij",
        ),
        "request.incomplete": ErrorCode(
            400,
            "A municipality's request needs both its date and its reference",
            "Een aanvraag van een gemeente heeft een datum en een referentie nodig",
        ),
        "request.reference_invalid": ErrorCode(
            400,
            "The request reference is not acceptable (1 to 64 printable characters, no long "
            "number)",
            "De referentie van de aanvraag is niet aanvaardbaar (1 tot 64 afdrukbare tekens, "
            "geen lang nummer)",
        ),
        "requests.invalid": ErrorCode(
            400,
            "The requests are refused; every bad line is named",
            "De aanvragen zijn geweigerd; elke foute regel wordt genoemd",
        ),
        "requests.unknown_recipient": ErrorCode(
            400,
            "A request names no known municipality; nothing is requested",
            "Een aanvraag noemt geen gekende gemeente; er wordt niets aangevraagd",
        ),
        "batch.requests_required": ErrorCode(
            400,
            "This protocol's lists go only to the municipalities that asked: give their requests",
            "De lijsten van dit protocol gaan enkel naar de gemeenten die ze opvroegen: geef "
            "hun aanvragen",
        ),
        "batch.not_on_request": ErrorCode(
            400,
            "This protocol's lists are not sent on request",
            "De lijsten van dit protocol worden niet op aanvraag bezorgd",
        ),
        "protocol.no_such_date": ErrorCode(
            400,
            "The protocol's validity does not count from such a date",
            "De geldigheid van het protocol wordt niet vanaf zo'n datum geteld",
        ),
        "protocol.date_in_future": ErrorCode(
            400,
            "A protocol date is recorded once it happened",
            "Een datum van een protocol wordt vastgelegd zodra ze plaatsvond",
        ),
        "recipient.no_contact": ErrorCode(
            409,
            "The recipient has no registered contact for the key SMS",
            "De ontvanger heeft geen geregistreerde contactpersoon voor de sleutel-sms",
        ),
        "recipient.no_key": ErrorCode(
            409,
            "The recipient has no SSH key registered for the SFTP drop",
            "De ontvanger heeft geen SSH-sleutel geregistreerd voor de SFTP-drop",
        ),
        "recipient.no_sftp_server": ErrorCode(
            409,
            "The recipient has no SFTP server registered for a push",
            "De ontvanger heeft geen SFTP-server geregistreerd voor een push",
        ),
        "recipient.no_mailbox": ErrorCode(
            409,
            "The recipient has no mailbox registered for this mail route",
            "De ontvanger heeft geen e-mailadres geregistreerd voor deze mailroute",
        ),
        "channel.not_configured": ErrorCode(
            409,
            "This channel is not configured on this service",
            "Dit kanaal is op deze dienst niet ingesteld",
        ),
        # -- a rejection's reason (app.flows.rejections) --------------------------------------
        "rejection.reason_missing": ErrorCode(
            400,
            "Rejecting what someone else asked for needs a reason",
            "Wie afwijst wat een ander vroeg, geeft een reden van afwijzing",
        ),
        "rejection.reason_invalid": ErrorCode(
            400,
            "The reason must be 3 to 300 printable characters",
            "De reden van afwijzing moet 3 tot 300 afdrukbare tekens lang zijn",
        ),
        "rejection.reason_national_number": ErrorCode(
            400,
            "The reason holds a number that could be a national number; nothing is recorded",
            "De reden van afwijzing bevat een getal dat een rijksregisternummer zou kunnen zijn; "
            "er wordt niets vastgelegd",
        ),
        # -- export runs ----------------------------------------------------------------------
        "run.unknown": ErrorCode(404, "Unknown run", "Onbekende run"),
        "run.four_eyes": ErrorCode(
            409,
            "The requester cannot approve their own request",
            "Wie iets aanvraagt, kan het niet zelf goedkeuren",
        ),
        "run.not_requester": ErrorCode(
            409,
            "Only the requester may cancel a run; an approver may reject one that waits for "
            "approval",
            "Alleen wie de export aanvroeg, kan ze annuleren; een goedkeurder kan een aanvraag "
            "die op goedkeuring wacht, afwijzen",
        ),
        "run.invalid_transition": ErrorCode(
            409,
            "The run cannot take this step in its current state",
            "De export kan deze stap niet zetten in haar huidige toestand",
        ),
        "run.no_key_yet": ErrorCode(
            409, "The key has not been sent yet", "De sleutel is nog niet verstuurd"
        ),
        "run.not_delivered": ErrorCode(
            409, "The key is only sent after delivery", "De sleutel gaat pas weg na de levering"
        ),
        "run.key_destroyed": ErrorCode(
            409,
            "The password of this run has been destroyed",
            "Het wachtwoord van deze run is vernietigd",
        ),
        "run.no_resend_request": ErrorCode(
            409,
            "Nobody asked for a resend of this key",
            "Niemand vroeg om deze sleutel opnieuw te versturen",
        ),
        "run.no_return_leg": ErrorCode(
            400, "This protocol has no return leg", "Dit protocol heeft geen terugweg"
        ),
        "run.not_awaiting_return": ErrorCode(
            409,
            "The run is not awaiting a return file",
            "De export wacht niet op een teruggestuurd bestand",
        ),
        # -- batches --------------------------------------------------------------------------
        "batch.unknown": ErrorCode(404, "Unknown batch", "Onbekende reeks"),
        "batch.not_applicable": ErrorCode(
            400,
            "This protocol has fixed recipients; request them one by one",
            "Dit protocol heeft vaste ontvangers; vraag ze een voor een aan",
        ),
        "batch.refused": ErrorCode(
            409,
            "No run requested: every recipient was refused; every reason is listed",
            "Geen run aangevraagd: elke ontvanger werd geweigerd; elke reden staat erbij",
        ),
        "batch.nothing_to_approve": ErrorCode(
            409,
            "No run of this batch is waiting for approval",
            "Geen run van deze reeks wacht op goedkeuring",
        ),
        # -- the key SMS ----------------------------------------------------------------------
        "sms.unavailable": ErrorCode(
            502,
            "The key SMS could not be sent now; the resend can be approved again",
            "De sleutel-sms kon nu niet vertrekken; de herzending kan opnieuw worden goedgekeurd",
        ),
        "sms.bad_signature": ErrorCode(
            403,
            "The request is not signed by Twilio",
            "De aanvraag is niet door Twilio ondertekend",
        ),
        "sms.invalid_callback": ErrorCode(
            400,
            "A status callback needs MessageSid and MessageStatus",
            "Een statusmelding heeft MessageSid en MessageStatus nodig",
        ),
        "sms.unknown": ErrorCode(404, "No key SMS with this id", "Geen sleutel-sms met deze id"),
        # -- the VSB individual check ---------------------------------------------------------
        "check.not_in_force": ErrorCode(
            409,
            "The vsb-care protocol is not in force today",
            "Het protocol vsb-care is vandaag niet van kracht",
        ),
        "check.date_out_of_scope": ErrorCode(
            422,
            "The integration condition applies from 2022-01-01 on (VSB protocol, recital D); "
            "an earlier date is not answered",
            "De inburgeringsvoorwaarde geldt pas vanaf 01.01.2022 (overweging D); "
            "een vroegere datum wordt niet beantwoord",
        ),
        "check.rate_limited": ErrorCode(
            429,
            "Too many checks; try again after the number of seconds in Retry-After",
            "Te veel controles; probeer opnieuw na het aantal seconden in Retry-After",
        ),
        # -- recipient settings and their four-eyes changes -----------------------------------
        "change.unknown": ErrorCode(404, "Unknown change", "Onbekende wijziging"),
        "change.decided": ErrorCode(
            409, "This change was already decided", "Over deze wijziging is al beslist"
        ),
        "change.four_eyes": ErrorCode(
            409,
            "Who proposes a change cannot approve it",
            "Wie een wijziging voorstelt, kan ze niet zelf goedkeuren",
        ),
        "change.invalid_contact": ErrorCode(
            400, "The contact is not valid", "De contactpersoon is ongeldig"
        ),
        "change.invalid_key": ErrorCode(
            400, "The SSH key is not valid", "De SSH-sleutel is ongeldig"
        ),
        "change.invalid_sftp": ErrorCode(
            400, "The SFTP settings are not valid", "De SFTP-instellingen zijn ongeldig"
        ),
        "change.invalid_mail": ErrorCode(
            400, "The mailbox settings are not valid", "De e-mailinstellingen zijn ongeldig"
        ),
        "contact.invalid": ErrorCode(
            400, "The contact is not valid", "De contactpersoon is ongeldig"
        ),
        "key.duplicate": ErrorCode(
            409, "This key is already registered", "Deze sleutel is al geregistreerd"
        ),
        "key.other_recipient": ErrorCode(
            409,
            "This key is registered for another recipient",
            "Deze sleutel is geregistreerd voor een andere ontvanger",
        ),
        # -- the KBI extract (kbx kbi import) -------------------------------------------------
        "kbi.semicolon_separated": ErrorCode(
            400,
            "The file uses ';' as separator: save it as CSV UTF-8 (comma delimited)",
            "Het bestand gebruikt ';' als scheidingsteken: sla op als CSV UTF-8 "
            "(door komma's gescheiden)",
        ),
        # -- the database (the command line's start) -----------------------------------------
        "period.invalid": ErrorCode(400, "This is not a period", "Dit is geen periode"),
        "database.not_migrated": ErrorCode(
            503, "The database has no kbx schema yet", "De databank heeft nog geen kbx-schema"
        ),
        "database.unreachable": ErrorCode(
            503, "The database cannot be reached", "De databank is niet bereikbaar"
        ),
        "database.url_invalid": ErrorCode(
            503, "KBX_DATABASE_URL is not usable", "KBX_DATABASE_URL is niet bruikbaar"
        ),
        # -- agreements and staff accounts (the command line's today) -------------------------
        "agreement.not_municipality": ErrorCode(
            400,
            "Only a municipality signs or accedes to this",
            "Enkel een gemeente ondertekent dit of treedt ertoe toe",
        ),
        "agreement.future": ErrorCode(
            400,
            "The signing date lies in the future",
            "De datum van ondertekening ligt in de toekomst",
        ),
        "agreement.duplicate": ErrorCode(
            409,
            "This agreement is already on record",
            "Deze overeenkomst is al geregistreerd",
        ),
        "agreement.unknown": ErrorCode(404, "No such agreement", "Deze overeenkomst bestaat niet"),
        "agreement.wrong_kind": ErrorCode(
            400,
            "The protocol requires another kind of agreement",
            "Het protocol vereist een ander soort overeenkomst",
        ),
        "agreement.missing": ErrorCode(
            400, "A required value is missing", "Een verplichte waarde ontbreekt"
        ),
        "agreement.invalid": ErrorCode(400, "A value is not valid", "Een waarde is ongeldig"),
        "agreement.invalid_date": ErrorCode(
            400, "A date is not valid (YYYY-MM-DD)", "Een datum is ongeldig (JJJJ-MM-DD)"
        ),
        "agreement.transition": ErrorCode(400, "Unknown transition", "Onbekende overgang"),
        "agreement.cadence": ErrorCode(
            400,
            "The ceremony cadence must be yearly or two-yearly (VCMP deliberation 05/2024, rn. 42)",
            "De ceremoniefrequentie moet jaarlijks of tweejaarlijks zijn (randnr. 42)",
        ),
        "accession.before_deliberation": ErrorCode(
            400,
            "The accession is dated before the deliberation",
            "De toetreding is gedateerd vóór de beraadslaging",
        ),
        "recipient.not_covered": ErrorCode(
            400, "The recipient is not a party to this protocol", "De ontvanger is geen partij"
        ),
        "agreement.future_date": ErrorCode(
            409, "The date lies in the future", "De datum ligt in de toekomst"
        ),
        "agreement.before_signature": ErrorCode(
            409, "The date lies before the signature", "De datum ligt vóór de ondertekening"
        ),
        "agreement.ended": ErrorCode(
            409, "The agreement has ended", "De overeenkomst is beëindigd"
        ),
        "agreement.no_notice_period": ErrorCode(
            409,
            "This agreement has no notice period",
            "Deze overeenkomst kent geen opzegtermijn",
        ),
        "agreement.notice_given": ErrorCode(
            409, "Notice was already given", "De overeenkomst werd al opgezegd"
        ),
        "agreement.not_accession": ErrorCode(
            409, "Only an accession is withdrawn", "Enkel een toetreding wordt ingetrokken"
        ),
        "agreement.suspended": ErrorCode(
            409, "The agreement is already suspended", "De overeenkomst is al geschorst"
        ),
        "agreement.not_suspended": ErrorCode(
            409, "The agreement is not suspended", "De overeenkomst is niet geschorst"
        ),
        "agreement.before_suspension": ErrorCode(
            409, "The date lies before the suspension", "De datum ligt vóór de schorsing"
        ),
        "user.weak_password": ErrorCode(
            400, "The password is too short", "Het wachtwoord is te kort"
        ),
        "user.name_invalid": ErrorCode(
            400, "This user name is not allowed", "Deze gebruikersnaam is niet toegestaan"
        ),
        "user.exists": ErrorCode(409, "This user already exists", "Deze gebruiker bestaat al"),
        "user.unknown": ErrorCode(404, "Unknown user", "Onbekende gebruiker"),
        "user.self": ErrorCode(
            409,
            "An admin cannot disable their own account",
            "Een beheerder kan het eigen account niet uitschakelen",
        ),
        "user.unchanged": ErrorCode(
            409, "The account is already in that state", "Het account staat al zo"
        ),
        "audit.unknown": ErrorCode(404, "Unknown audit event", "Onbekende auditgebeurtenis"),
        "recipient.ambiguous": ErrorCode(
            400,
            "The name fits more than one recipient",
            "De naam past bij meer dan een ontvanger",
        ),
    }
)


def dutch(exc: KbxError) -> str:
    """The error's own Dutch message; the catalogue's generic one only when it carries none (and
    the English one, with a warning in the log, for a code the catalogue does not know)."""
    if exc.message_nl:
        return exc.message_nl
    known = ERRORS.get(exc.code)
    if known is None:
        log.warning("error code %s is not in the catalogue", exc.code)
        return exc.message
    return known.nl
