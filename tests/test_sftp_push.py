"""The ``sftp_push`` channel against a real OpenSSH sshd (tests/sshd_peer.py): key-only login,
``internal-sftp`` in a chroot, as a recipient's production server would be.

What must hold: the pushed bytes arrive exactly and privately; a host key other than the pinned
one stops everything before a byte leaves; an upload that breaks off leaves neither the final
name nor a temporary file; kbx sees the recipient remove a file, and withdraws it at expiry."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from app.flows.deps import ExportDeps
from app.flows.execution import execute, pending_runs
from app.flows.remote_watch import watch_pushed
from app.flows.worker import work_once
from app.registry import load_registry
from app.settings import Settings
from app.store.audit import read_chain
from app.store.db import transaction
from app.wiring import build_deps
from app.wiring.sftp_targets import sftp_targets
from channels.sftp_push import SftpPush
from crypto.archives import open_single_7z
from exchange.models import ExportRun, RecipientSftp
from exchange.ports import ChannelError, Parcel, SftpTarget
from tests.conftest import Kbx
from tests.export_helpers import (
    password_from,
    register_contact,
    sms_messages,
    staff,
)
from tests.factories import national_number, person, write_extract
from tests.sshd_peer import SshdPeer, sshd, start_sshd

__all__ = ["sshd", "start_sshd"]  # the fixtures, used by name

NAME = "KBX-2026-000001.7z"


def parcel(data: bytes, name: str = NAME) -> Parcel:
    return Parcel(
        recipient_id="vsb",
        name=name,
        data=data,
        reference=name.split(".")[0],
        media_type="application/x-7z-compressed",
        protocol_title_nl="test",
        disclaimer_nl=None,
    )


def push_to(
    peer: SshdPeer, *, host_key: str | None = None, client_key: bytes | None = None
) -> SftpPush:
    def lookup(recipient: str) -> SftpTarget:
        assert recipient == "vsb"
        return peer.target(host_key=host_key, client_key=client_key)

    return SftpPush(lookup, timeout=10)


def other_host_key(tmp_path: Path, kind: str = "ed25519") -> str:
    key = tmp_path / f"other_{kind}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True, capture_output=True
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


# -- the channel ------------------------------------------------------------------------------


def test_push_delivers_the_exact_bytes_readable_by_the_owner_only(sshd: SshdPeer) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # not a multiple of paramiko's 32 KiB requests
    push = push_to(sshd)
    push.deliver(parcel(data))

    assert sshd.files() == [NAME], "no temporary file is left next to it"
    landed = sshd.upload / NAME
    assert landed.read_bytes() == data
    info = landed.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == sshd.owner_uid
    assert push.present("vsb", NAME) == hashlib.sha256(data).hexdigest()


def test_a_second_delivery_of_the_same_bytes_is_a_no_op_and_a_different_file_is_kept(
    sshd: SshdPeer,
) -> None:
    push = push_to(sshd)
    push.deliver(parcel(b"first"))
    push.deliver(parcel(b"first"))  # a resumed run delivers again: nothing changes
    with pytest.raises(ChannelError, match=r"different file named .* kbx does not overwrite"):
        push.deliver(parcel(b"second"))
    assert (sshd.upload / NAME).read_bytes() == b"first"
    assert sshd.files() == [NAME]


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"], ids=["changed-key", "other-key-type"])
def test_a_host_key_other_than_the_pinned_one_stops_the_push_before_anything_is_sent(
    sshd: SshdPeer, tmp_path: Path, kind: str
) -> None:
    push = push_to(sshd, host_key=other_host_key(tmp_path, kind))
    with pytest.raises(ChannelError, match="host key mismatch") as failure:
        push.deliver(parcel(b"secret list"))
    assert "nothing was sent" in str(failure.value)
    assert sshd.files() == []
    # kbx did not even authenticate: the key is checked before the login
    assert not any("Accepted publickey" in line for line in sshd.log)
    with pytest.raises(ChannelError, match="host key mismatch"):
        push.present("vsb", NAME)


def test_the_pinned_key_is_the_only_one_kbx_trusts(sshd: SshdPeer, tmp_path: Path) -> None:
    # Even with the server's real key in ~/.ssh/known_hosts, a wrong pin fails.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        with pytest.raises(ChannelError, match="host key mismatch"):
            push_to(sshd, host_key=other_host_key(tmp_path)).deliver(parcel(b"x"))
    assert sshd.files() == []


@pytest.mark.parametrize(
    "ignore_signal",
    [False, True],
    ids=["server-process-killed-mid-write", "server-disk-full-mid-write"],
)
def test_an_interrupted_upload_leaves_no_file_under_either_name(
    start_sshd: Callable[..., SshdPeer], ignore_signal: bool
) -> None:
    # The server's session may write at most 1 MB (RLIMIT_FSIZE). With the default SIGXFSZ the
    # kernel kills the sftp session mid-upload and the connection drops; with SIGXFSZ ignored
    # each write past the limit fails (EFBIG), as on a full disk or an exhausted quota.
    peer = start_sshd(file_size_limit=1024 * 1024, ignore_file_size_signal=ignore_signal)
    push = push_to(peer)
    with pytest.raises(ChannelError, match="sftp_push"):
        push.deliver(parcel(os.urandom(4 * 1024 * 1024)))
    assert peer.files() == [], "neither the final name nor the temporary one"
    assert push.present("vsb", NAME) is None


def test_a_partial_upload_left_by_a_crashed_kbx_is_swept_at_the_next_delivery(
    sshd: SshdPeer,
) -> None:
    sshd.as_recipient(sshd.upload / f".{NAME}.0123456789abcdef.part", b"half a fi")
    push_to(sshd).deliver(parcel(b"half a file, now whole"))
    assert sshd.files() == [NAME]


def test_present_sees_the_recipient_remove_the_file_and_withdraw_deletes(sshd: SshdPeer) -> None:
    push = push_to(sshd)
    push.deliver(parcel(b"one"))
    push.deliver(parcel(b"two", "KBX-2026-000002.7z"))
    assert push.present("vsb", NAME) == hashlib.sha256(b"one").hexdigest()

    (sshd.upload / NAME).unlink()  # the recipient took it and removed it
    assert push.present("vsb", NAME) is None

    assert push.withdraw("vsb", "KBX-2026-000002.7z") is True
    assert push.withdraw("vsb", "KBX-2026-000002.7z") is False
    assert sshd.files() == []

    sshd.upload.rmdir()  # not a removed file: a folder that is not there any more
    with pytest.raises(ChannelError, match=r"checking .* failed: No such file"):
        push.present("vsb", NAME)


def test_the_return_folder(sshd: SshdPeer) -> None:
    push = push_to(sshd)
    assert push.returned("vsb") == []
    sshd.as_recipient(sshd.returns / "VDAB-2026-H2.csv", b"rijksregisternummer;vdab\n")
    sshd.as_recipient(sshd.returns / ".hidden", b"x")
    sshd.as_recipient(sshd.returns / "VDAB-2026-H2-b.csv.part", b"still being written")
    (sshd.returns / "a-folder").mkdir()
    assert push.returned("vsb") == ["VDAB-2026-H2.csv"]
    assert push.fetch_return("vsb", "VDAB-2026-H2.csv") == b"rijksregisternummer;vdab\n"
    push.remove_return("vsb", "VDAB-2026-H2.csv")
    push.remove_return("vsb", "VDAB-2026-H2.csv")  # already gone: fine
    assert push.returned("vsb") == []
    with pytest.raises(ChannelError, match="invalid file name"):
        push.fetch_return("vsb", "../upload/x")
    with pytest.raises(ChannelError, match=r"sftp_push: fetching a returned file .* failed"):
        push.fetch_return("vsb", "nothing-here.csv")


def test_connection_and_login_failures_are_channel_errors(sshd: SshdPeer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(ChannelError, match="refused kbx's client key"):
        push_to(sshd, client_key=stranger.read_bytes()).deliver(parcel(b"x"))
    with pytest.raises(ChannelError, match=r"client key .* cannot be used"):
        push_to(sshd, client_key=b"-----BEGIN OPENSSH PRIVATE KEY-----\nno\n").deliver(parcel(b"x"))
    with pytest.raises(ChannelError, match=r"pinned host key .* not a usable"):
        push_to(sshd, host_key="ssh-ed25519").deliver(parcel(b"x"))
    with pytest.raises(ChannelError, match="invalid file name"):
        push_to(sshd).deliver(parcel(b"x", "../../etc/passwd"))
    assert sshd.files() == []

    port = sshd.port
    sshd.process.terminate()
    sshd.process.wait(10)
    with pytest.raises(ChannelError, match=f"cannot connect to 127.0.0.1:{port}"):
        push_to(sshd).present("vsb", NAME)


# -- through the export flow ------------------------------------------------------------------


def _nn(day: int) -> str:
    return national_number(date(1988, 7, day), 311)


# vsb-care 2026: under the obligation on 1 January 2026 and not compliant then.
PEOPLE = [
    person(_nn(1), "44021", obligation_since="2024-01-01"),  # in the list
    person(_nn(2), "72020", obligation_since="2025-03-01", obligation_met_on="2026-02-01"),  # in
    person(_nn(3), "72020", obligation_since="2024-01-01", obligation_met_on="2025-12-01"),  # out
    person(_nn(4), "11002", obligation_since="2026-01-02"),  # out
]
IN_THE_LIST = sorted([_nn(1), _nn(2)])


def _prepare_vsb(
    kbx: Kbx, engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> ExportDeps:
    extract = write_extract(tmp_path / "kbi.csv", PEOPLE)
    assert kbx("kbi", "import", str(extract)).exit_code == 0
    staff(kbx)
    register_contact(kbx, "vsb", "+32478654321", "zorgpremie@vsb.example")
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    with transaction(engine) as session:
        session.add(
            RecipientSftp(
                recipient_id="vsb",
                host=sshd.host,
                port=sshd.port,
                username=sshd.username,
                private_key_sealed=deps.vault.seal(sshd.client_key_pem, b"vsb"),
                host_key=sshd.host_key,
                path="/upload",
                return_path="/return",
                updated_at=settings.now(),
            )
        )
    return deps


def _request_and_approve(kbx: Kbx) -> int:
    requested = kbx(
        "export",
        "request",
        "vsb-care",
        "--recipient",
        "vsb",
        "--period",
        "2026",
        "--channel",
        "sftp_push",
        "--by",
        "olga",
    )
    assert requested.exit_code == 0, requested.output
    run_id = int(requested.stdout.strip())
    assert kbx("export", "approve", str(run_id), "--by", "arne").exit_code == 0
    return run_id


def _run(engine: Engine, run_id: int) -> ExportRun:
    with transaction(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        return run


def _events(engine: Engine, run_id: int) -> list[tuple[str, Mapping[str, object]]]:
    with transaction(engine) as session:
        return [(e.action, e.details) for e in read_chain(session) if e.subject == f"run:{run_id}"]


def _open_7z(data: bytes, password: str) -> dict[str, bytes]:
    """The CSV, and the LEESMIJ.txt kbx puts next to it."""
    members = dict([open_single_7z(data, password, ignore=("LEESMIJ.txt",))])
    members.update([open_single_7z(data, password, ignore=list(members))])
    return members


def test_vsb_list_is_pushed_then_seen_removed_by_the_recipient(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    sshd: SshdPeer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    deps = _prepare_vsb(kbx, engine, settings, sshd, tmp_path)
    run_id = _request_and_approve(kbx)

    assert execute(engine, deps, run_id) == "key_sent"
    run = _run(engine, run_id)
    assert run.file_name == f"{run.reference}.7z"
    assert sshd.files() == [run.file_name]
    pushed = (sshd.upload / run.file_name).read_bytes()
    assert hashlib.sha256(pushed).hexdigest() == run.file_sha256
    assert stat.S_IMODE((sshd.upload / run.file_name).stat().st_mode) == 0o600

    [sms] = sms_messages(settings)
    assert sms["to"] == "+32478654321"
    contents = _open_7z(pushed, password_from(sms))
    assert sorted(contents) == sorted([f"{run.reference}.csv", "LEESMIJ.txt"])
    lines = contents[f"{run.reference}.csv"].decode().splitlines()
    assert lines[0] == "national_number"
    assert sorted(lines[1:]) == IN_THE_LIST
    assert f"Referentie: {run.reference}\r\n" in contents["LEESMIJ.txt"].decode("utf-8-sig")
    seven_zip = shutil.which("7z") or shutil.which("7zz")  # Debian's 7zip (.ci/run installs it)
    if seven_zip:  # and the recipient's own tool opens what landed on its server
        out = tmp_path / "opened"
        subprocess.run(
            [
                seven_zip,
                "x",
                f"-p{password_from(sms)}",
                f"-o{out}",
                str(sshd.upload / run.file_name),
            ],
            check=True,
            capture_output=True,
        )
        assert (out / f"{run.reference}.csv").read_bytes() == contents[f"{run.reference}.csv"]

    # Still there: checked once, then left alone until remote_check_minutes have passed.
    assert watch_pushed(engine, deps)["checked"] == 1
    assert watch_pushed(engine, deps)["checked"] == 0
    assert _run(engine, run_id).state == "key_sent"

    (sshd.upload / run.file_name).unlink()  # the recipient took the list and removed it
    with transaction(engine) as session:  # the next round is due
        session.execute(
            update(ExportRun)
            .where(ExportRun.id == run_id)
            .values(remote_checked_at=settings.now() - timedelta(hours=1))
        )
    assert watch_pushed(engine, deps) == {
        "checked": 1,
        "removed_by_recipient": 1,
        "expired": 0,
        "unreachable": 0,
    }
    run = _run(engine, run_id)
    assert run.state == "fetched"
    assert run.fetched_at is not None
    actions = [a for a, _ in _events(engine, run_id)]
    assert actions[-1] == "export.removed_by_recipient"
    assert actions.count("export.delivered") == 1
    assert kbx("audit", "verify").exit_code == 0

    said = caplog.text + json.dumps(_events(engine, run_id))
    for value in [*IN_THE_LIST, password_from(sms)]:
        assert value not in said
    assert "PRIVATE KEY" not in said


def test_an_expired_push_is_withdrawn_and_purged(
    kbx: Kbx, engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> None:
    deps = _prepare_vsb(kbx, engine, settings, sshd, tmp_path)
    run_id = _request_and_approve(kbx)
    assert execute(engine, deps, run_id) == "key_sent"
    name = _run(engine, run_id).file_name
    with transaction(engine) as session:
        session.execute(
            update(ExportRun)
            .where(ExportRun.id == run_id)
            .values(expires_at=settings.now() - timedelta(minutes=1))
        )
    found = work_once(engine, deps)  # the worker's round: the watch comes before purge_expired
    assert (found["pushed_expired"], found["expired"]) == (1, 0)
    assert sshd.files() == []
    run = _run(engine, run_id)
    assert run.state == "purged"
    assert run.purged_at is not None
    action, details = _events(engine, run_id)[-1]
    assert action == "export.expired"
    assert details["file"] == name
    assert details["withdrawn"] is True


def test_an_unreachable_server_is_counted_and_tried_again(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    sshd: SshdPeer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deps = _prepare_vsb(kbx, engine, settings, sshd, tmp_path)
    run_id = _request_and_approve(kbx)
    assert execute(engine, deps, run_id) == "key_sent"
    sshd.process.terminate()
    sshd.process.wait(10)
    assert watch_pushed(engine, deps)["unreachable"] == 1
    assert f"run {run_id}: the recipient's server could not be checked" in caplog.text
    run = _run(engine, run_id)
    assert (run.state, run.remote_checked_at) == ("key_sent", None)  # due again next round


def test_a_server_down_at_delivery_defers_the_run_and_it_goes_out_once_it_is_back(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    start_sshd: Callable[..., SshdPeer],
    tmp_path: Path,
) -> None:
    sshd = start_sshd()
    deps = _prepare_vsb(kbx, engine, settings, sshd, tmp_path)
    run_id = _request_and_approve(kbx)
    sshd.process.terminate()
    sshd.process.wait(10)

    assert execute(engine, deps, run_id) == "built", "not failed: the server is only down"
    assert pending_runs(engine, deps) == [], "not tried again before remote_check_minutes"
    assert execute(engine, deps, run_id) == "built"
    assert [action for action, _ in _events(engine, run_id)].count("export.delivery_deferred") == 1
    assert sms_messages(settings) == [], "no key without a delivered file"

    back = start_sshd()
    with transaction(engine) as session:
        row = session.get(RecipientSftp, "vsb")
        assert row is not None
        row.port, row.host_key = back.port, back.host_key
        row.private_key_sealed = deps.vault.seal(back.client_key_pem, b"vsb")
        session.execute(
            update(ExportRun)
            .where(ExportRun.id == run_id)
            .values(remote_checked_at=settings.now() - timedelta(hours=1))
        )
    assert pending_runs(engine, deps) == [run_id]
    assert execute(engine, deps, run_id) == "key_sent"
    run = _run(engine, run_id)
    assert back.files() == [run.file_name]
    [sms] = sms_messages(settings)
    pushed = (back.upload / str(run.file_name)).read_bytes()
    assert sorted(_open_7z(pushed, password_from(sms))) == [f"{run.reference}.csv", "LEESMIJ.txt"]


def test_a_changed_host_key_fails_the_run_without_upload_or_key(
    kbx: Kbx, engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> None:
    deps = _prepare_vsb(kbx, engine, settings, sshd, tmp_path)
    with transaction(engine) as session:
        row = session.get(RecipientSftp, "vsb")
        assert row is not None
        row.host_key = other_host_key(tmp_path)
    run_id = _request_and_approve(kbx)
    assert execute(engine, deps, run_id) == "failed"
    run = _run(engine, run_id)
    assert run.failure is not None
    assert "host key mismatch" in run.failure
    assert run.failure.endswith("; nothing was sent"), "both fingerprints fit the column"
    assert sshd.files() == []
    assert sms_messages(settings) == []


def test_targets_come_from_the_database_with_the_key_sealed(
    engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> None:
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    targets = sftp_targets(engine, deps.vault)
    with pytest.raises(ChannelError, match="recipient vsb has no SFTP server registered"):
        targets("vsb")
    with transaction(engine) as session:
        session.add(
            RecipientSftp(
                recipient_id="vsb",
                host="127.0.0.1",
                port=sshd.port,
                username="nobody",
                private_key_sealed=deps.vault.seal(sshd.client_key_pem, b"vdab"),  # wrong aad
                host_key=sshd.host_key,
                path="/upload",
                return_path=None,
                updated_at=settings.now(),
            )
        )
    with pytest.raises(ChannelError, match="client key for recipient vsb cannot be opened"):
        targets("vsb")
    with transaction(engine) as session:
        row = session.get(RecipientSftp, "vsb")
        assert row is not None
        row.private_key_sealed = deps.vault.seal(sshd.client_key_pem, b"vsb")
    target = targets("vsb")
    assert target.private_key_pem == sshd.client_key_pem
    assert "PRIVATE" not in repr(target)
