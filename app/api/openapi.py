"""How a route is registered: ``endpoint`` adds it to its router with its roles and every error
it can answer documented, from the route itself.

- its roles (``x-roles`` and the first line of its description) from its ``RoleGuard``, found
  in its dependencies, and so from ``app.flows.roles.ROLES``; a route without one is open;
- its error codes (``x-error-codes``, one response per status, every code a named example in
  the error shape): the auth codes when it has a role guard, ``request.invalid`` when FastAPI
  validates anything of the request, the codes it declares (``raises``), ``internal.error``.
  A code that is not in ``app.api.errors.ERRORS`` stops the import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.api.deps import RoleGuard, roles_of
from app.api.errors import ERRORS, error_responses
from app.flows.roles import Action

__all__ = ["AUTH_CODES", "endpoint"]

AUTH_CODES = ("auth.missing", "auth.invalid", "auth.role")

F = TypeVar("F", bound=Callable[..., Any])


def _action_of(dependant: Dependant) -> Action | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleGuard):
            return sub.call.action
        found = _action_of(sub)
        if found is not None:
            return found
    return None


def _takes_input(dependant: Dependant) -> bool:
    """Whether FastAPI validates anything of the request for it (so it can answer 422)."""
    own = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    )
    return any(own) or any(_takes_input(sub) for sub in dependant.dependencies)


def endpoint(
    router: APIRouter,
    method: str,
    path: str,
    *,
    summary: str,
    description: str = "",
    raises: tuple[str, ...] = (),
    responses: Mapping[int, dict[str, Any]] | None = None,
    **options: Any,
) -> Callable[[F], F]:
    """Register the decorated function as ``method path`` on ``router``, documented as above.
    ``responses`` adds to the generated ones (a success example, a header of an error)."""

    def register(func: F) -> F:
        probe = APIRoute(path, func, methods=[method])
        action = _action_of(probe.dependant)
        codes = [*(AUTH_CODES if action is not None else ()), *raises]
        if _takes_input(probe.dependant):
            codes.append("request.invalid")
        codes.append("internal.error")
        unknown = [c for c in codes if c not in ERRORS]
        if unknown:
            raise ValueError(f"{path}: error codes missing from ERRORS: {unknown}")
        extra: dict[str, Any] = {"x-error-codes": codes}
        if action is not None:
            roles = [r.value for r in roles_of(action)]
            extra["x-roles"] = roles
            text = f"**Roles:** {', '.join(roles)}.\n\n{description}"
        else:
            text = f"**Open:** no token needed.\n\n{description}"
        text += "\n\n**Error codes:** " + ", ".join(f"`{c}` ({ERRORS[c].status})" for c in codes)
        documented = error_responses(codes)
        for status, addition in (responses or {}).items():
            documented.setdefault(status, {}).update(addition)
        router.add_api_route(
            path,
            func,
            methods=[method],
            summary=summary,
            description=text.strip(),
            responses=dict(sorted(documented.items(), key=lambda item: int(item[0]))),
            openapi_extra=extra,
            **options,
        )
        return func

    return register
