"""The CLI's ``--by NAME`` checks ask the role table (``app.flows.roles``): their refusals word
for word, and a batch that not one recipient can receive."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Kbx
from tests.export_helpers import requests_file, staff


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ("export", "request", "art20-municipal", "--recipient", "72020", "--period", "2026",
             "--channel", "sftp_drop", "--by", "arne"),
            2,
            "kbx: user 'arne' (approver) may not request exports [auth.role]",
        ),
        (
            ("export", "approve", "1", "--by", "olga"),
            2,
            "kbx: user 'olga' (operator) may not approve exports [auth.role]",
        ),
        (
            ("recipients", "changes", "reject", "1", "--by", "olga"),
            2,
            "kbx: user 'olga' (operator) may not decide on changes to recipients [auth.role]",
        ),
        (
            ("recipients", "mail", "set", "44021", "--address", "bz@gent.be", "--route", "zivver",
             "--by", "arne"),
            2,
            "kbx: user 'arne' (approver) may not propose changes to recipients [auth.role]",
        ),
        (
            ("pseudonym", "rotate", "--by", "olga"),
            2,
            "kbx: user 'olga' (operator) may not rotate the pseudonym key [auth.role]",
        ),
        (
            ("export", "cancel", "1", "--by", "nobody"),
            2,
            "kbx: unknown user 'nobody' [user.unknown]",
        ),
    ],
)  # fmt: skip
def test_a_role_that_may_not_is_refused_in_one_line(
    kbx: Kbx, args: tuple[str, ...], code: int, line: str
) -> None:
    staff(kbx)
    refused = kbx(*args)
    assert (refused.exit_code, refused.stderr) == (code, line + "\n")
    assert refused.stdout == ""


def test_a_batch_no_recipient_can_receive_is_a_refusal(kbx: Kbx, tmp_path: Path) -> None:
    staff(kbx)
    asked = requests_file(tmp_path / "aanvragen.csv", ["72020"])
    refused = kbx(
        "export", "request", "art20-municipal", "--recipient", "all-requested",
        "--requests", str(asked), "--period", "2026", "--channel", "sftp_drop", "--by", "olga",
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    first, *rest = refused.stderr.splitlines()
    assert first == (
        "kbx: GEWEIGERD / REFUSED: art20-municipal -> all-requested, 2026: "
        "no run requested: all 1 recipient(s) refused"
    )
    assert rest == ["  72020: geweigerd / refused: "
                    "recipient 72020 has no registered contact for the key SMS"]  # fmt: skip
    assert refused.stdout == ""
