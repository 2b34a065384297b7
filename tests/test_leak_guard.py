"""The leak guard itself: it finds what it must find, and lets a password stay in its own SMS."""

from __future__ import annotations

import json
from pathlib import Path

from tests.leak_guard import LeakGuard


def test_finds_personal_data_and_passwords_outside_their_sms(tmp_path: Path) -> None:
    guard = LeakGuard()
    guard.person(["91040120512", "Haddad", "Rania", "+32471000001", None])
    outbox = tmp_path / "sms-outbox.jsonl"
    body = "AgII - wachtwoord voor bestand KBX-2026-000001: k7wq3-hx9ta-m4rcz-2npve-y8bdf Deel"
    outbox.write_text(json.dumps({"body": body}) + "\n")
    guard.harvest_sms(outbox, "test")
    assert guard.leaks() == [], "a password in its own SMS is no leak"

    guard.saw("log kbx.a", "run 7 delivered: 3 rows")
    assert guard.leaks() == []
    guard.saw("log kbx.b", "rejected line 4 (91040120512)")
    guard.saw("cli", "Unknown person Haddad.")
    guard.saw("log kbx.c", "retrying with k7wq3-hx9ta-m4rcz-2npve-y8bdf")
    guard.saw("cli", "call 32471000001")
    assert guard.leaks() == [
        "personal data in log kbx.b",
        "personal data in cli",
        "password in log kbx.c",
        "personal data in cli",
    ]
