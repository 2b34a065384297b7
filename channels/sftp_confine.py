"""Confinement of the SFTP drop: the one place where a client's path becomes a filesystem path.

A recipient sees a virtual tree of exactly three directories (``/``, ``/outbox``, ``/inbox``) and
the plain files directly inside the last two. Every client path is normalised lexically against
that virtual root (so ``..`` stops at ``/``), mapped onto ``<root>/<recipient>/...``, and the
result is then resolved on disk and must still lie inside the recipient's own real folder.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

__all__ = [
    "FOLDERS",
    "INBOX",
    "OUTBOX",
    "Kind",
    "PathDenied",
    "PathMissing",
    "Target",
    "check_name",
    "check_recipient",
    "ensure_folders",
    "is_valid_name",
    "recipient_base",
    "resolve",
    "virtual_path",
]

OUTBOX = "outbox"
INBOX = "inbox"
FOLDERS = (OUTBOX, INBOX)

RECIPIENT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
MAX_NAME_LENGTH = 200  # leaves room under NAME_MAX (255) for the hidden temporary names
MAX_PATH_LENGTH = 1024  # no legitimate path in a three-folder tree comes near this


class PathDenied(Exception):
    """The path is malformed or points somewhere the recipient may never go."""


class PathMissing(Exception):
    """The path is well-formed but names nothing in the recipient's tree."""


class Kind(Enum):
    ROOT = "root"
    FOLDER = "folder"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    virtual: str  # normalised client view: "/", "/outbox", "/outbox/<name>"
    real: Path  # unresolved on-disk path; open files with O_NOFOLLOW
    folder: str = ""
    name: str = ""


def check_recipient(recipient: str) -> str:
    # fullmatch: "$" would also accept a trailing newline
    if not RECIPIENT_RE.fullmatch(recipient):
        raise ValueError(f"invalid recipient id {recipient!r}")
    return recipient


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def is_valid_name(name: str) -> bool:
    """A file name in outbox/inbox: one component, not hidden (hidden names are our temporary
    files), no separators of any platform, no control characters (NUL included)."""
    return (
        0 < len(name) <= MAX_NAME_LENGTH
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and not _has_control(name)
    )


def check_name(name: str) -> str:
    if not is_valid_name(name):
        raise ValueError(f"invalid file name {name!r}")
    return name


def virtual_path(path: str) -> str:
    """Lexical normalisation against the virtual root; never touches the disk."""
    if len(path) > MAX_PATH_LENGTH or "\\" in path or _has_control(path):
        raise PathDenied(path)
    normal = posixpath.normpath("/" + path)
    # POSIX lets normpath keep exactly two leading slashes; they mean nothing here
    return "/" + normal.lstrip("/")


def recipient_base(root: Path, recipient: str) -> Path:
    """The recipient's real folder: the resolved root plus the id, itself left unresolved so that a
    recipient folder that is a symlink (to a sibling, say) fails the containment check."""
    return Path(os.path.realpath(root)) / check_recipient(recipient)


def _contained(real: Path, base: Path) -> bool:
    # is_relative_to compares whole components: root/72020x is not inside root/72020
    return Path(os.path.realpath(real)).is_relative_to(base)


def resolve(base: Path, path: str) -> Target:
    """Map a client path onto the recipient's tree rooted at ``base`` (from `recipient_base`)."""
    virtual = virtual_path(path)
    parts = [p for p in virtual.split("/") if p]
    if not parts:
        target = Target(Kind.ROOT, "/", base)
    elif parts[0] not in FOLDERS or len(parts) > 2:
        raise PathMissing(virtual)
    elif len(parts) == 1:
        target = Target(Kind.FOLDER, virtual, base / parts[0], folder=parts[0])
    else:
        if not is_valid_name(parts[1]):
            raise PathMissing(virtual)
        target = Target(Kind.FILE, virtual, base / parts[0] / parts[1], parts[0], parts[1])
    if not _contained(target.real, base):
        raise PathDenied(virtual)
    return target


def ensure_folders(base: Path) -> None:
    """Create ``base``, ``base/outbox`` and ``base/inbox`` (0700) and insist they are real
    directories, not symlinks someone planted."""
    for folder in (base, base / OUTBOX, base / INBOX):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode):
            raise PermissionError(f"{folder} is not a plain directory")
