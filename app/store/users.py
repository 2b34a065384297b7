"""Staff accounts (argon2 hashes) and short-lived opaque bearer tokens (stored as SHA-256)."""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput
from exchange.models import ApiToken, User

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Role",
    "account_named",
    "active_user",
    "add_user",
    "authenticate",
    "check_name",
    "find_user",
    "hash_password",
    "issue_token",
    "password_matches",
    "user_for_token",
]

TOKEN_TTL = timedelta(minutes=30)
MIN_PASSWORD_LENGTH = 12
# A login name, lower case: "an.peeters", "ops-2". A name is written into the audit trail as the
# actor of everything its owner does, so it may never carry personal data of an integree: no run
# of six digits (a national number, a birth date) and nothing but these characters.
_NAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
_DIGIT_RUN = re.compile(r"[0-9]{6}")
_HASHER = PasswordHasher()
# Verifying against this keeps the time of an unknown-user login equal to a wrong password.


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: every kbx command that checks a name would pay it.
    return _HASHER.hash("kbx-timing-equaliser")


class Role(enum.StrEnum):
    OPERATOR = "operator"  # requests exports, cancels, asks for a key resend
    APPROVER = "approver"  # approves what an operator asked (never their own)
    AUDITOR = "auditor"  # reads runs, protocols, recipients and the audit trail
    ADMIN = "admin"  # everything an operator and an approver may do
    VSB = "vsb"  # the VSB client: the individual integration-obligation check only


def check_name(name: str) -> None:
    """Refuse a staff account name kbx would not write into the audit trail: 2 to 64 characters,
    a lower-case letter first, then lower-case letters, digits, ``.``, ``_`` or ``-``, and no run
    of six digits. Raises ``InvalidInput`` (``user.name_invalid``); the message never repeats the
    name, which may be what it must not hold."""
    if _NAME.fullmatch(name) is None or _DIGIT_RUN.search(name) is not None:
        raise InvalidInput(
            "user.name_invalid",
            "a user name is 2-64 characters: a lower-case letter, then lower-case letters, "
            "digits, '.', '_' or '-', and no six digits in a row",
            "een gebruikersnaam telt 2 tot 64 tekens: een kleine letter, dan kleine letters, "
            "cijfers, '.', '_' of '-', en nooit zes cijfers na elkaar",
        )


def add_user(session: Session, name: str, role: Role, password: str, now: datetime) -> User:
    """Create an active account; raises ``InvalidInput`` (``user.name_invalid``,
    ``user.weak_password``) or ``Conflict`` (``user.exists``)."""
    check_name(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "user.weak_password",
            f"the password needs {MIN_PASSWORD_LENGTH}+ characters",
            f"het wachtwoord moet minstens {MIN_PASSWORD_LENGTH} tekens hebben",
        )
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(
            "user.exists", f"user '{name}' already exists", f"gebruiker '{name}' bestaat al"
        )
    user = User(name=name, role=role.value, password_hash=_HASHER.hash(password), created_at=now)
    session.add(user)
    session.flush()
    return user


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (argon2-cffi's defaults)."""
    return _HASHER.hash(password)


def find_user(session: Session, name: str) -> User | None:
    """The active account of that name, if any."""
    user: User | None = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
    return user


def account_named(session: Session, name: str) -> User | None:
    """The account of that name, active or disabled, if any (the console audits a failed login
    under the name of an account that exists, never under a name that does not)."""
    user: User | None = session.scalar(select(User).where(User.name == name))
    return user


def active_user(session: Session, user_id: int) -> User | None:
    """The account with that id if it is still active, else ``None`` (the console re-reads its
    user on every request: a disabled account loses access at once)."""
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def password_matches(user: User | None, password: str) -> bool:
    """Verify against the argon2 hash; an unknown user costs the same time as a wrong password.
    Needs no database: the API calls it between two short transactions, so no write lock is held
    for the ~50 ms of argon2."""
    try:
        _HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError):
        return False
    return user is not None


def authenticate(session: Session, name: str, password: str) -> User | None:
    user = find_user(session, name)
    return user if password_matches(user, password) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def issue_token(session: Session, user: User, now: datetime) -> tuple[str, int]:
    session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_digest(token), user_id=user.id, expires_at=now + TOKEN_TTL))
    return token, int(TOKEN_TTL.total_seconds())


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The active account of a bearer token that has not expired (aware ``now``), else ``None``.
    One query: it runs before every API request."""
    found = session.execute(
        select(User, ApiToken.expires_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token))
    ).first()
    if found is None:
        return None
    user, expires = found
    expires = expires if expires.tzinfo else expires.replace(tzinfo=now.tzinfo)
    return user if expires > now and user.active else None
