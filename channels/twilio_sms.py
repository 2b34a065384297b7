"""The production key sender: Twilio's Programmable Messaging through the official ``twilio``
client.

Every key SMS asks Twilio for status callbacks at ``public_base_url + /api/v1/sms/status``
(``app.flows.sms_status`` verifies their signature). Message creation has no idempotency key, so an
answer kbx did not get (a timeout, a broken connection, a 5xx) is the outcome ``unknown``, never an
exception that would make kbx send again; ``lookup`` lists the messages to the contact's number
and finds the one that names the file's reference. Only a certain refusal (a 4xx: a bad number, a
blocked sender, wrong credentials) raises ``SmsRefused``.

Nothing this module says names a phone number or carries the auth token: Twilio's error texts can
repeat the number, so only their codes travel, and the client's own request log (which prints
query strings, the ``To`` of a lookup included) is replaced by one line with the path only.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioException,
    TwilioRestException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from exchange.ports import ChannelError, SentSms, SmsRefused
from exchange.sms_status import UNKNOWN

__all__ = ["STATUS_CALLBACK_PATH", "TWILIO_API", "TwilioKeySender", "status_callback_url"]

log = logging.getLogger("kbx.sms.twilio")

TWILIO_API = "https://api.twilio.com"
STATUS_CALLBACK_PATH = "/api/v1/sms/status"
# How many of the latest messages to one number a lookup reads (a contact gets a few a year).
_LOOKUP_LIMIT = 200
# kbx's clock and Twilio's are not the same clock.
_CLOCK_SLACK = timedelta(minutes=10)
# The client reads TWILIO_* variables from os.environ when it is given no (or an empty) mapping;
# kbx's settings are the only source of its configuration.
_NO_ENVIRONMENT = {"KBX": "settings"}


def status_callback_url(public_base_url: str) -> str:
    """Where Twilio reports a key SMS's status; its signature is computed over exactly this URL."""
    return public_base_url.rstrip("/") + STATUS_CALLBACK_PATH


class _Http(TwilioHttpClient):  # type: ignore[misc]
    """The client's HTTP layer with a timeout, no retries, a base URL that tests point at a
    local stand-in, and a request log without query strings or headers."""

    def __init__(self, *, timeout: float, base_url: str) -> None:
        super().__init__(timeout=timeout, max_retries=0, logger=log)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self._base_url and url.startswith(TWILIO_API):
            url = self._base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        path = str(kwargs.get("url", "")).split("?", 1)[0]
        log.debug("twilio %s %s", kwargs.get("method"), path.split("/2010-04-01", 1)[-1])

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("twilio answered %s", status_code)


class TwilioKeySender:
    """Sends key SMS through Twilio; either a messaging service or a sender id (or number)."""

    provider = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        status_callback: str,
        messaging_service_sid: str = "",
        sender: str = "",
        timeout: float = 10.0,
        base_url: str = "",
    ) -> None:
        if not account_sid or not auth_token:
            raise ChannelError("Twilio needs KBX_TWILIO_ACCOUNT_SID and KBX_TWILIO_AUTH_TOKEN")
        if not (messaging_service_sid or sender):
            raise ChannelError("Twilio needs KBX_TWILIO_MESSAGING_SERVICE_SID or KBX_TWILIO_FROM")
        if timeout <= 0:
            raise ChannelError("KBX_TWILIO_TIMEOUT_SECONDS must be positive")
        self.account_sid = account_sid
        self.status_callback = status_callback
        self._origin: dict[str, str] = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": sender}
        )
        self._client = Client(
            account_sid,
            auth_token,
            http_client=_Http(timeout=timeout, base_url=base_url),
            environment=_NO_ENVIRONMENT,
        )

    def __repr__(self) -> str:  # the auth token never ends up in a log line or traceback
        return f"TwilioKeySender(account={self.account_sid})"

    def send(self, to: str, body: str, reference: str) -> SentSms:
        try:
            message = self._client.messages.create(
                to=to, body=body, status_callback=self.status_callback, **self._origin
            )
        except TwilioRestException as exc:
            if exc.status >= 500:
                log.warning(
                    "key SMS %s: Twilio answered HTTP %s; outcome unknown", reference, exc.status
                )
                return SentSms(self.provider, None, UNKNOWN)
            code = str(exc.code) if exc.code is not None else None
            # Not `from exc`: Twilio's message can repeat the phone number, and a chained
            # exception is printed with every traceback.
            raise SmsRefused(
                f"Twilio refused the key SMS {reference}: error {code} (HTTP {exc.status})", code
            ) from None
        except (requests.RequestException, TwilioException) as exc:
            log.warning(
                "key SMS %s: no answer from Twilio (%s); outcome unknown",
                reference,
                type(exc).__name__,
            )
            return SentSms(self.provider, None, UNKNOWN)
        return SentSms(
            self.provider,
            message.sid,
            message.status or UNKNOWN,
            str(message.error_code) if message.error_code else None,
        )

    def lookup(self, to: str, reference: str, since: datetime) -> list[SentSms]:
        names = re.compile(rf"(?<![\w-]){re.escape(reference)}(?![\w-])")
        earliest = since - _CLOCK_SLACK
        try:
            messages = self._client.messages.list(to=to, limit=_LOOKUP_LIMIT)
        except TwilioRestException as exc:
            raise ChannelError(
                f"Twilio could not list the messages for key SMS {reference}: "
                f"error {exc.code} (HTTP {exc.status})"
            ) from None
        except (requests.RequestException, TwilioException) as exc:
            raise ChannelError(
                f"Twilio could not be asked about key SMS {reference} ({type(exc).__name__})"
            ) from None
        found = [
            m
            for m in messages
            if str(m.direction or "").startswith("outbound")
            and names.search(m.body or "")
            and (m.date_created is None or m.date_created >= earliest)
        ]
        found.sort(key=lambda m: (m.date_created is None, m.date_created))
        return [
            SentSms(
                self.provider,
                m.sid,
                m.status or UNKNOWN,
                str(m.error_code) if m.error_code else None,
            )
            for m in found
        ]
