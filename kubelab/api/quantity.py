"""Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `1e3`, `2G`), parsed exactly.

The grammar is Kubernetes' `resource.Quantity`: a signed decimal number followed by a binary SI
suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m "" k M G T P E) or a decimal exponent
(`e3`, `E-2`). Values are kept as `Decimal` so `0.1` CPU stays exactly 100m; `milli_value` and
`value` round up, as Kubernetes does when it compares requests with allocatable.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)

ACCEPTED = (
    "a number with an optional suffix: Ki Mi Gi Ti Pi Ei, n u m k M G T P E, "
    "or an exponent such as e3 (e.g. 100m, 0.5, 128Mi, 2G)"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; carries the offending value."""

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(f"quantity {value!r} is invalid: expected {ACCEPTED}")


def parse_quantity(text: str | int | float) -> Decimal:
    """Return the exact value of a quantity; raise QuantityError naming it when malformed."""
    if isinstance(text, bool):
        raise QuantityError(text)
    if isinstance(text, int | float):
        text = str(text)
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise QuantityError(text)
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(text) from exc
    suffix = match["suffix"] or ""
    if suffix in BINARY_SUFFIXES:
        return number * (Decimal(1024) ** BINARY_SUFFIXES[suffix])
    if suffix in DECIMAL_SUFFIXES:
        return number.scaleb(DECIMAL_SUFFIXES[suffix])
    return number.scaleb(int(suffix[1:]))


def milli_value(text: str | int | float) -> int:
    """The quantity in thousandths, rounded up: `milli_value("100m") == 100` (CPU millicores)."""
    return int((parse_quantity(text) * 1000).to_integral_value(rounding=ROUND_CEILING))


def value(text: str | int | float) -> int:
    """The quantity as a whole number, rounded up: `value("1Ki") == 1024` (bytes, pods)."""
    return int(parse_quantity(text).to_integral_value(rounding=ROUND_CEILING))


def is_quantity(text: object) -> bool:
    try:
        parse_quantity(text)  # type: ignore[arg-type]
    except QuantityError:
        return False
    return True
