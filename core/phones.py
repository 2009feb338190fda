"""Phone numbers: normalise what Twilio sends in From/To to E.164, and mask numbers for logs."""

from __future__ import annotations

import re

# What carriers and Twilio send for a withheld or unknown caller.
WITHHELD = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unknown",
        "private",
        "unavailable",
        "+266696687",
        "266696687",
        "+7378742833",
        "+2562533",
    }
)
_SEPARATORS = re.compile(r"[\s\-().\u00a0]")


def to_e164(raw: str, default_country_code: str = "86") -> str | None:
    """Normalise a dialled or presented number to E.164, or None if withheld or not a number.

    Rules: "+" or "00" starts an international number; a leading "0" is the national trunk
    prefix of the default country; a bare number is taken as national. Mainland China mobiles
    (11 digits starting with 1) need no trunk prefix. `client:` and `sip:` addresses are not
    phone numbers.
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.lower() in WITHHELD or ":" in text:
        return None
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        digits = default_country_code + text[1:]
    elif text.startswith(default_country_code) and len(text) > 11:
        digits = text
    else:
        digits = default_country_code + text
    if not digits.isdigit() or digits.startswith("0") or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def national(number: str, default_country_code: str = "86") -> str:
    """A number as its owner says it: without the country code when it is the centre's own
    (+8613800138000 → 13800138000); others stay international."""
    prefix = "+" + default_country_code
    return number[len(prefix) :] if number.startswith(prefix) else number


def mask(number: str | None) -> str:
    """Keep a number's country code and last two digits for logs: +86*********00."""
    if not number:
        return "(none)"
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
