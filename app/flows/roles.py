"""Who may do what: the one table of staff roles per action.

The API's role guards, the CLI's ``--by NAME`` checks and the console ask this table; none of them
lists roles of its own. Four-eyes (never approve what you asked) is a separate rule, checked by
the flow that approves (``exchange.exports.check_four_eyes``).
"""

from __future__ import annotations

import enum

from app.errors import KbxError
from app.store.users import Role

__all__ = ["ROLES", "Action", "Role", "RoleRefused", "may", "require"]


class Action(enum.StrEnum):
    """Something a person asks kbx to do; the value is the English phrase used in refusals."""

    READ = "read runs, protocols, recipients and the audit trail"
    REQUEST = "request exports"
    APPROVE = "approve exports"
    CANCEL = "cancel exports"
    ASK_RESEND = "ask for a key resend"
    APPROVE_RESEND = "approve a key resend"
    PROPOSE_CHANGE = "propose changes to recipients"
    DECIDE_CHANGE = "decide on changes to recipients"
    MANAGE_STAFF = "manage staff accounts"
    ROTATE_PSEUDONYM_KEY = "rotate the pseudonym key"
    CHECK_OBLIGATION = "check the integration obligation of a person"
    RECORD_PROTOCOL_DATE = "record a date of a protocol"


# What a role may not do, as the Dutch sentence says it after "mag" (the negation is part of
# it: "geen exports aanvragen", "de pseudoniemsleutel niet vervangen").
_DUTCH = {
    Action.READ: "geen runs, protocollen, ontvangers en audittrail lezen",
    Action.REQUEST: "geen exports aanvragen",
    Action.APPROVE: "geen exports goedkeuren",
    Action.CANCEL: "geen exports annuleren",
    Action.ASK_RESEND: "geen herzending van de sleutel vragen",
    Action.APPROVE_RESEND: "geen herzending van de sleutel goedkeuren",
    Action.PROPOSE_CHANGE: "geen wijzigingen aan ontvangers voorstellen",
    Action.DECIDE_CHANGE: "niet over wijzigingen aan ontvangers beslissen",
    Action.MANAGE_STAFF: "geen medewerkersaccounts beheren",
    Action.ROTATE_PSEUDONYM_KEY: "de pseudoniemsleutel niet vervangen",
    Action.CHECK_OBLIGATION: "de inburgeringsplicht van een persoon niet nagaan",
    Action.RECORD_PROTOCOL_DATE: "geen datum van een protocol vastleggen",
}

_STAFF = frozenset({Role.OPERATOR, Role.APPROVER, Role.AUDITOR, Role.ADMIN})
_ASKERS = frozenset({Role.OPERATOR, Role.ADMIN})
_APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})

ROLES: dict[Action, frozenset[Role]] = {
    Action.READ: _STAFF,
    Action.REQUEST: _ASKERS,
    Action.APPROVE: _APPROVERS,
    Action.CANCEL: _ASKERS | _APPROVERS,
    Action.ASK_RESEND: _ASKERS,
    Action.APPROVE_RESEND: _APPROVERS,
    Action.PROPOSE_CHANGE: _ASKERS,
    Action.DECIDE_CHANGE: _APPROVERS,
    Action.MANAGE_STAFF: frozenset({Role.ADMIN}),
    Action.ROTATE_PSEUDONYM_KEY: frozenset({Role.ADMIN}),
    Action.CHECK_OBLIGATION: frozenset({Role.VSB}),
    Action.RECORD_PROTOCOL_DATE: frozenset({Role.ADMIN}),
}


class RoleRefused(KbxError):
    """The person's role may not do this (HTTP 403 ``auth.role``; CLI exit 2)."""

    status = 403


def may(role: Role | str, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return Role(role) in ROLES[action]


def require(name: str, role: Role | str, action: Action) -> None:
    """Raises ``RoleRefused`` (``auth.role``) unless ``role`` may do ``action``."""
    if not may(role, action):
        raise RoleRefused(
            "auth.role",
            f"user '{name}' ({role}) may not {action.value}",
            f"gebruiker '{name}' ({role}) mag {_DUTCH[action]}",
        )
