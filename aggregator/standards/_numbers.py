"""Exact numbers for the standards: floats go through ``repr`` so 0.1 means 0.1."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from aggregator.standards.errors import StandardsError

Number = int | float | Decimal | Fraction | str


def exact(value: Number) -> Fraction:
    """The exact rational value a caller meant (floats by their shortest decimal repr)."""
    if isinstance(value, bool):
        raise StandardsError(f"not a number: {value!r}")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise StandardsError(f"not a finite number: {value!r}")
        return Fraction(Decimal(repr(value)))
    try:
        d = Decimal(value)
    except ArithmeticError as exc:
        raise StandardsError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise StandardsError(f"not a finite number: {value!r}")
    return Fraction(d)


def ratio(value: Number) -> tuple[int, int]:
    """``exact(value)`` as (numerator, denominator > 0): the same number without building a
    ``Fraction``, for the integer IAQI arithmetic of ``aqi.iaqi`` (hot: every station-hour)."""
    if type(value) is float:  # the common case first; repr, as in ``exact``
        if value != value or value in (float("inf"), float("-inf")):
            raise StandardsError(f"not a finite number: {value!r}")
        return Decimal(repr(value)).as_integer_ratio()
    if type(value) is int:
        return value, 1
    f = exact(value)
    return f.numerator, f.denominator


def round_half_even(value: Number, places: int) -> Decimal:
    """GB/T 8170 rounding (四舍六入五成双) of the exact value to ``places`` decimals."""
    scaled = exact(value) * Fraction(10) ** places
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    return Decimal(whole).scaleb(-places)
