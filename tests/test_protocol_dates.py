"""The five years of vdab-pillar3 (seed 001, art. 5: "gedurende 5 jaar na in voege treden van de
samenwerkingsovereenkomst") count from a date the seed does not give: an admin records it
(``kbx protocols set-date``), audited; until then the protocol's own entry into force counts and
the definition says so. The policy refuses the day after the computed end (``protocol.ended``
with the art. 5 article). On SQLite and PostgreSQL, through the real CLI."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.store.db import transaction
from exchange.models import AuditEvent
from exchange.protocols import term_end
from tests.conftest import Kbx
from tests.export_helpers import PASSWORD, staff

ART5 = (
    "Art. 5 (zesmaandelijks gedurende 5 jaar na in voege treden van de samenwerkingsovereenkomst)"
)
CHECK = ("check", "vdab-pillar3", "--recipient", "vdab", "--channel", "sftp_push", "--json")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2023, 3, 3), date(2028, 3, 2)),  # the protocol's own entry into force
        (date(2023, 1, 1), date(2027, 12, 31)),
        (date(2024, 2, 29), date(2029, 2, 28)),  # no 29 February in 2029: anniversary 1 March
        (date(2023, 3, 1), date(2028, 2, 29)),  # the day before a leap-year anniversary
    ],
)
def test_five_years_from_a_day_end_the_day_before_its_fifth_anniversary(
    start: date, end: date
) -> None:
    assert term_end(start, 5) == end


def _admin(kbx: Kbx) -> None:
    staff(kbx)
    added = kbx("users", "add", "adam", "--role", "admin", input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output


def _check(kbx: Kbx, monkeypatch: pytest.MonkeyPatch, today: str, period: str) -> dict[str, Any]:
    monkeypatch.setenv("KBX_TODAY", today)
    result = kbx(*CHECK, "--period", period)
    assert result.exit_code in (0, 3), result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_until_recorded_the_protocol_date_counts_and_the_definition_says_so(
    kbx: Kbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = kbx("protocols", "show", "vdab-pillar3")
    assert shown.exit_code == 0, shown.output
    assert (
        "Geldig: 2023-03-03 tot 2028-03-02 [Art. 12 (inwerkingtreding 03.03.2023)]" in shown.stdout
    )
    assert (
        "  einde: 5 jaar vanaf de inwerkingtreding van het protocol op 03.03.2023: de datum van de "
        f"inwerkingtreding van de samenwerkingsovereenkomst is nog niet geregistreerd [{ART5}]"
    ) in shown.stdout
    validity = json.loads(kbx("protocols", "show", "vdab-pillar3", "--json").stdout)["validity"]
    assert validity["until"] == "2028-03-02"
    assert _check(kbx, monkeypatch, "2028-03-02", "2028-H1")["allowed"] is True
    ended = _check(kbx, monkeypatch, "2028-03-03", "2028-H1")
    assert ended["allowed"] is False
    assert ended["reasons"] == [
        {
            "rule": "protocol.ended",
            "article": ART5,
            "nl": "Het protocol is beëindigd op 02.03.2028; er mag niets meer worden meegedeeld.",
            "en": "The protocol ended on 2028-03-02; nothing may be communicated any more.",
        }
    ]


def test_the_recorded_date_moves_the_end_and_is_audited(
    kbx: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _admin(kbx)
    done = kbx(
        "protocols", "set-date", "vdab-pillar3",
        "--cooperation-agreement-in-force", "2023-09-01", "--by", "adam",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "vdab-pillar3: geldig tot en met 2028-08-31 (5 jaar vanaf de inwerkingtreding van de "
        "samenwerkingsovereenkomst op 01.09.2023 (geregistreerd))\n"
    )
    shown = kbx("protocols", "show", "vdab-pillar3")
    assert "Geldig: 2023-03-03 tot 2028-08-31" in shown.stdout
    listed = json.loads(kbx("protocols", "list", "--json").stdout)
    [vdab] = [p for p in listed if p["id"] == "vdab-pillar3"]
    assert vdab["valid_until"] == "2028-08-31"

    assert _check(kbx, monkeypatch, "2028-08-31", "2028-H2")["allowed"] is True
    ended = _check(kbx, monkeypatch, "2028-09-01", "2028-H2")
    assert [(r["rule"], r["article"]) for r in ended["reasons"]] == [("protocol.ended", ART5)]

    monkeypatch.setenv("KBX_TODAY", "2026-11-23")
    again = kbx(
        "protocols", "set-date", "vdab-pillar3",
        "--cooperation-agreement-in-force", "2023-05-15", "--by", "adam",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    with transaction(engine) as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "protocol.date_set")
                .order_by(AuditEvent.seq)
            )
        )
    assert [(e.actor, e.subject, json.loads(e.details)) for e in events] == [
        (
            "adam",
            "protocol:vdab-pillar3",
            {
                "kind": "cooperation_agreement_in_force",
                "day": "2023-09-01",
                "previous": None,
                "until": "2028-08-31",
                "article": ART5,
            },
        ),
        (
            "adam",
            "protocol:vdab-pillar3",
            {
                "kind": "cooperation_agreement_in_force",
                "day": "2023-05-15",
                "previous": "2023-09-01",
                "until": "2028-05-14",
                "article": ART5,
            },
        ),
    ]
    assert kbx("audit", "verify").exit_code == 0


@pytest.mark.parametrize(
    ("args", "ending"),
    [
        (("vdab-pillar3", "--cooperation-agreement-in-force", "2023-09-01", "--by", "olga"), ""),
        (
            ("vdab-pillar3", "--cooperation-agreement-in-force", "2026-11-24", "--by", "adam"),
            "[protocol.date_in_future]\n",
        ),
        (
            ("art20-municipal", "--cooperation-agreement-in-force", "2023-09-01", "--by", "adam"),
            "[protocol.no_such_date]\n",
        ),
    ],
)
def test_only_an_admin_records_a_date_that_happened_of_a_protocol_that_has_one(
    kbx: Kbx, engine: Engine, args: tuple[str, ...], ending: str
) -> None:
    _admin(kbx)
    refused = kbx("protocols", "set-date", *args)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith("kbx: ")
    assert refused.stderr.endswith(ending)
    if not ending:
        assert "mag geen datum van een protocol vastleggen [auth.role]" in refused.stderr
    with transaction(engine) as session:
        assert (
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "protocol.date_set")
            ).all()
            == []
        )
    shown = json.loads(kbx("protocols", "show", "vdab-pillar3", "--json").stdout)
    assert shown["validity"]["until"] == "2028-03-02"
