"""Golden tests for P4 (VirtualService retries.retryOn).

Sources: istio pkg/config/validation/agent/validation.go (supportedRetryOnPolicies,
ValidateHTTPRetry: strings.Split without trim, strconv.Atoi, http.StatusText), the same list in
pkg/config/validation/validation.go at tags 1.22.0 (14 names) and 1.23.0 (16 names),
golang src/net/http/status.go (StatusText), RULES.md §0.4 P4, §5, §7 erratum 1.11.
"""

from __future__ import annotations

import pytest

from meshguard.semantics.retryon import (
    HTTP_STATUS_CODES,
    RETRY_ON_POLICIES,
    go_atoi,
    parse_istio_version,
    retry_on_duplicates,
    retry_on_errors,
    retry_on_tokens,
    suggest_retry_on_token,
    supported_retry_on_policies,
)

V122, V123, V128 = (1, 22), (1, 23), (1, 28)


def test_policy_list_is_istio_head() -> None:
    # istio @ 86c9f01f agent/validation.go supportedRetryOnPolicies, in source order
    expected = {
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
        "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
        "envoy-ratelimited", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
        "internal", "resource-exhausted", "unavailable",
    }  # fmt: skip
    assert expected == RETRY_ON_POLICIES


def test_version_gate() -> None:
    # tag 1.22.0 lacks both names; 1.23.0 (commits 102af640f6d, e01b3b28aa4) has them
    gated = {"reset-before-request", "http3-post-connect-failure"}
    assert RETRY_ON_POLICIES - supported_retry_on_policies(V122) == gated
    assert supported_retry_on_policies(V123) == RETRY_ON_POLICIES


def test_http_status_codes_match_go_status_text() -> None:
    # golang net/http/status.go: 62 codes; 306 (unused), 419, 420, 427, 509 are not in it
    assert len(HTTP_STATUS_CODES) == 62
    assert {103, 418, 421, 425, 451, 508, 510, 511} <= HTTP_STATUS_CODES
    assert not {0, 99, 306, 419, 420, 427, 430, 509, 512, 599, 600} & HTTP_STATUS_CODES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5xx,reset", ["5xx", "reset"]),
        ("5xx, reset", ["5xx", " reset"]),  # no trimming
        ("connect-failure,", ["connect-failure", ""]),
        (",5xx", ["", "5xx"]),
        ("", [""]),
    ],
)
def test_retry_on_tokens(value: str, expected: list[str]) -> None:
    assert retry_on_tokens(value) == expected


ACCEPTED = [
    # (value, istio_version): ValidateHTTPRetry returns no error
    ("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", V122),
    ("5xx,gateway-error,reset,retriable-4xx,retriable-headers,envoy-ratelimited", V122),
    ("deadline-exceeded,internal,resource-exhausted", V122),
    ("reset-before-request", V123),  # RULES.md §5: accepted from 1.23
    ("http3-post-connect-failure", V128),
    ("503", V128),
    ("+503", V128),  # strconv.Atoi accepts a sign
    ("0503", V128),  # and leading zeros
    ("425,418,103", V128),
    ("5xx,5xx", V128),  # duplicates are valid (MG203 reports them as info)
    ("", V128),  # empty retryOn is not validated (if retries.RetryOn != "")
]


@pytest.mark.parametrize(("value", "version"), ACCEPTED)
def test_retry_on_accepted(value: str, version: tuple[int, int]) -> None:
    assert retry_on_errors(value, version) == []


REJECTED = [
    # (value, istio_version, [(token, reason)]); RULES.md §0.4 P4 and §5 golden values
    ("5xx, reset", V128, [(" reset", "space-padded token ' reset' (istio does not trim)")]),
    ("599", V128, [("599", "599 is not a known http status code")]),
    ("0", V128, [("0", "0 is not a known http status code")]),
    ("-503", V128, [("-503", "-503 is not a known http status code")]),
    ("306", V128, [("306", "306 is not a known http status code")]),
    ("connect-failure,", V128, [("", "empty token")]),
    (",5xx", V128, [("", "empty token")]),
    (" ", V128, [(" ", "empty token")]),
    (
        "reset-before-request",
        V122,
        [("reset-before-request", "reset-before-request needs istio >= 1.23")],
    ),
    (
        "5xx,http3-post-connect-failure",
        V122,
        [("http3-post-connect-failure", "http3-post-connect-failure needs istio >= 1.23")],
    ),
    ("5XX", V128, [("5XX", "unknown retryOn policy '5XX'")]),
    ("connect_failure", V128, [("connect_failure", "unknown retryOn policy 'connect_failure'")]),
    ("gateway-errors", V128, [("gateway-errors", "unknown retryOn policy 'gateway-errors'")]),
    (" 503", V128, [(" 503", "space-padded token ' 503' (istio does not trim)")]),  # Atoi fails
    ("5_03", V128, [("5_03", "unknown retryOn policy '5_03'")]),  # base 10: no underscores
    (
        "5xx, reset,connect-failure ,",
        V128,
        [
            (" reset", "space-padded token ' reset' (istio does not trim)"),
            ("connect-failure ", "space-padded token 'connect-failure ' (istio does not trim)"),
            ("", "empty token"),
        ],
    ),
]


@pytest.mark.parametrize(("value", "version", "expected"), REJECTED)
def test_retry_on_rejected(
    value: str, version: tuple[int, int], expected: list[tuple[str, str]]
) -> None:
    assert retry_on_errors(value, version) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("503", 503),
        ("+503", 503),
        ("0503", 503),
        ("-0", 0),
        ("9" * 30, (1 << 63) - 1),  # ParseInt clamps on ErrRange
        ("-" + "9" * 30, -(1 << 63)),
        ("", None),
        ("+", None),
        ("5_03", None),
        (" 503", None),
        ("\u0665\u0660\u0663", None),  # Arabic-Indic digits: Go only reads ASCII
    ],
)
def test_go_atoi(token: str, expected: int | None) -> None:
    assert go_atoi(token) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.28", (1, 28)),
        ("1.30", (1, 30)),
        (1.3, (1, 3)),  # a YAML float: 1.30 unquoted reads as 1.3
        (1.23, (1, 23)),
        ("v1.28.2", (1, 28)),
        ("1.29.0-beta.1", (1, 29)),
        (" 1.22 ", (1, 22)),
    ],
)
def test_parse_istio_version(text: str | float, expected: tuple[int, int]) -> None:
    assert parse_istio_version(text) == expected


@pytest.mark.parametrize("text", ["", "1", "latest", "1.x", "one.two"])
def test_parse_istio_version_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_istio_version(text)


def test_version_tuple_ordering() -> None:
    # "1.3" < "1.23" as strings would be wrong; tuples compare numerically
    assert parse_istio_version("1.3") < parse_istio_version("1.23") < parse_istio_version("1.30")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5xx,5xx,reset", ["5xx"]), ("5xx,reset,5xx,reset,5xx", ["5xx", "reset"]), ("5xx", [])],
)
def test_retry_on_duplicates(value: str, expected: list[str]) -> None:
    assert retry_on_duplicates(value) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    # MG203 auto-fix: trim, lower-case known tokens, "_" -> "-"
    [
        (" reset", "reset"),
        ("5XX", "5xx"),
        ("connect_failure", "connect-failure"),
        (" 503 ", "503"),
        ("Refused_Stream ", "refused-stream"),
    ],
)
def test_suggest_retry_on_token(token: str, expected: str) -> None:
    assert suggest_retry_on_token(token) == expected


@pytest.mark.parametrize("token", ["reset", "503", "gateway-errors", "", "599", "retry"])
def test_suggest_retry_on_token_noop(token: str) -> None:
    assert suggest_retry_on_token(token) is None
