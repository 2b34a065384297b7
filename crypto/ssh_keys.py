"""SSH public keys as people hand them in: parse one key and fingerprint it.

Accepted forms (each normalised to the OpenSSH one-line form ``<type> <base64>``):

- an OpenSSH public key line, ``ssh-ed25519 AAAA... comment`` (``ssh-keygen``'s ``.pub`` file);
- an RFC 4716 "SSH2" public key file, as PuTTYgen saves it::

      ---- BEGIN SSH2 PUBLIC KEY ----
      Comment: "rsa-key-20260101"
      AAAAB3NzaC1yc2EAAAADAQABAAABgQ...
      ---- END SSH2 PUBLIC KEY ----

  neither ``cryptography`` (``load_ssh_public_key`` reads the one-line form only) nor paramiko
  (``PublicBlob`` likewise) can load it, so the few lines of RFC 4716 section 3 are read here:
  header lines ``Tag: value`` (a line ending in ``\\`` continues on the next), then the base64
  body, which carries the key type itself;
- either of them saved by Notepad: a byte-order mark (UTF-8 or UTF-16) and CRLF line ends.

Refused, each with one line that names the problem: a private key, an ``authorized_keys`` line
with options (``from="..."``, ``command=...``: kbx's drop has no use for them and must not seem to
honour them), a key that is not text, a broken key, a type kbx does not accept, a short RSA key.
A message never repeats the key file's content nor a parser's exception text (a file given by a
user may hold anything, personal data included).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

__all__ = ["KeyError_", "PublicKey", "decode_key_file", "parse_public_key"]

MIN_RSA_BITS = 3072  # NIST SP 800-57 / BSI TR-02102: 3072 bits for use beyond 2030
MAX_KEY_FILE_BYTES = 64 * 1024  # an RSA-16384 public key is under 3 KB

_RFC4716_BEGIN = "---- BEGIN SSH2 PUBLIC KEY ----"
_RFC4716_END = "---- END SSH2 PUBLIC KEY ----"
_KEY_TYPE = re.compile(r"(ssh|ecdsa|sk)-[A-Za-z0-9@._-]{1,60}")
# authorized_keys options without a value (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
_OPTION_FLAGS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-touch-required",
        "no-user-rc",
        "no-X11-forwarding",
        "port-forwarding",
        "pty",
        "restrict",
        "user-rc",
        "verify-required",
        "X11-forwarding",
    }
)


class KeyError_(ValueError):
    """A key kbx refuses; the message says why and never holds the key's text."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    algorithm: str
    line: str  # "<algorithm> <base64>" without the comment
    fingerprint: str  # "SHA256:<base64 without padding>", as ssh-keygen -l prints it


def decode_key_file(data: bytes) -> str:
    """The text of a key file: UTF-8, or UTF-16 with its byte-order mark (Notepad's "Unicode");
    a UTF-8 byte-order mark is dropped. Raises ``KeyError_`` for a file that is not text."""
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyError_(f"the file is larger than a public key ({len(data)} bytes)")
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KeyError_("the file is not a text file (not UTF-8 nor UTF-16)") from None


def _rfc4716_body(lines: list[str]) -> str:
    """The base64 body of an RFC 4716 public key file (section 3.3: headers, then the body)."""
    try:
        end = lines.index(_RFC4716_END)
    except ValueError:
        raise KeyError_(f"an SSH2 (RFC 4716) key without its '{_RFC4716_END}' line") from None
    body: list[str] = []
    continued = False
    for line in lines[1:end]:
        if continued or (not body and ":" in line):
            continued = line.endswith("\\")  # a header value continues on the next line
            continue
        body.append(line)
    if not body:
        raise KeyError_("an SSH2 (RFC 4716) key without its key lines")
    return "".join(body)


def _type_of(blob: bytes) -> str:
    """The key type an SSH wire-format blob names in its first field."""
    if len(blob) < 4:
        return ""
    size = int.from_bytes(blob[:4], "big")
    name = blob[4 : 4 + size]
    return name.decode("ascii", "replace") if 0 < size <= 64 and len(name) == size else ""


def _one_line(text: str) -> tuple[str, str]:
    """``(algorithm, base64)`` of a key in any accepted form, or ``KeyError_``."""
    text = text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise KeyError_("the key is empty")
    if "PRIVATE KEY" in text or text.startswith("PuTTY-User-Key-File"):
        raise KeyError_("this is a private key: register the public key (the .pub file) only")
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if lines[0] == _RFC4716_BEGIN:
        blob_b64 = _rfc4716_body(lines)
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except (binascii.Error, ValueError):
            raise KeyError_("an SSH2 (RFC 4716) key whose key lines are not base64") from None
        algorithm = _type_of(blob)
        if not _KEY_TYPE.fullmatch(algorithm):
            raise KeyError_("an SSH2 (RFC 4716) key whose key lines do not hold an SSH key")
        return algorithm, blob_b64
    if len(lines) > 1:
        raise KeyError_(
            f"{len(lines)} lines: give one OpenSSH public key line ('<type> <base64> [comment]')"
        )
    parts = lines[0].split()
    if not _KEY_TYPE.fullmatch(parts[0]):
        if any(_KEY_TYPE.fullmatch(p) for p in parts[1:]):
            first = parts[0]
            if "=" in first or "," in first or first in _OPTION_FLAGS:
                raise KeyError_(
                    "an authorized_keys line with options (from=, command=, ...): give the key "
                    "alone, '<type> <base64> [comment]'; kbx does not apply such options"
                )
            raise KeyError_(
                "a known_hosts line (a host name before the key): give the key alone, "
                "'<type> <base64>'"
            )
        raise KeyError_("not an OpenSSH public key line ('<type> <base64> [comment]')")
    if len(parts) < 2:
        raise KeyError_("the key type without its key ('<type> <base64> [comment]')")
    return parts[0], parts[1]


def parse_public_key(text: str) -> PublicKey:
    """Parse a public key in one of the accepted forms (module docstring) and fingerprint it.

    Returns the key's type, its OpenSSH line ``<type> <base64>`` (no comment) and its SHA-256
    fingerprint as ``ssh-keygen -l`` prints it. Raises ``KeyError_`` with a message that names
    the problem, never the content.
    """
    algorithm, blob_b64 = _one_line(text)
    line = f"{algorithm} {blob_b64}"
    try:
        blob = base64.b64decode(blob_b64, validate=True)
        key = load_ssh_public_key(line.encode("ascii"))
    except UnsupportedAlgorithm:
        raise KeyError_(
            f"key type {algorithm} is not accepted (use ssh-ed25519, ECDSA or RSA)"
        ) from None
    except (ValueError, binascii.Error, UnicodeEncodeError):
        # The parser's own text may quote the key's bytes: never pass it on.
        raise KeyError_(f"not a valid {algorithm} public key (damaged or cut off)") from None
    if _type_of(blob) != algorithm:
        raise KeyError_(f"the key's data is not of the type it is labelled with ({algorithm})")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyError_(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} required")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyError_(f"key type {algorithm} is not accepted (use ssh-ed25519, ECDSA or RSA)")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PublicKey(algorithm, line, f"SHA256:{digest}")
