"""Free text that lasts (the audit trail keeps it for good, a document reference goes onto the
files) never holds an integree's national number, however it is written: the request reference,
an agreement's reason, article and document reference, a contact's name."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from exchange.free_text import may_hold_national_number
from exchange.models import AuditEvent, PendingChange
from tests.conftest import Kbx
from tests.export_helpers import staff

NUMBER = "85073003328"  # a national number with valid check digits (85.07.30-033.28)


@pytest.mark.parametrize(
    "text",
    [
        NUMBER,
        "BZ 85.07.30-033.28",
        "BZ-850730 03328",
        "brief 850730-033-28",
        "85 07 30 033 28",
        "8507300332",  # ten digits: one missing is still the person's
        # Grouped any other way: eleven digits with a national number's check digits
        "zie 8507 3003 328",
        "85073 003328",
        "85,07,30,033,28",
        "85. 07. 30. 033. 28",
        "85_07_30_033_28",
        "85:07:30:033:28",
        "85.07.30 - 033.28",
        "85\u201307\u201330\u2013033\u201328",  # en dashes
        "85+07+30+033+28",
    ],
)
def test_a_national_number_in_any_form_is_caught(text: str) -> None:
    assert may_hold_national_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "Art. 8",
        "Art. 3, 1° en decreet art. 20, §1, tweede lid",
        "Protocol AgII - Lommel, 01.03.2024, ondertekend te Lommel op 10.04.2024",
        "BZ/2026/0117",
        "GENT/2025/0031",
        "datalek niet gemeld binnen 24 uur",
        "dubbel met KBX-2026-000017",  # a run's reference: ten digits, joined
        "aangevraagd op 30-11-2026 10:00, periode 2026-H1",
    ],
)
def test_what_staff_write_is_let_through(text: str) -> None:
    assert not may_hold_national_number(text)


def _events(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_no_national_number_reaches_the_audit_trail_through_free_text(
    kbx: Kbx, engine: Engine
) -> None:
    staff(kbx)
    before = _events(engine)
    tries = [
        (
            "export", "request", "art20-municipal", "--recipient", "Lommel", "--period", "2026",
            "--channel", "sftp_drop", "--requested-on", "2026-11-02",
            "--request-ref", "BZ 85.07.30-033.28",
        ),
        (
            "agreements", "suspend", "art20-municipal", "--recipient", "Lommel",
            "--reason", "lek", "--article", NUMBER,
        ),
        (
            "agreements", "suspend", "art20-municipal", "--recipient", "Lommel",
            "--reason", f"Jan lekte {NUMBER[:6]} {NUMBER[6:]}", "--article", "Art. 8",
        ),
        (
            "protocols", "sign", "art20-municipal", "--recipient", "Gent",
            "--signed-on", "2025-01-15", "--in-force", "2025-02-01",
            "--document", "Brief van 850730-033.28",
        ),
        (
            "recipients", "contact", "set", "Gent", "--name", f"Burgerzaken {NUMBER}",
            "--phone", "0470123456", "--email", "bz@gent.be",
        ),
    ]  # fmt: skip
    for args in tries:
        refused = kbx(*args, "--by", "olga")
        assert refused.exit_code == 2, (args, refused.output)
        assert "rijksregisternummer" in refused.output, refused.output
        assert refused.output.rstrip().endswith("]"), "one line, with its code"
        assert NUMBER not in refused.output
        assert "033.28" not in refused.output
    assert _events(engine) == before, "nothing recorded"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PendingChange)) == 0
