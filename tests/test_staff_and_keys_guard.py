"""Two guards of who is who: a drop key opens one recipient's outbox only (DESIGN.md, invariant
5), and a staff account's name, written into the audit trail as an actor, never carries an
integree's number."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sqlalchemy import Engine, select

from exchange.models import RecipientKey, User
from tests.conftest import Kbx
from tests.export_helpers import PASSWORD, four_eyes, staff

LOMMEL, GENT = "72020", "44021"


def _key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def _proposed(kbx: Kbx, recipient: str, key: Path) -> str:
    done = kbx("recipients", "key", "add", recipient, "--public-key", f"{key}.pub", "--by", "olga")
    assert done.exit_code == 0, done.output
    match = re.search(r"change (\d+) proposed", done.stdout)
    assert match, done.stdout
    return match.group(1)


def test_a_key_of_one_recipient_is_refused_for_another(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    staff(kbx)
    key = _key(tmp_path)
    four_eyes(kbx, "recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub")
    again = kbx("recipients", "key", "add", GENT, "--public-key", f"{key}.pub", "--by", "olga")
    assert again.exit_code == 2
    assert again.stderr.startswith("kbx: sleutel SHA256:")
    assert again.stderr.rstrip().endswith(
        f"is geregistreerd voor ontvanger {LOMMEL}: een sleutel meldt aan als een enkele "
        "ontvanger; vraag een eigen sleutel [key.other_recipient]"
    )
    with engine.connect() as connection:
        owners = connection.scalars(select(RecipientKey.recipient_id)).all()
    assert owners == [LOMMEL]


def test_two_pending_proposals_of_one_key_cannot_both_be_applied(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    staff(kbx)
    key = _key(tmp_path)
    for_lommel, for_gent = _proposed(kbx, LOMMEL, key), _proposed(kbx, GENT, key)
    assert kbx("recipients", "changes", "approve", for_lommel, "--by", "arne").exit_code == 0
    second = kbx("recipients", "changes", "approve", for_gent, "--by", "arne")
    assert second.exit_code == 2
    assert "[key.other_recipient]" in second.stderr
    with engine.connect() as connection:
        owners = connection.scalars(select(RecipientKey.recipient_id)).all()
    assert owners == [LOMMEL]


def test_a_user_name_holding_a_national_number_is_refused_without_repeating_it(
    kbx: Kbx, engine: Engine
) -> None:
    number = "85073003328"
    for name in (number, f"jan{number[:6]}", "Jan Peeters", "x"):
        refused = kbx("users", "add", name, "--role", "operator", input=PASSWORD + "\n")
        assert refused.exit_code == 2, name
        assert refused.stderr.rstrip().endswith("[user.name_invalid]")
        assert len(name) < 2 or name not in refused.output
    assert (
        kbx("users", "add", "an.peeters-2", "--role", "operator", input=PASSWORD + "\n").exit_code
        == 0
    )
    with engine.connect() as connection:
        assert connection.scalars(select(User.name)).all() == ["an.peeters-2"]
