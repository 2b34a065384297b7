"""The route groups of ``/api/v1``, one module each, and what ``app.api.app`` serves of them.

``ROUTERS``: every operation of the staff and VSB API; each needs a bearer token (but
``POST /auth/token``) and is described in the OpenAPI document with its roles and error codes.
``CALLBACKS``: what a provider calls, Twilio's signed SMS status callbacks, with no bearer token
and left out of the document.
"""

from fastapi import APIRouter

from app.api.routes import (
    agreements,
    auth,
    batches,
    changes,
    checks,
    exports,
    policy,
    protocols,
    recipients,
    sms,
)

__all__ = ["CALLBACKS", "ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    exports.router,
    batches.router,
    policy.router,
    protocols.router,
    recipients.router,
    changes.router,
    agreements.router,
    checks.router,
)
CALLBACKS: tuple[APIRouter, ...] = (sms.router,)
