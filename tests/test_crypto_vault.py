from __future__ import annotations

import base64
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.vault import KEY_BYTES, SecretBox, VaultError, load_service_key

KEY = bytes(range(32))
# Chosen so that the standard and the URL-safe encodings differ ("+/" against "-_").
ODD_KEY = bytes([0xFB, 0xFF, 0xBF] * 10 + [0xFB, 0xFF])


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(KEY)


def test_round_trip(box: SecretBox) -> None:
    token = box.seal(b"k7wq3-hx9ta-m4rcz-2npve-y8bdf", b"R-2026-000042")
    assert box.open(token, b"R-2026-000042") == b"k7wq3-hx9ta-m4rcz-2npve-y8bdf"
    assert b"k7wq3" not in token
    assert token[0] == 1  # the version prefix


def test_every_seal_uses_a_fresh_nonce(box: SecretBox) -> None:
    tokens = {box.seal(b"same", b"ad") for _ in range(100)}
    assert len(tokens) == 100


def test_associated_data_mismatch_fails(box: SecretBox) -> None:
    token = box.seal(b"secret", b"R-1")
    with pytest.raises(VaultError, match="cannot be opened"):
        box.open(token, b"R-2")


@pytest.mark.parametrize(
    "position", [1, 12, 13, -17, -1], ids=["nonce", "nonce-end", "body", "body-end", "tag"]
)
def test_tampered_token_fails(box: SecretBox, position: int) -> None:
    token = bytearray(box.seal(b"secret", b"ad"))
    token[position] ^= 0x01
    with pytest.raises(VaultError) as caught:
        box.open(bytes(token), b"ad")
    # The library's exception is translated, not chained for a log line to show.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_other_version_and_truncated_tokens_fail(box: SecretBox) -> None:
    token = box.seal(b"secret", b"ad")
    with pytest.raises(VaultError, match="version"):
        box.open(b"\x02" + token[1:], b"ad")
    with pytest.raises(VaultError, match="truncated"):
        box.open(token[:28], b"ad")


def test_wrong_key_fails(box: SecretBox) -> None:
    token = box.seal(b"secret", b"ad")
    with pytest.raises(VaultError):
        SecretBox(bytes(32)).open(token, b"ad")


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(VaultError):
        SecretBox(bytes(length))


def test_repr_hides_the_key(box: SecretBox) -> None:
    assert KEY.hex() not in repr(box)


# -- load_service_key -------------------------------------------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    # With umask 0 the 0600 of the key file must come from kbx itself.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(ODD_KEY).decode(),
        base64.urlsafe_b64encode(ODD_KEY).decode(),
        base64.urlsafe_b64encode(ODD_KEY).decode().rstrip("="),
        f"  {base64.b64encode(ODD_KEY).decode()}\n",
    ],
    ids=["standard", "urlsafe", "unpadded", "whitespace"],
)
def test_env_key_in_either_base64_alphabet(tmp_path: Path, encoded: str) -> None:
    assert "+" in base64.b64encode(ODD_KEY).decode()
    key = load_service_key(env_key=encoded, key_file=tmp_path / "k", create_if_missing=True)
    assert key == ODD_KEY
    assert not (tmp_path / "k").exists()  # the environment wins; nothing is written


def test_env_key_wins_over_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "service.key"
    load_service_key(env_key=None, key_file=key_file, create_if_missing=True)
    env = base64.b64encode(KEY).decode()
    assert load_service_key(env_key=env, key_file=key_file, create_if_missing=False) == KEY


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "c2VjcmV0LXRvby1zaG9ydA==",  # 16 bytes
        base64.b64encode(b"y" * 31).decode(),
        base64.b64encode(b"z" * 33).decode(),
        "not base64 at all: Zm9v!",
        base64.b64encode(KEY).decode()[:-5] + "*" * 5,
    ],
)
def test_bad_env_key_is_refused_without_echoing_it(tmp_path: Path, value: str) -> None:
    with pytest.raises(VaultError, match="KBX_SECRET_KEY") as caught:
        load_service_key(env_key=value, key_file=tmp_path / "k", create_if_missing=True)
    message = str(caught.value)
    if value.strip():
        assert value.strip() not in message
        assert value.strip()[:8] not in message
    assert caught.value.__cause__ is None
    assert not (tmp_path / "k").exists()


@pytest.mark.usefixtures("no_umask")
def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "nested" / "service.key"
    first = load_service_key(env_key=None, key_file=key_file, create_if_missing=True)
    assert len(first) == KEY_BYTES
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert base64.b64decode(key_file.read_bytes().strip()) == first
    assert os.listdir(key_file.parent) == ["service.key"]  # no staging file left behind
    again = load_service_key(env_key=None, key_file=key_file, create_if_missing=True)
    assert again == first
    production = load_service_key(env_key=None, key_file=key_file, create_if_missing=False)
    assert production == first


def test_two_creators_agree_on_one_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "service.key"
    real_link = os.link

    def other_process_wins(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, base64.b64encode(KEY))
        os.close(fd)
        real_link(src, dst)  # raises FileExistsError, as link() does in the race

    monkeypatch.setattr(os, "link", other_process_wins)
    assert load_service_key(env_key=None, key_file=key_file, create_if_missing=True) == KEY
    assert os.listdir(tmp_path) == ["service.key"]


def test_missing_key_without_creation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="no service key: set KBX_SECRET_KEY"):
        load_service_key(env_key=None, key_file=tmp_path / "service.key", create_if_missing=False)
    assert not (tmp_path / "service.key").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_group_or_world_readable_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "service.key"
    key_file.write_text(base64.b64encode(KEY).decode())
    key_file.chmod(mode)
    with pytest.raises(VaultError, match="chmod 600"):
        load_service_key(env_key=None, key_file=key_file, create_if_missing=True)
    key_file.chmod(0o400)
    assert load_service_key(env_key=None, key_file=key_file, create_if_missing=False) == KEY


def test_key_file_with_garbage_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key_file = tmp_path / "service.key"
    key_file.write_text("hunter2-not-a-key\n")
    key_file.chmod(0o600)
    with pytest.raises(VaultError, match="base64") as caught:
        load_service_key(env_key=None, key_file=key_file, create_if_missing=True)
    assert "hunter2" not in str(caught.value)
    assert key_file.read_text() == "hunter2-not-a-key\n"  # never replaced by a new key


def test_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    key_dir = tmp_path / "service.key"
    key_dir.mkdir(mode=0o700)
    with pytest.raises(VaultError, match="not a regular file"):
        load_service_key(env_key=None, key_file=key_dir, create_if_missing=True)


def test_key_file_that_cannot_be_created_is_a_vault_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hard_links(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    with pytest.raises(VaultError, match=r"cannot create .*: Operation not permitted"):
        load_service_key(env_key=None, key_file=tmp_path / "service.key", create_if_missing=True)
    assert os.listdir(tmp_path) == []
