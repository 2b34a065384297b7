"""The suite-wide check that no personal data and no file password escapes.

Everything the suite's kbx said is collected while the tests run: every log record, every CLI
output, every audit event, every refusal and failure text of a run, every SMS body. Every value
that could identify a person is collected too: what the factories put into test extracts and
what any test store held when its test ended. At the end of the session none of those values
may appear in what kbx said, and no password from a key SMS may appear anywhere but in that SMS.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

__all__ = ["GUARD", "LeakGuard"]

_TOKEN = re.compile(r"[\w@.+-]+")
_PASSWORD_IN_SMS = re.compile(r": (\S+) Deel")
# Columns of the store that can identify a person (a birth date alone, or a city, cannot).
_PERSONAL = text(
    "SELECT national_number, last_name, first_name, email, phone, street FROM integrees"
)


def _tokens(text: str) -> set[str]:
    found = set(_TOKEN.findall(text))
    # "Haddad." and "+32471000001," are the value with punctuation around it
    return found | {t.strip(".-+@") for t in found}


class LeakGuard:
    def __init__(self) -> None:
        self.personal: set[str] = set()
        self.passwords: set[str] = set()
        self.said: list[tuple[str, str]] = []

    def person(self, values: Iterable[str | None]) -> None:
        for value in values:
            if value and len(value) >= 3:
                self.personal.add(value)
                self.personal.add(value.strip().lstrip("+"))

    def saw(self, where: str, text: str) -> None:
        if text:
            self.said.append((where, text))

    def harvest_store(self, engine: Engine, where: str) -> None:
        """Called before a test's database goes: its people, and what kbx recorded about them."""
        with engine.connect() as connection:
            for row in connection.execute(_PERSONAL):
                self.person(row)
            for row in connection.execute(text("SELECT * FROM audit_events")):
                self.saw(f"audit event ({where})", " ".join(map(str, row)))
            for row in connection.execute(text("SELECT refusal, failure FROM export_runs")):
                self.saw(f"run refusal/failure ({where})", " ".join(map(str, row)))

    def harvest_sms(self, outbox: Path, where: str) -> None:
        if not outbox.exists():
            return
        for line in outbox.read_text(encoding="utf-8").splitlines():
            body = json.loads(line)["body"]
            match = _PASSWORD_IN_SMS.search(body)
            if match:
                self.passwords.add(match.group(1))
                body = body.replace(match.group(1), "")
            self.saw(f"SMS body ({where})", body)

    def leaks(self) -> list[str]:
        found = []
        for where, said in self.said:
            hits = _tokens(said) & (self.personal | self.passwords)
            if hits:
                kinds = sorted(
                    {"password" if h in self.passwords else "personal data" for h in hits}
                )
                found.append(f"{', '.join(kinds)} in {where}")
        return found


GUARD = LeakGuard()


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # fills exc_text
        GUARD.saw(f"log {record.name}", f"{record.getMessage()} {record.exc_text or ''}")


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_Collect(level=logging.DEBUG))
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("kbx").setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = GUARD.leaks()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"leak guard: {len(GUARD.personal)} personal values and {len(GUARD.passwords)} key "
            f"passwords checked against {len(GUARD.said)} things kbx said"
        )
    if leaks:
        lines = sorted(set(leaks))
        if reporter is not None:
            reporter.write_sep("=", f"LEAK GUARD: {len(lines)} leak(s)", red=True)
            for line in lines[:50]:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
