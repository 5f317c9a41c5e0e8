"""Phone numbers for demo accounts: fictional ranges first, validated numbers otherwise."""

from __future__ import annotations

import random

import phonenumbers

# North American drama numbers NPA-555-0100..0199: these NPAs serve accounts, the others are
# kept for numbers quoted in posts so a doxxing post never points at a registered account.
# fmt: off
US_NPAS = (201, 202, 206, 212, 213, 214, 303, 305, 312, 404, 415, 503, 512, 602, 617, 702, 713,
            718, 720, 808, 917, 919)
CA_NPAS = (416, 418, 514, 604, 613, 780, 819, 902)
POST_NPAS = (210, 314, 412, 504, 615, 704, 816, 907, 506, 705, 905)
QUEBEC_NPAS = ("418", "514", "819")
# Fictional ranges phonenumbers accepts; each "x" is a free digit.
FICTIONAL: dict[str, list[str]] = {
    "US": [f"+1{npa}55501xx" for npa in US_NPAS],
    "CA": [f"+1{npa}55501xx" for npa in CA_NPAS],
    "AU": [f"+61491570{d}xx" for d in range(8)],  # 800-999 are held back for post text
    # ARCEP fiction ranges; 05 36 49 is held back for post text.
    "FR": [f"+33{p}xxxx" for p in ("19900", "26191", "35301", "46571")],
    # Ofcom drama numbers (the 07700 900 mobile block fails validation).
    "GB": [f"+44{p}xxx" for p in ("2079460", "2896496", "2920180", "1134960", "1144960", "1164960",
                                  "1174960", "1184960", "1214960", "1314960", "1414960", "1514960",
                                  "1614960", "1914980")],
    # Bundesnetzagentur drama numbers.
    "DE": [f"+49{p}xxx" for p in ("3023125", "6990009", "4066969", "2214710", "8999998")],
}
# No fictional range exists for these: mobile-looking (prefixes, random digits), kept if valid.
GENERATED: dict[str, tuple[tuple[str, ...], int]] = {
    "BE": (("+3247",), 7),
    "ES": (("+346",), 8),
    "IT": (tuple(f"+393{p}" for p in (20, 28, 31, 33, 34, 38, 39, 47)), 7),
    "NL": (tuple(f"+316{d}" for d in range(1, 6)), 7),
    "BR": (tuple(f"+55{a}9{d}" for a in (11, 21, 31, 41, 51, 61, 71, 81) for d in range(6, 10)), 7),
    "IN": (("+917", "+918", "+919"), 9),
}
COUNTRY_WEIGHTS = {"FR": 20, "US": 14, "CA": 8, "GB": 10, "BE": 6, "DE": 7, "AU": 6, "ES": 6,
                    "IT": 6, "NL": 5, "BR": 6, "IN": 6}
# fmt: on


def digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


class PhoneBook:
    """Hands out account numbers, each once, from fictional ranges where a country has one."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._decks: dict[str, list[str]] = {}

    def _candidate(self, country: str) -> str | None:
        if country in GENERATED:
            prefixes, width = GENERATED[country]
            return self._rng.choice(prefixes) + digits(self._rng, width)
        deck = self._decks.get(country)
        if deck is None:
            # Shuffled once so a small range drains without retries, then falls back.
            stems = [(p.rstrip("x"), p.count("x")) for p in FICTIONAL[country]]
            deck = [f"{stem}{n:0{w}d}" for stem, w in stems for n in range(10**w)]
            self._rng.shuffle(deck)
            self._decks[country] = deck
        return deck.pop() if deck else None

    def draw(self, country: str) -> tuple[str, str]:
        """(country actually used, number); a drained fictional range falls back to another."""
        for candidate in (country, *self._rng.sample(list(GENERATED), len(GENERATED))):
            for _ in range(200):
                number = self._candidate(candidate)
                if number is None:
                    break
                if number in self._used:
                    continue
                if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
                    self._used.add(number)
                    return candidate, number
        raise RuntimeError("no phone number left")  # pragma: no cover - 10^9 generated numbers
