"""The SFTP drop against the real OpenSSH client (``/usr/bin/sftp``), with host key checking on.

Two registered recipients (72020, 44021) and one unregistered key. 72020 is the attacker in the
isolation matrix: every attempt must leave 44021's file unread and the tree on disk untouched.
Protocol-level attempts OpenSSH's client cannot express (NUL bytes, raw symlink requests) go
through paramiko's client.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko  # type: ignore[import-untyped]
import pytest

from channels import sftp_confine as confine
from channels.sftp_drop import MAX_OPEN_FILES_PER_SESSION, DropLimits, DropServer

SFTP = "/usr/bin/sftp"
SSH_KEYGEN = "/usr/bin/ssh-keygen"

pytestmark = pytest.mark.skipif(
    not (os.access(SFTP, os.X_OK) and os.access(SSH_KEYGEN, os.X_OK)),
    reason="the OpenSSH client (sftp, ssh-keygen) is not installed",
)

OWN = "KBX-2026-000123.xlsx"  # 72020's staged file
THEIRS = "KBX-2026-000999.xlsx"  # 44021's staged file, the target of the matrix
OWN_DATA = b"own-72020-" + secrets.token_bytes(70_000)
SECRET = b"SECRET-44021-" + secrets.token_bytes(50_000)


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A DropEvents that remembers every call, in order, from any thread."""

    calls: list[tuple[object, ...]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _add(self, *call: object) -> None:
        with self._lock:
            self.calls.append(call)

    def login(self, recipient: str, fingerprint: str, address: str) -> None:
        self._add("login", recipient, fingerprint, address)

    def auth_failed(self, username: str, address: str, reason: str) -> None:
        self._add("auth_failed", username, address, reason)

    def listed(self, recipient: str, folder: str) -> None:
        self._add("listed", recipient, folder)

    def downloaded(self, recipient: str, name: str, size: int) -> None:
        self._add("downloaded", recipient, name, size)

    def deleted(self, recipient: str, name: str) -> None:
        self._add("deleted", recipient, name)

    def uploaded(self, recipient: str, name: str, size: int) -> None:
        self._add("uploaded", recipient, name, size)

    def kinds(self) -> list[object]:
        with self._lock:
            return [c[0] for c in self.calls]

    def of(self, kind: str) -> list[tuple[object, ...]]:
        with self._lock:
            return [c for c in self.calls if c[0] == kind]


@dataclass(frozen=True)
class Keys:
    folder: Path

    def private(self, who: str) -> Path:
        return self.folder / who

    def public_line(self, who: str) -> str:
        alg, blob = (self.folder / f"{who}.pub").read_text().split()[:2]
        return f"{alg} {blob}"

    def fingerprint(self, who: str) -> str:
        out = subprocess.run(
            [SSH_KEYGEN, "-l", "-f", str(self.folder / f"{who}.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()[1]


_CLIENT_ENV = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


@dataclass
class Drop:
    server: DropServer
    root: Path
    events: Recorder
    keys: Keys
    known_hosts: Path
    work: Path

    def sftp(
        self,
        commands: list[str],
        *,
        user: str = "72020",
        key: str = "72020",
        cwd: Path | None = None,
        options: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        cwd = cwd or self.work
        cwd.mkdir(parents=True, exist_ok=True)
        batch = cwd / f"batch-{secrets.token_hex(4)}"
        batch.write_text("\n".join(commands) + "\n")
        try:
            return subprocess.run(
                [
                    SFTP,
                    "-F",
                    "/dev/null",
                    "-b",
                    str(batch),
                    "-i",
                    str(self.keys.private(key)),
                    "-P",
                    str(self.server.port),
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    f"UserKnownHostsFile={self.known_hosts}",
                    "-o",
                    "GlobalKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "PasswordAuthentication=no",
                    "-o",
                    "ConnectTimeout=10",
                    *options,
                    f"{user}@127.0.0.1",
                ],
                cwd=cwd,
                env=_CLIENT_ENV,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        finally:
            batch.unlink()

    def client(self, key: str = "72020", user: str = "72020") -> paramiko.Transport:
        """An authenticated paramiko transport with the host key pinned."""
        transport = paramiko.Transport(("127.0.0.1", self.server.port))
        host_key = paramiko.Ed25519Key(
            data=base64.b64decode(self.server.host_public_key.split()[1])
        )
        try:
            transport.connect(
                hostkey=host_key,
                username=user,
                pkey=paramiko.Ed25519Key.from_private_key_file(str(self.keys.private(key))),
            )
        except BaseException:
            transport.close()
            raise
        return transport


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """Everything under ``root`` without following links: kind and content digest/target."""
    found: dict[str, tuple[str, str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir", "")
            else:
                found[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return found


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    for who in ("72020", "44021", "stranger"):
        subprocess.run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(folder / who)],
            check=True,
        )
    return Keys(folder)


def _start(base: Path, keys: Keys, limits: DropLimits, events: Recorder | None = None) -> Drop:
    registered = {"72020": [keys.public_line("72020")], "44021": [keys.public_line("44021")]}
    events = events if events is not None else Recorder()
    server = DropServer(
        base / "drop",
        base / "host_ed25519",
        lambda recipient: registered.get(recipient, []),
        events,
        port=0,
        limits=limits,
    )
    server.start()
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {server.host_public_key}\n")
    return Drop(server, base / "drop", events, keys, known_hosts, base / "work")


@pytest.fixture
def start_drop(tmp_path: Path, keys: Keys) -> Iterator[Callable[[DropLimits], Drop]]:
    started: list[Drop] = []

    def start(limits: DropLimits = DropLimits()) -> Drop:  # noqa: B008 - frozen
        drop = _start(tmp_path / f"d{len(started)}", keys, limits)
        started.append(drop)
        return drop

    yield start
    for drop in started:
        drop.server.stop()


@pytest.fixture
def drop(start_drop: Callable[..., Drop]) -> Drop:
    return start_drop()


# -- 1. the normal day: list, download, delete ----------------------------------------------------


def test_download_and_delete_in_order(drop: Drop) -> None:
    drop.server.stage("72020", OWN, OWN_DATA)

    result = drop.sftp(["ls -l /outbox", f"get /outbox/{OWN} got.xlsx", f"rm /outbox/{OWN}"])

    assert result.returncode == 0, result.stderr
    assert OWN in result.stdout
    assert (drop.work / "got.xlsx").read_bytes() == OWN_DATA
    assert drop.server.outbox("72020") == []
    assert drop.events.calls == [
        ("login", "72020", drop.keys.fingerprint("72020"), "127.0.0.1"),
        ("listed", "72020", "/outbox"),
        ("downloaded", "72020", OWN, len(OWN_DATA)),
        ("deleted", "72020", OWN),
    ]


def test_partial_read_is_not_a_download(drop: Drop) -> None:
    drop.server.stage("72020", OWN, OWN_DATA)
    transport = drop.client()
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        with sftp.open(f"/outbox/{OWN}", "rb") as f:
            assert f.read(1000) == OWN_DATA[:1000]
        with sftp.open(f"/outbox/{OWN}", "rb") as f:
            f.seek(1000)  # a client that skips the start has not fetched the file
            assert f.read() == OWN_DATA[1000:]
        assert drop.events.of("downloaded") == []
        with sftp.open(f"/outbox/{OWN}", "rb") as f:
            assert f.read() == OWN_DATA
        assert drop.events.of("downloaded") == [("downloaded", "72020", OWN, len(OWN_DATA))]
    finally:
        transport.close()


def test_host_key_is_created_once_and_checked_by_the_client(drop: Drop, tmp_path: Path) -> None:
    key_file = drop.root.parent / "host_ed25519"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    listed = subprocess.run(
        [SSH_KEYGEN, "-l", "-f", str(key_file)], capture_output=True, text=True, check=True
    )
    assert listed.stdout.split()[1] == drop.server.host_key_fingerprint
    again = DropServer(tmp_path / "other", key_file, lambda r: [], Recorder(), port=0)
    assert again.host_key_fingerprint == drop.server.host_key_fingerprint

    # The known_hosts entry is what lets the client in: another key there and it refuses.
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{drop.server.port} {drop.keys.public_line('stranger')}\n")
    forged = Drop(drop.server, drop.root, drop.events, drop.keys, other, drop.work)
    result = forged.sftp(["ls"])
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert drop.events.of("login") == []


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(("-o", "Ciphers=aes128-cbc,aes256-cbc,3des-cbc"), id="cbc-ciphers"),
        pytest.param(("-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1,hmac-md5"), id="sha1-macs"),
        pytest.param(("-o", "HostKeyAlgorithms=ssh-rsa,rsa-sha2-256"), id="rsa-host-key"),
        pytest.param(("-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256"), id="gex"),
    ],
)
def test_weak_algorithms_are_not_negotiated(drop: Drop, options: tuple[str, ...]) -> None:
    result = drop.sftp(["ls"], options=options)

    assert result.returncode == 255
    assert "no matching" in result.stderr
    assert drop.events.calls == []


def test_openssh_negotiates_strict_kex(drop: Drop) -> None:
    """Terrapin (CVE-2023-48795): both sides must agree on strict key exchange."""
    result = drop.sftp(["ls"], options=("-vvv",))

    assert result.returncode == 0, result.stderr
    assert "will use strict KEX ordering" in result.stderr


def test_host_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "host"
    DropServer(tmp_path / "drop", key_file, lambda r: [], Recorder())
    key_file.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        DropServer(tmp_path / "drop", key_file, lambda r: [], Recorder())


# -- 2. uploads into /inbox, and everything else that writes -----------------------------------


def test_upload_into_inbox(drop: Drop) -> None:
    payload = drop.work / "answer.csv"
    drop.work.mkdir(parents=True)
    payload.write_bytes(b"reference;status\nKBX-2026-000123;ok\n" * 500)

    result = drop.sftp(["put answer.csv /inbox/answer.csv", "get /inbox/answer.csv back.csv"])

    assert result.returncode == 0, result.stderr
    inbox = drop.root / "72020" / "inbox"
    assert sorted(os.listdir(inbox)) == ["answer.csv"]  # no temporary name left behind
    assert (inbox / "answer.csv").read_bytes() == payload.read_bytes()
    assert stat.S_IMODE((inbox / "answer.csv").stat().st_mode) == 0o600
    assert (drop.work / "back.csv").read_bytes() == payload.read_bytes()
    assert drop.events.of("uploaded") == [
        ("uploaded", "72020", "answer.csv", payload.stat().st_size)
    ]
    assert drop.events.of("downloaded") == []  # reading back your own upload is no download

    again = drop.sftp(["put answer.csv /inbox/answer.csv"])
    assert again.returncode != 0
    assert "Permission denied" in again.stderr


def test_upload_gets_its_name_only_on_close(drop: Drop) -> None:
    inbox = drop.root / "72020" / "inbox"
    transport = drop.client()
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        with sftp.open("/inbox/late.csv", "wb") as f:
            f.write(b"x" * 10_000)
            f.flush()
            assert sftp.listdir("/inbox") == []
            on_disk = os.listdir(inbox)
            assert len(on_disk) == 1
            assert on_disk[0].startswith(".late.csv.")
            with pytest.raises(FileNotFoundError):
                sftp.stat(f"/inbox/{on_disk[0]}")
        assert os.listdir(inbox) == ["late.csv"]
        assert sftp.listdir("/inbox") == ["late.csv"]
    finally:
        transport.close()


def test_interrupted_upload_is_discarded(drop: Drop) -> None:
    inbox = drop.root / "72020" / "inbox"
    transport = drop.client()
    sftp = paramiko.SFTPClient.from_transport(transport)
    f = sftp.open("/inbox/broken.csv", "wb")
    f.write(b"half a file")
    f.flush()
    transport.close()  # the connection drops before the client closes the file

    assert wait_for(lambda: drop.server.connections == 0 and os.listdir(inbox) == [])
    assert drop.events.of("uploaded") == []


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("put payload.txt /outbox/new.txt", id="put-outbox"),
        pytest.param(f"put payload.txt /outbox/{OWN}", id="overwrite-outbox"),
        pytest.param("put payload.txt /new.txt", id="put-root"),
        pytest.param("mkdir /inbox/sub", id="mkdir-inbox"),
        pytest.param("mkdir /outbox/sub", id="mkdir-outbox"),
        pytest.param("mkdir /new", id="mkdir-root"),
        pytest.param("rmdir /inbox", id="rmdir"),
        pytest.param(f"ln -s /outbox/{OWN} /inbox/link", id="symlink"),
        pytest.param(f"ln /outbox/{OWN} /inbox/hard", id="hardlink"),
        pytest.param(f"rename /outbox/{OWN} /outbox/renamed.xlsx", id="rename-outbox"),
        pytest.param(f"rename /outbox/{OWN} /inbox/{OWN}", id="rename-to-inbox"),
        pytest.param(f"chmod 644 /outbox/{OWN}", id="chmod"),
        pytest.param(f"chgrp 0 /outbox/{OWN}", id="chgrp"),
        pytest.param("rm /inbox/kept.csv", id="rm-inbox"),
        pytest.param("put payload.txt /inbox/.hidden", id="put-hidden-name"),
    ],
)
def test_writes_outside_the_upload_path_are_refused(drop: Drop, command: str) -> None:
    drop.server.stage("72020", OWN, OWN_DATA)
    (drop.root / "72020" / "inbox" / "kept.csv").write_bytes(b"kept")
    drop.work.mkdir(parents=True)
    (drop.work / "payload.txt").write_bytes(b"payload")
    before = tree(drop.root)

    result = drop.sftp([command])

    assert result.returncode != 0, result.stdout
    assert tree(drop.root) == before
    assert drop.events.of("uploaded") == []


# -- 3. the isolation matrix ------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    drop: Drop
    escape_target: Path  # a /tmp name no attempt may create


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Matrix]:
    drop = _start(tmp_path_factory.mktemp("matrix"), keys, DropLimits())
    server, root = drop.server, drop.root
    server.stage("72020", OWN, OWN_DATA)
    server.stage("44021", THEIRS, SECRET)
    confine.ensure_folders(root / "44021")  # stage made it; explicit for the inbox
    # A sibling whose name starts with the attacker's id: string-prefix checks let it through.
    sibling = root / "72020x" / "outbox"
    sibling.mkdir(parents=True)
    (sibling / THEIRS).write_bytes(SECRET)
    # Links planted on disk (not through the drop) inside 72020's own folders.
    own_outbox, own_inbox = root / "72020" / "outbox", root / "72020" / "inbox"
    (own_outbox / "planted-link.xlsx").symlink_to(root / "44021" / "outbox" / THEIRS)
    (own_outbox / "planted-dir").symlink_to(root / "44021" / "outbox", target_is_directory=True)
    (own_inbox / "planted-in.csv").symlink_to(root / "44021" / "outbox" / THEIRS)
    (own_outbox / "planted-rel.xlsx").symlink_to(Path("../../44021/outbox") / THEIRS)
    escape_target = Path(f"/tmp/kbx-escape-{secrets.token_hex(6)}")
    yield Matrix(drop, escape_target)
    server.stop()
    assert not escape_target.exists()


# (id, commands, expected to succeed). {root} is the drop's real root on disk, {T} 44021's file
# name, {tmp} a fresh /tmp path. Commands that "succeed" must still show nothing of anyone else.
ATTEMPTS: list[tuple[str, list[str], bool]] = [
    # reading 44021's file
    ("get-dotdot", ["get ../44021/outbox/{T} got"], False),
    ("get-root-dotdot", ["get /../44021/outbox/{T} got"], False),
    ("get-outbox-dotdot", ["get /outbox/../../44021/outbox/{T} got"], False),
    ("get-inbox-dotdot", ["get /inbox/../../44021/outbox/{T} got"], False),
    ("get-deep-dotdot", ["get ../../../../44021/outbox/{T} got"], False),
    ("get-double-slash", ["get /outbox//..//..//44021//outbox//{T} got"], False),
    ("get-leading-double-slash", ["get //44021/outbox/{T} got"], False),
    ("get-virtual-sibling", ["get /44021/outbox/{T} got"], False),
    ("get-absolute-real", ["get {root}/44021/outbox/{T} got"], False),
    ("get-dotdot-absolute-real", ["get /outbox/../{root}/44021/outbox/{T} got"], False),
    ("get-proc-root", ["get /proc/self/root{root}/44021/outbox/{T} got"], False),
    ("get-pct-slash", ["get ..%2f44021%2foutbox%2f{T} got"], False),
    ("get-pct-dots", ["get %2e%2e/44021/outbox/{T} got"], False),
    ("get-pct-all", ["get %2e%2e%2f44021%2foutbox%2f{T} got"], False),
    ("get-dot-pct", ["get /outbox/.%2e/.%2e/44021/outbox/{T} got"], False),
    ("get-backslash", ["get ..\\\\44021\\\\outbox\\\\{T} got"], False),
    ("get-backslash-mixed", ["get /outbox/..\\\\..\\\\44021/outbox/{T} got"], False),
    ("get-tilde", ["get ~/../44021/outbox/{T} got"], False),
    ("get-tilde-user", ["get ~44021/outbox/{T} got"], False),
    ("get-prefix-sibling", ["get ../72020x/outbox/{T} got"], False),
    ("get-prefix-sibling-abs", ["get {root}/72020x/outbox/{T} got"], False),
    ("get-planted-link", ["get /outbox/planted-link.xlsx got"], False),
    ("get-planted-rel-link", ["get /outbox/planted-rel.xlsx got"], False),
    ("get-planted-dir", ["get /outbox/planted-dir/{T} got"], False),
    ("get-planted-inbox-link", ["get /inbox/planted-in.csv got"], False),
    ("get-glob", ["get /../*/outbox/{T} got"], False),
    ("get-etc-passwd", ["get /outbox/./../../..//etc/passwd got"], False),
    ("get-etc-passwd-abs", ["get /etc/passwd got"], False),
    ("cd-dotdot-get", ["cd ..", "get 44021/outbox/{T} got"], False),
    ("cd-planted-dir", ["cd /outbox/planted-dir"], False),
    # looking around
    ("ls-dotdot", ["ls -la .."], True),
    ("ls-root-dotdot", ["ls -la /.."], True),
    ("cd-dotdot-ls", ["cd ..", "cd ..", "ls -la"], True),
    ("ls-outbox-hides-links", ["ls -la /outbox"], True),
    ("ls-inbox-hides-links", ["ls -la /inbox"], True),
    ("ls-sibling", ["ls ../44021"], False),
    ("ls-sibling-outbox", ["ls /../44021/outbox"], False),
    ("ls-prefix-sibling", ["ls ../72020x/outbox"], False),
    ("ls-real-root", ["ls {root}"], False),
    ("ls-etc", ["ls /etc"], False),
    ("ls-planted-dir", ["ls /outbox/planted-dir"], False),
    # writing elsewhere
    ("put-sibling-inbox", ["put payload.txt ../44021/inbox/x.txt"], False),
    ("put-tmp", ["put payload.txt /../../{tmp}"], False),
    ("put-tmp-abs", ["put payload.txt {tmp}"], False),
    ("put-real-abs", ["put payload.txt {root}/44021/inbox/x.txt"], False),
    ("put-inbox-dotdot", ["put payload.txt /inbox/../../44021/inbox/x.txt"], False),
    ("put-backslash", ["put payload.txt /inbox/..\\\\..\\\\44021\\\\inbox\\\\x.txt"], False),
    ("put-prefix-sibling", ["put payload.txt ../72020x/outbox/x.txt"], False),
    ("put-through-planted-link", ["put payload.txt /inbox/planted-in.csv"], False),
    ("put-into-planted-dir", ["put payload.txt /outbox/planted-dir/x.txt"], False),
    # changing what is elsewhere
    ("rm-sibling", ["rm ../44021/outbox/{T}"], False),
    ("rm-sibling-abs", ["rm {root}/44021/outbox/{T}"], False),
    ("rm-planted-link", ["rm /outbox/planted-link.xlsx"], False),
    ("rm-through-planted-dir", ["rm /outbox/planted-dir/{T}"], False),
    ("rename-sibling-in", ["rename ../44021/outbox/{T} /inbox/stolen.xlsx"], False),
    ("rename-own-out", [f"rename /outbox/{OWN} ../44021/inbox/{OWN}"], False),
    ("symlink-sibling", ["ln -s ../44021/outbox/{T} /inbox/link"], False),
    ("symlink-abs", ["ln -s {root}/44021/outbox/{T} /inbox/link"], False),
    ("hardlink-sibling", ["ln ../44021/outbox/{T} /inbox/hard"], False),
    ("chmod-sibling", ["chmod 666 ../44021/outbox/{T}"], False),
    ("mkdir-sibling", ["mkdir ../44021/outbox/d"], False),
    ("rmdir-sibling", ["rmdir ../44021/inbox"], False),
]
# What no output line of any attempt may contain (echoed commands excepted).
FORBIDDEN_OUTPUT = ("000999", "72020x", "planted", "passwd", "root:", "44021")


@pytest.mark.parametrize(
    ("commands", "succeeds"), [pytest.param(c, ok, id=i) for i, c, ok in ATTEMPTS]
)
def test_isolation(matrix: Matrix, tmp_path: Path, commands: list[str], succeeds: bool) -> None:
    drop = matrix.drop
    (tmp_path / "payload.txt").write_bytes(b"payload of 72020")
    values = {"root": str(drop.root.resolve()), "T": THEIRS, "tmp": str(matrix.escape_target)}
    before = tree(drop.root)

    result = drop.sftp([c.format(**values) for c in commands], cwd=tmp_path)

    assert (result.returncode == 0) is succeeds, (result.stdout, result.stderr)
    # nothing of 44021 reached the client, on disk or on screen
    assert not (tmp_path / "got").exists()
    for local in tmp_path.rglob("*"):
        if local.is_file():
            assert SECRET[:32] not in local.read_bytes(), local
    shown = [line for line in result.stdout.splitlines() if not line.startswith("sftp>")]
    assert not [line for line in shown if any(f in line for f in FORBIDDEN_OUTPUT)], shown
    # nothing changed on disk, anywhere under the drop root, and nothing escaped it
    assert tree(drop.root) == before
    assert (drop.root / "44021" / "outbox" / THEIRS).read_bytes() == SECRET
    assert not matrix.escape_target.exists()
    assert not [c for c in drop.events.calls if c[0] in ("downloaded", "deleted", "uploaded")]
    if succeeds:
        # the listings that work show the recipient's own tree and nothing more
        assert "outbox" in result.stdout or OWN in result.stdout or shown == []


def test_isolation_matrix_is_large_enough() -> None:
    assert len(ATTEMPTS) >= 30
    assert len({i for i, _, _ in ATTEMPTS}) == len(ATTEMPTS)


@pytest.mark.parametrize(
    "commands",
    [
        pytest.param([f"get /outbox/{OWN} got"], id="absolute"),
        pytest.param([f"get outbox/{OWN} got"], id="relative"),
        pytest.param(["cd outbox", f"get {OWN} got"], id="cd-relative"),
        pytest.param(["cd /inbox", f"get ../outbox/{OWN} got"], id="dotdot-within"),
        pytest.param([f"get /outbox/./{OWN} got"], id="dot"),
    ],
)
def test_legitimate_paths_work(matrix: Matrix, tmp_path: Path, commands: list[str]) -> None:
    result = matrix.drop.sftp(commands, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "got").read_bytes() == OWN_DATA


def test_legitimate_listings_work(matrix: Matrix, tmp_path: Path) -> None:
    result = matrix.drop.sftp(["ls", "ls /inbox", "ls -la /outbox", "pwd"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout.split("sftp> ")
    assert out[1].split()[1:] == ["inbox", "outbox"]
    assert out[3].split("\n", 1)[1].split()[-1] == OWN
    assert "Remote working directory: /" in out[4]


def test_protocol_level_escapes(matrix: Matrix) -> None:
    """What the OpenSSH client cannot send: NUL bytes, raw backslashes, symlink requests."""
    drop = matrix.drop
    before = tree(drop.root)
    transport = drop.client()
    try:
        assert transport.agreed_on_strict_kex  # Terrapin: strict kex negotiated
        sftp = paramiko.SFTPClient.from_transport(transport)
        sibling = f"../44021/outbox/{THEIRS}"
        for path in [
            f"/outbox/{OWN}\x00/../../{sibling}",
            f"/outbox/\x00{sibling}",
            f"{sibling}\x00",
            f"/outbox/..\\..\\44021\\outbox\\{THEIRS}",
            f"/outbox/{OWN}/../../44021/outbox/{THEIRS}",
        ]:
            with pytest.raises(OSError):  # noqa: PT011 - the status code differs per path
                sftp.open(path, "rb")
            with pytest.raises(OSError):  # noqa: PT011
                sftp.stat(path)
        with pytest.raises(OSError):  # noqa: PT011
            sftp.listdir("/\x00/../44021")
        with pytest.raises(OSError):  # noqa: PT011
            sftp.symlink(f"{drop.root}/44021/outbox/{THEIRS}", "/inbox/link")
        with pytest.raises(OSError):  # noqa: PT011
            sftp.readlink("/outbox/planted-link.xlsx")
        with pytest.raises(OSError):  # noqa: PT011
            sftp.chmod(f"/outbox/{OWN}", 0o777)
        with pytest.raises(OSError):  # noqa: PT011
            sftp.open(f"/outbox/{OWN}", "r+b")  # read-write on a read-only folder
        with pytest.raises(OSError):  # noqa: PT011
            sftp.open("/inbox/appended.csv", "ab")
        assert sftp.normalize("../../..") == "/"
        with pytest.raises(OSError):  # noqa: PT011 - realpath only answers inside the tree
            sftp.normalize(sibling)
        assert sorted(sftp.listdir("/")) == ["inbox", "outbox"]
        assert sftp.listdir("/outbox") == [OWN]
    finally:
        transport.close()
    assert tree(drop.root) == before


def test_second_sftp_session_on_a_connection_is_refused(matrix: Matrix) -> None:
    transport = matrix.drop.client()
    try:
        first = transport.open_session()
        first.invoke_subsystem("sftp")
        with pytest.raises(paramiko.ChannelException):
            transport.open_session()
    finally:
        transport.close()


# -- confinement in isolation: symlinked siblings on disk -------------------------------------


def test_containment_compares_components_not_prefixes(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    root.mkdir()
    base = confine.recipient_base(root, "72020")
    confine.ensure_folders(base)
    sibling = root / "72020x" / "outbox"
    sibling.mkdir(parents=True)
    (sibling / "F").write_bytes(b"sibling")
    assert str(sibling / "F").startswith(str(base))  # what a string-prefix check would accept
    (base / "outbox" / "to-sibling").symlink_to(sibling / "F")
    (base / "inbox" / "to-own").symlink_to(base / "outbox")

    with pytest.raises(confine.PathDenied):
        confine.resolve(base, "/outbox/to-sibling")
    # a link that stays inside passes this check; O_NOFOLLOW and lstat stop it later
    assert confine.resolve(base, "/inbox/to-own").kind is confine.Kind.FILE

    # a recipient folder that is itself a link to a sibling is not that recipient's folder
    (root / "44021").symlink_to(root / "72020x", target_is_directory=True)
    with pytest.raises(confine.PathDenied):
        confine.resolve(confine.recipient_base(root, "44021"), "/outbox/F")
    with pytest.raises(PermissionError):
        confine.ensure_folders(confine.recipient_base(root, "44021"))


@pytest.mark.parametrize(
    ("path", "virtual"),
    [
        ("", "/"),
        (".", "/"),
        ("..", "/"),
        ("/../..", "/"),
        ("//outbox", "/outbox"),
        ("///outbox//x", "/outbox/x"),
        ("outbox/./../inbox", "/inbox"),
        ("~/../44021", "/44021"),
        ("..%2f44021", "/..%2f44021"),
    ],
)
def test_virtual_path_is_lexical_and_stops_at_root(path: str, virtual: str) -> None:
    assert confine.virtual_path(path) == virtual


@pytest.mark.parametrize(
    "path", ["/outbox/a\x00b", "..\\44021", "/outbox/a\nb", "/outbox/\x7f", "/" + "a" * 2000]
)
def test_malformed_paths_are_denied(path: str) -> None:
    with pytest.raises(confine.PathDenied):
        confine.virtual_path(path)


# -- 4. authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "key", "reason"),
    [
        pytest.param("72020", "44021", "key not registered", id="other-recipients-key"),
        pytest.param("72020", "stranger", "key not registered", id="unregistered-key"),
        pytest.param("99999", "stranger", "unknown recipient", id="unknown-user"),
        pytest.param("99999", "72020", "unknown recipient", id="unknown-user-known-key"),
        pytest.param("72020x", "72020", "unknown recipient", id="prefix-user"),
        pytest.param("root", "72020", "unknown recipient", id="root"),
        pytest.param("Admin", "72020", "invalid username", id="invalid-user"),
    ],
)
def test_login_refused(drop: Drop, user: str, key: str, reason: str) -> None:
    result = drop.sftp(["ls"], user=user, key=key)

    assert result.returncode == 255
    # the same answer whatever the reason, and only public keys are on offer
    assert f"{user}@127.0.0.1: Permission denied (publickey)." in result.stderr
    assert drop.events.calls == [("auth_failed", user, "127.0.0.1", reason)]


def test_only_public_keys_are_offered(drop: Drop) -> None:
    transport = paramiko.Transport(("127.0.0.1", drop.server.port))
    try:
        transport.start_client()
        with pytest.raises(paramiko.BadAuthenticationType) as none:
            transport.auth_none("72020")
        assert none.value.allowed_types == ["publickey"]
        with pytest.raises(paramiko.BadAuthenticationType) as password:
            transport.auth_password("72020", "secret")
        assert password.value.allowed_types == ["publickey"]
    finally:
        transport.close()
    assert drop.events.calls == [
        ("auth_failed", "72020", "127.0.0.1", "password authentication is not offered")
    ]


def test_failures_per_connection_are_capped(start_drop: Callable[..., Drop]) -> None:
    drop = start_drop(DropLimits(max_auth_failures_per_connection=2))
    stranger = paramiko.Ed25519Key.from_private_key_file(str(drop.keys.private("stranger")))
    transport = paramiko.Transport(("127.0.0.1", drop.server.port))
    try:
        transport.start_client()
        for _ in range(2):
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_publickey("72020", stranger)
        assert wait_for(lambda: not transport.is_active())
    finally:
        transport.close()
    assert len(drop.events.of("auth_failed")) == 2
    assert wait_for(lambda: drop.server.connections == 0)


def test_an_address_is_banned_after_repeated_failures(start_drop: Callable[..., Drop]) -> None:
    ban = 1.0
    drop = start_drop(DropLimits(ban_after_failures=3, ban_window_seconds=60, ban_seconds=ban))
    assert drop.sftp(["ls"]).returncode == 0
    for user in ("72020", "99999", "72020"):
        assert drop.sftp(["ls"], user=user, key="stranger").returncode == 255
    banned_at = time.monotonic()

    refused = drop.sftp(["ls"])  # the right key, from a banned address

    assert refused.returncode == 255
    assert "Permission denied" not in refused.stderr  # refused before any SSH exchange
    assert [c[0] for c in drop.events.calls] == ["login", "listed", *["auth_failed"] * 3]

    time.sleep(max(0.0, banned_at + ban + 0.1 - time.monotonic()))
    assert drop.sftp(["ls"]).returncode == 0
    assert drop.events.kinds()[-2:] == ["login", "listed"]


def test_login_without_audit_is_no_login(tmp_path: Path, keys: Keys) -> None:
    class BrokenAudit(Recorder):
        def login(self, recipient: str, fingerprint: str, address: str) -> None:
            raise RuntimeError("audit database down")

    events = BrokenAudit()
    drop = _start(tmp_path, keys, DropLimits(), events)
    try:
        drop.server.stage("72020", OWN, OWN_DATA)
        result = drop.sftp([f"get /outbox/{OWN} got"])
    finally:
        drop.server.stop()
    assert result.returncode != 0
    assert not (drop.work / "got").exists()
    assert events.calls == []


def test_clients_that_do_not_log_in_are_dropped(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.sftp_drop.LOGIN_GRACE_SECONDS", 0.3)
    transport = paramiko.Transport(("127.0.0.1", drop.server.port))
    try:
        transport.start_client()  # key exchange, then nothing
        assert wait_for(lambda: not transport.is_active(), 3.0)
    finally:
        transport.close()
    assert wait_for(lambda: drop.server.connections == 0)


def test_open_files_per_session_are_capped(drop: Drop) -> None:
    drop.server.stage("72020", OWN, OWN_DATA)
    transport = drop.client()
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        files = [sftp.open(f"/outbox/{OWN}", "rb") for _ in range(MAX_OPEN_FILES_PER_SESSION)]
        with pytest.raises(OSError, match="Failure"):
            sftp.open(f"/outbox/{OWN}", "rb")
        files.pop().close()
        with sftp.open(f"/outbox/{OWN}", "rb") as f:
            assert f.read(10) == OWN_DATA[:10]
        for f in files:
            f.close()
    finally:
        transport.close()


# -- 5. the connection cap --------------------------------------------------------------------


def test_connections_beyond_the_cap_are_refused(start_drop: Callable[..., Drop]) -> None:
    drop = start_drop(DropLimits(max_connections=1))
    holder = drop.client()
    try:
        paramiko.SFTPClient.from_transport(holder).listdir("/outbox")
        assert drop.server.connections == 1
        refused = drop.sftp(["ls"])
        assert refused.returncode == 255
        assert drop.events.of("login") == [
            ("login", "72020", drop.keys.fingerprint("72020"), "127.0.0.1")
        ]
    finally:
        holder.close()
    assert wait_for(lambda: drop.server.connections == 0)
    assert drop.sftp(["ls"]).returncode == 0


# -- 6. staging -------------------------------------------------------------------------------


def test_stage_is_atomic_private_and_listed(tmp_path: Path) -> None:
    server = DropServer(tmp_path / "drop", tmp_path / "host", lambda r: [], Recorder())

    path = server.stage("72020", OWN, OWN_DATA)

    assert path == (tmp_path / "drop" / "72020" / "outbox" / OWN).resolve()
    assert path.read_bytes() == OWN_DATA
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == [OWN]  # the temporary name is gone
    assert server.outbox("72020") == [OWN]
    assert server.outbox("44021") == []

    server.stage("72020", OWN, b"second version")
    assert path.read_bytes() == b"second version"

    # a temporary name left by a crash is hidden from the listing
    (path.parent / f".{OWN}.dead.tmp").write_bytes(b"partial")
    assert server.outbox("72020") == [OWN]

    assert server.remove("72020", OWN) is True
    assert server.remove("72020", OWN) is False
    assert server.outbox("72020") == []


def test_stage_leaves_nothing_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = DropServer(tmp_path / "drop", tmp_path / "host", lambda r: [], Recorder())

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        server.stage("72020", OWN, OWN_DATA)
    assert os.listdir(tmp_path / "drop" / "72020" / "outbox") == []


def test_staged_temporary_files_are_invisible_over_sftp(drop: Drop) -> None:
    drop.server.stage("72020", OWN, OWN_DATA)
    (drop.root / "72020" / "outbox" / f".{OWN}.x.tmp").write_bytes(OWN_DATA[:10])

    result = drop.sftp(["ls -la /outbox", f"get /outbox/.{OWN}.x.tmp got"])

    assert result.returncode != 0
    assert ".tmp" not in result.stdout.split("sftp> ")[1]
    assert not (drop.work / "got").exists()


@pytest.mark.parametrize(
    "name", ["a/b", "..", "../x", ".hidden", "x\x00y", "", "a\\b", "x\ny", "x" * 201]
)
def test_stage_refuses_bad_names(tmp_path: Path, name: str) -> None:
    server = DropServer(tmp_path / "drop", tmp_path / "host", lambda r: [], Recorder())
    with pytest.raises(ValueError, match="invalid file name"):
        server.stage("72020", name, b"x")
    assert not (tmp_path / "drop" / "72020").exists() or not os.listdir(
        tmp_path / "drop" / "72020" / "outbox"
    )


@pytest.mark.parametrize("recipient", ["../44021", "72020/../44021", "A1", "7", "72020\n", ""])
def test_stage_refuses_bad_recipients(tmp_path: Path, recipient: str) -> None:
    server = DropServer(tmp_path / "drop", tmp_path / "host", lambda r: [], Recorder())
    with pytest.raises(ValueError, match="invalid recipient"):
        server.stage(recipient, OWN, b"x")
    assert os.listdir(tmp_path / "drop") == []


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        DropLimits(max_connections=0)
