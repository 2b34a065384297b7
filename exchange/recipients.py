"""Recipients: the Flemish municipalities and the agencies, and the rules for their contacts."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from exchange.free_text import may_hold_national_number

__all__ = ["AGENCIES", "ContactProblem", "Municipality", "check_contact"]


@dataclass(frozen=True, slots=True)
class Municipality:
    nis_code: str
    name_nl: str
    province_nl: str


# The agencies kbx sends to, with the protocol that names them.
AGENCIES: dict[str, str] = {
    "vdab": "Vlaamse Dienst voor Arbeidsbemiddeling en Beroepsopleiding (VDAB)",
    "vsb": "Agentschap Vlaamse Sociale Bescherming",
    # Receives the pseudonymised VDAB dataset (protocol vdab-pillar3, art. 3 and recital F).
    "bi-werkgroep": "BI-werkgroep monitoring derde pijler (AgII, Atlas, IN-Gent)",
}


class ContactProblem(ValueError):
    """A contact that cannot receive a key SMS; the message says why, in English."""


def check_contact(name: str, phone: str, email: str) -> tuple[str, str, str]:
    """Normalise a contact: a Belgian *mobile* number (the key goes by SMS), a valid e-mail."""
    name = " ".join(name.split())
    if not name:
        raise ContactProblem("the contact name is empty")
    if may_hold_national_number(name):
        raise ContactProblem("the contact name holds a number that could be a national number")
    try:
        number = phonenumbers.parse(phone, "BE")
    except phonenumbers.NumberParseException as exc:
        raise ContactProblem("the phone number cannot be read as a phone number") from exc
    if not phonenumbers.is_valid_number(number) or number.country_code != 32:
        raise ContactProblem("the phone number is not a valid Belgian number")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        raise ContactProblem(
            "the phone number is not a Belgian mobile number (the key goes by SMS)"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    try:
        normalised_email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ContactProblem(f"the e-mail address is not valid: {exc}") from exc
    return name, e164, normalised_email
