"""The automatic checks' details in the reader's language. The legal domain stores each
check's detail as an English sentence (or two) with the facts in it; the console matches
each sentence to a known shape and writes it again with the facts in the page's language.
A sentence of no known shape is shown as it was stored."""

from __future__ import annotations

import re

# (shape of a stored English sentence, message key of that sentence in every language);
# named groups carry the facts into the translation.
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"The issuing authority is verified\.", "cd_authority_verified"),
        (
            r"The issuing authority's registration is (?P<status>\w+), not verified\.",
            "cd_authority_unverified",
        ),
        (
            r"Emergency order from a police authority without prior judicial validation: "
            r"validation must follow within 48 hours\.",
            "cd_police_emergency",
        ),
        (r"Not competent for: (?P<categories>[a-z_, ]+)\.", "cd_not_competent"),
        (r"The issuer is competent for every category it asks for\.", "cd_competent"),
        (r"Answered as not held: (?P<categories>[a-z_, ]+)\.", "cd_not_held"),
        (r"The rest of the order proceeds\.", "cd_rest_proceeds"),
        (r"Nothing the order asks for is held\.", "cd_nothing_held"),
        (r"Eligible: the platform's policy covers terrorism cases only\.", "cd_eligible_terror"),
        (
            r"Not eligible: the platform's policy covers terrorism cases only\.",
            "cd_not_eligible_terror",
        ),
        (
            r"Eligible: the policy covers criminal offences that also violate the platform's "
            r"terms\.",
            "cd_eligible_terms",
        ),
        (
            r"Not eligible: the policy covers criminal offences that also violate the "
            r"platform's terms\.",
            "cd_not_eligible_terms",
        ),
        (
            r"Traffic or content data would need an offence punishable by 3 years\.",
            "cd_three_years",
        ),
        (r"Every target matches one account\.", "cd_targets_found"),
        (
            r"No target matches exactly one account during the order's period: refuse on "
            r"the ground target_not_found\.",
            "cd_no_target",
        ),
        (
            r"Targets at positions (?P<positions>[0-9, ]+) match no single account during "
            r"the period; the others proceed\.",
            "cd_some_targets",
        ),
        (r"No connection records are asked for\.", "cd_no_records_asked"),
        (r"A preservation order held the connection records of the period\.", "cd_preserved"),
        (
            r"Connection records are kept (?P<days>\d+) days; the whole period lies before "
            r"that and its records were deleted\.",
            "cd_retention_gone",
        ),
        (
            r"Connection records are kept (?P<days>\d+) days: only the part of the period "
            r"after (?P<date>[0-9-]+) can be answered\.",
            "cd_retention_partial",
        ),
        (r"The period lies inside retention\.", "cd_in_retention"),
        (
            r"The validating authority named in the order is not registered\.",
            "cd_validator_unregistered",
        ),
        (
            r"The order names a validating authority but carries no countersignature from "
            r"it: a validation must be signed by the authority that gives it\.",
            "cd_countersignature_missing",
        ),
        (
            r"The countersignature is not a valid JWS from a usable, registered key\.",
            "cd_countersignature_invalid",
        ),
        (
            r"The countersignature was not made by the validating authority the order "
            r"names\.",
            "cd_countersignature_wrong_signer",
        ),
        (
            r"The countersignature covers another order \(issuer, jti or document differ\)\.",
            "cd_countersignature_other_order",
        ),
        (
            r"The countersignature is expired or not yet valid\.",
            "cd_countersignature_expired",
        ),
        (
            r"The countersigning authority may not validate this issuer's orders: it must be "
            r"the verified judicial authority registered as the issuer's parent\.",
            "cd_validator_not_parent",
        ),
        (r"Countersigned by (?P<code>\S+) \(key (?P<kid>[^)]+)\)\.", "cd_countersigned"),
    )
)
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")


def check_detail(detail: str, words: dict[str, str]) -> str:
    """``detail`` in the language of ``words`` (a translator's catalogue)."""
    said = []
    for sentence in _SENTENCE_END.split(detail.strip()):
        for shape, key in SHAPES:
            found = shape.fullmatch(sentence)
            if found:
                said.append(words[key].format(**found.groupdict()))
                break
        else:
            said.append(sentence)
    return " ".join(said)
