"""Kubernetes resource quantities (P3), RULES.md §0.4.

A port of ``kubernetes/apimachinery pkg/api/resource/quantity.go: ParseQuantity`` (scanner
``parseQuantityString``) and ``suffix.go``, which the Istio injector calls on the
``sidecar.istio.io/proxy*`` annotations (``istio pkg/kube/inject/validate.go:
validateResourceQuantity``). Three values exist for one text, and checks must pick the right one:

* :func:`parse_quantity` — what ``ParseQuantity`` stores: exact, except that a non-zero value
  finer than 1n is rounded *up* (away from zero) to 1n, and binary-suffixed values are capped
  at 2^63-1. ``"0.1m"`` is ``1/10000`` here (the Quantity doc comment's "0.1m will rounded up to
  1m" describes ``MilliValue()``, not the parse; ``quantity_test.go`` expects ``"0.9n"`` -> 1n).
* :func:`canonical_quantity` — ``MilliValue()`` semantics: rounded up to 1m, as the kubelet
  reads CPU. ``"0.1m"`` -> ``1m`` (RULES.md §0.4).
* :func:`quantity_value` — ``Value()``: rounded up to a whole unit, as memory is read in bytes.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from fractions import Fraction
from typing import Final, NamedTuple

_DECIMAL: Final[dict[str, int]] = {
    "n": -9,  # n and u are accepted by suffix.go although the Quantity docs list only m
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
_BINARY: Final[dict[str, int]] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS: Final = "eEinumkKMGTP"
_MAX_INT64: Final = (1 << 63) - 1
_NANO: Final = Fraction(1, 10**9)
# Decimal exponents and digit counts are not capped upstream; bound them so untrusted input cannot
# make us build a 10**(10**9) integer. Beyond these, a value is reported as out of our range.
_MAX_EXPONENT: Final = 10_000
_MAX_DIGITS: Final = 1_000
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
VALID_SUFFIXES: Final = "case-sensitive: Ki Mi Gi Ti Pi Ei, n u m k M G T P E, e<n>"


class _Scan(NamedTuple):
    positive: bool
    value: str
    num: str
    denom: str
    suffix: str


def _scan(s: str) -> _Scan:
    """apimachinery parseQuantityString, including its quirks (``"."``, ``"+"``, ``"1."`` parse)."""
    positive, pos, end = True, 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] != "-"
        pos += 1
    while pos < end and s[pos] == "0":  # strip leading zeros
        pos += 1
    if pos >= end:
        return _Scan(positive, "0", "0", "", "")
    start = pos
    while pos < end and "0" <= s[pos] <= "9":
        pos += 1
    if pos >= end:
        return _Scan(positive, s, s[start:], "", "")
    num = s[start:pos] or "0"
    denom = ""
    if s[pos] == ".":
        pos += 1
        dstart = pos
        while pos < end and "0" <= s[pos] <= "9":
            pos += 1
        denom = s[dstart:pos]
        if pos >= end:
            return _Scan(positive, s, num, denom, "")
    value, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and "0" <= s[pos] <= "9":
        pos += 1
    if pos < end:
        raise ValueError(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    return _Scan(positive, value, num, denom, s[suffix_start:])


def _go_parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): ASCII digits with an optional sign, in int64 range."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not all("0" <= c <= "9" for c in body):
        return None
    n = int(text)
    return n if -(1 << 63) <= n <= _MAX_INT64 else None


def _interpret(suffix: str) -> tuple[int, int, bool] | None:
    """suffix.go interpret: (base, exponent, binary) or None for an unknown suffix."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], False
    if suffix in _BINARY:
        return 2, _BINARY[suffix], True
    if len(suffix) > 1 and suffix[0] in "eE":
        parsed = _go_parse_int64(suffix[1:])
        if parsed is None:
            return None
        return 10, (parsed + (1 << 31)) % (1 << 32) - (1 << 31), False  # Go int32() wraps
    return None


def _dec_set_string(value: str) -> Fraction | None:
    """inf.Dec SetString as used by ParseQuantity: sign, digits, one '.', at least one digit."""
    body = value[1:] if value[:1] in ("+", "-") else value
    if not any("0" <= c <= "9" for c in body):
        return None
    whole, _, frac = body.partition(".")
    magnitude = Fraction(int(whole.lstrip("0") or "0")) + (
        Fraction(int(frac), 10 ** len(frac)) if frac else 0
    )
    return -magnitude if value.startswith("-") else magnitude


def parse_quantity(text: str) -> Fraction:
    """The value apimachinery ``ParseQuantity`` stores for ``text``; ValueError(reason) if invalid.

    Case-sensitive: ``1K``, ``512mi``, ``1KB``, ``100Mb`` fail; ``256m`` is 0.256 and ``1Ki`` 1024.
    """
    try:
        return _parse(text)
    except ValueError as err:
        raise ValueError(_reason(text, err)) from None


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Fraction:
    """apimachinery ParseQuantity; raises ValueError with upstream's error text.

    Cached: manifests repeat a handful of values (`100m`, `256Mi`) thousands of times, and
    Fraction arithmetic is not cheap. Errors are not cached (lru_cache does not store raises).
    """
    if text == "":
        raise ValueError("empty string is not a quantity")
    if text == "0":
        return Fraction(0)
    scan = _scan(text)
    kind = _interpret(scan.suffix)
    if kind is None:
        raise ValueError("unable to parse quantity's suffix")
    base, exponent, binary = kind
    if not binary and abs(exponent) > _MAX_EXPONENT:
        raise ValueError(f"exponent {exponent} is out of meshguard's range")
    if len(scan.num) + len(scan.denom) > _MAX_DIGITS:
        raise ValueError(f"more than {_MAX_DIGITS} digits is out of meshguard's range")
    if binary and scan.denom == "":
        # Upstream fast path: exact int64 product, or the capped Dec path on overflow.
        value = Fraction(int(scan.num) << exponent)
    elif not binary and exponent - len(scan.denom) >= -9:
        value = Fraction(int(scan.num + scan.denom)) * Fraction(10) ** (exponent - len(scan.denom))
    else:
        amount = _dec_set_string(scan.value)  # Dec path; "." or ".Ki" have no digits
        if amount is None:
            raise ValueError("unable to parse numeric part of quantity")
        value = abs(amount) * (Fraction(base) ** exponent)
    if not scan.positive:
        value = -value
    return _round_up(value, _NANO, cap=binary)


def _round_up(value: Fraction, step: Fraction, *, cap: bool = False) -> Fraction:
    """Round away from zero to a multiple of ``step`` (inf.RoundUp); optional int64 cap."""
    magnitude = abs(value)
    rounded = math.ceil(magnitude / step) * step
    if cap and rounded > _MAX_INT64:
        rounded = Fraction(_MAX_INT64)
    return rounded if value >= 0 else -rounded


def canonical_quantity(text: str) -> Fraction:
    """``MilliValue()`` semantics: :func:`parse_quantity` rounded up to 1m (``0.1m`` -> ``1m``).

    Rounding is away from zero, as ``int64Amount.AsScaledInt64`` does (``negativeScaleInt64``).
    """
    return _round_up(parse_quantity(text), Fraction(1, 1000))


def quantity_value(text: str) -> int:
    """``Value()`` semantics: rounded up to a whole unit (``256m`` memory is 1 byte)."""
    return int(_round_up(parse_quantity(text), Fraction(1)))


def _number_text(value: int | float) -> str | None:
    """The JSON number a YAML int/float becomes on its way to the API server."""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return str(value)


def _go_trim_space(text: str) -> str:
    """strings.TrimSpace: unicode.IsSpace is ASCII whitespace, U+0085, U+00A0 and category Zs."""

    def is_space(ch: str) -> bool:
        return ch in "\t\n\v\f\r \u0085\u00a0" or unicodedata.category(ch) == "Zs"

    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def quantity_error(value: object, *, require_string: bool = False) -> str | None:
    """P3: None when ``value`` is a valid quantity, else a short reason.

    ``require_string=True`` is for annotations (``sidecar.istio.io/proxy*``): they decode into
    ``map[string]string``, so a YAML number rejects the object, and the injector calls
    ``ParseQuantity`` on the raw text. Otherwise the value is a pod-spec quantity decoded by
    ``Quantity.UnmarshalJSON``, which accepts a JSON number and trims surrounding whitespace.
    """
    if isinstance(value, bool) or value is None:
        shown = "null" if value is None else str(value).lower()
        return f"{shown} is not a quantity"
    if isinstance(value, int | float):
        number = _number_text(value)
        if number is None:
            return f"{value} is not a quantity"
        if require_string:
            return f'number {number} is not a string; write "{number}"'
        text = number
    elif isinstance(value, str):
        text = value if require_string else _go_trim_space(value)
    else:
        return f"a {type(value).__name__} value is not a quantity"
    try:
        parse_quantity(text)
    except ValueError as err:
        return str(err)
    return None


def _reason(text: str, err: ValueError) -> str:
    """Upstream error (ErrFormatWrong, ErrNumeric, ErrSuffix) as a reason naming the culprit."""
    if text != text.strip():
        return f'whitespace is not allowed in "{text}"'
    message = str(err)
    if message == "unable to parse quantity's suffix":
        return f"suffix {_scan(text).suffix!r} is not valid ({VALID_SUFFIXES})"
    if message.startswith("quantities must match"):
        number = _NUMBER.match(text)
        if number is not None and number.end() < len(text):
            return f"suffix {text[number.end() :]!r} is not valid ({VALID_SUFFIXES})"
        return f'"{text}" is not a quantity (<number><suffix>)'
    if message.startswith("unable to parse numeric"):
        return f'"{text}" has no digits'
    return message


def quantity_suffix(text: str) -> str | None:
    """The suffix as written (``"256m"`` -> ``"m"``), or None when ``text`` does not parse."""
    try:
        _parse(text)
    except ValueError:
        return None
    return "" if text == "0" else _scan(text).suffix


def is_milli_bytes(text: str) -> bool:
    """True for a valid quantity with the milli suffix ``m``: as memory, ``256m`` is 0.256 bytes."""
    return quantity_suffix(text) == "m"
