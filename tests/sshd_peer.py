"""A real OpenSSH ``sshd`` as the recipient's SFTP server, for the ``sftp_push`` tests.

Each peer is its own ``sshd -D -e -f CONFIG`` on a free port of 127.0.0.1: its own ed25519 host
key, key-only login (one authorised test key, no passwords, no PAM), ``ForceCommand
internal-sftp`` and a chroot, as a municipality's production drop would be configured (see
docs/deploy-sftp.md). sshd insists that every component of a ``ChrootDirectory`` is owned by root
and not group- or world-writable, which rules out /tmp and /var/tmp (both 1777): the chroot lives
in ``/var/lib/kbx-sshd-<random>/root`` and the whole tree is removed afterwards. The SFTP user
is ``nobody``, so that no account is added to the machine; inside the chroot it owns ``/upload``
and ``/return``.

Chroot needs root: without it, or without an sshd that can be installed, the tests skip and say
why. ``.ci/run`` installs Debian's ``openssh-server``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exchange.ports import SftpTarget

__all__ = ["SshdPeer", "start_sshd"]

SSHD = Path("/usr/sbin/sshd")
USER = "nobody"
UPLOAD = "upload"
RETURN = "return"
_READY_SECONDS = 15.0
_INSTALL_LOCK = Path("/var/lib/kbx-sshd-install.lock")


def _keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; returns the public line "ssh-ed25519 AAAA...".
    (A private key file in the test tree is fine: it opens nothing but this test peer.)"""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    algorithm, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{algorithm} {blob}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ensure_sshd() -> None:
    """Skip (saying why) when this machine cannot run the peer; install sshd when root can."""
    if os.geteuid() != 0:
        pytest.skip("the sshd peer needs root: sshd only chroots when it runs as root")
    if SSHD.exists():
        return
    if shutil.which("apt-get") is None:
        pytest.skip("OpenSSH sshd is not installed and there is no apt-get to install it")
    with _INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not SSHD.exists():
            environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (
                ["apt-get", "update", "-qq"],
                [
                    "apt-get",
                    "install",
                    "-y",
                    "-qq",
                    "-o",
                    "DPkg::Lock::Timeout=120",
                    "openssh-server",
                ],
            ):
                subprocess.run(command, env=environment, capture_output=True, check=False)
    if not SSHD.exists():
        pytest.skip("OpenSSH sshd is missing and apt-get could not install openssh-server")


@dataclass
class SshdPeer:
    """A running sshd: where it listens, its host key, kbx's client key, and the chroot."""

    port: int
    host_key: str  # the public line, as a recipient would hand it over
    client_key_pem: bytes = field(repr=False)
    chroot: Path
    process: subprocess.Popen[bytes]
    log: list[str]
    host: str = "127.0.0.1"
    username: str = USER

    @property
    def upload(self) -> Path:
        """Where pushed files land, as seen from outside the chroot."""
        return self.chroot / UPLOAD

    @property
    def returns(self) -> Path:
        return self.chroot / RETURN

    def target(self, *, host_key: str | None = None, client_key: bytes | None = None) -> SftpTarget:
        return SftpTarget(
            host=self.host,
            port=self.port,
            username=self.username,
            private_key_pem=self.client_key_pem if client_key is None else client_key,
            host_key=self.host_key if host_key is None else host_key,
            path=f"/{UPLOAD}",
            return_path=f"/{RETURN}",
        )

    @property
    def owner_uid(self) -> int:
        """The uid the SFTP user's files get."""
        return pwd.getpwnam(USER).pw_uid

    def as_recipient(self, path: Path, data: bytes) -> None:
        """Puts a file where the recipient's own software would, owned by the SFTP user."""
        path.write_bytes(data)
        entry = pwd.getpwnam(USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def files(self, folder: Path | None = None) -> list[str]:
        return sorted(os.listdir(folder or self.upload))


@contextlib.contextmanager
def _start(file_size_limit: int | None, ignore_file_size_signal: bool) -> Iterator[SshdPeer]:
    _ensure_sshd()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    # One root-owned tree per peer: etc/ (host key, config, the authorised key, which sshd reads
    # as the SFTP user) and root/ (the chroot).
    base = Path(f"/var/lib/kbx-sshd-{secrets.token_hex(6)}")
    base.mkdir(mode=0o755)
    try:
        config_dir, chroot = base / "etc", base / "root"
        for folder in (base, config_dir, chroot):
            folder.mkdir(mode=0o755, exist_ok=True)
            os.chmod(folder, 0o755)  # noqa: S103 - sshd's chroot rule: root-owned, 0755, exactly
        host_public = _keygen(config_dir / "host_ed25519")
        client_public = _keygen(config_dir / "kbx_ed25519")
        authorized = config_dir / "authorized_keys"
        authorized.write_text(client_public + "\n")
        os.chmod(authorized, 0o644)
        nobody = pwd.getpwnam(USER)
        for name in (UPLOAD, RETURN):
            folder = chroot / name
            folder.mkdir(mode=0o700)
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        with _run(
            config_dir, chroot, host_public, file_size_limit, ignore_file_size_signal
        ) as peer:
            yield peer
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _run(
    config_dir: Path,
    chroot: Path,
    host_public: str,
    file_size_limit: int | None,
    ignore_file_size_signal: bool,
) -> Iterator[SshdPeer]:
    def limits() -> None:  # runs in the child before exec; sshd's sessions inherit both
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        if ignore_file_size_signal:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    for _attempt in range(5):  # another process may take the free port before sshd binds it
        port = _free_port()
        config = config_dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {config_dir / 'host_ed25519'}",
                    "PidFile none",
                    "UsePAM no",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "AuthenticationMethods publickey",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin no",
                    f"AllowUsers {USER}",
                    f"AuthorizedKeysFile {config_dir / 'authorized_keys'}",
                    "Subsystem sftp internal-sftp",
                    "ForceCommand internal-sftp",
                    f"ChrootDirectory {chroot}",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "X11Forwarding no",
                    "PermitTTY no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=limits,
        )
        log: list[str] = []
        ready = threading.Event()

        def drain(
            process: subprocess.Popen[bytes] = process,
            log: list[str] = log,
            ready: threading.Event = ready,
        ) -> None:
            assert process.stderr is not None
            for raw in process.stderr:
                line = raw.decode(errors="replace").rstrip()
                log.append(line)
                if "Server listening on" in line:
                    ready.set()
            ready.set()  # sshd ended: stop waiting

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        ready.wait(_READY_SECONDS)
        if process.poll() is None and any("Server listening on" in line for line in log):
            break
        _stop(process, drainer)
        if not any("Address already in use" in line for line in log):
            raise RuntimeError("sshd did not start:\n" + "\n".join(log))
    else:
        raise RuntimeError("sshd found no free port")
    peer = SshdPeer(
        port=port,
        host_key=host_public,
        client_key_pem=(config_dir / "kbx_ed25519").read_bytes(),
        chroot=chroot,
        process=process,
        log=log,
    )
    try:
        yield peer
    finally:
        _stop(process, drainer)


def _stop(process: subprocess.Popen[bytes], drainer: threading.Thread) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    # sshd's per-connection processes share its stderr and end with their connections; the
    # drain ends when the last of them has.
    drainer.join(10)
    if process.stderr is not None:
        process.stderr.close()


@pytest.fixture
def start_sshd() -> Iterator[Callable[..., SshdPeer]]:
    """Starts sshd peers for one test: ``start_sshd()`` or, to make the server's file writes
    fail past a size, ``start_sshd(file_size_limit=N, ignore_file_size_signal=...)``."""
    with contextlib.ExitStack() as stack:

        def start(
            file_size_limit: int | None = None, ignore_file_size_signal: bool = False
        ) -> SshdPeer:
            return stack.enter_context(_start(file_size_limit, ignore_file_size_signal))

        yield start


@pytest.fixture
def sshd(start_sshd: Callable[..., SshdPeer]) -> SshdPeer:
    return start_sshd()
