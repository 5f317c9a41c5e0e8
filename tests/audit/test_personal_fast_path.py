"""The personal-data guard's shortcut for texts with too few digits to be a phone number
must never let through what the full checks would refuse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.audit import personal
from rempart.audit.exceptions import PersonalDataInAudit


def _full_phone_check(text: str) -> bool:
    """The phone checks without the shortcut."""
    for match in personal._INTERNATIONAL_PHONE.finditer(text):
        if personal._digits(match.group()) in personal._E164_DIGITS:
            return True
    stripped = text.strip()
    if personal._DECIMAL.fullmatch(stripped):
        return False
    return bool(personal._WHOLE_PHONE.fullmatch(stripped)) and (
        personal._MIN_NATIONAL_DIGITS <= personal._digits(stripped) <= max(personal._E164_DIGITS)
    )


# Digits of several scripts, a superscript, the separators phone numbers use, and letters.
ALPHABET = "0123456789+ -.()/:٣٦۱२੩௫²abcXYZ_"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=24))
def test_the_shortcut_refuses_what_the_full_checks_refuse(text: str) -> None:
    assert personal._holds_phone(text) == _full_phone_check(text)


@pytest.mark.parametrize(
    "phone",
    [
        "+61491570123",
        "+33 6 12 34 56 78",
        "06 12 34 56 78",
        "call back on +1 (202) 555-0143 tomorrow",
        "+٣٣ ٦ ١٢ ٣٤ ٥٦ ٧٨",  # Arabic-Indic digits: not ASCII, so never the shortcut
        "٠٦ ١٢ ٣٤ ٥٦ ٧٨",
    ],
)
def test_phone_numbers_in_any_digits_are_still_refused(phone: str) -> None:
    with pytest.raises(PersonalDataInAudit):
        personal.check_text(phone)


@pytest.mark.parametrize("ordinary", ["aZ3_-xQ9kLmN0pRs", "scams_fraud", "post:bench-post-12"])
def test_ordinary_short_texts_pass(ordinary: str) -> None:
    personal.check_text(ordinary)
