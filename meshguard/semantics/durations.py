"""Istio (P1) and Gateway API (P2) duration grammars, RULES.md §0.4.

The same text means different things in the two APIs, so both grammars live here:

* Istio CRDs declare durations ``type: string`` (CEL ``duration(self) >= duration('1ms')``,
  ``istio manifests/charts/base/files/crd-all.gen.yaml``) and istiod decodes them with
  ``github.com/golang/protobuf/jsonpb``, which calls Go ``time.ParseDuration``.
  ``istio pkg/config/validation/agent/validation.go: ValidateDuration`` then requires ≥ 1ms and
  whole milliseconds. ``connectionPool.tcp.idleTimeout`` has no CEL rule and is only validated
  when ``AsDuration().Milliseconds() != 0`` (``pkg/config/validation/validation.go``).
* Gateway API durations are GEP-2257 strings, ``gwapi apis/v1/shared_types.go: Duration``,
  pattern ``^([0-9]{1,5}(h|m|s|ms)){1,4}$``.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Final

NS_PER_US: Final = 1_000
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
NS_PER_M: Final = 60 * NS_PER_S
NS_PER_H: Final = 60 * NS_PER_M

# golang src/time/format.go: unitMap (µ is U+00B5 micro sign, μ is U+03BC greek mu).
_GO_UNITS: Final[dict[str, int]] = dict(ns=1, us=NS_PER_US, ms=NS_PER_MS, s=NS_PER_S, m=NS_PER_M)
_GO_UNITS.update({"h": NS_PER_H, "\u00b5s": NS_PER_US, "\u03bcs": NS_PER_US})
_U64: Final = (1 << 64) - 1
_MAX: Final = 1 << 63  # Go compares the uint64 accumulator against 1<<63

GEP2257_PATTERN: Final = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"
_GEP2257: Final = re.compile(r"([0-9]{1,5}(h|m|s|ms)){1,4}")
_GEP_UNITS: Final = (("h", NS_PER_H), ("m", NS_PER_M), ("s", NS_PER_S), ("ms", NS_PER_MS))
_GEP_MAX_DIGITS: Final = 99_999

# Lenient spellings accepted only by the suggest_* helpers (never by the validators).
_ALIASES: Final[dict[str, int]] = {
    **_GO_UNITS,
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7 * 24 * NS_PER_H),
    **dict.fromkeys(("d", "D", "day", "days"), 24 * NS_PER_H),
    **dict.fromkeys(("H", "hr", "hrs", "hour", "hours"), NS_PER_H),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), NS_PER_M),
    **dict.fromkeys(("S", "sec", "secs", "second", "seconds"), NS_PER_S),
    **dict.fromkeys(("MS", "msec", "msecs", "millisecond", "milliseconds"), NS_PER_MS),
}
_LENIENT_TOKEN: Final = re.compile(r"([0-9]*\.?[0-9]*)([^0-9.]+)")
_GEP_TOKEN: Final = re.compile(r"([0-9]*)(\.[0-9]*)?([^0-9.]*)")


class DurationSyntaxError(ValueError):
    """Go ``time.ParseDuration`` failure; ``str()`` is Go's own error text.

    ``kind`` is one of ``invalid``, ``missing_unit``, ``unknown_unit``, ``overflow``.
    """

    def __init__(self, message: str, kind: str, unit: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.unit = unit


def _go_quote(s: str) -> str:
    """golang time.quote: non-ASCII and control bytes become \\xNN, so messages match Go's."""
    out = ['"']
    for ch in s:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


def _invalid(orig: str, kind: str = "invalid") -> DurationSyntaxError:
    return DurationSyntaxError(f"time: invalid duration {_go_quote(orig)}", kind)


def _leading_int(s: str) -> tuple[int, str] | None:
    """golang time.leadingInt: None on uint64 overflow."""
    i, x = 0, 0
    while i < len(s) and "0" <= s[i] <= "9":
        if x > _MAX // 10:
            return None
        x = x * 10 + ord(s[i]) - 48
        if x > _MAX:
            return None
        i += 1
    return x, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    """golang time.leadingFraction: stops accumulating precision on overflow, never fails."""
    i, x, scale, overflow = 0, 0, 1.0, False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if x > (_MAX - 1) // 10:
                overflow = True
            else:
                y = x * 10 + ord(s[i]) - 48
                if y > _MAX:
                    overflow = True
                else:
                    x, scale = y, scale * 10
        i += 1
    return x, scale, s[i:]


@functools.lru_cache(maxsize=4096)  # manifests repeat a few durations; raises are not cached
def parse_go_duration(text: str) -> int:
    """Nanoseconds of ``text`` exactly as Go ``time.ParseDuration`` computes them.

    A line-by-line port of ``golang src/time/format.go: ParseDuration``: the float64 fraction
    arithmetic, the uint64 accumulator (which wraps, as in Go) and every error path. Raises
    :class:`DurationSyntaxError` (a ``ValueError``) with Go's message.
    """
    orig, s, neg = text, text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if s == "":
        raise _invalid(orig)
    d = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise _invalid(orig)
        pl = len(s)
        lead = _leading_int(s)
        if lead is None:
            raise _invalid(orig, "overflow")
        v, s = lead
        pre = pl != len(s)
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            pl = len(s)
            f, scale, s = _leading_fraction(s)
            post = pl != len(s)
        if not pre and not post:
            raise _invalid(orig)  # no digits, e.g. ".s"
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationSyntaxError(
                f"time: missing unit in duration {_go_quote(orig)}", "missing_unit"
            )
        u, s = s[:i], s[i:]
        unit = _GO_UNITS.get(u)
        if unit is None:
            raise DurationSyntaxError(
                f"time: unknown unit {_go_quote(u)} in duration {_go_quote(orig)}",
                "unknown_unit",
                u,
            )
        if v > _MAX // unit:
            raise _invalid(orig, "overflow")
        v *= unit
        if f > 0:
            # float64 as in Go, then uint64() truncation
            v += int(float(f) * (float(unit) / scale))
            if v > _MAX:
                raise _invalid(orig, "overflow")
        d = (d + v) & _U64  # uint64 addition wraps in Go
        if d > _MAX:
            raise _invalid(orig, "overflow")
    if neg:
        return -d
    if d > _MAX - 1:
        raise _invalid(orig, "overflow")
    return d


def _describe_non_string(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"bare number {value}"
    return f"a {type(value).__name__} value"


def _non_string_error(value: object, *, gateway: bool) -> str:
    """The API server rejects a non-string for a ``type: string`` field; hint at seconds."""
    reason = f"{_describe_non_string(value)} is not a duration string"
    if isinstance(value, int | float) and not isinstance(value, bool):
        as_seconds = f"{value}s"
        if gateway:
            ok = gateway_duration_error(as_seconds) is None
            hint = as_seconds if ok else suggest_gateway_duration(as_seconds)
        else:
            ok = istio_duration_error(as_seconds) is None
            hint = as_seconds if ok else suggest_istio_duration(as_seconds)
        if hint is not None:
            reason += f'; write "{hint}"'
    return reason


def _go_error_reason(text: str, err: DurationSyntaxError) -> str:
    if text == "":
        return "empty string is not a duration"
    if any(ch.isspace() for ch in text):
        return f'whitespace is not allowed in "{text}"'
    if err.kind == "unknown_unit":
        return f"unit {err.unit!r} is not supported"
    if err.kind == "missing_unit":
        return f'missing unit in "{text}"'
    if err.kind == "overflow":
        return f'"{text}" is out of range (about ±292 years)'
    return f'"{text}" is not a valid duration'


def istio_duration_error(value: object, *, idle_timeout: bool = False) -> str | None:
    """P1: None when Istio accepts ``value`` for a duration field, else a short reason.

    ``idle_timeout=True`` is ``connectionPool.tcp.idleTimeout``: istiod skips ``ValidateDuration``
    when ``AsDuration().Milliseconds()`` (truncation toward zero) is 0, so ``0s``, ``"0"`` and
    ``500us`` pass there; the value must still be a string that Go parses.
    """
    if not isinstance(value, str):
        return _non_string_error(value, gateway=False)
    try:
        ns = parse_go_duration(value)
    except DurationSyntaxError as err:
        return _go_error_reason(value, err)
    if idle_timeout and abs(ns) < NS_PER_MS:  # Milliseconds() truncates toward zero
        return None
    if ns < NS_PER_MS:  # agent.ValidateDuration: "duration must be greater than 1ms"
        suffix = "; omit the field to disable" if ns == 0 else ""
        return f"{value} is below the 1ms minimum{suffix}"
    if ns % NS_PER_MS:  # "only durations to ms precision are supported"
        return f"{value} is not a whole number of milliseconds"
    return None


def istio_duration_ns(value: object) -> int | None:
    """Nanoseconds of any string Go parses, even one P1 rejects (``1500us``); never raises."""
    if not isinstance(value, str):
        return None
    try:
        return parse_go_duration(value)
    except ValueError:
        return None


def gateway_duration_error(value: object) -> str | None:
    """P2: None when ``value`` matches the GEP-2257 pattern, else a short reason."""
    if not isinstance(value, str):
        return _non_string_error(value, gateway=True)
    if _GEP2257.fullmatch(value):
        return None
    return _gateway_reason(value)


def _gateway_reason(text: str) -> str:
    if text == "":
        return "empty string is not a duration"
    if any(ch.isspace() for ch in text):
        return f'whitespace is not allowed in "{text}"'
    if text[0] in "+-":
        return "a sign is not allowed"
    tokens: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(text):
        m = _GEP_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return f"does not match {GEP2257_PATTERN}"
        digits, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        tokens.append((digits, frac, unit))
        pos = m.end()
    if any(frac for _, frac, _ in tokens):
        fix = suggest_gateway_duration(text)
        return "decimals are not allowed" + (f"; write {fix}" if fix else "")
    for digits, _, unit in tokens:
        if unit == "":
            return f'missing unit in "{text}"'
        if unit not in ("h", "m", "s", "ms"):
            return f"unit {unit!r} is not supported"
        if digits == "":
            return f"does not match {GEP2257_PATTERN}"
    if any(len(digits) > 5 for digits, _, _ in tokens):
        return "more than 5 digits in one unit"
    return "more than 4 unit groups" if len(tokens) > 4 else f"does not match {GEP2257_PATTERN}"


def gateway_duration_ns(value: object) -> int | None:
    """Nanoseconds of a valid GEP-2257 string; None when P2 rejects it."""
    if not isinstance(value, str) or not _GEP2257.fullmatch(value):
        return None
    units = dict(_GEP_UNITS)
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", value))


def format_duration(ns: int) -> str:
    """Human form for messages: ``180s``, ``1.5s``, ``250ms`` (exact, trailing zeros stripped)."""
    sign, a = ("-" if ns < 0 else ""), abs(ns)
    if a == 0:
        return "0s"
    if a >= NS_PER_S:
        whole, rem = divmod(a, NS_PER_S)
        frac = f".{rem:09d}".rstrip("0") if rem else ""
        return f"{sign}{whole}{frac}s"
    if a % NS_PER_MS == 0:
        return f"{sign}{a // NS_PER_MS}ms"
    if a % NS_PER_US == 0:
        return f"{sign}{a // NS_PER_US}us"
    return f"{sign}{a}ns"


def canonical_gateway_duration(ns: int) -> str | None:
    """Shortest GEP-2257 spelling of ``ns`` (``1500ms``, ``30s``, ``2m``, ``27h46m40s``).

    One unit when it is a whole number of at most 5 digits (largest unit first), otherwise
    hours/minutes/seconds/milliseconds; None when negative, sub-millisecond or too large.
    """
    if ns < 0 or ns % NS_PER_MS:
        return None
    if ns == 0:
        return "0s"
    for unit, size in _GEP_UNITS:
        if ns % size == 0 and ns // size <= _GEP_MAX_DIGITS:
            return f"{ns // size}{unit}"
    parts, rest = [], ns
    for unit, size in _GEP_UNITS:
        n, rest = divmod(rest, size)
        if n > _GEP_MAX_DIGITS:
            return None
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def _compact(ns: int) -> str:
    """Go-style compound form without zero parts: ``24h``, ``1h30m``, ``1s500ms``."""
    parts, rest = [], ns
    for unit, size in _GEP_UNITS:
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def _lenient(value: str) -> tuple[str, int] | None:
    """Whitespace removed and unit aliases (``d``, ``sec``, ``H``) read; None if ambiguous.

    Bare numbers (no unit anywhere) and ``M`` (month? minute?) are ambiguous.
    """
    text = "".join(value.split()).removeprefix("+")
    if not text or text == "0" or len(text) > 64:
        return None
    total, pos = Fraction(0), 0
    while pos < len(text):
        m = _LENIENT_TOKEN.match(text, pos)
        if m is None or not any(c.isdigit() for c in m.group(1)):
            return None
        size = _ALIASES.get(m.group(2))
        if size is None:
            return None
        total += Fraction(m.group(1)) * size
        pos = m.end()
    if total.denominator != 1:
        return None
    return text, int(total)


def suggest_istio_duration(value: object) -> str | None:
    """Corrected literal for an invalid Istio duration when unambiguous (``1d`` -> ``24h``).

    None for valid values, bare numbers (the unit is unknown), ``0s`` (omit the field instead)
    and sub-millisecond precision such as ``1500us`` (rounding either way changes behaviour).
    """
    if not isinstance(value, str) or istio_duration_error(value) is None:
        return None
    read = _lenient(value)
    if read is None:
        return None
    text, ns = read
    if ns < NS_PER_MS or ns % NS_PER_MS:
        return None
    return text if istio_duration_error(text) is None else _compact(ns)


def suggest_gateway_duration(value: object) -> str | None:
    """Corrected GEP-2257 literal when unambiguous (``1.5s`` -> ``1500ms``, ``1d`` -> ``24h``).

    None for valid values, bare numbers, negative or sub-millisecond values, and values whose
    hours need more than 5 digits.
    """
    if not isinstance(value, str) or _GEP2257.fullmatch(value):
        return None
    read = _lenient(value)
    if read is None:
        return None
    text, ns = read
    if _GEP2257.fullmatch(text):
        return text
    return canonical_gateway_duration(ns)
