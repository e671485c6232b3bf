"""Golden tests for P1 (Istio / Go time.ParseDuration) and P2 (Gateway API GEP-2257).

Sources: golang src/time/time_test.go (parseDurationTests, parseDurationErrorTests),
golang src/time/format.go (ParseDuration), istio pkg/config/validation/agent/validation.go
(ValidateDuration), istio pkg/config/validation/validation.go (tcp.idleTimeout),
gwapi apis/v1/shared_types.go (Duration pattern), RULES.md §0.4 P1/P2, §5, §6.1.
"""

from __future__ import annotations

import pytest

from meshguard.semantics.durations import (
    NS_PER_MS,
    NS_PER_S,
    DurationSyntaxError,
    canonical_gateway_duration,
    format_duration,
    gateway_duration_error,
    gateway_duration_ns,
    istio_duration_error,
    istio_duration_ns,
    parse_go_duration,
    suggest_gateway_duration,
    suggest_istio_duration,
)

MS, S, M, H = NS_PER_MS, NS_PER_S, 60 * NS_PER_S, 3600 * NS_PER_S
I64_MAX, I64_MIN = (1 << 63) - 1, -(1 << 63)

GO_PARSE = [
    # golang time_test.go parseDurationTests (verbatim inputs and values)
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),  # "1.s" style: digits before the dot are enough
    (".5s", 500 * MS),
    ("1.0s", S),
    ("1.00s", S),
    ("1.004s", S + 4 * MS),
    ("1.0040s", S + 4 * MS),
    ("100.00100s", 100 * S + MS),
    ("10ns", 10),
    ("11us", 11_000),
    ("12\u00b5s", 12_000),  # U+00B5 micro sign
    ("12\u03bcs", 12_000),  # U+03BC greek mu
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5_000 + 6),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * M),  # golang.org/issue/6617
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", I64_MAX),
    ("9223372036854775.807us", I64_MAX),
    ("9223372036s854ms775us807ns", I64_MAX),
    ("-9223372036854775808ns", I64_MIN),
    ("-9223372036854775.808us", I64_MIN),
    ("-9223372036s854ms775us808ns", I64_MIN),
    ("-2562047h47m16.854775808s", I64_MIN),  # golang.org/issue/48629
    ("0.100000000000000000000h", 6 * M),  # issue 15011
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827),  # leadingFraction overflow
    # RULES.md §0.4 P1 / §5 golden values
    ("1.5s", 1500 * MS),
    ("1m30s", 90 * S),
    ("1500us", 1500_000),
    ("0s", 0),
    ("+1s", S),
    ("1\u03bcs", 1_000),
    ("100000s", 100_000 * S),
    ("1.s", S),  # format.go: pre=true, post=false is accepted
    # format.go: the uint64 accumulator wraps (d > 1<<63 is checked after the wrap)
    ("9223372036854775808ns9223372036854775808ns", 0),
]


@pytest.mark.parametrize(("text", "expected"), GO_PARSE)
def test_parse_go_duration(text: str, expected: int) -> None:
    assert parse_go_duration(text) == expected


GO_REJECT = [
    # golang time_test.go parseDurationErrorTests: (input, exact Go message)
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("\ufffd", 'time: invalid duration "\\xef\\xbf\\xbd"'),  # utf8.RuneError quoted as bytes
    ("9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    ("9223372036854776us", 'time: invalid duration "9223372036854776us"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'),
    # RULES.md §0.4 P1 (no "d", no bare numbers, no whitespace)
    ("30", 'time: missing unit in duration "30"'),
    (" 30s", 'time: invalid duration " 30s"'),
    ("1e3s", 'time: unknown unit "e" in duration "1e3s"'),
    ("1.5.5s", 'time: missing unit in duration "1.5.5s"'),
]


@pytest.mark.parametrize(("text", "message"), GO_REJECT)
def test_parse_go_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(DurationSyntaxError) as info:
        parse_go_duration(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


ISTIO = [
    # (value, expected reason or None); RULES.md §0.4 P1, agent.ValidateDuration, CRD type: string
    ("1.5s", None),
    ("1m30s", None),
    ("1ms", None),
    ("+1s", None),  # Go accepts a leading +
    (".5s", None),
    ("1000\u03bcs", None),  # 1ms written with U+03BC
    ("100000s", None),  # valid in Istio, invalid in Gateway API
    ("1d", "unit 'd' is not supported"),
    (30, 'bare number 30 is not a duration string; write "30s"'),
    (1.5, 'bare number 1.5 is not a duration string; write "1.5s"'),
    (0, "bare number 0 is not a duration string"),
    (True, "boolean true is not a duration string"),
    (None, "null is not a duration string"),
    ("30", 'missing unit in "30"'),
    ("1500us", "1500us is not a whole number of milliseconds"),
    ("0s", "0s is below the 1ms minimum; omit the field to disable"),
    ("0", "0 is below the 1ms minimum; omit the field to disable"),
    ("1\u03bcs", "1\u03bcs is below the 1ms minimum"),
    ("500us", "500us is below the 1ms minimum"),
    ("-1s", "-1s is below the 1ms minimum"),
    ("", "empty string is not a duration"),
    (" 30s", 'whitespace is not allowed in " 30s"'),
    ("3000000h", '"3000000h" is out of range (about ±292 years)'),
    (".s", '".s" is not a valid duration'),
]


@pytest.mark.parametrize(("value", "expected"), ISTIO)
def test_istio_duration_error(value: object, expected: str | None) -> None:
    assert istio_duration_error(value) == expected


IDLE_TIMEOUT = [
    # validation.go: tcp.IdleTimeout validated only when AsDuration().Milliseconds() != 0
    ("0s", None),
    ("0", None),  # string "0" parses (Go special case)
    ("500us", None),
    ("999999ns", None),
    ("-500us", None),  # Milliseconds() truncates toward zero
    ("1h", None),
    ("1500us", "1500us is not a whole number of milliseconds"),
    ("-1s", "-1s is below the 1ms minimum"),
    (0, "bare number 0 is not a duration string"),  # an unquoted YAML 0 is an int: rejected
    ("1d", "unit 'd' is not supported"),  # must still parse (jsonpb)
]


@pytest.mark.parametrize(("value", "expected"), IDLE_TIMEOUT)
def test_istio_idle_timeout_exception(value: object, expected: str | None) -> None:
    assert istio_duration_error(value, idle_timeout=True) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1500us", 1_500_000),  # parses although P1 rejects it
        ("1m30s", 90 * S),
        ("0", 0),
        ("1d", None),
        (30, None),
        (None, None),
        ("", None),
    ],
)
def test_istio_duration_ns(value: object, expected: int | None) -> None:
    assert istio_duration_ns(value) == expected


GATEWAY = [
    # gwapi shared_types.go: ^([0-9]{1,5}(h|m|s|ms)){1,4}$ ; RULES.md §0.4 P2
    ("0s", None),  # valid, means "disabled" for HTTPRoute timeouts
    ("1h", None),
    ("1500ms", None),
    ("99999s", None),
    ("1h30m", None),
    ("1h1m1s1ms", None),  # four groups
    ("2m0s", None),
    ("1.5s", "decimals are not allowed; write 1500ms"),
    ("1.5m", "decimals are not allowed; write 90s"),
    ("100000s", "more than 5 digits in one unit"),
    ("1us", "unit 'us' is not supported"),
    ("1\u00b5s", "unit '\u00b5s' is not supported"),
    ("1d", "unit 'd' is not supported"),
    ("30", 'missing unit in "30"'),
    ("+1s", "a sign is not allowed"),
    ("-1s", "a sign is not allowed"),
    ("1h1m1s1ms1ms", "more than 4 unit groups"),
    ("1h 30m", 'whitespace is not allowed in "1h 30m"'),
    ("1s\n", 'whitespace is not allowed in "1s\n"'),  # RE2 $ is end of text
    ("", "empty string is not a duration"),
    (30, 'bare number 30 is not a duration string; write "30s"'),
    (1.5, 'bare number 1.5 is not a duration string; write "1500ms"'),
    (False, "boolean false is not a duration string"),
]


@pytest.mark.parametrize(("value", "expected"), GATEWAY)
def test_gateway_duration_error(value: object, expected: str | None) -> None:
    assert gateway_duration_error(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0s", 0),
        ("1500ms", 1500 * MS),
        ("1m5s", 65 * S),
        ("1ms5s", 5 * S + MS),
        ("27h46m40s", 100_000 * S),
        ("1.5s", None),
        ("100000s", None),
        (90, None),
    ],
)
def test_gateway_duration_ns(value: object, expected: int | None) -> None:
    assert gateway_duration_ns(value) == expected


def test_same_text_different_validity() -> None:
    # RULES.md §6.1: copy-pasting between the APIs is the common failure
    assert istio_duration_error("1.5s") is None
    assert gateway_duration_error("1.5s") is not None
    assert istio_duration_error("0s") is not None
    assert gateway_duration_error("0s") is None


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (180 * S, "180s"),
        (1500 * MS, "1.5s"),
        (90 * S, "90s"),
        (250 * MS, "250ms"),
        (S + MS, "1.001s"),
        (0, "0s"),
        (500_000, "500us"),
        (7, "7ns"),
        (-1500 * MS, "-1.5s"),
    ],
)
def test_format_duration(ns: int, expected: str) -> None:
    assert format_duration(ns) == expected


SUGGEST_ISTIO = [
    ("1d", "24h"),
    ("1.5d", "36h"),
    ("1d12h", "36h"),
    ("30sec", "30s"),
    (" 30s", "30s"),
    ("1H", "1h"),
]


@pytest.mark.parametrize(("value", "expected"), SUGGEST_ISTIO)
def test_suggest_istio_duration(value: str, expected: str) -> None:
    assert suggest_istio_duration(value) == expected
    assert istio_duration_error(expected) is None


@pytest.mark.parametrize(
    "value",
    # noop: valid already, unit unknown (bare numbers, "M"), or no safe rewrite
    ["1.5s", "30", 30, 1.5, "0s", "1500us", "1M", "soon", "-1d", None],
)
def test_suggest_istio_duration_noop(value: object) -> None:
    assert suggest_istio_duration(value) is None


SUGGEST_GATEWAY = [
    ("1.5s", "1500ms"),  # RULES.md MG201 auto-fix
    ("0.5m", "30s"),
    ("1d", "24h"),
    ("100000s", "27h46m40s"),
    ("1.5h", "90m"),
    ("1h 30m", "1h30m"),
    ("+1s", "1s"),
    (".5s", "500ms"),
    ("2.5d", "60h"),
]


@pytest.mark.parametrize(("value", "expected"), SUGGEST_GATEWAY)
def test_suggest_gateway_duration(value: str, expected: str) -> None:
    assert suggest_gateway_duration(value) == expected
    assert gateway_duration_error(expected) is None


@pytest.mark.parametrize(
    "value",
    # noop: valid already, bare numbers, sub-millisecond, negative, hours > 5 digits
    ["1500ms", "2m0s", "30", 30, "1500us", "1us", "-1s", "100000h", "1M", None],
)
def test_suggest_gateway_duration_noop(value: object) -> None:
    assert suggest_gateway_duration(value) is None


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (0, "0s"),
        (120 * S, "2m"),
        (1500 * MS, "1500ms"),
        (30 * S, "30s"),
        (100_000 * S, "27h46m40s"),
        (100_000 * H, None),
        (MS // 2, None),
        (-S, None),
    ],
)
def test_canonical_gateway_duration(ns: int, expected: str | None) -> None:
    assert canonical_gateway_duration(ns) == expected
