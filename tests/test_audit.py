"""The audit trail: every change of the store, contacts, keys and agreements is an event; the
database refuses edits; `kbx audit verify` finds any edit, deletion or reordering."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Kbx
from tests.export_helpers import four_eyes, staff
from tests.factories import national_number, person, write_extract

LOMMEL = "72020"


@pytest.fixture
def trail(kbx: Kbx, engine: Engine, tmp_path: Path) -> list[str]:
    """Eleven events; returns the personal data used, to check none of it reached the trail."""
    from datetime import date

    numbers = [national_number(date(1988, 5, d), 17) for d in (1, 2)]
    rows = [person(n, LOMMEL, last_name="Vermeulen", phone="+32470999888") for n in numbers]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "e.csv", rows))).exit_code == 0
    staff(kbx)
    four_eyes(
        kbx, "recipients", "contact", "set", LOMMEL, "--name", "An Peeters",
        "--phone", "+32470123456", "--email", "an@lommel.be",
    )  # fmt: skip
    four_eyes(
        kbx,
        *("accession", "add", LOMMEL, "--protocol", "vcmp-ceremony"),
        *("--signed-on", "2025-02-03", "--document", "LOMMEL-2025-7", "--cadence", "yearly"),
    )
    four_eyes(
        kbx,
        *("protocols", "sign", "art20-municipal", "--recipient", "44021"),
        *("--signed-on", "2026-01-15", "--in-force", "2026-02-01"),
    )
    return [*numbers, "Vermeulen", "+32470999888", "+32470123456", "An Peeters"]


def test_intact_trail_verifies_and_holds_no_personal_data(
    kbx: Kbx, engine: Engine, trail: list[str]
) -> None:
    result = kbx("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact: 11 event(s)" in result.stdout
    with engine.connect() as connection:
        dump = " ".join(
            str(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_events"))
        )
        actions = list(connection.scalars(text("SELECT action FROM audit_events ORDER BY seq")))
    assert actions == [
        "kbi.import",
        "user.added",
        "user.added",
        "recipient.change_proposed",
        "recipient.change_applied",
        "recipient.change_proposed",
        "agreement.accession",
        "recipient.change_applied",
        "recipient.change_proposed",
        "agreement.signature",
        "recipient.change_applied",
    ]
    for secret in trail:
        assert secret not in dump


def test_the_database_refuses_to_edit_or_delete_events(engine: Engine, trail: list[str]) -> None:
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))


def _without_guard(connection: Connection) -> None:
    """What someone with direct database access could do: switch the guard off."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        )
    else:
        connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("DROP TRIGGER audit_events_no_delete"))


def _restore_guard(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


TAMPERING = {
    "edited": (
        ['UPDATE audit_events SET details = \'{"document":"OTHER"}\' WHERE seq = 3'],
        "event 3: content does not match its hash (edited)",
    ),
    "deleted": (["DELETE FROM audit_events WHERE seq = 2"], "event 2: missing"),
    "deleted_and_renumbered": (
        [
            "DELETE FROM audit_events WHERE seq = 2",
            "UPDATE audit_events SET seq = seq - 1 WHERE seq > 2",
        ],
        "event 2: does not follow the event before it",
    ),
    "reordered": (
        [
            "UPDATE audit_events SET seq = 100 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 100",
        ],
        "event 2: does not follow the event before it",
    ),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_verify_names_the_first_broken_link(
    kbx: Kbx, engine: Engine, trail: list[str], how: str
) -> None:
    statements, expected = TAMPERING[how]
    with engine.begin() as connection:
        _without_guard(connection)
        for statement in statements:
            connection.execute(text(statement))
        _restore_guard(connection)
    result = kbx("audit", "verify")
    assert result.exit_code == 4
    assert expected in result.stderr
