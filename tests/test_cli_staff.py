"""The CLI's ``--by NAME`` checks ask the role table (``app.flows.roles``): their refusals word
for word, and a batch that not one recipient can receive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

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
            "kbx: gebruiker 'arne' (approver) mag geen exports aanvragen [auth.role]",
        ),
        (
            ("export", "approve", "1", "--by", "olga"),
            2,
            "kbx: gebruiker 'olga' (operator) mag geen exports goedkeuren [auth.role]",
        ),
        (
            ("recipients", "changes", "reject", "1", "--by", "olga"),
            2,
            "kbx: gebruiker 'olga' (operator) mag niet over wijzigingen aan ontvangers beslissen "
            "[auth.role]",
        ),
        (
            ("recipients", "mail", "set", "44021", "--address", "bz@gent.be", "--route", "zivver",
             "--by", "arne"),
            2,
            "kbx: gebruiker 'arne' (approver) mag geen wijzigingen aan ontvangers voorstellen "
            "[auth.role]",
        ),
        (
            ("pseudonym", "rotate", "--by", "olga"),
            2,
            "kbx: gebruiker 'olga' (operator) mag de pseudoniemsleutel niet vervangen [auth.role]",
        ),
        (
            ("export", "cancel", "1", "--by", "nobody"),
            2,
            "kbx: onbekende gebruiker 'nobody' [user.unknown]",
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
        "geen run aangevraagd: alle 1 ontvanger(s) geweigerd"
    )
    assert rest == [
        "  72020: geweigerd / refused:",
        "    - [recipient.no_contact] ontvanger 72020 heeft geen geregistreerde contactpersoon "
        "voor de sleutel-sms",
    ]
    assert refused.stdout == ""


def test_a_refusal_asked_for_as_json_is_json_with_every_reason(kbx: Kbx) -> None:
    staff(kbx)
    refused = kbx(
        "export", "request", "art20-municipal", "--recipient", "Gent", "--period", "2026",
        "--channel", "sftp_drop", "--requested-on", "2026-01-05", "--request-ref", "G/1",
        "--by", "olga", "--json",
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    answer = json.loads(refused.stdout)
    assert answer["state"] == "refused"
    assert isinstance(answer["run"], int)
    assert [r["rule"] for r in answer["reasons"]] == ["recipient.not_signed"]
    assert answer["reasons"][0]["nl"] == "Ontvanger 44021 heeft dit protocol niet ondertekend."
    assert answer["reasons"][0]["article"].startswith("Art. 12 (inwerkingtreding")


def test_a_channel_kbx_does_not_know_is_a_typing_error_and_records_nothing(kbx: Kbx) -> None:
    staff(kbx)
    typo = kbx(
        "export", "request", "art20-municipal", "--recipient", "72020", "--period", "2026",
        "--channel", "sftp-drop", "--by", "olga",
    )  # fmt: skip
    assert typo.exit_code == 2
    assert typo.stderr.startswith("kbx: Invalid value for '--channel': ")
    assert "'sftp-drop' is not one of 'sftp_drop', 'sftp_push', 'secure_mail', 'zivver'" in (
        typo.stderr
    )
    assert typo.stderr.endswith("(zie `kbx export request --help`) [usage]\n")
    assert kbx("export", "list", "--all", "--json").stdout.strip() == "[]"


def test_a_period_that_is_no_period_is_a_typing_error_and_records_nothing(kbx: Kbx) -> None:
    staff(kbx)
    typo = kbx(
        "export", "request", "art20-municipal", "--recipient", "72020", "--period", "26",
        "--channel", "sftp_drop", "--by", "olga",
    )  # fmt: skip
    assert typo.exit_code == 2
    assert typo.stderr == (
        "kbx: '26' is geen periode: JJJJ (2026) of JJJJ-H1 / JJJJ-H2 [period.invalid]\n"
    )
    assert kbx("export", "list", "--all", "--json").stdout.strip() == "[]"


def test_the_channel_names_of_the_command_line_are_the_channels() -> None:
    from app.cli.exports import ChannelName
    from exchange.protocols import Channel

    assert get_args(ChannelName) == tuple(c.value for c in Channel)


def test_an_error_line_is_dutch_and_falls_back_on_the_catalogue() -> None:
    """``kbx: <Dutch> [code]``: the error's own Dutch; without one the catalogue's Dutch line with
    the error's own English after it (its facts); a code the catalogue lacks, the English."""
    from app.cli import said
    from app.errors import KbxError

    own = KbxError("run.unknown", "unknown run KBX-2026-000042", "onbekende run KBX-2026-000042")
    assert said(own) == "onbekende run KBX-2026-000042"
    generic = KbxError("run.unknown", "unknown run KBX-2026-000042")
    assert said(generic) == "Onbekende run (unknown run KBX-2026-000042)"
    assert said(KbxError("no.such_code", "something went wrong")) == "something went wrong"
