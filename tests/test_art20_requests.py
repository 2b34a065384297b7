"""An art20-municipal list answers the municipality's request (seed 000, overweging C: "kunnen
gemeenten deze lijsten maximaal 1 keer per jaar opvragen"): the request's date and reference are
required, recorded on the run, shown and audited; the yearly round takes the requests received
(``--recipient all-requested --requests FILE``, or the API's batch body), never every signer.
On SQLite and PostgreSQL, through the real CLI and the real API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.settings import Settings
from app.store.db import transaction
from exchange.models import AuditEvent, ExportRun
from tests.api_helpers import Api, add_staff, make_app
from tests.conftest import Kbx
from tests.export_helpers import (
    LOMMEL,
    REQUEST,
    REQUEST_BODY,
    agree,
    four_eyes,
    prepare,
    register_contact,
    requests_file,
)

GENT, ANTWERPEN = "44021", "11002"
ART20 = ("export", "request", "art20-municipal")
SLOT = ("--period", "2026", "--channel", "sftp_drop", "--by", "olga")


def _runs(engine: Engine) -> list[ExportRun]:
    with transaction(engine) as session:
        return list(session.scalars(select(ExportRun).order_by(ExportRun.id)))


@pytest.fixture
def town(kbx: Kbx, tmp_path: Path) -> Path:
    """Lommel ready to receive (its signed instance ships), and the private key."""
    return prepare(kbx, tmp_path)


def _sign_and_route(kbx: Kbx, tmp_path: Path, nis: str, phone: str) -> None:
    agree(
        kbx,
        *("protocols", "sign", "art20-municipal", "--recipient", nis),
        *("--signed-on", "2025-01-15", "--in-force", "2025-02-01"),
    )
    key = tmp_path / f"{nis}_ed25519"  # a key of its own: one key opens one outbox
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    four_eyes(kbx, "recipients", "key", "add", nis, "--public-key", f"{key}.pub")
    register_contact(kbx, nis, phone, f"bz{nis}@example.org")


def test_a_request_without_the_municipalitys_request_is_refused(
    kbx: Kbx, town: Path, engine: Engine
) -> None:
    refused = kbx(*ART20, "--recipient", LOMMEL, *SLOT)
    assert refused.exit_code == 3, refused.output
    assert "[request.missing]" in refused.stderr
    assert "(Overweging C (gemeenten kunnen deze lijsten maximaal 1 keer per jaar opvragen))" in (
        refused.stderr
    )
    [run] = _runs(engine)
    assert run.state == "refused"
    assert [r["rule"] for r in json.loads(run.refusal or "[]")] == ["request.missing"]
    assert (run.requested_on, run.request_ref) == (None, None)


def test_the_request_is_recorded_shown_and_audited(kbx: Kbx, town: Path, engine: Engine) -> None:
    made = kbx(*ART20, "--recipient", LOMMEL, *SLOT, *REQUEST)
    assert made.exit_code == 0, made.output
    run_id = made.stdout.strip()

    shown = kbx("export", "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert "  aanvraag:      02.11.2026, referentie BZ/2026/0117\n" in shown.stdout

    [listed] = json.loads(kbx("export", "list", "--json").stdout)
    assert (listed["requested_on"], listed["request_ref"]) == ("2026-11-02", "BZ/2026/0117")

    with transaction(engine) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.requested")
        ).one()
    assert json.loads(event.details)["request"] == {
        "requested_on": "2026-11-02",
        "reference": "BZ/2026/0117",
    }
    assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
    assert "1 key_sent" in kbx("export", "run", run_id).stdout
    [run] = _runs(engine)
    assert (run.state, run.requested_on.isoformat() if run.requested_on else None) == (
        "key_sent",
        "2026-11-02",
    )


def test_a_request_dated_after_today_is_refused(kbx: Kbx, town: Path) -> None:
    refused = kbx(
        *ART20, "--recipient", LOMMEL, *SLOT,
        "--requested-on", "2026-11-24", "--request-ref", "BZ/1",
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    assert "[request.date_in_future]" in refused.stderr
    assert "De aanvraag is gedateerd op 24.11.2026, na vandaag." in refused.stderr
    today = kbx(
        *ART20, "--recipient", LOMMEL, *SLOT,
        "--requested-on", "2026-11-23", "--request-ref", "BZ/1",
    )  # fmt: skip
    assert today.exit_code == 0, today.output


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (("--requested-on", "2026-11-02"), "request.incomplete"),
        (("--request-ref", "BZ/1"), "request.incomplete"),
        (("--requested-on", "2026-11-02", "--request-ref", "x" * 65), "request.reference_invalid"),
        (("--requested-on", "2026-11-02", "--request-ref", "a\tb"), "request.reference_invalid"),
        (
            ("--requested-on", "2026-11-02", "--request-ref", "ref 91040120512"),
            "request.reference_invalid",
        ),
        (("--requested-on", "2026-11-02", "--request-ref", "  "), "request.reference_invalid"),
    ],
)
def test_a_bad_request_is_bad_input_and_leaves_nothing(
    kbx: Kbx, town: Path, engine: Engine, extra: tuple[str, ...], code: str
) -> None:
    refused = kbx(*ART20, "--recipient", LOMMEL, *SLOT, *extra)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith("kbx: ")
    assert refused.stderr.endswith(f"[{code}]\n")
    assert "91040120512" not in refused.output
    assert _runs(engine) == []


def test_the_yearly_round_takes_exactly_the_requests_received(
    kbx: Kbx, town: Path, engine: Engine, tmp_path: Path
) -> None:
    _sign_and_route(kbx, tmp_path, GENT, "+32479654321")
    _sign_and_route(kbx, tmp_path, ANTWERPEN, "+32479654322")  # signed, did not ask
    csv = tmp_path / "aanvragen.csv"
    csv.write_bytes(
        b"\xef\xbb\xbfnis_code,requested_on,reference\r\n"
        b"72020,2026-10-01,LOM/2026/5\r\n"
        b"\r\n"
        b"44021,2026-11-20,GENT-BZ-77\r\n"
    )
    made = kbx(*ART20, "--recipient", "all-requested", "--requests", str(csv), *SLOT)
    assert made.exit_code == 0, made.output
    assert "2 run(s) requested" in made.stdout
    runs = _runs(engine)
    assert {(r.recipient_id, str(r.requested_on), r.request_ref, r.state) for r in runs} == {
        (LOMMEL, "2026-10-01", "LOM/2026/5", "requested"),
        (GENT, "2026-11-20", "GENT-BZ-77", "requested"),
    }
    assert len({r.batch_id for r in runs}) == 1


def test_every_signer_is_no_longer_a_round_for_art20(kbx: Kbx, town: Path, engine: Engine) -> None:
    refused = kbx(*ART20, "--recipient", "all-signed", *SLOT)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.endswith("[batch.requests_required]\n")
    assert "--recipient all-requested --requests" in refused.stderr
    assert _runs(engine) == []


def test_a_file_with_bad_lines_is_refused_whole_with_line_numbers(
    kbx: Kbx, town: Path, engine: Engine, tmp_path: Path
) -> None:
    csv = tmp_path / "aanvragen.csv"
    csv.write_text(
        "nis_code,requested_on,reference\n"
        "72020,2026-10-01,LOM/2026/5\n"
        "4402,2026-10-01,X\n"
        "72020,01/10/2026,LOM/2\n"
        "11002,2026-10-01\n"
    )
    refused = kbx(*ART20, "--recipient", "all-requested", "--requests", str(csv), *SLOT)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr == (
        "kbx: de aanvragen zijn geweigerd, er wordt niets aangevraagd: regel 3: nis_code is "
        "geen 5 cijfers; regel 4: gemeente 72020 staat al op regel 2; regel 4: requested_on is "
        "geen datum JJJJ-MM-DD; regel 5: 3 kolommen verwacht, 2 gevonden [requests.invalid]\n"
    )
    unknown = tmp_path / "onbekend.csv"
    requests_file(unknown, [LOMMEL, "99999"])
    refused = kbx(*ART20, "--recipient", "all-requested", "--requests", str(unknown), *SLOT)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.endswith(
        "onbekende gemeente op regel(s) 3 (99999) [requests.unknown_recipient]\n"
    )
    assert _runs(engine) == [], "nothing half-done"


# -- the API ----------------------------------------------------------------------------------


@pytest.fixture
def api(kbx: Kbx, engine: Engine, settings: Settings, town: Path) -> Api:
    add_staff(kbx)
    return Api(make_app(engine, settings))


BODY = {
    "protocol": "art20-municipal",
    "recipient": LOMMEL,
    "period": "2026",
    "channel": "sftp_drop",
}


def test_the_api_refuses_a_list_nobody_asked_for_and_records_a_request(api: Api) -> None:
    refused = api.post("/exports", as_="olga", json=BODY)
    assert refused.status_code == 409
    assert [r["rule"] for r in refused.json()["reasons"]] == ["request.missing"]

    made = api.post("/exports", as_="olga", json={**BODY, **REQUEST_BODY})
    assert made.status_code == 201, made.text
    assert (made.json()["requested_on"], made.json()["request_ref"]) == (
        "2026-11-02",
        "BZ/2026/0117",
    )
    listed = api.get("/exports", as_="olga", params={"include_refused": "true"}).json()
    assert [(r["state"], r["request_ref"]) for r in listed] == [
        ("requested", "BZ/2026/0117"),
        ("refused", None),
    ]


def _asked(reference: str) -> list[dict[str, str]]:
    return [{"nis_code": GENT, "requested_on": "2026-11-20", "reference": reference}]


def test_the_api_batch_takes_the_requests_received(
    api: Api, kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    _sign_and_route(kbx, tmp_path, GENT, "+32479654321")
    batch = {"protocol": "art20-municipal", "period": "2026", "channel": "sftp_drop"}
    refused = api.post("/export-batches", as_="olga", json=batch)
    assert (refused.status_code, refused.json()["code"]) == (400, "batch.requests_required")
    bad = api.post(
        "/export-batches",
        as_="olga",
        json={**batch, "requests": _asked("x\u0007")},
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "requests.invalid")
    assert _runs(engine) == []
    made = api.post(
        "/export-batches",
        as_="olga",
        json={**batch, "requests": _asked("GENT-BZ-77")},
    )
    assert made.status_code == 201, made.text
    assert [(r["recipient"], r["requested_on"], r["request_ref"]) for r in made.json()["runs"]] == [
        (GENT, "2026-11-20", "GENT-BZ-77")
    ]


def test_a_requests_file_with_semicolons_or_an_open_quote_is_refused_with_its_line() -> None:
    from exchange.requests import RequestsFileError, parse_requests

    with pytest.raises(RequestsFileError) as semicolons:
        parse_requests("nis_code;requested_on;reference\r\n72020;2026-11-02;BZ/1\r\n")
    assert semicolons.value.problems == [
        (
            1,
            "the file uses ';' as separator: save it as CSV UTF-8 (comma delimited)",
            "het bestand gebruikt ';' als scheidingsteken: sla op als CSV UTF-8 "
            "(door komma's gescheiden)",
        )
    ]
    with pytest.raises(RequestsFileError) as open_quote:
        parse_requests(
            'nis_code,requested_on,reference\n44021,2026-11-02,G/1\n72020,2026-11-02,"LOM\n'
        )
    assert [(n, en) for n, en, _ in open_quote.value.problems] == [
        (3, "not valid CSV from this line on (a quote left open?)")
    ]
