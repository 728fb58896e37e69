"""Kubernetes resource quantities, read as the API server reads them (ParseQuantity of
k8s.io/apimachinery), so that a request and its limit compare here as they compare in the
CRD's CEL rules (`quantity(a).compareTo(quantity(b))`)."""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, ROUND_CEILING, Context, Decimal

_DECIMAL_SUFFIXES = {
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
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_QUANTITY = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([A-Za-z]*|[eE][+-]?[0-9]+)")
_EXPONENT = re.compile(r"[eE][+-]?[0-9]+")
# Kubernetes keeps a binary amount (512Mi) in an int64 and caps it there.
_MAX_BINARY = Decimal(2**63 - 1)
_NANO = Decimal("1e-9")
_INT64 = 2**63
_INT32 = 2**31


def quantity_amount(quantity: int | str) -> Decimal | None:
    """The amount `quantity` stands for, exactly, as the API server has it: rounded up to a
    billionth, a binary amount capped at 2^63-1. None for what it cannot read, e.g. 1e1.5."""
    text = str(quantity)
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    sign, whole, fraction, suffix = match.groups()
    if not whole and fraction is None:
        return None
    digits = Decimal(f"{whole or '0'}.{fraction or '0'}")
    # Exact at any size: as many digits as the text has, exponents unbounded.
    context = Context(prec=len(text) + 40, Emax=MAX_EMAX, Emin=MIN_EMIN)
    binary = suffix in _BINARY_SUFFIXES
    if binary:
        magnitude = context.multiply(digits, Decimal(2 ** _BINARY_SUFFIXES[suffix]))
    elif suffix in _DECIMAL_SUFFIXES:
        magnitude = digits.scaleb(_DECIMAL_SUFFIXES[suffix], context)
    elif _EXPONENT.fullmatch(suffix):
        exponent = int(suffix[1:])
        if not -_INT64 <= exponent < _INT64:
            return None
        # Kept in an int32 there, a larger exponent wraps around.
        exponent = (exponent + _INT32) % (2 * _INT32) - _INT32
        magnitude = digits.scaleb(exponent, context)
    else:
        return None
    exponent_of_last_digit = magnitude.as_tuple().exponent
    if magnitude != 0 and isinstance(exponent_of_last_digit, int) and exponent_of_last_digit < -9:
        # "If you want some resources, you should get some": up, never down to zero.
        magnitude = magnitude.quantize(_NANO, rounding=ROUND_CEILING, context=context)
    if binary and magnitude > _MAX_BINARY:
        magnitude = _MAX_BINARY
    return -magnitude if sign == "-" else magnitude
