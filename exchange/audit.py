"""The audit trail's rules: each event is hash-chained to the one before it, so that editing,
deleting or reordering any event breaks the chain at that point. Pure; storage is at the edge.

``hash = SHA-256(prev_hash || canonical JSON of the event)``; the canonical form has sorted keys,
no whitespace and UTF-8. Events carry identifiers and counts, never personal data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS",
    "AuditRecord",
    "BrokenLink",
    "ChainReport",
    "canonical",
    "chain_hash",
    "verify_chain",
]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str  # ISO 8601 with offset
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.problem}"


def canonical(
    seq: int, at: str, actor: str, action: str, subject: str, details: Mapping[str, Any]
) -> bytes:
    body = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int  # how many events were verified before the end or the first broken link
    head: str  # hash of the last good event
    broken: BrokenLink | None


def verify_chain(events: Iterable[AuditRecord]) -> ChainReport:
    """Walk the events in ``seq`` order; report the first broken link, if any."""
    expected_seq, prev = 1, GENESIS
    for event in events:
        broken = None
        if event.seq != expected_seq:
            broken = BrokenLink(expected_seq, f"missing (next event found is {event.seq})")
        elif event.prev_hash != prev:
            broken = BrokenLink(
                event.seq, "does not follow the event before it (deleted or reordered)"
            )
        else:
            payload = canonical(
                event.seq, event.at, event.actor, event.action, event.subject, event.details
            )
            if chain_hash(prev, payload) != event.hash:
                broken = BrokenLink(event.seq, "content does not match its hash (edited)")
        if broken is not None:
            return ChainReport(expected_seq - 1, prev, broken)
        prev, expected_seq = event.hash, expected_seq + 1
    return ChainReport(expected_seq - 1, prev, None)
