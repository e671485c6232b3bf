"""Golden tests for P3 (Kubernetes resource quantities).

Sources: kubernetes/apimachinery pkg/api/resource/quantity_test.go (TestQuantityParse,
TestParseQuantityString, the invalid list), quantity.go (ParseQuantity, UnmarshalJSON),
suffix.go, scale_int.go / amount.go (MilliValue/Value rounding), istio pkg/kube/inject/
validate.go (validateResourceQuantity), RULES.md §0.4 P3, §5, §6.3.
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from meshguard.semantics.quantity import (
    canonical_quantity,
    is_milli_bytes,
    parse_quantity,
    quantity_error,
    quantity_suffix,
    quantity_value,
)

KI, MI, GI = 1024, 1024**2, 1024**3
I64_MAX = (1 << 63) - 1


def dec(mantissa: int, exponent: int) -> F:
    """quantity_test.go decQuantity(mantissa, scale, _)."""
    return F(mantissa) * F(10) ** exponent


PARSE = [
    # quantity_test.go TestQuantityParse: (input, decQuantity value)
    ("0", dec(0, 0)),
    ("0n", dec(0, 0)),
    ("0u", dec(0, 0)),
    ("0m", dec(0, 0)),
    ("0Ki", dec(0, 0)),
    ("0Ti", dec(0, 0)),
    ("1", dec(1, 0)),
    ("1Ki", dec(KI, 0)),
    ("8Ki", dec(8 * KI, 0)),
    ("7Mi", dec(7 * MI, 0)),
    ("6Gi", dec(6 * GI, 0)),
    ("5Ti", dec(5 * 1024**4, 0)),
    ("4Pi", dec(4 * 1024**5, 0)),
    ("3Ei", dec(3 * 1024**6, 0)),
    ("5n", dec(5, -9)),  # n and u are valid suffixes (suffix.go)
    ("4u", dec(4, -6)),
    ("3m", dec(3, -3)),
    ("8k", dec(8, 3)),
    ("50k", dec(5, 4)),
    ("7M", dec(7, 6)),
    ("6G", dec(6, 9)),
    ("5T", dec(5, 12)),
    ("2P", dec(2, 15)),
    ("1E", dec(1, 18)),
    ("1E-3", dec(1, -3)),
    ("1e3", dec(1, 3)),
    ("1E6", dec(1, 6)),
    ("1e14", dec(1, 14)),
    ("100.035k", dec(100035, 0)),
    ("0.001", dec(1, -3)),
    ("0.0005k", dec(5, -1)),
    ("0.5e-2", dec(5, -3)),
    ("1.3E+6", dec(13, 5)),
    ("1.53E12", dec(153, 10)),
    ("7.123456M", dec(7123456, 0)),
    ("6.987654321G", dec(6987654321, 0)),
    ("1.01E", dec(101, 16)),
    ("12E", dec(12, 18)),
    # things that saturate/round (to 1n, away from zero)
    ("3.001n", dec(4, -9)),
    ("1.1E-9", dec(2, -9)),
    ("0.0000000001", dec(1, -9)),
    ("0.0000000005", dec(1, -9)),
    ("0.5e-9", dec(1, -9)),
    ("0.9n", dec(1, -9)),
    ("0.00000012345", dec(124, -9)),
    ("9Ei", F(I64_MAX)),  # binary values cap at 2^63-1
    ("9223372036854775807Ki", F(I64_MAX)),
    ("100.035Ki", dec(10243584, -2)),
    ("0.5Mi", dec(MI // 2, 0)),
    ("0.05Gi", dec(536870912, -1)),
    ("0.025Ti", dec(274877906944, -1)),
    ("0.000000000001Ki", dec(2, -9)),  # "things written by trolls"
    (".001", dec(1, -3)),
    (".0001k", dec(100, -3)),
    ("1.", dec(1, 0)),
    ("1.G", dec(1, 9)),
    # parseQuantityString accepts these and they evaluate to 0 (quantity.go fast path)
    (".", F(0)),
    ("+", F(0)),
    ("-", F(0)),
    (".Ki", F(0)),
    # negatives (quantity_test.go prefixes every valid input with "-")
    ("-1.5Gi", F(-3 * GI, 2)),
    ("-8Ei", F(-I64_MAX)),  # magnitude capped, then negated
    # RULES.md §0.4 P3 golden values
    ("256m", F(256, 1000)),  # 0.256 bytes as memory
    ("256Mi", F(256 * MI)),
    ("0.1m", F(1, 10_000)),  # the parse keeps 100u; MilliValue rounds to 1m (below)
    ("100m", F(1, 10)),
    ("1e4294967296", F(1)),  # suffix.go: int32(exponent) wraps to 0
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse_quantity(text: str, expected: F) -> None:
    assert parse_quantity(text) == expected


REJECT = [
    # quantity_test.go invalid list
    ("1.1.M", "suffix '.M' is not valid"),
    ("1+1.0M", "suffix '+1.0M' is not valid"),
    ("0.1mi", "suffix 'mi' is not valid"),
    ("0.1am", "suffix 'am' is not valid"),
    ("aoeu", '"aoeu" is not a quantity (<number><suffix>)'),
    (".5i", "suffix 'i' is not valid"),
    ("1i", "suffix 'i' is not valid"),
    ("-3.01i", "suffix 'i' is not valid"),
    ("-3.01e-", "suffix 'e-' is not valid"),
    (" 1", 'whitespace is not allowed in " 1"'),  # ParseQuantity itself does not trim
    ("1 ", 'whitespace is not allowed in "1 "'),
    ("", "empty string is not a quantity"),  # TestQuantityParse: "" must fail
    # RULES.md §0.4 P3: case-sensitive suffixes
    ("512mi", "suffix 'mi' is not valid"),
    ("1K", "suffix 'K' is not valid"),
    ("1KB", "suffix 'KB' is not valid"),
    ("100Mb", "suffix 'Mb' is not valid"),
    ("1e", "suffix 'e' is not valid"),
    # Dec path with no digits: inf.Dec SetString fails (ErrNumeric)
    (".e-10", '".e-10" has no digits'),
]


@pytest.mark.parametrize(("text", "reason"), REJECT)
def test_parse_quantity_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity(text)
    assert str(info.value).startswith(reason)
    assert quantity_error(text, require_string=True) == str(info.value)


@pytest.mark.parametrize(
    ("text", "milli", "value"),
    [
        # MilliValue()/Value() round up (scale_int.go scaledValue, amount.go negativeScaleInt64)
        ("0.1m", F(1, 1000), 1),  # RULES.md §0.4: 0.1m -> 1m
        ("256m", F(256, 1000), 1),  # as memory, Value() is 1 byte
        ("1.5", F(3, 2), 2),
        ("100m", F(1, 10), 1),
        ("1Ki", F(1024), 1024),
        ("5n", F(1, 1000), 1),
        ("0", F(0), 0),
        ("-0.1m", F(-1, 1000), -1),  # away from zero
    ],
)
def test_canonical_and_value(text: str, milli: F, value: int) -> None:
    assert canonical_quantity(text) == milli
    assert quantity_value(text) == value


QUANTITY_ERROR = [
    # (value, require_string, expected); annotations are map[string]string (require_string)
    ("100m", True, None),
    ("256Mi", True, None),
    ("256m", True, None),  # valid quantity; MG404(2) flags milli-bytes separately
    (1, True, 'number 1 is not a string; write "1"'),
    (0.5, True, 'number 0.5 is not a string; write "0.5"'),
    (True, True, "true is not a quantity"),
    # pod-spec / Helm quantities: Quantity.UnmarshalJSON accepts numbers and trims spaces
    (1, False, None),
    (0.5, False, None),
    (" 100m ", False, None),
    (" 100m", True, 'whitespace is not allowed in " 100m"'),
    (None, False, "null is not a quantity"),
    (float("nan"), False, "nan is not a quantity"),
    ([1], False, "a list value is not a quantity"),
    (
        "1K",
        False,
        "suffix 'K' is not valid (case-sensitive: Ki Mi Gi Ti Pi Ei, n u m k M G T P E, e<n>)",
    ),
]


@pytest.mark.parametrize(("value", "require_string", "expected"), QUANTITY_ERROR)
def test_quantity_error(value: object, require_string: bool, expected: str | None) -> None:
    assert quantity_error(value, require_string=require_string) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256m", True),
        ("0m", True),
        ("256Mi", False),
        ("256M", False),
        ("1e-3", False),
        ("256mi", False),
        ("", False),
    ],
)
def test_is_milli_bytes(text: str, expected: bool) -> None:
    assert is_milli_bytes(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("256m", "m"), ("1.5Gi", "Gi"), ("1e3", "e3"), ("12", ""), ("0", ""), ("1K", None)],
)
def test_quantity_suffix(text: str, expected: str | None) -> None:
    assert quantity_suffix(text) == expected


def test_untrusted_sizes_are_bounded() -> None:
    # Upstream accepts these; meshguard refuses to build astronomically large integers.
    assert quantity_error("1e99999") == "exponent 99999 is out of meshguard's range"
    assert quantity_error("1" * 5000) == "more than 1000 digits is out of meshguard's range"
    assert parse_quantity("0" * 5000 + "0.5Ki") == F(512)
