"""MG501–MG505: one test per numbered condition of RULES.md, asserting line and severity.

Upstream behaviour behind each case: `gwapi apis/v1/{gateway,httproute,object_reference}_types.go`
(tags v1.0.0–v1.6.0), `istio pilot/pkg/config/kube/gateway/conversion.go` (HEAD 86c9f01f) and
`istio pkg/config/schema/gvk/resources.gen.go` at 1.26.0/1.27.0/1.28.0.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
import yaml

from meshguard.model import Safety
from tests.lintkit import findings_of, lines_of

ISTIO_GW = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ml-gateway, namespace: istio-ingress}
spec:
  gatewayClassName: istio
  listeners: [{name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}]
---
"""
GW = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ml-gateway, namespace: istio-ingress}
spec:
  gatewayClassName: istio
  listeners:
"""
HR = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: qwen, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
  rules:
"""
POOL = "backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: qwen-pool}]"
EXPERIMENTAL = {"gateway_api_channel": "experimental"}


def gateway(*listeners: str, cls: str = "istio") -> str:
    """A Gateway whose listeners start on line 7."""
    return GW.replace("gatewayClassName: istio", f"gatewayClassName: {cls}") + "".join(
        f"  - {line}\n" for line in listeners
    )


def route(*lines: str, istio: bool = False) -> str:
    """An HTTPRoute whose rules[0] starts on line 7 (line 14 after the Istio Gateway)."""
    body = HR + "  - " + "\n    ".join(lines) + "\n"
    return ISTIO_GW + body if istio else body


def fixed(text: str, rule: str, params: dict[str, Any] | None = None, doc: int = -1) -> Any:
    """The body of document `doc` after applying every fix of `rule`."""
    found = [f for f in findings_of(text, rule, params) if f.fix is not None]
    assert found
    body = copy.deepcopy(list(yaml.safe_load_all(text))[doc])
    for f in found:
        assert f.fix is not None
        body = jsonpatch.apply_patch(body, list(f.fix.ops))
    return body


# -- MG501 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["GRPC", "gRPC", "grpc", "HTTP2", "H2C", "h2c"])
def test_mg501_1_grpc_spellings(protocol: str) -> None:
    text = gateway(f"{{name: grpc, protocol: {protocol}, port: 8081}}")
    assert lines_of(text, "MG501") == [(7, "error")]
    assert fixed(text, "MG501")["spec"]["listeners"][0]["protocol"] == "HTTP"
    [finding] = findings_of(text, "MG501")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE


def test_mg501_1_lowercase_standard_protocol_is_upper_cased() -> None:
    text = gateway("{name: http, protocol: http, port: 80}")
    assert lines_of(text, "MG501") == [(7, "error")]
    assert fixed(text, "MG501")["spec"]["listeners"][0]["protocol"] == "HTTP"


def test_mg501_1_grpc_with_tls_becomes_https() -> None:
    text = gateway("{name: grpc, protocol: GRPC, port: 443, tls: {certificateRefs: [{name: c}]}}")
    assert fixed(text, "MG501")["spec"]["listeners"][0]["protocol"] == "HTTPS"


def test_mg501_1_grpc_with_passthrough_becomes_tls() -> None:
    text = gateway("{name: grpc, protocol: grpc, port: 443, tls: {mode: Passthrough}}")
    assert fixed(text, "MG501")["spec"]["listeners"][0]["protocol"] == "TLS"


def test_mg501_1_unknown_protocol_has_no_fix() -> None:
    [finding] = findings_of(gateway("{name: x, protocol: QUIC, port: 443}"), "MG501")
    assert finding.fix is None and "QUIC" in finding.message


def test_mg501_1_udp_only_on_istio_classes() -> None:
    assert lines_of(gateway("{name: dns, protocol: UDP, port: 53}"), "MG501") == [(7, "error")]
    other = gateway("{name: dns, protocol: UDP, port: 53}", cls="envoy-gateway")
    assert lines_of(other, "MG501") == []


def test_mg501_1_hbone_only_on_mesh_and_east_west_controllers() -> None:
    listener = "{name: mesh, protocol: HBONE, port: 15008}"
    assert lines_of(gateway(listener), "MG501") == [(7, "error")]
    assert lines_of(gateway(listener, cls="istio-waypoint"), "MG501") == []
    assert lines_of(gateway(listener, cls="istio-east-west"), "MG501") == []
    custom = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
        "metadata: {name: my-waypoints}\n"
        "spec: {controllerName: istio.io/mesh-controller}\n---\n"
    )
    assert lines_of(custom + gateway(listener, cls="my-waypoints"), "MG501") == []


def test_mg501_1_domain_prefixed_and_standard_protocols_pass() -> None:
    text = gateway(
        "{name: a, protocol: HTTP, port: 80}",
        "{name: b, protocol: TCP, port: 9000}",
        "{name: c, protocol: example.com/quic, port: 443}",
    )
    assert lines_of(text, "MG501") == []


def test_mg501_2_tls_on_plaintext_protocols() -> None:
    for protocol in ("HTTP", "TCP"):
        text = gateway(f"{{name: x, protocol: {protocol}, port: 80, tls: {{mode: Terminate}}}}")
        [finding] = findings_of(text, "MG501")
        assert finding.pointer == "/spec/listeners/0/tls" and finding.severity.value == "error"


def test_mg501_2_https_passthrough() -> None:
    text = (
        GW + "  - name: https\n    protocol: HTTPS\n    port: 443\n    tls: {mode: Passthrough}\n"
    )
    assert lines_of(text, "MG501") == [(10, "error")]
    assert findings_of(text, "MG501")[0].pointer == "/spec/listeners/0/tls/mode"


def test_mg501_3_terminate_without_certificates() -> None:
    text = gateway("{name: https, protocol: HTTPS, port: 443, tls: {}}")
    assert lines_of(text, "MG501") == [(7, "error")]
    assert findings_of(text, "MG501")[0].pointer == "/spec/listeners/0/tls"
    with_options = gateway("{name: https, protocol: HTTPS, port: 443, tls: {options: {a: b}}}")
    assert lines_of(with_options, "MG501") == []
    passthrough = gateway("{name: tls, protocol: TLS, port: 443, tls: {mode: Passthrough}}")
    assert lines_of(passthrough, "MG501") == []


GRPC_ROUTE = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: iris-grpc, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
  rules:
  - backendRefs: [{name: iris-predictor, port: 8081}]
"""
REST_ROUTE = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: iris-rest, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2/models/iris}}]
    backendRefs: [{name: iris-predictor, port: 80}]
"""
ALL = "allowedRoutes: {namespaces: {from: All}}"


def test_mg501_4_grpc_and_rest_share_a_plaintext_port() -> None:
    text = gateway(f"{{name: http, protocol: HTTP, port: 80, {ALL}}}") + REST_ROUTE + GRPC_ROUTE
    assert lines_of(text, "MG501") == [(7, "info")]
    assert "GRPCRoute ml-serving/iris-grpc" in findings_of(text, "MG501")[0].message


def test_mg501_4_grpc_service_port_counts_as_grpc() -> None:
    service = (
        "---\napiVersion: v1\nkind: Service\n"
        "metadata: {name: triton, namespace: ml-serving}\n"
        "spec:\n  selector: {component: predictor}\n"
        "  ports: [{name: grpc, port: 8001, appProtocol: grpc}]\n"
    )
    grpc_http = REST_ROUTE.replace("iris-rest", "triton-grpc").replace(
        "- matches: [{path: {type: PathPrefix, value: /v2/models/iris}}]\n    backendRefs: "
        "[{name: iris-predictor, port: 80}]",
        "- backendRefs: [{name: triton, port: 8001}]",
    )
    text = (
        gateway(f"{{name: http, protocol: HTTP, port: 80, {ALL}}}")
        + REST_ROUTE
        + grpc_http
        + service
    )
    assert lines_of(text, "MG501") == [(7, "info")]


def test_mg501_4_quiet_with_https_listener_separate_port_or_not_admitted() -> None:
    https = (
        "{name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: c}]}, "
        + ALL
        + "}"
    )
    both = gateway(f"{{name: http, protocol: HTTP, port: 80, {ALL}}}", https)
    assert lines_of(both + REST_ROUTE + GRPC_ROUTE, "MG501") == []
    separate = gateway(
        f"{{name: http, protocol: HTTP, port: 80, {ALL}}}",
        f"{{name: grpc, protocol: HTTP, port: 8081, {ALL}}}",
    )
    pinned = GRPC_ROUTE.replace(
        "namespace: istio-ingress}", "namespace: istio-ingress, sectionName: grpc}"
    )
    rest_pinned = REST_ROUTE.replace("istio-ingress}", "istio-ingress, sectionName: http}")
    assert lines_of(separate + rest_pinned + pinned, "MG501") == []
    assert lines_of(separate + REST_ROUTE + pinned, "MG501") == [(8, "info")]  # REST binds 8081 too
    same_ns_only = gateway("{name: http, protocol: HTTP, port: 80}")
    assert lines_of(same_ns_only + REST_ROUTE + GRPC_ROUTE, "MG501") == []


def test_mg501_4_needs_an_inference_backend() -> None:
    plain_rest = REST_ROUTE.replace("/v2/models/iris", "/shop")
    text = gateway(f"{{name: http, protocol: HTTP, port: 80, {ALL}}}") + plain_rest + GRPC_ROUTE
    assert lines_of(text, "MG501") == []


# -- MG502 -----------------------------------------------------------------------------------


def test_mg502_prefix_to_model_name() -> None:
    text = route("matches: [{path: {type: PathPrefix, value: /v1/models/iris}}]", "backendRefs: []")
    assert lines_of(text, "MG502") == [(7, "warning")]
    body = fixed(text, "MG502")
    assert body["spec"]["rules"][0]["matches"][1:] == [
        {"path": {"type": "Exact", "value": "/v1/models/iris:predict"}},
        {"path": {"type": "Exact", "value": "/v1/models/iris:explain"}},
    ]
    assert lines_of(yaml.safe_dump(body), "MG502") == []


def test_mg502_default_type_is_path_prefix() -> None:
    assert lines_of(route("matches: [{path: {value: /v1/models/iris/}}]"), "MG502") == [
        (7, "warning")
    ]


@pytest.mark.parametrize(
    "extra",
    [
        '{path: {type: Exact, value: "/v1/models/iris:predict"}}',
        '{path: {type: RegularExpression, value: "/v1/models/iris:.*"}}',
        "{path: {type: PathPrefix, value: /v1/models}}",  # covers /v1/models/iris:predict
        "{headers: [{name: x, value: y}]}",  # no path: PathPrefix / covers everything
    ],
)
def test_mg502_other_match_covers_predict(extra: str) -> None:
    text = route(f"matches: [{{path: {{type: PathPrefix, value: /v1/models/iris}}}}, {extra}]")
    assert lines_of(text, "MG502") == []


@pytest.mark.parametrize(
    "value",
    [
        "/v1/models",
        "/v1/models/",
        "/v2/models/iris",
        "/v1/models/iris/metadata",
        "/v1/models/iris:predict",
    ],
)
def test_mg502_other_prefixes_are_quiet(value: str) -> None:
    assert (
        lines_of(route(f'matches: [{{path: {{type: PathPrefix, value: "{value}"}}}}]'), "MG502")
        == []
    )


def test_mg502_exact_model_path_is_not_flagged() -> None:
    assert (
        lines_of(route("matches: [{path: {type: Exact, value: /v1/models/iris}}]"), "MG502") == []
    )


# -- MG503 -----------------------------------------------------------------------------------


def test_mg503_1_backend_request_longer_than_request() -> None:
    text = route("backendRefs: []", "timeouts: {request: 30s, backendRequest: 1m}")
    assert lines_of(text, "MG503") == [(8, "error")]
    [finding] = findings_of(text, "MG503")
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert fixed(text, "MG503")["spec"]["rules"][0]["timeouts"]["backendRequest"] == "30s"


def test_mg503_1_zero_request_or_zero_backend_is_allowed() -> None:
    for timeouts in ("{request: 0s, backendRequest: 60s}", "{request: 30s, backendRequest: 0s}"):
        assert lines_of(route("backendRefs: []", f"timeouts: {timeouts}"), "MG503") == []


def test_mg503_1_invalid_literals_are_left_to_mg201() -> None:
    text = route("backendRefs: []", "timeouts: {request: 1.5s, backendRequest: 60s}")
    assert lines_of(text, "MG503") == []


def test_mg503_2_crd_version_and_channel() -> None:
    text = route("backendRefs: []", "timeouts: {request: 30s}")
    assert lines_of(text, "MG503", {"gateway_api_version": "v1.1.0"}) == [(8, "warning")]
    experimental = {"gateway_api_version": "v1.0.0", **EXPERIMENTAL}
    assert lines_of(text, "MG503", experimental) == []
    assert lines_of(text, "MG503", {"gateway_api_version": "v0.8.1", **EXPERIMENTAL}) == [
        (8, "warning")
    ]
    assert lines_of(text, "MG503") == []


def test_mg503_3_istio_backend_request_replaces_request() -> None:
    text = route(POOL, "timeouts: {request: 300s, backendRequest: 60s}", istio=True)
    assert lines_of(text, "MG503") == [(15, "warning")]
    [finding] = findings_of(text, "MG503")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(text, "MG503")["spec"]["rules"][0]["timeouts"] == {"request": "300s"}


def test_mg503_3_disabled_request_is_overridden_too() -> None:
    text = route(POOL, "timeouts: {request: 0s, backendRequest: 60s}", istio=True)
    assert lines_of(text, "MG503") == [(15, "warning")]
    assert "0s (disabled)" in findings_of(text, "MG503")[0].message


@pytest.mark.parametrize(
    "lines",
    [
        (POOL, "timeouts: {request: 300s, backendRequest: 60s}", "retry: {attempts: 1}"),  # per-try
        (POOL, "timeouts: {backendRequest: 60s}"),  # no request to override
        (POOL, "timeouts: {request: 60s, backendRequest: 60s}"),  # same value
        (POOL, "timeouts: {request: 300s, backendRequest: 0s}"),  # 0s is ignored by Istio
    ],
)
def test_mg503_3_quiet_cases(lines: tuple[str, ...]) -> None:
    assert lines_of(route(*lines, istio=True), "MG503", EXPERIMENTAL) == []


def test_mg503_3_needs_an_istio_parent() -> None:
    no_parent = route(POOL, "timeouts: {request: 300s, backendRequest: 60s}")
    assert lines_of(no_parent, "MG503") == []
    other = route(POOL, "timeouts: {request: 300s, backendRequest: 60s}", istio=True).replace(
        "gatewayClassName: istio", "gatewayClassName: envoy-gateway"
    )
    assert lines_of(other, "MG503") == []


def test_mg503_4_gke_class() -> None:
    text = route("backendRefs: []", "timeouts: {request: 30s}", istio=True).replace(
        "gatewayClassName: istio", "gatewayClassName: gke-l7-global-external-managed"
    )
    assert lines_of(text, "MG503") == [(15, "warning")]
    assert findings_of(text, "MG503")[0].pointer == "/spec/rules/0/timeouts"


# -- MG504 -----------------------------------------------------------------------------------


def test_mg504_1_standard_channel() -> None:
    text = route("backendRefs: []", "retry: {attempts: 2}", "sessionPersistence: {type: Cookie}")
    assert lines_of(text, "MG504") == [(8, "warning"), (9, "warning")]


def test_mg504_1_experimental_channel_versions() -> None:
    text = route("backendRefs: []", "retry: {attempts: 2}", "sessionPersistence: {type: Cookie}")
    assert lines_of(text, "MG504", EXPERIMENTAL) == []
    old = {"gateway_api_version": "v1.1.0", **EXPERIMENTAL}
    assert lines_of(text, "MG504", old) == [(8, "warning")]


def test_mg504_1_grpcroute_session_persistence() -> None:
    text = GRPC_ROUTE.removeprefix("---\n") + "    sessionPersistence: {type: Cookie}\n"
    assert lines_of(text, "MG504") == [(8, "warning")]
    assert lines_of(text, "MG504", EXPERIMENTAL) == []


def test_mg504_2_codes() -> None:
    text = route(
        "backendRefs: []",
        "retry:\n      attempts: 1\n      codes: [600, 399, '503', 429, 503, 503]",
    )
    got = [
        (f.pointer.rsplit("/", 1)[1], f.severity.value)
        for f in findings_of(text, "MG504", EXPERIMENTAL)
    ]
    assert got == [("0", "error"), ("1", "error"), ("2", "error"), ("3", "info"), ("5", "error")]
    assert lines_of(text, "MG504", EXPERIMENTAL) == [(10, "error")] * 3 + [
        (10, "info"),
        (10, "error"),
    ]


@pytest.mark.parametrize(
    ("attempts", "version", "severity"),
    [
        (-1, "v1.2.0", "error"),
        (0, "v1.2.0", "info"),
        (0, "v1.5.0", "info"),
        (0, "v1.6.0", "error"),
        ("'2'", "v1.2.0", "error"),
    ],
)
def test_mg504_2_attempts(attempts: Any, version: str, severity: str) -> None:
    text = route("backendRefs: []", f"retry:\n      attempts: {attempts}")
    params = {"gateway_api_version": version, **EXPERIMENTAL}
    assert lines_of(text, "MG504", params) == [(9, severity)]


def test_mg504_2_valid_attempts_are_quiet() -> None:
    text = route("backendRefs: []", "retry: {attempts: 1, codes: [503, 502]}")
    assert lines_of(text, "MG504", {"gateway_api_version": "v1.6.0", **EXPERIMENTAL}) == []


def test_mg504_3_istio_default_attempts() -> None:
    text = route("backendRefs: []", "retry: {codes: [503]}", istio=True)
    assert lines_of(text, "MG504", EXPERIMENTAL) == [(15, "info")]
    assert lines_of(route("backendRefs: []", "retry: {codes: [503]}"), "MG504", EXPERIMENTAL) == []


# -- MG505 -----------------------------------------------------------------------------------

V1_POOL = """\
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: qwen-pool, namespace: ml-serving}
spec:
  selector: {matchLabels: {app: vllm-qwen}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: qwen-epp, port: {number: 9002}, failureMode: FailClose}
"""
ALPHA_POOL = """\
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: qwen-pool, namespace: ml-serving}
spec:
  selector: {app: vllm-qwen}
  targetPortNumber: 8000
  extensionRef: {name: qwen-epp, portNumber: 9002, failureMode: FailClose}
"""


def pool_ref(group: str | None, name: str = "qwen-pool", istio: bool = False) -> str:
    group_part = "" if group is None else f"group: '{group}', "
    return route(f"backendRefs: [{{{group_part}kind: InferencePool, name: {name}}}]", istio=istio)


def test_mg505_1_missing_or_empty_group() -> None:
    assert lines_of(pool_ref(None), "MG505") == [(7, "error")]
    [finding] = findings_of(pool_ref(""), "MG505")
    assert (
        finding.pointer == "/spec/rules/0/backendRefs/0/group" and finding.severity.value == "error"
    )
    assert fixed(pool_ref(""), "MG505")["spec"]["rules"][0]["backendRefs"][0]["group"] == (
        "inference.networking.k8s.io"
    )


def test_mg505_1_fix_uses_the_group_of_the_pool_in_the_run() -> None:
    text = pool_ref(None) + ALPHA_POOL
    body = fixed(text, "MG505", doc=0)
    assert body["spec"]["rules"][0]["backendRefs"][0]["group"] == "inference.networking.x-k8s.io"


def test_mg505_1_under_istio_127_the_fix_writes_the_v1alpha2_group() -> None:
    text = pool_ref(None, istio=True)
    body = fixed(text, "MG505", {"istio_version": "1.27"})
    assert body["spec"]["rules"][0]["backendRefs"][0]["group"] == "inference.networking.x-k8s.io"


@pytest.mark.parametrize(
    ("group", "version", "expected"),
    [
        ("inference.networking.x-k8s.io", "1.28", [(14, "error")]),
        ("inference.networking.x-k8s.io", "1.30", [(14, "error")]),
        ("inference.networking.k8s.io", "1.28", []),
        ("inference.networking.x-k8s.io", "1.27", []),
        ("inference.networking.k8s.io", "1.27", [(14, "error")]),
        ("inference.networking.k8s.io", "1.26", [(14, "error")]),
        ("inference.networking.x-k8s.io", "1.25", [(14, "error")]),
    ],
)
def test_mg505_2_istio_version_gates(
    group: str, version: str, expected: list[tuple[int, str]]
) -> None:
    assert lines_of(pool_ref(group, istio=True), "MG505", {"istio_version": version}) == expected


def test_mg505_2_legacy_group_without_istio_parent_is_a_warning() -> None:
    assert lines_of(pool_ref("inference.networking.x-k8s.io"), "MG505") == [(7, "warning")]
    assert lines_of(pool_ref("inference.networking.k8s.io"), "MG505") == []


def test_mg505_2_fix_only_when_the_wanted_pool_exists() -> None:
    [bare] = findings_of(pool_ref("inference.networking.x-k8s.io", istio=True), "MG505")
    assert bare.fix is None
    text = pool_ref("inference.networking.x-k8s.io", istio=True) + V1_POOL
    [finding] = findings_of(text, "MG505")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(text, "MG505", doc=1)["spec"]["rules"][0]["backendRefs"][0]["group"] == (
        "inference.networking.k8s.io"
    )


def test_mg505_3_hostname_name_on_istio() -> None:
    text = pool_ref(
        "inference.networking.k8s.io", name="qwen-pool.ml-serving.svc.cluster.local", istio=True
    )
    assert lines_of(text, "MG505") == [(14, "error")]
    assert findings_of(text, "MG505")[0].pointer.endswith("/name")
    no_istio = pool_ref(
        "inference.networking.k8s.io", name="qwen-pool.ml-serving.svc.cluster.local"
    )
    assert lines_of(no_istio, "MG505") == []


SERVICE = """\
---
apiVersion: v1
kind: Service
metadata: {name: iris-predictor, namespace: ml-serving}
spec:
  ports: [{name: http, port: 80}]
"""


@pytest.mark.parametrize(
    "ref",
    [
        "{name: iris-predictor}",
        "{name: iris-predictor, kind: Service}",
        "{name: iris-predictor, group: ''}",
    ],
)
def test_mg505_4_service_without_port(ref: str) -> None:
    text = route(f"backendRefs: [{ref}]")
    assert lines_of(text, "MG505") == [(7, "error")]
    assert findings_of(text, "MG505")[0].fix is None  # the Service is not in the run
    body = fixed(text + SERVICE, "MG505", doc=0)
    assert body["spec"]["rules"][0]["backendRefs"][0]["port"] == 80


def test_mg505_4_other_kinds_and_grpcroute() -> None:
    assert lines_of(route("backendRefs: [{name: x, port: 80}]"), "MG505") == []
    assert (
        lines_of(route("backendRefs: [{group: example.com, kind: Backend, name: x}]"), "MG505")
        == []
    )
    grpc = GRPC_ROUTE.removeprefix("---\n").replace("port: 8081}", "}")
    assert lines_of(grpc, "MG505") == [(7, "error")]


# -- robustness --------------------------------------------------------------------------------

HOSTILE = [
    "spec: {listeners: 'x', rules: 3, parentRefs: {a: b}}",
    "spec: {listeners: [1, null, {protocol: 5}, {protocol: HTTPS, tls: x}], rules: [1, null]}",
    "spec:\n  parentRefs: [{name: 3}, 'x']\n  rules:\n"
    "  - {matches: x, backendRefs: x, timeouts: x, retry: x}\n"
    "  - {backendRefs: [1, {kind: InferencePool, name: [1]}], retry: {codes: x, attempts: [1]}}\n"
    "  - {matches: [{path: {type: PathPrefix, value: 5}}],\n"
    "     timeouts: {request: 5, backendRequest: [1]}}",
    "spec: null",
]


@pytest.mark.parametrize("spec", HOSTILE)
@pytest.mark.parametrize("kind", ["Gateway", "HTTPRoute", "GRPCRoute"])
def test_hostile_input_never_raises(spec: str, kind: str) -> None:
    head = f"apiVersion: gateway.networking.k8s.io/v1\nkind: {kind}\n"
    text = head + f"metadata: {{name: x, namespace: y}}\n{spec}\n"
    for rule in ("MG501", "MG502", "MG503", "MG504", "MG505"):
        findings_of(text, rule, EXPERIMENTAL)
        findings_of(ISTIO_GW + text.replace("namespace: y", "namespace: istio-ingress"), rule)
