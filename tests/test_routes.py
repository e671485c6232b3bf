"""meshguard.routes: one view of VS `http[]` and HTTPRoute `rules[]` (RULES.md P7, §0.3)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from meshguard.config import Config
from meshguard.loader import load_text
from meshguard.model import Resource
from meshguard.routes import (
    PathMatch,
    Route,
    covers_any,
    is_embeddings_route,
    is_inference_route,
    is_llm_route,
    routes_of,
)

PARAMS = Config().params
HOST = "sklearn-predictor.ml-serving.svc.cluster.local"


def resources(text: str) -> list[Resource]:
    loaded = load_text(textwrap.dedent(text), "input.yaml")
    assert not loaded.errors
    return loaded.resources


def routes(text: str) -> list[Route]:
    return routes_of(resources(text)[0])


def one(text: str) -> Route:
    found = routes(text)
    assert len(found) == 1
    return found[0]


VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: sklearn, namespace: ml-serving, annotations: {a: b}}
spec:
  hosts: [sklearn-predictor]
  http:
"""
HR = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: llm, namespace: ml-serving}
spec:
  rules:
"""


def test_virtual_service_route_fields_and_pointers() -> None:
    route = one(
        VS
        + """\
  - match:
    - {uri: {prefix: /v1/models/}, method: {exact: POST}}
    - headers: {x-model-version: {exact: v2}}
    route:
    - {destination: {host: sklearn-predictor, subset: v1, port: {number: 80}}, weight: 90}
    - {destination: {host: other.ns.svc.cluster.local}}
    timeout: 30s
    retries: {attempts: 2, perTryTimeout: 10s}
"""
    )
    assert route.api == "istio" and route.pointer == "/spec/http/0" and route.index == 0
    assert route.paths == (PathMatch("prefix", "/v1/models/", "/spec/http/0/match/0/uri/prefix"),)
    assert [m.value if m else None for m in route.methods] == ["POST", None]
    assert [e.pointer for e in route.match_entries] == [
        "/spec/http/0/match/0",
        "/spec/http/0/match/1",
    ]
    assert route.timeout is not None and (route.timeout.value, route.timeout.pointer) == (
        "30s",
        "/spec/http/0/timeout",
    )
    assert route.backend_timeout is None
    assert route.retry is not None and route.retry.pointer == "/spec/http/0/retries"
    attempts = route.retry_field("attempts")
    assert attempts is not None and (attempts.value, attempts.pointer) == (
        2,
        "/spec/http/0/retries/attempts",
    )
    assert route.retry_field("retryOn") is None
    first, second = route.backends
    assert (first.host, first.subset, first.port, first.kind) == (HOST, "v1", 80, "")
    assert first.weight is not None and first.weight.pointer == "/spec/http/0/route/0/weight"
    assert second.host == "other.ns.svc.cluster.local" and second.weight is None
    delay = route.field("retries", "perTryTimeout")
    assert delay is not None and delay.pointer == "/spec/http/0/retries/perTryTimeout"


def test_httproute_defaults_and_backend_refs() -> None:
    found = routes(
        HR
        + """\
  - backendRefs: [{name: sklearn-predictor, port: 80}]
    timeouts: {request: 300s, backendRequest: 60s}
    retry: {attempts: 1, codes: [503]}
  - matches:
    - {method: POST}
    - path: {type: Exact, value: /v1/chat/completions}
    - path: {value: /v2/models/}
    - path: {type: RegularExpression, value: "/v1/.*/completions"}
    backendRefs:
    - {group: inference.networking.k8s.io, kind: InferencePool, name: qwen-pool}
    - {name: other, namespace: serving, weight: 0}
"""
    )
    first, second = found
    assert first.paths == (PathMatch("prefix", "/", "/spec/rules/0"),)  # CRD default
    assert first.timeout is not None and first.timeout.pointer == "/spec/rules/0/timeouts/request"
    assert first.backend_timeout is not None and first.backend_timeout.value == "60s"
    codes = first.retry_field("codes")
    assert codes is not None and codes.pointer == "/spec/rules/0/retry/codes"
    assert first.backends[0].host == HOST and first.backends[0].kind == "Service"
    assert second.paths == (
        PathMatch("prefix", "/", "/spec/rules/1/matches/0"),
        PathMatch("exact", "/v1/chat/completions", "/spec/rules/1/matches/1/path/value"),
        PathMatch("prefix", "/v2/models/", "/spec/rules/1/matches/2/path/value"),
        PathMatch("regex", "/v1/.*/completions", "/spec/rules/1/matches/3/path/value"),
    )
    assert second.methods[0] is not None and second.methods[0].value == "POST"
    pool, other = second.backends
    assert pool.is_inference_pool and pool.host == ""
    assert other.host == "other.serving.svc.cluster.local"
    assert other.weight is not None and other.weight.value == 0


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n",
        VS.replace("  http:\n", "  http: not-a-list\n"),
        VS + "  - 42\n  - [1, 2]\n",
        HR.replace("  rules:\n", "  rules: {a: b}\n"),
    ],
)
def test_no_routes_from_other_kinds_or_hostile_shapes(text: str) -> None:
    assert routes(text) == ()


def test_hostile_fields_never_raise() -> None:
    route = one(
        VS
        + """\
  - match: [42, {uri: [1]}, {uri: {prefix: 7}}, {method: "POST"}]
    route: [{destination: [x]}, 5, {destination: {host: 9}}]
    retries: "no"
    timeout: {a: b}
"""
    )
    assert route.paths == () and route.retry_block is None
    assert route.retry_field("attempts") is None
    assert [b.host for b in route.backends] == ["", ""]
    assert not is_inference_route(route, PARAMS, frozenset({HOST}))
    gw = one(
        HR
        + "  - matches: [{path: 5}, {path: {type: Bogus, value: /v1}}, 7]\n"
        + "    backendRefs: [{kind: 5}]\n"
    )
    assert gw.paths == ()
    assert gw.backends[0].kind == ""


@pytest.mark.parametrize(
    ("match", "llm"),
    [
        ("{uri: {prefix: /v1/chat/completions}}", True),
        ("{uri: {prefix: /v1}}", True),  # P7: a prefix of a listed path covers it
        ("{uri: {exact: /v1/completions}}", True),
        ("{uri: {regex: '/v1/(chat/)?completions'}}", True),
        ("{uri: {prefix: /generate_stream}}", True),  # substring marker
        ("{uri: {prefix: /}}", False),  # catch-all covers nothing
        ("{uri: {regex: '.*'}}", False),
        ("{headers: {x: {exact: y}}}", False),
        ("{uri: {prefix: /v2/models/}}", False),
    ],
)
def test_is_llm_route_by_path(match: str, llm: bool) -> None:
    route = one(VS + f"  - match: [{match}]\n    route: [{{destination: {{host: x}}}}]\n")
    assert is_llm_route(route, PARAMS) is llm


def test_is_llm_route_by_pool_or_annotation() -> None:
    pool = one(
        HR
        + "  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]\n"
    )
    assert is_llm_route(pool, PARAMS)
    plain = one(VS + "  - route: [{destination: {host: x}}]\n")
    assert not is_llm_route(plain, PARAMS)
    assert is_llm_route(plain, PARAMS, {"meshguard.io/route-class": "llm"})
    annotated = one(
        VS.replace("{a: b}", "{meshguard.io/route-class: LLM}")
        + "  - route: [{destination: {host: x}}]\n"
    )
    assert is_llm_route(annotated, PARAMS)


def test_is_inference_route() -> None:
    to_host = one(VS + "  - route: [{destination: {host: sklearn-predictor}}]\n")
    assert is_inference_route(to_host, PARAMS, frozenset({HOST}))
    assert is_inference_route(to_host, PARAMS, [HOST])
    assert not is_inference_route(to_host, PARAMS, frozenset())
    for path in ("/v2/models/", "/v1/embeddings", "/v1/chat/completions"):
        route = one(
            VS
            + f"  - match: [{{uri: {{prefix: {path}}}}}]\n"
            + "    route: [{destination: {host: x}}]\n"
        )
        assert is_inference_route(route, PARAMS), path
    embeddings = one(
        VS + "  - match: [{uri: {exact: /v1/embeddings}}]\n    route: [{destination: {host: x}}]\n"
    )
    assert is_embeddings_route(embeddings, PARAMS) and not is_llm_route(embeddings, PARAMS)


def test_restricted_to_methods() -> None:
    def methods(matches: str) -> Route:
        return one(VS + f"  - match: {matches}\n    route: [{{destination: {{host: x}}}}]\n")

    assert methods("[{method: {exact: GET}}, {method: {exact: HEAD}}]").restricted_to_methods(
        ["GET", "HEAD"]
    )
    assert not methods("[{method: {exact: GET}}, {uri: {prefix: /}}]").restricted_to_methods(
        ["GET"]
    )
    assert not methods("[{method: {regex: GET}}]").restricted_to_methods(["GET"])
    assert not one(VS + "  - route: [{destination: {host: x}}]\n").restricted_to_methods(["GET"])
    assert methods("[{method: {exact: POST}}]").has_exact_method("POST")


def test_covers_any_ignores_non_strings() -> None:
    route = one(
        VS + "  - match: [{uri: {prefix: /v1/models/}}]\n    route: [{destination: {host: x}}]\n"
    )
    listed: list[Any] = [None, 3, "/v1/models/iris"]
    assert covers_any(route, listed)
