"""One error hierarchy for the edges: the CLI prints ``kbx: <message>`` and exits non-zero, the API
answers with the status and a stable machine-readable code."""

from __future__ import annotations

__all__ = ["Conflict", "InvalidInput", "KbxError", "NotFound"]


class KbxError(Exception):
    status = 400
    exit_code = 2

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(KbxError):
    status = 400


class NotFound(KbxError):
    status = 404


class Conflict(KbxError):
    status = 409
