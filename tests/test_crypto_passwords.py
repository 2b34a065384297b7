from __future__ import annotations

import math
import re

from crypto.passwords import ALPHABET, GROUP_LENGTH, GROUPS, PASSWORD_ENTROPY_BITS, new_password

PATTERN = re.compile(rf"[{ALPHABET}]{{5}}(?:-[{ALPHABET}]{{5}}){{4}}")


def test_entropy_is_at_least_100_bits_and_matches_the_format() -> None:
    assert PASSWORD_ENTROPY_BITS >= 100
    assert math.isclose(PASSWORD_ENTROPY_BITS, GROUPS * GROUP_LENGTH * math.log2(len(ALPHABET)))


def test_alphabet_is_lowercase_and_digits_without_ambiguous_characters() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 31
    assert not set(ALPHABET) & set("0o1li")
    assert all(c.isdigit() or ("a" <= c <= "z") for c in ALPHABET)


def test_format_is_five_groups_of_five() -> None:
    for _ in range(200):
        password = new_password()
        assert PATTERN.fullmatch(password), password
        assert len(password) == GROUPS * GROUP_LENGTH + GROUPS - 1


def test_ten_thousand_passwords_are_distinct_and_use_the_whole_alphabet() -> None:
    passwords = [new_password() for _ in range(10_000)]
    assert len(set(passwords)) == len(passwords)
    assert set("".join(passwords).replace("-", "")) == set(ALPHABET)
