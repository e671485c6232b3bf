"""VirtualService ``retries.retryOn`` tokens (P4), RULES.md §0.4.

``istio pkg/config/validation/agent/validation.go: ValidateHTTPRetry`` splits the value on ``,``
with ``strings.Split`` and **no trimming**, then accepts a token when Go
``net/http.StatusText(strconv.Atoi(token))`` is non-empty or the token is in
``supportedRetryOnPolicies``. So ``"5xx, reset"`` fails on ``" reset"``, a trailing comma yields
an empty token that fails, and ``"+503"``/``"0503"`` pass because ``Atoi`` accepts them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

# istio pkg/config/validation/agent/validation.go (HEAD 86c9f01f; pkg/config/validation/
# validation.go in 1.22-1.30): Envoy x-envoy-retry-on and x-envoy-retry-grpc-on policies.
RETRY_ON_POLICIES: Final = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)

# First Istio minor whose validation accepts the token (absent from tag 1.22.0, present in
# 1.23.0: commits 102af640f6d and e01b3b28aa4).
RETRY_ON_MIN_VERSION: Final[Mapping[str, tuple[int, int]]] = {
    "reset-before-request": (1, 23),
    "http3-post-connect-failure": (1, 23),
}

# golang src/net/http/status.go: the codes StatusText knows (Go 1.26, which Istio HEAD uses).
HTTP_STATUS_CODES: Final = frozenset(
    {100, 101, 102, 103}
    | {200, 201, 202, 203, 204, 205, 206, 207, 208, 226}
    | {300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 419))
    | {421, 422, 423, 424, 425, 426, 428, 429, 431, 451}
    | {500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511}
)

_INT64_MAX: Final = (1 << 63) - 1
_INT64_MIN_ABS: Final = 1 << 63
_ATOI: Final = re.compile(r"[+-]?[0-9]+")
_VERSION: Final = re.compile(r"v?([0-9]+)\.([0-9]+)(?:\.[0-9]+)?(?:[-+].*)?")


@functools.lru_cache(maxsize=256, typed=True)  # typed: True must not hit the entry of 1
def parse_istio_version(text: str | float) -> tuple[int, int]:
    """``"1.28"`` -> ``(1, 28)``; also ``"v1.28.2"``, ``"1.30"``, YAML float ``1.3`` -> ``(1, 3)``.

    A YAML float loses trailing zeros (``istio_version: 1.30`` reads as 1.3); quote the value.
    """
    if isinstance(text, bool):
        raise ValueError(f"istio version must be a string like '1.28', got {text!r}")
    if isinstance(text, int):
        return (text, 0)
    raw = repr(text) if isinstance(text, float) else text.strip()
    m = _VERSION.fullmatch(raw)
    if m is None:
        raise ValueError(f"istio version must look like '1.28', got {text!r}")
    return int(m.group(1)), int(m.group(2))


DEFAULT_ISTIO_VERSION: Final = (1, 28)  # schemas/config.schema.json `istio_version` default


class _Params(Protocol):
    def get(self, dotted: str) -> Any: ...


def istio_version(params: _Params) -> tuple[int, int]:
    """The `istio_version` parameter as (major, minor). The config schema validates it, so the
    default only stands in for a value that does not parse (a check never raises on it)."""
    try:
        return parse_istio_version(str(params.get("istio_version")))
    except ValueError:
        return DEFAULT_ISTIO_VERSION


@functools.cache  # asked once per retry policy, of a handful of versions
def supported_retry_on_policies(istio_version: tuple[int, int]) -> frozenset[str]:
    """The policy names Istio ``istio_version`` accepts."""
    return frozenset(
        p for p in RETRY_ON_POLICIES if istio_version >= RETRY_ON_MIN_VERSION.get(p, (0, 0))
    )


def retry_on_tokens(value: str) -> list[str]:
    """``strings.Split(value, ",")``: no trimming, empty tokens kept."""
    return value.split(",")


def go_atoi(token: str) -> int | None:
    """strconv.Atoi: optional sign and ASCII digits (``+503``, ``0503``); None otherwise.

    Out-of-range values clamp to the int64 bounds, as ``ParseInt`` returns them with ErrRange.
    """
    if not _ATOI.fullmatch(token):
        return None
    negative = token[0] == "-"
    digits = token.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:  # also keeps int() below Python's str-conversion digit limit
        return -_INT64_MIN_ABS if negative else _INT64_MAX
    value = -int(digits) if negative else int(digits)
    return max(-_INT64_MIN_ABS, min(_INT64_MAX, value))


def is_http_status(token: str) -> bool:
    """True when Istio reads ``token`` as a retriable status code (``StatusText(i) != ""``)."""
    code = go_atoi(token)
    return code is not None and code in HTTP_STATUS_CODES


def retry_on_errors(value: str, istio_version: tuple[int, int]) -> list[tuple[str, str]]:
    """P4: ``(token, reason)`` for every token ``ValidateHTTPRetry`` rejects, in order.

    An empty ``value`` is not checked at all (``if retries.RetryOn != ""``).
    """
    if value == "":
        return []
    supported = supported_retry_on_policies(istio_version)
    errors: list[tuple[str, str]] = []
    for token in retry_on_tokens(value):
        reason = _token_error(token, supported)
        if reason is not None:
            errors.append((token, reason))
    return errors


def _token_error(token: str, supported: frozenset[str]) -> str | None:
    if token in supported or is_http_status(token):
        return None
    stripped = token.strip()
    if stripped == "":
        return "empty token"
    if stripped != token:
        return f"space-padded token {token!r} (istio does not trim)"
    if token in RETRY_ON_POLICIES:
        major, minor = RETRY_ON_MIN_VERSION[token]
        return f"{token} needs istio >= {major}.{minor}"
    if go_atoi(token) is not None:
        return f"{token} is not a known http status code"
    return f"unknown retryOn policy {token!r}"


def retry_on_duplicates(value: str) -> list[str]:
    """Tokens repeated in ``value`` (compared as written), each reported once, in order."""
    seen: set[str] = set()
    dupes: list[str] = []
    for token in retry_on_tokens(value):
        if token in seen and token not in dupes:
            dupes.append(token)
        seen.add(token)
    return dupes


def suggest_retry_on_token(token: str) -> str | None:
    """The known policy a token evidently means (``" reset"``, ``5XX``, ``connect_failure``).

    Trims, lower-cases and replaces ``_`` by ``-`` (MG203 auto-fix); integers are only trimmed.
    None when the result is still unknown or the token was already valid.
    """
    if token in RETRY_ON_POLICIES or is_http_status(token):
        return None
    candidate = token.strip()
    if is_http_status(candidate):
        return candidate
    candidate = candidate.lower().replace("_", "-")
    return candidate if candidate in RETRY_ON_POLICIES else None
