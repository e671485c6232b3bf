"""Golden tests for P5 (host normalisation).

Sources: istio pilot/pkg/model/config.go (ResolveShortnameToFQDN), pkg/config/host/name.go
(Name.Matches, Name.IsWildCarded), pkg/util/net/ip.go (IsValidIPAddress), RULES.md §0.4 P5.
"""

from __future__ import annotations

import pytest

from meshguard.semantics.hosts import host_matches, is_wildcard, normalize_host, service_host

NORMALIZE = [
    # (host, namespace, domain_suffix, expected) — ResolveShortnameToFQDN
    ("reviews", "prod", "cluster.local", "reviews.prod.svc.cluster.local"),  # short name
    (
        "sklearn-predictor",
        "ml-serving",
        "cluster.local",
        "sklearn-predictor.ml-serving.svc.cluster.local",
    ),
    ("reviews", "prod", "corp.example", "reviews.prod.svc.corp.example"),  # mesh domain_suffix
    # a name with any dot is taken as fully qualified, NOT expanded (upstream; see hosts.py)
    ("reviews.prod", "default", "cluster.local", "reviews.prod"),
    (
        "reviews.prod.svc.cluster.local",
        "default",
        "cluster.local",
        "reviews.prod.svc.cluster.local",
    ),
    ("*", "prod", "cluster.local", "*"),  # the wildcard is treated as fully qualified
    ("*.example.com", "prod", "cluster.local", "*.example.com"),
    ("10.0.0.1", "prod", "cluster.local", "10.0.0.1"),  # IPs are not expanded
    ("2001:db8::1", "prod", "cluster.local", "2001:db8::1"),
    ("", "prod", "cluster.local", ""),  # only from an invalid Gateway API backendRef
    ("reviews", "", "cluster.local", "reviews.svc.cluster.local"),  # empty parts are left out
    ("reviews", "prod", "", "reviews.prod"),
    ("Reviews", "Prod", "cluster.local", "reviews.prod.svc.cluster.local"),  # meshguard lower-cases
    ("API.Example.COM", "prod", "cluster.local", "api.example.com"),
]


@pytest.mark.parametrize(("host", "namespace", "suffix", "expected"), NORMALIZE)
def test_normalize_host(host: str, namespace: str, suffix: str, expected: str) -> None:
    assert normalize_host(host, namespace, suffix) == expected


def test_normalize_host_default_suffix() -> None:
    assert normalize_host("llm", "ml-serving") == "llm.ml-serving.svc.cluster.local"


@pytest.mark.parametrize(
    ("name", "namespace", "suffix", "expected"),
    [
        (
            "iris-predictor",
            "ml-serving",
            "cluster.local",
            "iris-predictor.ml-serving.svc.cluster.local",
        ),
        ("epp", "llm", "corp.example", "epp.llm.svc.corp.example"),
    ],
)
def test_service_host(name: str, namespace: str, suffix: str, expected: str) -> None:
    assert service_host(name, namespace, suffix) == expected
    assert normalize_host(name, namespace, suffix) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [("*", True), ("*.example.com", True), ("example.com", False), ("a.*.com", False), ("", False)],
)
def test_is_wildcard(host: str, expected: bool) -> None:
    # host.Name.IsWildCarded: len(n) > 0 && n[0] == '*'
    assert is_wildcard(host) is expected


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*", "anything.ml.svc.cluster.local", True),
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),  # suffix ".example.com" required
        ("*.svc.cluster.local", "llm.ml.svc.cluster.local", True),
        ("llm.ml.svc.cluster.local", "llm.ml.svc.cluster.local", True),
        ("llm.ml.svc.cluster.local", "llm.other.svc.cluster.local", False),
        ("LLM.ml.svc.cluster.local", "llm.ml.svc.cluster.local", True),
    ],
)
def test_host_matches(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected
