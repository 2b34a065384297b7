"""The staff accounts' page ``/users`` (admins only: ``Action.MANAGE_STAFF``): every account
with its role and state, and the forms to add one (name, role, password), disable or enable one
and reset its password, each through ``app.flows.staff`` (which audits it and refuses a weak
password, an existing name or an admin disabling themself)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from app.errors import KbxError
from app.flows import staff
from app.flows.roles import Action
from app.store.users import MIN_PASSWORD_LENGTH, Role
from app.web.common import (
    Csrf,
    CurrentViewer,
    Viewer,
    dutch,
    engine_of,
    new_router,
    page,
    require,
    settings_of,
)

__all__ = ["router"]

router = new_router()
Field = Annotated[str, Form()]


def _users_page(
    request: Request, me: Viewer, status: int = 200, error: str | None = None
) -> Response:
    rows = staff.list_staff(engine_of(request), me.name, settings_of(request).now())
    return page(
        request,
        "users.html",
        me,
        status=status,
        rows=rows,
        roles=list(Role),
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
    )


@router.get("/users")
def user_list(request: Request, me: CurrentViewer) -> Response:
    """Every account, by name, with the forms an admin uses."""
    require(me, Action.MANAGE_STAFF)
    return _users_page(request, me)


def _act(request: Request, me: Viewer, do: Callable[[], object]) -> Response:
    try:
        do()
    except KbxError as exc:
        return _users_page(request, me, status=exc.status, error=dutch(exc))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/add", dependencies=[Csrf])
def user_add(
    request: Request, me: CurrentViewer, name: Field = "", role: Field = "", password: Field = ""
) -> Response:
    """Add an account (``app.flows.staff.add``)."""
    require(me, Action.MANAGE_STAFF)
    if role not in Role.__members__.values():
        return _users_page(request, me, status=400, error="Kies een rol.")
    engine, now = engine_of(request), settings_of(request).now()
    return _act(
        request, me, lambda: staff.add(engine, name.strip(), Role(role), password, me.name, now)
    )


@router.post("/users/{name}/disable", dependencies=[Csrf])
def user_disable(request: Request, me: CurrentViewer, name: str) -> Response:
    """Disable an account; its sessions and tokens stop at once."""
    require(me, Action.MANAGE_STAFF)
    engine, now = engine_of(request), settings_of(request).now()
    return _act(request, me, lambda: staff.disable(engine, name, me.name, now))


@router.post("/users/{name}/enable", dependencies=[Csrf])
def user_enable(request: Request, me: CurrentViewer, name: str) -> Response:
    """Enable a disabled account again."""
    require(me, Action.MANAGE_STAFF)
    engine, now = engine_of(request), settings_of(request).now()
    return _act(request, me, lambda: staff.enable(engine, name, me.name, now))


@router.post("/users/{name}/password", dependencies=[Csrf])
def user_reset_password(
    request: Request, me: CurrentViewer, name: str, password: Field = ""
) -> Response:
    """Give an account a new password; its sessions log in again."""
    require(me, Action.MANAGE_STAFF)
    engine, now = engine_of(request), settings_of(request).now()
    return _act(request, me, lambda: staff.reset_password(engine, name, password, me.name, now))
