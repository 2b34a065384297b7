"""Recipients: the Flemish municipalities and the agencies, and the rules for their contacts."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from exchange.free_text import may_hold_national_number

__all__ = ["AGENCIES", "ContactProblem", "Municipality", "check_contact", "mask_phone"]


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
    """A contact that cannot receive a key SMS; the message says why in English, ``nl`` in
    Dutch (for the console)."""

    def __init__(self, message: str, nl: str) -> None:
        super().__init__(message)
        self.nl = nl


def mask_phone(phone: str) -> str:
    """``+32470123456`` -> ``+32 4•••••••56``: enough to recognise, not to dial."""
    digits = phone.removeprefix("+32")
    if len(digits) < 4:
        return "•" * len(phone)
    return f"+32 {digits[0]}{'•' * (len(digits) - 3)}{digits[-2:]}"


def check_contact(name: str, phone: str, email: str) -> tuple[str, str, str]:
    """Normalise a contact: a Belgian *mobile* number (the key goes by SMS), a valid e-mail."""
    name = " ".join(name.split())
    if not name:
        raise ContactProblem("the contact name is empty", "de naam van de contactpersoon is leeg")
    if may_hold_national_number(name):
        raise ContactProblem(
            "the contact name holds a number that could be a national number",
            "de naam van de contactpersoon bevat een getal dat een rijksregisternummer kan zijn",
        )
    try:
        number = phonenumbers.parse(phone, "BE")
    except phonenumbers.NumberParseException as exc:
        raise ContactProblem(
            "the phone number cannot be read as a phone number",
            "het gsm-nummer is niet te lezen als een telefoonnummer",
        ) from exc
    if not phonenumbers.is_valid_number(number) or number.country_code != 32:
        raise ContactProblem(
            "the phone number is not a valid Belgian number",
            "het gsm-nummer is geen geldig Belgisch nummer",
        )
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        raise ContactProblem(
            "the phone number is not a Belgian mobile number (the key goes by SMS)",
            "het nummer is geen Belgisch gsm-nummer (de sleutel gaat per sms)",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    try:
        normalised_email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ContactProblem(
            f"the e-mail address is not valid: {exc}", "het e-mailadres is ongeldig"
        ) from exc
    return name, e164, normalised_email
