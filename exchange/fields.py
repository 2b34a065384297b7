"""Every field a protocol may list, with its Dutch column header. A protocol definition can only
name fields from this catalogue; how each is read from the store is in ``exchange.selection``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["FIELD_CATALOGUE", "FieldInfo"]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    label_nl: str
    label_en: str
    value_type: Literal["text", "date", "boolean"]


def _f(nl: str, en: str, value_type: Literal["text", "date", "boolean"] = "text") -> FieldInfo:
    return FieldInfo(nl, en, value_type)


FIELD_CATALOGUE: Mapping[str, FieldInfo] = {
    "national_number": _f("Rijksregisternummer", "National number"),
    "last_name": _f("Naam", "Last name"),
    "first_name": _f("Voornaam", "First name"),
    "street": _f("Straat", "Street"),
    "house_number": _f("Huisnummer", "House number"),
    "postal_code": _f("Postcode", "Postal code"),
    "city": _f("Gemeente", "City"),
    "email": _f("E-mailadres", "E-mail address"),
    "phone": _f("Telefoonnummer", "Phone number"),
    "contract_signed": _f(
        "Inburgeringscontract ondertekend", "Integration contract signed", "boolean"
    ),
    "certificate_obtained": _f(
        "Inburgeringsattest behaald", "Integration certificate obtained", "boolean"
    ),
    "certificate_on": _f("Datum inburgeringsattest", "Certificate date", "date"),
    "contact_language": _f("Contacttaal", "Contact language"),
    "nt2_level": _f("Niveau Nederlands (NT2)", "Dutch level (NT2)"),
    "civic_orientation_status": _f(
        "Status cursus maatschappelijke oriëntatie", "Civic orientation course status"
    ),
    # Profile fields of vdab-pillar3 Art. 3, joined on the return leg.
    "age_category": _f("Leeftijdscategorie", "Age category"),
    "sex": _f("Geslacht", "Sex"),
    "education_level": _f("Scholingsniveau", "Education level"),
    "nationality": _f("Oudste nationaliteit", "Oldest nationality"),
    "vdab_referral_on": _f("Datum toeleiding naar VDAB", "Referral to VDAB", "date"),
    "target_group": _f("Doelgroep", "Target group"),
    "target_group_since": _f("Datum doelgroep geworden", "Target group since", "date"),
    "registered_on": _f("Datum aanmelding", "Registration date", "date"),
    "contract_signed_on": _f("Datum inburgeringscontract", "Contract date", "date"),
    "kbi_region": _f("KBI-regio", "KBI region"),
    "career_orientation_decision": _f(
        "Besluit professionele loopbaanoriëntatie", "Career orientation decision"
    ),
    "career_orientation_reason": _f(
        "Reden besluit loopbaanoriëntatie", "Career orientation reason"
    ),
    "language_learning_ability": _f("Ingeschat taalleervermogen", "Language-learning ability"),
    "trajectory_type": _f("Trajecttype", "Pathway type"),
    "diploma_recognition_referral": _f(
        "Toeleiding diplomagelijkschakeling", "Referred to diploma recognition", "boolean"
    ),
    "diploma_recognition_result": _f(
        "Resultaat diplomagelijkschakeling", "Diploma recognition result"
    ),
    "living_wage": _f("OCMW-leefloon", "Living wage", "boolean"),
    "residence_status": _f("Verblijfsstatus", "Residence status"),
}
