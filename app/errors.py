"""One error hierarchy for the edges: the CLI prints ``kbx: <message>`` and exits non-zero, the API
answers with the status and a stable machine-readable code."""

from __future__ import annotations

from exchange.shown import in_dutch

__all__ = ["Conflict", "InvalidInput", "KbxError", "NotFound", "Unavailable"]


class KbxError(Exception):
    """An error a person can act on: ``code`` is stable (``run.unknown``), ``message`` English,
    ``message_nl`` Dutch with the same facts (``None``: the API's catalogue gives a generic one).
    ``status`` is the HTTP status, ``exit_code`` the CLI's."""

    status = 400
    exit_code = 2

    def __init__(self, code: str, message: str, message_nl: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # A Dutch message built with exchange.shown says its placeholder in Dutch too.
        self.message_nl = None if message_nl is None else in_dutch(message_nl)


class InvalidInput(KbxError):
    status = 400


class NotFound(KbxError):
    status = 404


class Conflict(KbxError):
    status = 409


class Unavailable(KbxError):
    """Something kbx needs is not there (the database, its schema): not the caller's input."""

    status = 503
    exit_code = 1
