"""The return leg of vdab-pillar3 (docs/vdab-return.md), pure and at the edges: VDAB's enriched
file is accepted whole or refused whole with a report by line and column that never holds a
value; the dataset joins the Art. 3 profile fields and replaces every national number by a keyed
pseudonym; the pseudonym key (loading, id, rotation as an audited admin action)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import stat
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

import app.flows.vdab_dataset as vdab_dataset
from app.cli import app as cli_app
from app.cli.pseudonym import ROTATED
from app.cli.pseudonym import register as register_pseudonym
from app.flows.vdab_dataset import profiles_for, pseudonym_key, pseudonym_key_file
from app.registry import load_registry
from app.settings import PROJECT_ROOT, Settings
from app.store.db import transaction
from crypto.pseudonyms import (
    Pseudonymiser,
    PseudonymKeyError,
    Purpose,
    key_id,
    load_pseudonym_key,
    new_pseudonym_key,
)
from exchange.csv_input import decoded_lines
from exchange.models import AuditEvent
from exchange.vdab_return import (
    MAX_REPORTED,
    RETURN_COLUMNS,
    ReturnedFile,
    ReturnRefused,
    ReturnRow,
    dataset_columns,
    parse_return,
    pseudonymised_rows,
)
from tests.conftest import TODAY, Kbx
from tests.export_helpers import PASSWORD
from tests.factories import national_number, person, write_extract

HEADER = ",".join(RETURN_COLUMNS)
GENT = "44021"


def _n(serial: int) -> str:
    return national_number(date(1979, 2, 3), serial)


A, B, C, D_ = _n(101), _n(103), _n(105), _n(107)
SENT = frozenset({A, B, C, D_})
STRANGER = _n(109)  # never sent
for _number in (A, B, C, D_, STRANGER):
    person(_number, GENT)  # the leak guard learns them


def _file(*rows: str, header: str = HEADER) -> list[str]:
    return io.StringIO("\n".join([header, *rows]) + "\n", newline="").readlines()


def _refused(lines: Iterable[str]) -> ReturnRefused:
    with pytest.raises(ReturnRefused) as refused:
        parse_return(lines, SENT, TODAY)
    report = "\n".join(refused.value.report())
    for number in (A, B, C, D_, STRANGER):
        assert number not in report, "a national number in the report"
        assert number not in str(refused.value)
    return refused.value


def _report(lines: Iterable[str]) -> list[str]:
    return _refused(lines).report()


# -- the return file --------------------------------------------------------------------------


def test_a_valid_file_gives_typed_rows() -> None:
    lines = _file(
        f"{A},2022-05-02,2025-03-10,unemployed_benefit,active,job_search;orientation,true",
        f"{B},,,,,,",
        f'{C},2023-01-09,2023-01-09,employed,ended,"context",false',
    )
    returned = parse_return(lines, SENT, TODAY)
    assert returned == ReturnedFile(
        (
            ReturnRow(
                A,
                date(2022, 5, 2),
                date(2025, 3, 10),
                "unemployed_benefit",
                "active",
                ("orientation", "job_search"),
                True,
            ),
            ReturnRow(B, None, None, None, None, (), None),
            ReturnRow(
                C, date(2023, 1, 9), date(2023, 1, 9), "employed", "ended", ("context",), False
            ),
        ),
        sent=4,
    )
    assert returned.not_returned == 1, "VDAB may return fewer people than were sent"


def test_columns_in_any_order_a_byte_order_mark_and_empty_lines_are_fine() -> None:
    header = ",".join(reversed(RETURN_COLUMNS))
    lines = _file("", f"false,,,,,,{A}", "", header="\ufeff" + header)
    [row] = parse_return(lines, SENT, TODAY).rows
    assert (row.national_number, row.outflow_to_work) == (A, False)


def test_an_unknown_national_number_refuses_the_whole_file() -> None:
    lines = _file(f"{A},,,,,,true", f"{STRANGER},,,,,,true", f"{B},,,,,,false")
    refused = _refused(lines)
    assert refused.report() == ["line 3, column national_number: national_number.not_sent"]
    assert refused.total == 1


def test_an_unknown_or_missing_column_refuses_the_whole_file() -> None:
    assert _report(_file(f"{A},,,,,,,x", header=HEADER + ",remarks")) == [
        "line 1, column remarks: header.unknown_column"
    ]
    assert _report(_file(f"{A},,,,,", header=HEADER.replace(",outflow_to_work", ""))) == [
        "line 1, column outflow_to_work: header.missing_column"
    ]
    assert _report(_file(f"{A},,,,,,,", header=HEADER + ",action_types")) == [
        "line 1, column action_types: header.duplicate_column"
    ]
    # A file without its header line: the first person's values are never named as columns.
    report = _report(_file(f"{B},,,,,,", header=f"{A},2022-05-02,,employed,active,context,true"))
    assert report[:2] == [
        "line 1, column (column 1): header.unknown_column",
        "line 1, column (column 2): header.unknown_column",
    ]
    assert "line 1, column employed: header.unknown_column" in report
    assert "line 1, column national_number: header.missing_column" in report
    assert _report([]) == ["line 1, column (header): header.missing"]


def test_a_number_returned_twice_refuses_the_whole_file() -> None:
    lines = _file(f"{A},,,,,,", f"{B},,,,,,", f"{A},,,,,,")
    assert _report(lines) == ["line 4, column national_number: duplicate_of_line_2"]


def test_bad_values_are_reported_by_line_and_column_without_the_value() -> None:
    lines = _file(
        f"{A},2022-13-01,,,,,",
        f"{B},02/05/2022,2026-11-24,,,,",
        f"{C},2024-01-01,2023-12-31,jobless,busy,context;context,yes",
        f"{D_},,2024-01-01,,,orientation;;context,",
        ",,,,,,true",  # a value without a number (bare ",,,,,," is a blank row, skipped)
        "1234,,,,,,",
        f"{A[:5]}",
        f'{A},,,,,"sleeping",',
    )
    assert _report(lines) == [
        "line 2, column vdab_first_registration: date.impossible",
        "line 3, column vdab_first_registration: date.format",
        "line 3, column vdab_latest_registration: date.in_future",
        "line 4, column vdab_latest_registration: date.before_first_registration",
        "line 4, column jobseeker_category: enum.unknown_value",
        "line 4, column service_status: enum.unknown_value",
        "line 4, column action_types: list.duplicate_value",
        "line 4, column outflow_to_work: boolean.format",
        "line 5, column vdab_latest_registration: registration.latest_without_first",
        "line 5, column action_types: list.empty_item",
        "line 6, column national_number: required",
        "line 7, column national_number: national_number.format",
        "line 8, column (row): row.column_count",
        "line 9, column national_number: duplicate_of_line_2",
        "line 9, column action_types: enum.unknown_value",
    ]


def test_a_quoted_value_over_two_lines_is_reported_where_it_starts() -> None:
    lines = _file(f'{A},,,"employed\nagain",,,', f"{B},,,,,,maybe")
    assert _report(lines) == [
        "line 2, column jobseeker_category: enum.unknown_value",
        "line 4, column outflow_to_work: boolean.format",
    ]


def test_unreadable_files_are_refused() -> None:
    not_utf8 = io.TextIOWrapper(
        io.BytesIO((HEADER + "\n").encode() + b"\xff\xfe,,,,,,\n"), encoding="utf-8", newline=""
    )
    # The stream decodes in blocks: the line is where decoding stopped, not always the bad one.
    [problem] = _report(not_utf8)
    assert problem.endswith(", column (file): file.not_utf8")
    assert _report(_file(f'{A},,,,,,"true')) == ["line 2, column (row): csv.malformed"]


def test_at_most_a_thousand_problems_are_listed_with_the_total() -> None:
    lines = _file(*[f"{A},x,,,,,"] * (MAX_REPORTED + 10))
    refused = _refused(lines)
    # Each row: a bad date, and from the second row on a duplicate.
    assert refused.total == 2 * (MAX_REPORTED + 10) - 1
    assert len(refused.problems) == MAX_REPORTED
    assert refused.report()[-1] == f"... and {refused.total - MAX_REPORTED} more problem(s)"


def test_the_protocol_definition_and_the_format_agree() -> None:
    definition = load_registry(PROJECT_ROOT / "protocols").get("vdab-pillar3")
    assert definition is not None
    assert definition.profile is not None
    assert tuple(definition.profile.return_columns) == RETURN_COLUMNS
    fields = [f.name for f in definition.profile.fields]
    assert dataset_columns(fields) == ("pseudonym", *RETURN_COLUMNS[1:], *fields)
    assert "national_number" not in dataset_columns(fields)
    with pytest.raises(ValueError, match="national number"):
        dataset_columns(["sex", "national_number"])


# -- the pseudonymised dataset ----------------------------------------------------------------

PROFILE_FIELDS = ("age_category", "sex", "nationality", "contract_signed_on")
PROFILES: dict[str, dict[str, Any]] = {
    A: {"age_category": "45-54", "sex": "F", "nationality": "SY", "contract_signed_on": None},
    B: {
        "age_category": "45-54",
        "sex": "M",
        "nationality": "AF",
        "contract_signed_on": date(2023, 2, 1),
    },
}


def _returned() -> ReturnedFile:
    lines = _file(
        f"{A},2022-05-02,,employed,active,competence;context,true", f"{B},,,,,,", f"{C},,,,,,"
    )
    return parse_return(lines, SENT, TODAY)


def test_the_dataset_joins_the_profile_and_holds_no_national_number() -> None:
    key = new_pseudonym_key()
    pseudonym = Pseudonymiser(key, Purpose.BI_DATASET)
    dataset = pseudonymised_rows(
        _returned().rows, PROFILES, pseudonym, profile_fields=PROFILE_FIELDS
    )
    assert dataset.columns == ("pseudonym", *RETURN_COLUMNS[1:], *PROFILE_FIELDS)
    by_pseudonym = {row[0]: row for row in dataset.rows}
    assert by_pseudonym[pseudonym(A)] == (
        pseudonym(A),
        date(2022, 5, 2),
        None,
        "employed",
        "active",
        "context;competence",
        True,
        "45-54",
        "F",
        "SY",
        None,
    )
    assert by_pseudonym[pseudonym(B)][-4:] == ("45-54", "M", "AF", date(2023, 2, 1))
    assert by_pseudonym[pseudonym(C)][-4:] == (None, None, None, None)
    assert dataset.without_profile == 1, "C is no longer in KBI"
    assert [row[0] for row in dataset.rows] == sorted(by_pseudonym), "ordered by pseudonym"
    text = repr(dataset)
    for number in (A, B, C, D_):
        assert number not in text


def test_the_pseudonym_is_stable_for_a_key_and_differs_for_another() -> None:
    key, other = new_pseudonym_key(), new_pseudonym_key()
    first = pseudonymised_rows(
        _returned().rows, PROFILES, Pseudonymiser(key, Purpose.BI_DATASET), profile_fields=()
    )
    next_half_year = pseudonymised_rows(
        _returned().rows, PROFILES, Pseudonymiser(key, Purpose.BI_DATASET), profile_fields=()
    )
    rotated = pseudonymised_rows(
        _returned().rows, PROFILES, Pseudonymiser(other, Purpose.BI_DATASET), profile_fields=()
    )
    assert [r[0] for r in first.rows] == [r[0] for r in next_half_year.rows]
    assert not {r[0] for r in first.rows} & {r[0] for r in rotated.rows}

    pseudonym = Pseudonymiser(key, Purpose.BI_DATASET)
    expected = hmac.new(key, b"bi-dataset\x00" + A.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(A) == expected, "HMAC-SHA-256 as documented, reproducible elsewhere"
    assert Pseudonymiser(key, Purpose.AUDIT)(A) != pseudonym(A), "a purpose of its own"
    assert pseudonym.key_id == key_id(key) != key_id(other)
    assert len(pseudonym.key_id) == 16
    assert key.hex() not in repr(pseudonym)
    for bad in (A[:10], A + "0", f" {A[1:]}", "١" * 11):
        with pytest.raises(ValueError, match="11 digits") as error:
            pseudonym(bad)
        assert bad not in str(error.value)


# -- the pseudonym key ------------------------------------------------------------------------


def test_the_key_comes_from_the_environment_or_a_private_key_file(tmp_path: Path) -> None:
    key = new_pseudonym_key()
    encoded = base64.b64encode(key).decode()
    key_file = tmp_path / "keys" / "pseudonym.key"
    assert load_pseudonym_key(env_key=encoded, key_file=key_file, create_if_missing=True) == key
    assert not key_file.exists(), "an environment key writes no file"
    for bad in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(PseudonymKeyError, match="KBX_PSEUDONYM_KEY"):
            load_pseudonym_key(env_key=bad, key_file=key_file, create_if_missing=True)

    with pytest.raises(PseudonymKeyError, match="set KBX_PSEUDONYM_KEY"):
        load_pseudonym_key(env_key=None, key_file=key_file, create_if_missing=False)
    created = load_pseudonym_key(env_key=None, key_file=key_file, create_if_missing=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_pseudonym_key(env_key=None, key_file=key_file, create_if_missing=False) == created
    os.chmod(key_file, 0o640)
    with pytest.raises(PseudonymKeyError, match="chmod 600"):
        load_pseudonym_key(env_key=None, key_file=key_file, create_if_missing=False)
    with pytest.raises(PseudonymKeyError, match="32 bytes"):
        Pseudonymiser(b"short", Purpose.AUDIT)


# -- the profile lookup (both backends) -------------------------------------------------------


def test_profiles_for_the_returned_numbers(
    kbx: Kbx, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [
        person(A, GENT, birth_date="1979-02-03", sex="F", nationality="SY", kbi_region="gent_stad"),
        person(B, GENT, birth_date="2008-01-01", living_wage=True, contract_signed_on="2023-02-01"),
        person(C, GENT),
    ]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", people))).exit_code == 0
    monkeypatch.setattr(vdab_dataset, "_CHUNK", 2)  # several chunks
    fields = [
        "age_category",
        "sex",
        "nationality",
        "kbi_region",
        "living_wage",
        "contract_signed_on",
    ]
    with transaction(engine) as session:
        found = dict(profiles_for(session, [A, B, STRANGER], fields, date(2026, 6, 30)))
    assert found == {
        A: {
            "age_category": "45-54",
            "sex": "F",
            "nationality": "SY",
            "kbi_region": "gent_stad",
            "living_wage": None,
            "contract_signed_on": None,
        },
        B: {
            "age_category": "18-24",
            "sex": None,
            "nationality": None,
            "kbi_region": None,
            "living_wage": True,
            "contract_signed_on": date(2023, 2, 1),
        },
    }
    with pytest.raises(ValueError, match="not a profile field"), transaction(engine) as session:
        list(profiles_for(session, [A], ["national_number"], TODAY))


# -- kbx pseudonym ----------------------------------------------------------------------------


@pytest.fixture
def cli(kbx: Kbx) -> Kbx:
    # Until app/cli.py registers the sub-app itself (one line), the tests do it.
    if not any(group.name == "pseudonym" for group in cli_app.registered_groups):
        register_pseudonym(cli_app)
    for name, role in (("ada", "admin"), ("olga", "operator")):
        added = kbx("users", "add", name, "--role", role, input=PASSWORD + "\n")
        assert added.exit_code == 0, added.output
    return kbx


def _rotations(engine: Engine) -> list[tuple[str, dict[str, object]]]:
    with engine.connect() as connection:
        events = connection.execute(
            select(AuditEvent.actor, AuditEvent.details)
            .where(AuditEvent.action == ROTATED)
            .order_by(AuditEvent.seq)
        )
        return [(actor, json.loads(details)) for actor, details in events]


def test_rotation_in_development_writes_a_new_key_file(
    cli: Kbx, engine: Engine, settings: Settings
) -> None:
    shown = cli("pseudonym", "show-key-id")
    assert shown.exit_code == 0
    old = key_id(pseudonym_key(settings))
    assert shown.stdout.startswith(f"{old} (key file ")

    assert cli("pseudonym", "rotate", "--by", "olga").exit_code == 2, "an admin action"
    assert cli("pseudonym", "rotate", "--by", "nobody").exit_code == 2
    assert key_id(pseudonym_key(settings)) == old

    rotated = cli("pseudonym", "rotate", "--by", "ada")
    assert rotated.exit_code == 0, rotated.output
    new = key_id(pseudonym_key(settings))
    assert new != old
    assert f"{old} -> {new}" in rotated.stdout
    assert stat.S_IMODE(pseudonym_key_file(settings).stat().st_mode) == 0o600
    assert _rotations(engine) == [
        ("ada", {"old_key_id": old, "new_key_id": new, "how": "key_file"})
    ]
    assert json.loads(cli("pseudonym", "show-key-id", "--json").stdout) == {
        "key_id": new,
        "source": f"key file {pseudonym_key_file(settings)}",
        "last_recorded_key_id": new,
    }
    confirm = cli("pseudonym", "rotate", "--by", "ada", "--confirm-key-id", new)
    assert confirm.exit_code == 2, "nothing to confirm without KBX_PSEUDONYM_KEY"


def test_an_operator_key_is_rotated_by_the_operator_and_recorded_by_an_admin(
    cli: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = new_pseudonym_key(), new_pseudonym_key()
    monkeypatch.setenv("KBX_PSEUDONYM_KEY", base64.b64encode(first).decode())
    refused = cli("pseudonym", "rotate", "--by", "ada")
    assert refused.exit_code == 3
    assert "KBX_PSEUDONYM_KEY, die enkel de operator wijzigt" in refused.stderr
    recorded = cli("pseudonym", "rotate", "--by", "ada", "--confirm-key-id", key_id(first))
    assert recorded.exit_code == 0, recorded.output

    monkeypatch.setenv("KBX_PSEUDONYM_KEY", base64.b64encode(second).decode())
    shown = cli("pseudonym", "show-key-id")
    assert shown.stdout == f"{key_id(second)} (KBX_PSEUDONYM_KEY)\n"
    assert "--confirm-key-id" in shown.stderr, "the unrecorded key is pointed out"
    wrong = cli("pseudonym", "rotate", "--by", "ada", "--confirm-key-id", key_id(first))
    assert wrong.exit_code == 2
    assert f"heeft id {key_id(second)}, niet {key_id(first)}" in wrong.stderr
    assert (
        cli("pseudonym", "rotate", "--by", "ada", "--confirm-key-id", key_id(second)).exit_code == 0
    )
    again = cli("pseudonym", "rotate", "--by", "ada", "--confirm-key-id", key_id(second))
    assert again.exit_code == 3, "the same key is not a rotation"
    assert f"sleutel {key_id(second)} is al de geregistreerde sleutel" in again.stderr
    assert _rotations(engine) == [
        ("ada", {"old_key_id": None, "new_key_id": key_id(first), "how": "operator"}),
        ("ada", {"old_key_id": key_id(first), "new_key_id": key_id(second), "how": "operator"}),
    ]


def test_production_never_writes_a_key(
    cli: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("KBX_ENV", "production")
    monkeypatch.delenv("KBX_TODAY")
    shown = cli("pseudonym", "show-key-id")
    assert shown.exit_code == 1
    assert "set KBX_PSEUDONYM_KEY" in shown.stderr
    refused = cli("pseudonym", "rotate", "--by", "ada")
    assert refused.exit_code == 3
    assert "kbx schrijft hem nooit" in refused.stderr
    assert not pseudonym_key_file(settings).exists()
    assert _rotations(engine) == []


# -- files as people save them (issue 9) ------------------------------------------------------


def test_blank_rows_and_rows_of_bare_separators_are_skipped_and_counted() -> None:
    lines = _file(f"{A},,,,,,true", ",,,,,,", "", f"{B},,,,,,", " , ,,,,,", "")
    returned = parse_return(lines, SENT, TODAY)
    assert [r.national_number for r in returned.rows] == [A, B]
    assert returned.blank_rows == 4


def test_a_semicolon_separated_return_gets_one_problem_that_says_so() -> None:
    header = "\ufeff" + HEADER.replace(",", ";")
    assert _report(_file(f"{A};;;;;;true", header=header)) == [
        "line 1, column (header): file.semicolon_separated (the file uses ';' as separator: "
        "save it as CSV UTF-8, comma delimited / het bestand gebruikt ';' als scheidingsteken: "
        "sla op als CSV UTF-8, door komma's gescheiden)"
    ]


def test_a_byte_that_is_not_utf8_is_reported_at_its_own_line() -> None:
    rows = [f"{A},,,,,,true", f"{B},,,,,,", "", f"{C},,,employ\u00e9,,,", f"{D_},,,,,,"]
    data = "\n".join([HEADER, *rows]).encode("cp1252") + b"\n"
    assert _report(decoded_lines(io.BytesIO(data))) == ["line 5, column (file): file.not_utf8"]
    # The same file in UTF-8 (with Excel's byte-order mark) reads up to its real problem.
    utf8 = b"\xef\xbb\xbf" + "\n".join([HEADER, *rows]).encode() + b"\n"
    assert _report(decoded_lines(io.BytesIO(utf8))) == [
        "line 5, column jobseeker_category: enum.unknown_value"
    ]
