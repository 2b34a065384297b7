"""The VSB individual check through the HTTP API, on SQLite and PostgreSQL: OK / NOK for a
hand-made store around the 1 January boundary, nothing else in an answer, the VSB client only,
input refused without repeating it, a rate limit per caller, and an audit event per answer that
holds a pseudonym and never the number. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.api.app import create_app
from app.flows.vdab_dataset import pseudonym_key, pseudonym_key_file
from app.registry import load_registry
from app.settings import Settings
from app.store import rate_limits
from app.store.audit import read_chain
from app.store.db import transaction
from app.wiring import StartupError, build_deps
from crypto.pseudonyms import Pseudonymiser, Purpose
from exchange.audit import verify_chain
from exchange.models import AuditEvent, RateLimitHit
from exchange.obligation import NOK_REASONS
from exchange.periods import parse_period
from exchange.selection import SelectionRequest, build_selection
from tests.api_helpers import STAFF_BY_ROLE, Api, make_app
from tests.conftest import TODAY, Kbx
from tests.export_helpers import PASSWORD
from tests.factories import national_number, person, write_extract

PATH = "/checks/integration-obligation"
NEW_YEAR, NEW_YEARS_EVE = "2026-01-01", "2025-12-31"
GENT = "44021"


def _n(serial: int, *, bis: bool = False) -> str:
    return national_number(date(1988, 6, 14), serial, bis_offset=40 if bis else 0)


NEVER_MET = _n(11)  # obliged since 2023, never met
SINCE_NEW_YEAR = _n(13)  # obliged from 1 January 2026
MET_NEW_YEAR = _n(15)  # met on 1 January 2026
MET_EVE = _n(17)  # met on 31 December 2025
ENTITLED = _n(19)  # never obliged
BIS_OBLIGED = _n(21, bis=True)  # a bis number, obliged and not met
UNKNOWN = _n(23)  # a valid number KBI does not hold
CONTRACT_ONLY = _n(25)  # obliged, contract signed on 1 January 2026, no certificate
CERTIFIED = _n(27)  # obliged, contract and certificate, obligation not (yet) met

PEOPLE = [
    person(NEVER_MET, GENT, obligation_since="2023-04-01"),
    person(SINCE_NEW_YEAR, GENT, obligation_since=NEW_YEAR),
    person(MET_NEW_YEAR, GENT, obligation_since="2023-04-01", obligation_met_on=NEW_YEAR),
    person(MET_EVE, GENT, obligation_since="2023-04-01", obligation_met_on=NEW_YEARS_EVE),
    person(ENTITLED, GENT, target_group="entitled"),
    person(BIS_OBLIGED, GENT, obligation_since="2024-09-09"),
    person(CONTRACT_ONLY, GENT, obligation_since="2023-04-01", contract_signed_on=NEW_YEAR),
    person(
        CERTIFIED,
        GENT,
        obligation_since="2023-04-01",
        contract_signed_on="2023-05-02",
        certificate_on="2024-06-03",
    ),
]
# What nobody may ever read back: every number, known or not.
NUMBERS = [
    NEVER_MET,
    SINCE_NEW_YEAR,
    MET_NEW_YEAR,
    MET_EVE,
    ENTITLED,
    BIS_OBLIGED,
    UNKNOWN,
    CONTRACT_ONLY,
    CERTIFIED,
]

# (number, date, expected)
CASES = [
    (NEVER_MET, NEW_YEARS_EVE, "NOK"),
    (NEVER_MET, NEW_YEAR, "NOK"),
    (NEVER_MET, "2023-03-31", "OK"),
    (NEVER_MET, "2023-04-01", "NOK"),
    (SINCE_NEW_YEAR, NEW_YEARS_EVE, "OK"),
    (SINCE_NEW_YEAR, NEW_YEAR, "NOK"),
    (SINCE_NEW_YEAR, TODAY.isoformat(), "NOK"),
    (MET_NEW_YEAR, NEW_YEARS_EVE, "NOK"),
    (MET_NEW_YEAR, NEW_YEAR, "OK"),
    (MET_NEW_YEAR, "2026-01-02", "OK"),
    (MET_EVE, "2025-12-30", "NOK"),
    (MET_EVE, NEW_YEARS_EVE, "OK"),
    (MET_EVE, NEW_YEAR, "OK"),
    (ENTITLED, NEW_YEAR, "OK"),
    (BIS_OBLIGED, NEW_YEAR, "NOK"),
    (BIS_OBLIGED, "2024-09-08", "OK"),
    (UNKNOWN, NEW_YEAR, "OK"),
    (UNKNOWN, NEW_YEARS_EVE, "OK"),
]


@pytest.fixture
def api(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Api]:
    caplog.set_level(logging.DEBUG)
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    for role, name in [*STAFF_BY_ROLE.items(), ("vsb", "vince")]:
        added = kbx("users", "add", name, "--role", role, input=PASSWORD + "\n")
        assert added.exit_code == 0, added.output
    client = Api(make_app(engine, settings))
    yield client
    said = "\n".join([*client.errors, caplog.text])
    for number in NUMBERS:
        assert number not in said, "a national number in an error or a log line"


def _check(api: Api, number: Any, day: Any, as_: str = "vera", **extra: Any) -> httpx.Response:
    return api.post(PATH, as_=as_, json={"national_number": number, "date": day, **extra})


def _events(engine: Engine) -> list[AuditEvent]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "check.integration_obligation")
                .order_by(AuditEvent.seq)
            )
        )


def test_ok_and_nok_around_the_first_of_january(api: Api) -> None:
    for number, day, expected in CASES:
        response = _check(api, number, day)
        assert response.status_code == 200, response.text
        where = f"{NUMBERS.index(number)} on {day}"
        if expected == "OK":
            assert response.json() == {"result": "OK"}, where
        else:
            reason = NOK_REASONS["contract.not_signed"]
            assert response.json() == {
                "result": "NOK",
                "reason": reason.nl,
                "reason_en": reason.en,
                "reason_code": "contract.not_signed",
            }, where


# (number, date, reason code)
REASON_CASES = [
    (NEVER_MET, NEW_YEAR, "contract.not_signed"),
    (CONTRACT_ONLY, NEW_YEARS_EVE, "contract.not_signed"),
    (CONTRACT_ONLY, NEW_YEAR, "certificate.not_obtained"),
    (CERTIFIED, "2024-06-02", "certificate.not_obtained"),
    (CERTIFIED, "2024-06-03", "obligation.not_met"),
    (CERTIFIED, NEW_YEAR, "obligation.not_met"),
]


def test_a_nok_says_why_and_nothing_else(api: Api) -> None:
    for number, day, code in REASON_CASES:
        answer = _check(api, number, day).json()
        where = f"{NUMBERS.index(number)} on {day}"
        assert answer["result"] == "NOK", where
        assert answer["reason_code"] == code, where
        assert set(answer) == {"result", "reason", "reason_en", "reason_code"}
    certified = _check(api, CERTIFIED, NEW_YEAR).json()
    assert certified["reason"] == (
        "Valt op de gevraagde datum onder de inburgeringsplicht; het attest van inburgering "
        "is behaald, maar op die datum is nog niet aan de volledige inburgeringsplicht voldaan."
    )
    assert "2024" not in " ".join(certified.values()), "no date of the person"


def test_a_date_before_the_condition_began_is_not_answered(api: Api, engine: Engine) -> None:
    refused = _check(api, NEVER_MET, "2021-12-31")
    assert refused.status_code == 422
    assert refused.json() == {
        "code": "check.date_out_of_scope",
        "message": "the integration condition applies from 2022-01-01 on "
        "(VSB protocol, recital D); an earlier date is not answered",
        "message_nl": "de inburgeringsvoorwaarde geldt pas vanaf 01.01.2022 (overweging D van "
        "het protocol); een vroegere datum wordt niet beantwoord",
    }
    assert _events(engine) == [], "no answer, no audit event"
    answered = _check(api, NEVER_MET, "2022-01-01")
    assert answered.status_code == 200
    assert answered.json() == {"result": "OK"}, "obliged only from 2023-04-01"
    assert len(_events(engine)) == 1


def test_the_check_and_the_yearly_list_never_disagree(api: Api, engine: Engine) -> None:
    """On 1 January, NOK exactly for the people of that year's vsb-care list."""
    definition = api.app.state.registry.get("vsb-care")
    for year in (2025, 2026):
        period = parse_period(str(year))
        assert period is not None
        query = build_selection(definition, SelectionRequest("vsb", period, TODAY))
        with engine.connect() as connection:
            listed = {row[0] for row in connection.execute(query)}
        for number in NUMBERS:
            answer = _check(api, number, f"{year}-01-01").json()["result"]
            assert (answer == "NOK") == (number in listed), f"{NUMBERS.index(number)} in {year}"


def test_only_the_vsb_client_may_check(api: Api) -> None:
    for role, name in STAFF_BY_ROLE.items():
        response = _check(api, NEVER_MET, NEW_YEAR, as_=name)
        if role == "vsb":
            assert response.status_code == 200
            continue
        assert response.status_code == 403, role
        assert response.json()["code"] == "auth.role"
        assert "result" not in response.json()
    body = {"national_number": NEVER_MET, "date": NEW_YEAR}
    missing = api.post(PATH, json=body)
    assert (missing.status_code, missing.json()["code"]) == (401, "auth.missing")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    invalid = api.post(PATH, token="not-a-token", json=body)
    assert (invalid.status_code, invalid.json()["code"]) == (401, "auth.invalid")
    # The role is checked before the body: a stranger learns nothing from a 422 either.
    nonsense = api.post(PATH, as_="aude", json={"anything": 1})
    assert nonsense.status_code == 403


def test_bad_input_is_refused_without_repeating_it(api: Api, engine: Engine) -> None:
    wrong_check_digits = NEVER_MET[:9] + f"{(int(NEVER_MET[9:]) + 1) % 100:02d}"
    dotted = f"{NEVER_MET[:2]}.{NEVER_MET[2:4]}.{NEVER_MET[4:6]}-{NEVER_MET[6:9]}.{NEVER_MET[9:]}"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"national_number": wrong_check_digits}, "national_number", "national_number.checksum"),
        ({"national_number": NEVER_MET[:10]}, "national_number", "string_pattern_mismatch"),
        ({"national_number": dotted}, "national_number", "string_pattern_mismatch"),
        ({"national_number": int(NEVER_MET)}, "national_number", "string_type"),
        ({"date": "01/01/2026"}, "date", "value_error"),
        ({"date": "2026-01-01T00:00"}, "date", "value_error"),
        ({"date": "2026-02-30"}, "date", "date_from_datetime_parsing"),
        ({"date": 1767225600}, "date", "value_error"),
        ({"date": "2026-11-24"}, "date", "date.in_future"),
        ({"name": "Testnaam"}, "name", "extra_forbidden"),
    ]
    for change, field, rule in cases:
        body = {"national_number": NEVER_MET, "date": NEW_YEAR, **change}
        response = api.post(PATH, as_="vera", json=body)
        assert response.status_code == 422, change
        answer = response.json()
        assert answer["code"] == "request.invalid"
        errors = answer["errors"]
        assert [e["loc"] for e in errors] == [["body", field]], change
        if not rule.startswith("date_"):
            assert errors[0]["type"] == rule, change
        for number in (NEVER_MET, wrong_check_digits, dotted):
            assert number not in response.text
    for missing in ("national_number", "date"):
        body = {"national_number": NEVER_MET, "date": NEW_YEAR}
        del body[missing]
        response = api.post(PATH, as_="vera", json=body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", missing]
    assert _events(engine) == [], "no answer, no audit event"


def test_the_rate_limit_is_per_caller(api: Api, settings: Settings, engine: Engine) -> None:
    settings.check_rate_per_minute = 3
    assert _check(api, NEVER_MET, NEW_YEAR).status_code == 200
    assert _check(api, "123", NEW_YEAR).status_code == 422, "a refused call counts too"
    assert _check(api, UNKNOWN, NEW_YEAR).status_code == 200
    limited = _check(api, NEVER_MET, NEW_YEAR)
    assert limited.status_code == 429
    assert limited.json() == {
        "code": "check.rate_limited",
        "message": "Too many checks; try again after the number of seconds in Retry-After",
        "message_nl": "Te veel controles; probeer opnieuw na het aantal seconden in Retry-After",
    }
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert _check(api, NEVER_MET, NEW_YEAR, as_="vince").status_code == 200, "another caller"
    assert len(_events(engine)) == 3, "a refused call is not an answer and is not audited"


def test_the_window_slides(engine: Engine) -> None:
    """``app.store.rate_limits``: the same sliding window as the in-memory one it replaced,
    kept in the database (every process, every restart) with only the key's hash stored."""
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def hit(key: str, limit: int, seconds: float) -> int | None:
        with transaction(engine) as db:
            return rate_limits.hit(db, "test", key, limit, 60, start + timedelta(seconds=seconds))

    def wait(key: str, limit: int, seconds: float) -> int | None:
        with transaction(engine) as db:
            return rate_limits.wait(db, "test", key, limit, 60, start + timedelta(seconds=seconds))

    assert [hit("vera", 2, t) for t in (0.0, 10.0)] == [None, None]
    assert wait("vera", 2, 30.0) == 30, "wait counts nothing"
    assert hit("vera", 2, 30.0) == 30, "the first hit leaves the window at 60 s"
    assert hit("vince", 2, 30.0) is None
    assert wait("vince", 2, 30.0) is None
    assert hit("vera", 2, 59.5) == 1
    assert hit("vera", 2, 60.0) is None, "the hit at 0 s has left the window"
    assert hit("vera", 2, 60.5) == 10
    with transaction(engine) as db:
        assert rate_limits.hit(db, "other", "vera", 2, 60, start + timedelta(seconds=61)) is None
    assert hit("vera", 0, 1000.0) == 60, "a limit of 0 refuses everything"
    with Session(engine) as session:
        left = list(session.scalars(select(RateLimitHit)))
    assert [h.kind for h in left] == ["other"], "hits that left their window are deleted"
    assert re.fullmatch(r"[0-9a-f]{64}", left[0].key_hash), "only the key's SHA-256 is stored"


def test_concurrent_hits_never_exceed_the_limit(engine: Engine) -> None:
    """Many processes' hits at once: each counts in its own transaction (PostgreSQL: under the
    key's advisory lock; SQLite: BEGIN IMMEDIATE), so exactly ``limit`` are let through."""
    now = datetime.now(UTC)

    def one(_: int) -> int | None:
        with transaction(engine) as db:
            return rate_limits.hit(db, "test", "vera", 5, 60, now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(16)))
    assert answers.count(None) == 5
    assert all(a == 60 for a in answers if a is not None)


def test_every_answer_is_audited_with_a_pseudonym_and_never_the_number(
    api: Api, engine: Engine, settings: Settings
) -> None:
    asked = [
        (NEVER_MET, NEW_YEAR),
        (UNKNOWN, NEW_YEAR),
        (MET_EVE, NEW_YEAR),
        (NEVER_MET, "2024-01-01"),
    ]
    results = [_check(api, number, day).json()["result"] for number, day in asked]
    assert results == ["NOK", "OK", "OK", "NOK"]

    key = pseudonym_key(settings)
    audit = Pseudonymiser(key, Purpose.AUDIT)
    events = _events(engine)
    assert [(e.actor, e.subject, json.loads(e.details)) for e in events] == [
        (
            "vera",
            f"pseudonym:{audit(number)}",
            {
                "result": result,
                **({"reason": "contract.not_signed"} if result == "NOK" else {}),
                "pseudonym_key_id": audit.key_id,
            },
        )
        for (number, _), result in zip(asked, results, strict=True)
    ]
    assert events[0].subject == events[3].subject, "the same person, the same pseudonym"
    assert re.fullmatch(r"pseudonym:[0-9a-f]{64}", events[0].subject)
    bi = Pseudonymiser(key, Purpose.BI_DATASET)
    assert bi(NEVER_MET) not in events[0].subject, "the audit cannot be joined to the BI dataset"

    with engine.connect() as connection:
        everything = " ".join(
            " ".join(map(str, row)) for row in connection.execute(select(AuditEvent))
        )
    for number in NUMBERS:
        assert number not in everything
    assert "2024-01-01" not in everything, "not even the date that was asked"
    with transaction(engine) as session:
        assert verify_chain(read_chain(session)).broken is None


def test_no_check_outside_the_protocol_validity(api: Api, settings: Settings) -> None:
    api.login("vera")
    settings.today = date(2021, 9, 30)  # vsb-care is in force from 1 October 2021
    refused = _check(api, NEVER_MET, "2021-09-01")
    assert (refused.status_code, refused.json()["code"]) == (409, "check.not_in_force")
    settings.today = date(2021, 10, 1)
    in_force = _check(api, NEVER_MET, "2021-09-01")
    assert (in_force.status_code, in_force.json()["code"]) == (422, "check.date_out_of_scope")


def test_the_openapi_document_describes_the_check(api: Api) -> None:
    operation = api.app.openapi()["paths"]["/api/v1/checks/integration-obligation"]["post"]
    assert operation["x-roles"] == ["vsb"]
    assert set(operation["x-error-codes"]) == {
        "auth.missing",
        "auth.invalid",
        "auth.role",
        "check.not_in_force",
        "request.invalid",
        "check.rate_limited",
        "check.date_out_of_scope",
        "internal.error",
    }
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert examples["OK"]["value"] == {"result": "OK"}
    assert set(examples["NOK"]["value"]) == {"result", "reason", "reason_en", "reason_code"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = api.app.openapi()["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"national_number", "date"}
    assert schema["additionalProperties"] is False


def test_production_does_not_serve_without_a_pseudonym_key(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = load_registry(settings.protocols_dir)
    deps = build_deps(settings, registry)  # the dev stand-ins: only the key is under test
    monkeypatch.delenv("KBX_TODAY")
    production = Settings(env="production", data_dir=settings.data_dir)
    with pytest.raises(StartupError, match="set KBX_PSEUDONYM_KEY"):
        create_app(production, registry, engine, deps)
    assert not pseudonym_key_file(production).exists(), "production never writes a key"
