from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.quantity import QuantityError, is_quantity, milli_value, parse_quantity, value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        (".5", Decimal("0.5")),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("2G", Decimal(2 * 10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("5E-1", Decimal("0.5")),
        ("250u", Decimal("0.00025")),
        ("-1", Decimal(-1)),
        (3, Decimal(3)),
    ],
    ids=str,
)
def test_parse(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1KB", "1 Gi", "ten", "1Ki1", "0x10"])
def test_invalid_quantities_name_the_value(text: str) -> None:
    with pytest.raises(QuantityError, match="is invalid: expected") as info:
        parse_quantity(text)
    assert info.value.value == text
    assert not is_quantity(text)


@pytest.mark.parametrize(
    ("text", "millis", "whole"),
    [
        ("100m", 100, 1),
        ("1", 1000, 1),
        ("1.5", 1500, 2),
        ("1n", 1, 1),
        ("64Mi", 64 * 2**20 * 1000, 64 * 2**20),
    ],
)
def test_rounding_up(text: str, millis: int, whole: int) -> None:
    assert milli_value(text) == millis
    assert value(text) == whole


@given(st.integers(min_value=0, max_value=10**6))
def test_millicores_round_trip(m: int) -> None:
    assert milli_value(f"{m}m") == m
