"""A local stand-in for the part of Twilio's REST API kbx uses, for the real ``twilio`` client.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` creates a message and ``GET`` on the same path
lists them (newest first, ``To`` filter, pages with ``next_page_uri``), with Twilio's JSON shapes,
HTTP basic authentication with the account SID and auth token, and Twilio's error JSON. The stand-in
can stall the create call (to provoke the client's timeout), with the message kept (it did leave)
or lost, and can refuse creates with a Twilio error. It plays Twilio's side of the status
callbacks too: ``callback`` signs the parameters with ``RequestValidator`` over the message's
``StatusCallback`` URL, as Twilio does.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

__all__ = ["Refusal", "TwilioStandIn", "twilio_standin"]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "standin-auth-token-" + "5f" * 8
MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2


@dataclass(frozen=True)
class Refusal:
    """What Twilio answers when it will not create a message (e.g. 21211, an invalid To)."""

    status: int = 400
    code: int = 21211
    message: str = "The 'To' number is not a valid phone number."


@dataclass
class _Behaviour:
    stall_seconds: float = 0.0
    keep_stalled: bool = True
    refusal: Refusal | None = None


@dataclass
class TwilioStandIn:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    messages: list[dict[str, Any]] = field(default_factory=list)  # in creation order
    creates: int = 0  # create calls received, answered or not
    url: str = ""
    _behaviour: _Behaviour = field(default_factory=_Behaviour)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    # -- what a test sets --------------------------------------------------------------------

    def stall_creates(self, seconds: float, *, keep: bool) -> None:
        """Answer creates only after ``seconds``; with ``keep`` the message is created first
        (it leaves, the answer is lost), without it the message is never created."""
        self._behaviour = _Behaviour(stall_seconds=seconds, keep_stalled=keep)

    def refuse_creates(self, refusal: Refusal | None = None) -> None:
        self._behaviour = _Behaviour(refusal=refusal or Refusal())

    def behave(self) -> None:
        self._behaviour = _Behaviour()

    # -- Twilio's side of a status callback --------------------------------------------------

    def callback_params(
        self, sid: str, status: str, error_code: str | None = None
    ) -> dict[str, str]:
        message = self.message(sid)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["to"],
            "MessagingServiceSid": message["messaging_service_sid"] or "",
            "From": message["from"] or "",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def sign(self, url: str, params: dict[str, str], token: str | None = None) -> str:
        signature: str = RequestValidator(token or self.auth_token).compute_signature(url, params)
        return signature

    def callback(
        self,
        client: httpx.Client,
        sid: str,
        status: str,
        *,
        error_code: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a status callback to the message's StatusCallback URL, signed as Twilio signs
        it unless ``signature`` is given ("" sends none)."""
        url = self.message(sid)["status_callback"]
        params = self.callback_params(sid, status, error_code)
        if signature is None:
            signature = self.sign(url, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return client.post(url, data=params, headers=headers)

    def message(self, sid: str) -> dict[str, Any]:
        with self._lock:
            return next(m for m in self.messages if m["sid"] == sid)

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """What Twilio's own record of the message says (the list shows it)."""
        with self._lock:
            for m in self.messages:
                if m["sid"] == sid:
                    m["status"], m["error_code"] = status, error_code

    # -- the HTTP side -----------------------------------------------------------------------

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.creates += 1
        behaviour = self._behaviour
        if behaviour.refusal is not None:
            return behaviour.refusal.status, _error(behaviour.refusal)
        if not form.get("To") or not form.get("Body"):
            return 400, _error(Refusal(400, 21602, "Message body is required."))
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, _error(Refusal(400, 21603, "A 'From' phone number is required."))
        message = None
        if not behaviour.stall_seconds or behaviour.keep_stalled:
            message = self._record(form)
        if behaviour.stall_seconds:
            self._release.wait(behaviour.stall_seconds)
        if message is None:
            return 503, _error(Refusal(503, 20500, "Internal Server Error"))
        return 201, self._public(message)

    def _record(self, form: dict[str, str]) -> dict[str, Any]:
        now = format_datetime(self.clock().astimezone(UTC), usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        service = form.get("MessagingServiceSid")
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "EUR",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),  # kept here, not in Twilio's JSON
        }
        with self._lock:
            self.messages.append(message)
        return message

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != "status_callback"}

    def _list(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        to = query.get("To", [None])[0]
        size = int(query.get("PageSize", ["50"])[0])
        page = int(query.get("Page", ["0"])[0])
        with self._lock:
            chosen = [self._public(m) for m in reversed(self.messages) if to in (None, m["to"])]
        records = chosen[page * size : (page + 1) * size]

        def uri(number: int) -> str:
            params = {k: v[0] for k, v in query.items() if k not in ("Page", "PageToken")}
            return f"{path}?{urlencode({**params, 'Page': number, 'PageSize': size})}"

        more = (page + 1) * size < len(chosen)
        return {
            "messages": records,
            "end": page * size + max(len(records) - 1, 0),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page else None,
            "start": page * size,
            "uri": uri(page),
        }

    def _authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (a provoked timeout)

            def _route(self) -> tuple[str, dict[str, list[str]]] | None:
                parts = urlsplit(self.path)
                if not standin._authorised(self.headers.get("Authorization")):
                    self._answer(401, _error(Refusal(401, 20003, "Authenticate")))
                    return None
                if parts.path != base:
                    self._answer(404, _error(Refusal(404, 20404, "Not found")))
                    return None
                return parts.path, parse_qs(parts.query)

            def do_GET(self) -> None:
                routed = self._route()
                if routed is not None:
                    self._answer(200, standin._list(*routed))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self._route() is not None:
                    self._answer(*standin._create(form))

        return Handler


def _error(refusal: Refusal) -> dict[str, Any]:
    return {
        "code": refusal.code,
        "message": refusal.message,
        "more_info": f"https://www.twilio.com/docs/errors/{refusal.code}",
        "status": refusal.status,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a stalled answer is expected


@contextmanager
def twilio_standin(clock: Callable[[], datetime] | None = None) -> Iterator[TwilioStandIn]:
    """The stand-in on a free port of 127.0.0.1; ``url`` replaces https://api.twilio.com."""
    standin = TwilioStandIn()
    if clock is not None:
        standin.clock = clock
    server = _Server(("127.0.0.1", 0), standin.handler())
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin._release.set()  # stalled answers end now
        server.shutdown()
        server.server_close()
        thread.join(10)
