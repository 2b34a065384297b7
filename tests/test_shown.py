"""What kbx repeats of a typed value: identifiers yes, anything that may be a person no."""

from __future__ import annotations

import pytest

from app.errors import NotFound
from exchange.shown import shown, shown_nl
from tests.conftest import Kbx


@pytest.mark.parametrize("value", ["72020", "art20-municipal", "2026-H1", "bi-werkgroep", "zivver"])
def test_identifiers_are_repeated(value: str) -> None:
    assert shown(value) == value


@pytest.mark.parametrize("value", ["91040120512", "910401-205.12", "Rania Haddad", "", "x" * 49])
def test_anything_else_is_not(value: str) -> None:
    assert shown(value) == "(value not shown)"
    assert shown_nl(value) == "(waarde niet getoond)"


def test_a_dutch_message_says_its_placeholder_in_dutch() -> None:
    """Where a flow builds both sentences with ``shown``, the Dutch one reads Dutch."""
    typed = shown("91040120512")
    error = NotFound("run.unknown", f"unknown run {typed}", f"onbekende run {typed}")
    assert error.message == "unknown run (value not shown)"
    assert error.message_nl == "onbekende run (waarde niet getoond)"


def test_a_mistyped_recipient_is_not_echoed(kbx: Kbx) -> None:
    typed = kbx(
        "check", "art20-municipal", "--recipient", "91040120512", "--period", "2026",
        "--channel", "sftp_drop",
    )  # fmt: skip
    assert typed.exit_code == 2
    assert typed.stderr == "kbx: onbekende ontvanger '(waarde niet getoond)' [recipient.unknown]\n"
    assert "91040120512" not in typed.output
