"""Staff accounts: add, list, disable, enable, reset a password. Only an admin manages accounts
(``app.flows.roles``), every change is audited (the name and role, never a password), and a
disabled account's tokens stop working at once (they are deleted with it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.flows.roles import Action, require
from app.store.audit import record
from app.store.db import aware, transaction
from app.store.users import MIN_PASSWORD_LENGTH, Role, add_user, hash_password
from exchange.models import ApiToken, User

__all__ = ["StaffRow", "add", "disable", "enable", "list_staff", "reset_password"]


@dataclass(frozen=True, slots=True)
class StaffRow:
    """One account as staff see it: ``created_at`` is aware (UTC); ``tokens`` counts the live
    bearer tokens."""

    name: str
    role: str
    active: bool
    created_at: datetime | None
    tokens: int


def _admin(engine: Engine, by: str) -> None:
    with transaction(engine) as session:
        user = session.scalar(select(User).where(User.name == by, User.active.is_(True)))
        if user is None:
            raise NotFound("user.unknown", f"unknown user '{by}'", f"onbekende gebruiker '{by}'")
        require(by, user.role, Action.MANAGE_STAFF)


def sign_out(engine: Engine, user_id: int, now: datetime) -> None:
    """Ends every console session of the account (``users.signed_out_at``; ``app.web.common``
    refuses a session begun before it), audited as ``console.logout``. A sealed cookie copied
    before *Afmelden* is worth nothing after it; the account's other browsers sign in again."""
    with transaction(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            return
        user.signed_out_at = now
        record(
            session,
            actor=user.name,
            action="console.logout",
            subject=f"user:{user.name}",
            details={},
            now=now,
        )


def _load(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound("user.unknown", f"unknown user '{name}'", f"onbekende gebruiker '{name}'")
    return user


def _revoke_tokens(session: Session, user: User) -> int:
    tokens = ApiToken.user_id == user.id
    count = session.scalar(select(func.count()).select_from(ApiToken).where(tokens)) or 0
    session.execute(delete(ApiToken).where(tokens))
    return count


def add(engine: Engine, name: str, role: Role, password: str, by: str, now: datetime) -> None:
    """Create an account (audited as ``user.added``). Raises ``InvalidInput``
    (``user.weak_password``), ``Conflict`` (``user.exists``)."""
    with transaction(engine) as session:
        add_user(session, name, role, password, now)
        record(
            session,
            actor=by,
            action="user.added",
            subject=f"user:{name}",
            details={"role": role.value},
            now=now,
        )


def list_staff(engine: Engine, by: str, now: datetime) -> list[StaffRow]:
    """Every account, by name (admin ``by`` only)."""
    _admin(engine, by)
    with transaction(engine) as session:
        live = dict(
            session.execute(
                select(ApiToken.user_id, func.count())
                .where(ApiToken.expires_at > now)
                .group_by(ApiToken.user_id)
            ).all()
        )
        return [
            StaffRow(u.name, u.role, u.active, aware(u.created_at), live.get(u.id, 0))
            for u in session.scalars(select(User).order_by(User.name))
        ]


def _set_active(engine: Engine, name: str, by: str, now: datetime, active: bool) -> None:
    _admin(engine, by)
    if active is False and name == by:
        raise Conflict(
            "user.self",
            "an admin cannot disable their own account",
            "een beheerder kan het eigen account niet uitschakelen",
        )
    with transaction(engine) as session:
        user = _load(session, name)
        if user.active == active:
            state = "active" if active else "disabled"
            raise Conflict(
                "user.unchanged",
                f"user '{name}' is already {state}",
                f"gebruiker '{name}' is al {'actief' if active else 'uitgeschakeld'}",
            )
        user.active = active
        revoked = 0
        if not active:
            revoked = _revoke_tokens(session, user)
        record(
            session,
            actor=by,
            action="user.enabled" if active else "user.disabled",
            subject=f"user:{name}",
            details={"role": user.role, "tokens_revoked": revoked},
            now=now,
        )


def disable(engine: Engine, name: str, by: str, now: datetime) -> None:
    """Disable ``name`` (admin ``by``, never themself); its tokens are deleted at once."""
    _set_active(engine, name, by, now, False)


def enable(engine: Engine, name: str, by: str, now: datetime) -> None:
    """Enable a disabled account again (admin ``by``)."""
    _set_active(engine, name, by, now, True)


def reset_password(engine: Engine, name: str, password: str, by: str, now: datetime) -> None:
    """Give ``name`` a new password (admin ``by``); its tokens are deleted, so every session
    logs in again. Raises ``InvalidInput`` (``user.weak_password``)."""
    _admin(engine, by)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "user.weak_password",
            f"the password needs {MIN_PASSWORD_LENGTH}+ characters",
            f"het wachtwoord moet minstens {MIN_PASSWORD_LENGTH} tekens hebben",
        )
    with transaction(engine) as session:
        user = _load(session, name)
        user.password_hash = hash_password(password)
        revoked = _revoke_tokens(session, user)
        record(
            session,
            actor=by,
            action="user.password_reset",
            subject=f"user:{name}",
            details={"role": user.role, "tokens_revoked": revoked},
            now=now,
        )
