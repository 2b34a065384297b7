"""OpenSSH public keys: parse one ``authorized_keys``-style line and fingerprint it."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

__all__ = ["KeyError_", "PublicKey", "parse_public_key"]

MIN_RSA_BITS = 3072  # NIST SP 800-57 / BSI TR-02102: 3072 bits for use beyond 2030


class KeyError_(ValueError):
    """A key kbx refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    algorithm: str
    line: str  # "<algorithm> <base64>" without the comment
    fingerprint: str  # "SHA256:<base64 without padding>", as ssh-keygen -l prints it


def parse_public_key(text: str) -> PublicKey:
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise KeyError_("this is a private key: register the public key (the .pub file) only")
    parts = text.split()
    if len(parts) < 2:
        raise KeyError_("not an OpenSSH public key line ('<type> <base64> [comment]')")
    algorithm, blob_b64 = parts[0], parts[1]
    line = f"{algorithm} {blob_b64}"
    try:
        key = load_ssh_public_key(line.encode("ascii"))
        blob = base64.b64decode(blob_b64, validate=True)
    except (ValueError, UnsupportedAlgorithm, binascii.Error, UnicodeEncodeError) as exc:
        raise KeyError_(f"not a valid OpenSSH public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyError_(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} required")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyError_(f"key type {algorithm} is not accepted (use ssh-ed25519, ECDSA or RSA)")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PublicKey(algorithm, line, f"SHA256:{digest}")
