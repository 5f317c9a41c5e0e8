"""The guard that keeps clear phone numbers and IP addresses out of the audit log.

Entries are kept for ever and shown to auditors, so they name people by internal
identifiers only. The guard looks inside every string (keys included), not only at whole
values, because "login from 203.0.113.7" leaks as much as "203.0.113.7" does.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from rempart.audit.exceptions import PersonalDataInAudit

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not glued to letters, digits or further dots, so "v1.2.3.4.5" is not an address.
_EMBEDDED_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)")
# Candidates only: ``ipaddress`` decides, so times such as 12:30:00 pass. A candidate may
# follow a colon ("peer:2001:db8::1") but not a letter, so "Foo::Bar" is not "::ba".
# No address is longer than 45 characters: the bound keeps the scan linear.
_EMBEDDED_IPV6 = re.compile(r"(?<![\w.])[0-9A-Fa-f:.]{2,46}(?![\w.])")
# International form, anywhere in a string: +33 6 12 34 56 78, +1 (555) 010-0199.
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\s?\d[\d \-.()/]{5,}\d(?!\w)")
# National or bare form, only as a whole value (inside text, digit runs are too often ids).
_WHOLE_PHONE = re.compile(r"\+?\(?\d[\d \-.()]{7,}\d")
_DECIMAL = re.compile(r"\d+\.\d+")
_E164_DIGITS = range(8, 16)
# Fewer digits than this is a date (2026-01-01) or a small number, not a phone number.
_MIN_NATIONAL_DIGITS = 9


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _holds_ip(text: str) -> bool:
    if "." not in text and ":" not in text:
        return False  # every address has dots (IPv4) or colons (IPv6): ids, words, counts
    stripped = text.strip().strip("[]")
    try:
        ipaddress.ip_address(stripped)
    except ValueError:
        pass
    else:
        return True
    if _EMBEDDED_IPV4.search(text):
        return True
    for match in _EMBEDDED_IPV6.finditer(text):
        run = match.group()
        # "2001:db8::" ends in colons; "... at fe80::1." ends a sentence.
        for candidate in {run, run.rstrip(".:"), run.strip(".:")}:
            if ":" not in candidate:
                continue
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                continue
            return True
    return False


# Decides nothing alone: a text with fewer ASCII digits than any phone number the checks
# below can find is spared their regular expressions (most of an entry's strings: keys,
# tracking ids, categories). Only ASCII texts: ``isdigit`` also counts other scripts'
# digits (and superscripts), so those texts always go on to the full checks.
_FEWEST_PHONE_DIGITS = min(_E164_DIGITS.start, _MIN_NATIONAL_DIGITS)
_ASCII_DIGIT = re.compile(r"[0-9]")


def _too_few_digits_for_a_phone(text: str) -> bool:
    return text.isascii() and len(_ASCII_DIGIT.findall(text)) < _FEWEST_PHONE_DIGITS


def _holds_phone(text: str) -> bool:
    if _too_few_digits_for_a_phone(text):
        return False
    for match in _INTERNATIONAL_PHONE.finditer(text):
        if _digits(match.group()) in _E164_DIGITS:
            return True
    stripped = text.strip()
    if _DECIMAL.fullmatch(stripped):
        return False
    return bool(_WHOLE_PHONE.fullmatch(stripped)) and (
        _MIN_NATIONAL_DIGITS <= _digits(stripped) <= max(_E164_DIGITS)
    )


def check_text(text: str) -> None:
    if _holds_ip(text):
        raise PersonalDataInAudit("an audit entry may not hold an IP address")
    if _holds_phone(text):
        raise PersonalDataInAudit("an audit entry may not hold a phone number")


def check_no_personal_data(value: Any) -> None:
    """Raise ``PersonalDataInAudit`` if any string in ``value`` holds a phone number or IP."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_no_personal_data(key)
            check_no_personal_data(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_no_personal_data(item)
    elif isinstance(value, str):
        check_text(value)
