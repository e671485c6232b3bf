"""Golden tests for path semantics per API and P7 *covers*.

Sources: istio pilot/pkg/security/authz/matcher/string.go (StringMatcherWithPrefix),
matcher/template.go, pkg/config/security/security.go (CheckValidPathTemplate, validLiteral),
istio-api security/v1beta1/authorization_policy.proto (Operation.paths examples), envoy
source/extensions/path/uri_template_lib/uri_template_internal.cc, istio
pilot/pkg/config/kube/gateway/conversion.go (createURIMatch) and core/route/route.go
(path_separated_prefix), gwapi apis/v1/httproute_types.go (PathPrefix doc, HTTPPathMatch CEL),
RULES.md §0.4 P7, §5, §6.5, MG107, MG108, MG210, MG502.
"""

from __future__ import annotations

import pytest

from meshguard.semantics.paths import (
    ap_path_literal_star,
    ap_path_matches,
    ap_path_template_error,
    contains_path_template,
    covers,
    exact_path_matches,
    gateway_path_error,
    gateway_prefix_matches,
    is_catch_all,
    regex_full_match,
    vs_prefix_matches,
)

COVERS = [
    # (match_kind, value, listed path, covers?) — RULES.md §0.4 P7
    ("exact", "/v1/chat/completions", "/v1/chat/completions", True),
    ("exact", "/v1/chat/completions/", "/v1/chat/completions", False),
    ("prefix", "/v1", "/v1/chat/completions", True),  # VS prefix: /v1 in front of an OpenAI server
    ("prefix", "/v1/chat/completions/stream", "/v1/chat/completions", True),  # p is a prefix of it
    ("prefix", "/v2/models", "/v1/chat/completions", False),
    ("PathPrefix", "/v1/chat", "/v1/chat/completions", True),  # Gateway API kind names
    ("Exact", "/v1/completions", "/v1/completions", True),
    # a listed path ending in "/" is a family (inference_paths): an exact match under it covers it
    ("exact", "/v1/models/iris:predict", "/v1/models/", True),
    ("Exact", "/v2/models/llama/infer", "/v2/models/", True),
    ("exact", "/v1/models", "/v1/models/", False),
    ("exact", "/v1/chat/completions/x", "/v1/chat/completions", False),  # not a family
    ("regex", "/v1/(chat/)?completions", "/v1/chat/completions", True),  # RE2 full match
    ("regex", "/v1/(chat/)?completions", "/v1/completions", True),
    ("regex", "/v1/chat", "/v1/chat/completions", False),  # full match, not search
    ("RegularExpression", "/openai/v1/.*", "/openai/v1/completions", True),
    ("regex", "/v1/(", "/v1/chat/completions", False),  # invalid regex covers nothing
    # substring marker (no leading "/"): the value (or regex source) contains it
    ("exact", "/v2/models/llama/generate_stream", "generate_stream", True),
    ("prefix", "/v2/models/llama/generate_stream", "generate_stream", True),
    ("prefix", "/v2/models/", "generate_stream", False),
    ("regex", "/v2/models/[^/]+/generate_stream", "generate_stream", True),
    ("regex", "/v2/models/.*", "generate_stream", False),
    # catch-all entries cover nothing (class only from backendRef kind / annotation)
    ("prefix", "/", "/v1/chat/completions", False),
    ("PathPrefix", "/", "/v1/chat/completions", False),
    ("regex", ".*", "/v1/chat/completions", False),
    ("unknown", "/v1", "/v1/chat/completions", False),
]


@pytest.mark.parametrize(("kind", "value", "path", "expected"), COVERS)
def test_covers(kind: str, value: str, path: str, expected: bool) -> None:
    assert covers(kind, value, path) is expected


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (None, None, True),  # no uri/path at all
        ("prefix", "/", True),  # VS uri.prefix "/"
        ("regex", ".*", True),  # VS uri.regex ".*"
        ("PathPrefix", "/", True),  # HTTPRoute PathPrefix /
        ("PathPrefix", None, True),  # HTTPRoute default value "/"
        ("prefix", "/v1", False),
        ("regex", ".+", False),
        ("exact", "/", False),
        ("Exact", "/", False),
    ],
)
def test_is_catch_all(kind: str | None, value: str | None, expected: bool) -> None:
    assert is_catch_all(kind, value) is expected


GATEWAY_PREFIX = [
    # (PathPrefix value, request path, matches?) — element-wise, trailing "/" ignored
    ("/v1/models/iris", "/v1/models/iris:predict", False),  # RULES.md §6.5 / MG502
    ("/v1/models/iris", "/v1/models/iris", True),
    ("/v1/models/iris", "/v1/models/iris/", True),
    ("/v1/models/iris", "/v1/models/iris/metadata", True),
    ("/v1/models/iris/", "/v1/models/iris", True),  # "When specified, a trailing / is ignored"
    ("/v1/models/iris", "/v1/models/iris?x=1", True),  # query is not part of the path
    ("/abc", "/abcd", False),  # httproute_types.go: /abc does not match /abcd
    ("/abc", "/abc/def", True),
    ("/", "/anything", True),
    ("/v1/models/iris", "/V1/models/iris", False),  # case-sensitive
]


@pytest.mark.parametrize(("prefix", "path", "expected"), GATEWAY_PREFIX)
def test_gateway_prefix_matches(prefix: str, path: str, expected: bool) -> None:
    assert gateway_prefix_matches(prefix, path) is expected


@pytest.mark.parametrize(
    ("prefix", "path", "expected"),
    [
        ("/v1/models/iris", "/v1/models/iris:predict", True),  # VS prefix is a string prefix
        ("/abc", "/abcd", True),
        ("/v1/models/", "/v1/models", False),
    ],
)
def test_vs_prefix_matches(prefix: str, path: str, expected: bool) -> None:
    assert vs_prefix_matches(prefix, path) is expected


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [("/v1/models/iris:predict", "/v1/models/iris:predict?v=1", True), ("/a", "/a/", False)],
)
def test_exact_path_matches(value: str, path: str, expected: bool) -> None:
    assert exact_path_matches(value, path) is expected


AP_MATCH = [
    # (AuthorizationPolicy paths value, request path, matches?) — StringMatcherWithPrefix
    ("/v2/models/*", "/v2/models/iris/infer", True),  # trailing * = prefix
    ("/v2/models/*", "/v2/models", False),
    ("*/infer", "/v2/models/iris/infer", True),  # leading * = suffix
    ("*", "/anything", True),  # regex .+
    ("/v2/models/*/infer", "/v2/models/iris/infer", False),  # middle * is literal: exact match
    ("/v2/models/*/infer", "/v2/models/*/infer", True),
    ("*/models/*", "/v2/models/iris", False),  # suffix match on the literal "/models/*"
    ("*/models/*", "/v2/models/*", True),
    ("/healthz", "/healthz", True),
    ("/healthz", "/healthz/", False),
    ("/healthz", "/healthz?probe=1", True),  # Envoy PathMatcher drops the query
    # templates (Envoy uri_template: {*} = [pchar]+, {**} = [pchar/]*)
    ("/v2/models/{*}/infer", "/v2/models/iris/infer", True),
    ("/v2/models/{*}/infer", "/v2/models/a/b/infer", False),
    ("/v2/models/{*}/infer", "/v2/models//infer", False),  # {*} is non-empty
    ("/foo/{*}", "/foo/bar", True),  # authorization_policy.proto examples
    ("/foo/{*}", "/foo/bar/baz", False),
    ("/foo/{**}/", "/foo/bar/", True),
    ("/foo/{**}/", "/foo//", True),
    ("/foo/{**}/", "/foo/bar", False),
    ("/foo/{*}/bar/{**}", "/foo/buzz/bar/", True),
    ("/foo/{*}/bar/{**}", "/foo/buzz/bar/baz", True),
    ("/v2/{**}", "/v2/repository/models/x/load", True),  # MG108 catch-all
    ("/v1/{**}/infer", "/v1/a/b/infer", True),
    ("/v1/models/{*}:predict", "/v1/models/iris:predict", False),  # invalid template
]


@pytest.mark.parametrize(("pattern", "path", "expected"), AP_MATCH)
def test_ap_path_matches(pattern: str, path: str, expected: bool) -> None:
    assert ap_path_matches(pattern, path) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/v2/models/*/infer", True),  # RULES.md §5/§6.5: exact literal, never matches
        ("*/models/*", True),  # leading * wins; the trailing * stays literal
        ("*foo*", True),  # both leading and trailing (MG107(1), erratum 1.20)
        ("**", True),
        ("/a/**", True),  # prefix "/a/*"
        ("/v2/models/*", False),
        ("*/infer", False),
        ("*", False),
        ("/v2/models/{*}/infer", False),  # templates are judged by ap_path_template_error
        ("/healthz", False),
    ],
)
def test_ap_path_literal_star(pattern: str, expected: bool) -> None:
    assert ap_path_literal_star(pattern) is expected


TEMPLATE_ERRORS = [
    # CheckValidPathTemplate; examples from authorization_policy.proto and RULES.md MG107(2)
    ("/v1/models/{*}:predict", "contains '{' or '}' beyond a supported path template"),  # §5
    ("/foo/{*}.txt", "contains '{' or '}' beyond a supported path template"),
    ("/{**}/foo/{*}", "{**} is not the last operator"),
    ("/a/{**}/{**}", "{**} is not the last operator"),
    ("/*/baz/{*}", "contains segment '*' with invalid string literal"),
    ("/**/baz/{*}", "contains segment '**' with invalid string literal"),
    ("/a//{*}", "contains segment '' with invalid string literal"),
    ("/v1/{model}", "contains '{' or '}' beyond a supported path template"),  # no template needed
]


@pytest.mark.parametrize(("pattern", "expected"), TEMPLATE_ERRORS)
def test_ap_path_template_error(pattern: str, expected: str) -> None:
    assert ap_path_template_error(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "/v2/models/{*}/infer",
        "/foo/{*}/bar/{**}",
        "/foo/{**}/",
        "/v1/{**}/infer",  # a literal after {**} is accepted: only a later template fails
        "/v2/models/*/infer",  # no template: a middle * is not this check's business
        "/v1/models/iris:predict",
        "*",
    ],
)
def test_ap_path_template_noop(pattern: str) -> None:
    assert ap_path_template_error(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("/a/{*}", True), ("/a/{**}", True), ("/a/*", False), ("/a/{x}", False)],
)
def test_contains_path_template(pattern: str, expected: bool) -> None:
    assert contains_path_template(pattern) is expected


GATEWAY_PATH = [
    # HTTPPathMatch CEL (gwapi httproute_types.go)
    (
        "PathPrefix",
        "/v1/{*}",  # RULES.md §5: HTTPRoute PathPrefix /v1/{*} is rejected by the CRD
        "must only contain valid characters (matching "
        "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']",
    ),
    (
        "Exact",
        "v1/models",
        "value must be an absolute path and start with '/' "
        "when type one of ['Exact', 'PathPrefix']",
    ),
    ("PathPrefix", "/v1//models", "must not contain '//' when type one of ['Exact', 'PathPrefix']"),
    ("PathPrefix", "/v1/%2Fx", "must not contain '%2F' when type one of ['Exact', 'PathPrefix']"),
    ("Exact", "/v1/#x", "must not contain '#' when type one of ['Exact', 'PathPrefix']"),
    ("PathPrefix", "/v1/..", "must not end with '/..' when type one of ['Exact', 'PathPrefix']"),
    ("Prefix", "/v1", "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']"),
    ("PathPrefix", "/v1/models/*", None),  # "*" is a legal (literal) character: MG210 warning
    ("Exact", "/v1/models/iris:predict", None),
    ("RegularExpression", "/v1/{*}", None),  # no charset rule for regexes
]


@pytest.mark.parametrize(("kind", "value", "expected"), GATEWAY_PATH)
def test_gateway_path_error(kind: str, value: str, expected: str | None) -> None:
    assert gateway_path_error(kind, value) == expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("/v1/.*", "/v1/chat", True),
        ("/v1/\\d+", "/v1/\u0663", False),  # re.ASCII: \d is [0-9] as in RE2
        ("(a+)+$", "a" * 28 + "!", False),  # nested repeat: refused, returns at once
        ("(a|aa)*b", "a" * 28, False),  # repeated alternation: refused
        ("/v1/(chat|completions)", "/v1/chat", True),  # alternation outside a repeat is fine
        ("[(]+x", "((x", True),  # a "(" inside a class is not a group
    ],
)
def test_regex_full_match(pattern: str, text: str, expected: bool) -> None:
    assert regex_full_match(pattern, text) is expected
