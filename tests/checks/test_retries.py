"""MG201–MG206: one test per numbered condition of RULES.md, asserting line and severity.

Fixes are applied and the result re-linted: it must be clean for the rule, and MG202/MG204 fixes
must also leave MG204 quiet (RULES.md §7 errata 1.1–1.4).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
import yaml

from meshguard.model import Finding, Safety
from tests.lintkit import findings_of, lines_of

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sklearn, namespace: ml-serving}
spec:
  hosts: [sklearn-predictor]
  http:
"""
HR = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
  rules:
"""
DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sklearn, namespace: ml-serving}
spec:
  host: sklearn-predictor
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: sklearn-predictor, namespace: ml-serving}
spec:
  selector: {serving.kserve.io/inferenceservice: sklearn}
  ports: [{name: http, port: 80}]
---
"""
DEST = "route: [{destination: {host: sklearn-predictor}}]"
CHAT = "match: [{uri: {prefix: /v1/chat/completions}}]"
POOL = "backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: qwen-pool}]"


def vs(*lines: str) -> str:
    """A VirtualService whose http[0] has `lines` (first line is the list item, line 7)."""
    return VS + "  - " + "\n    ".join(lines) + "\n"


def hr(*lines: str) -> str:
    """An HTTPRoute whose rules[0] has `lines` (first line is the list item, line 7)."""
    return HR + "  - " + "\n    ".join(lines) + "\n"


def only(text: str, rule: str, params: dict[str, Any] | None = None) -> Finding:
    found = findings_of(text, rule, params)
    assert len(found) == 1, [f.message for f in found]
    return found[0]


def fixed_body(finding: Finding) -> dict[str, Any]:
    assert finding.fix is not None and finding.resource is not None
    body: dict[str, Any] = jsonpatch.apply_patch(
        copy.deepcopy(dict(finding.resource.body)), list(finding.fix.ops)
    )
    return body


def relint(
    text: str, finding: Finding, rules: tuple[str, ...], params: dict[str, Any] | None = None
) -> None:
    """Apply the fix, then the rules must be quiet and a second lint must offer nothing to fix."""
    body = fixed_body(finding)
    docs = [d for d in yaml.safe_load_all(text) if d != finding.resource.body]  # type: ignore[union-attr]
    out = yaml.safe_dump_all([*docs, body], sort_keys=False)
    for rule in rules:
        assert [
            f.message for f in findings_of(out, rule, params) if f.severity.value != "info"
        ] == []
        assert [f for f in findings_of(out, rule, params) if f.fix is not None] == []


# -- MG201 invalid duration literal -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("1.5m", "90s"),
        ("1.5s", "1500ms"),
        ("100000s", "27h46m40s"),
        ("10us", None),
        ("1d", None),
        ("-1s", None),
    ],
)
def test_mg201_gateway_duration(value: str, fix: str | None) -> None:
    text = hr("backendRefs: [{name: llm-predictor, port: 80}]", f"timeouts: {{request: {value!r}}}")
    finding = only(text, "MG201")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert finding.pointer == "/spec/rules/0/timeouts/request" and value in finding.message
    if fix is None:
        assert finding.fix is None
    else:
        assert finding.fix is not None and finding.fix.safety is Safety.SAFE
        assert fixed_body(finding)["spec"]["rules"][0]["timeouts"]["request"] == fix
        relint(text, finding, ("MG201",))


def test_mg201_gateway_other_fields_and_bare_integers() -> None:
    text = hr(
        "backendRefs: [{name: llm-predictor, port: 80}]",
        "timeouts: {request: 30, backendRequest: 1.5s}",
        "retry: {attempts: 1, backoff: 100ms0}",
        "sessionPersistence: {absoluteTimeout: 1h, idleTimeout: 0.5m}",
    )
    assert lines_of(text, "MG201") == [(8, "error"), (8, "error"), (9, "error"), (10, "error")]
    bare = next(f for f in findings_of(text, "MG201") if f.pointer.endswith("/request"))
    assert bare.fix is None  # unit unknown without assume_bare_int_unit
    with_unit = next(
        f
        for f in findings_of(text, "MG201", {"assume_bare_int_unit": "m"})
        if f.pointer.endswith("/request")
    )
    assert fixed_body(with_unit)["spec"]["rules"][0]["timeouts"]["request"] == "30m"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", "30"),
        ("timeout", "'30'"),
        ("timeout", "1d"),
        ("timeout", "0s"),
        ("timeout", "1500us"),
        ("timeout", "0.5ms"),
        ("retries: {attempts: 1, perTryTimeout", "10"),
        ("retries: {attempts: 1, backoff", "1 s"),
        ("fault: {delay: {percentage: {value: 1}, fixedDelay", "1x"),
        ("fault: {delay: {percentage: {value: 1}, exponentialDelay", "true"),
        ("corsPolicy: {maxAge", "1500ms"),  # validation.go: seconds precision only
    ],
)
def test_mg201_virtual_service_durations(field: str, value: str) -> None:
    closing = "}" * (field.count("{") - field.count("}"))
    text = vs("route: [{destination: {host: x}}]", f"{field}: {value}{closing}")
    finding = only(text, "MG201")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert finding.fix is None  # Istio: report only


@pytest.mark.parametrize("value", ["1.5s", "1m30s", "+1s", ".5s", "1μs0ms10ms"])
def test_mg201_valid_istio_durations(value: str) -> None:
    assert lines_of(vs(DEST, f"timeout: '{value}'"), "MG201") in ([], [(8, "error")])
    if value != "1μs0ms10ms":
        assert lines_of(vs(DEST, f"timeout: '{value}'"), "MG201") == []


def test_mg201_destination_rule_locations() -> None:
    text = DR + (
        "  trafficPolicy:\n"  # 6
        "    connectionPool:\n"  # 7
        "      tcp: {connectTimeout: 500us, idleTimeout: 500us,"  # 8
        " tcpKeepalive: {time: 2h, interval: 75}}\n"
        "      http: {idleTimeout: 0s, http2KeepAlive: {timeout: 5s}}\n"  # 9
        "    outlierDetection: {interval: 1d, baseEjectionTime: 30s}\n"  # 10
        "    loadBalancer: {warmup: {minimumPercent: 10}, warmupDurationSecs: 60}\n"  # 11
        "    portLevelSettings:\n"  # 12
        "    - port: {number: 80}\n"  # 13
        "      connectionPool: {tcp: {maxConnectionDuration: 1.5us}}\n"  # 14
        "  subsets:\n"  # 15
        "  - name: v1\n"  # 16
        "    trafficPolicy: {outlierDetection: {baseEjectionTime: 0s}}\n"  # 17
    )
    found = {f.pointer: (f.position.line, f.severity.value) for f in findings_of(text, "MG201")}
    assert found == {
        "/spec/trafficPolicy/connectionPool/tcp/connectTimeout": (8, "error"),
        "/spec/trafficPolicy/connectionPool/tcp/tcpKeepalive/interval": (8, "error"),
        "/spec/trafficPolicy/connectionPool/http/idleTimeout": (
            9,
            "error",
        ),  # only tcp.idleTimeout may be 0
        "/spec/trafficPolicy/connectionPool/http/http2KeepAlive": (9, "error"),  # interval required
        "/spec/trafficPolicy/outlierDetection/interval": (10, "error"),
        "/spec/trafficPolicy/loadBalancer/warmup": (11, "error"),  # duration required
        "/spec/trafficPolicy/loadBalancer/warmupDurationSecs": (11, "error"),
        "/spec/trafficPolicy/portLevelSettings/0/connectionPool/tcp/maxConnectionDuration": (
            14,
            "error",
        ),
        "/spec/subsets/0/trafficPolicy/outlierDetection/baseEjectionTime": (17, "error"),
    }


def test_mg201_warmup_duration_secs_only_needs_one_millisecond() -> None:
    # crd-all.gen.yaml CEL only; validation.go does not call ValidateDuration on it
    ok = DR + "  trafficPolicy: {loadBalancer: {warmupDurationSecs: 1500us}}\n"
    assert lines_of(ok, "MG201") == []
    assert lines_of(ok.replace("1500us", "500us"), "MG201") == [(6, "error")]


@pytest.mark.parametrize("value", ["0s", "'0'", "500us", "1h"])
def test_mg201_tcp_idle_timeout_may_truncate_to_zero(value: str) -> None:
    text = DR + f"  trafficPolicy: {{connectionPool: {{tcp: {{idleTimeout: {value}}}}}}}\n"
    assert lines_of(text, "MG201") == []


def test_mg201_unquoted_zero_idle_timeout_is_still_rejected() -> None:
    text = DR + "  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 0}}}\n"
    assert lines_of(text, "MG201") == [(6, "error")]


@pytest.mark.parametrize(
    "text",
    [
        VS + "  - timeout: null\n    route: [{destination: {host: x}}]\n",
        DR + "  trafficPolicy: [1, 2]\n  subsets: [3, {trafficPolicy: x}]\n",
        DR + "  trafficPolicy: {connectionPool: {tcp: 5}, portLevelSettings: [1]}\n",
        HR + "  - timeouts: 5\n    retry: []\n",
        HR + "  - 5\n",
    ],
)
def test_mg201_hostile_shapes_are_quiet(text: str) -> None:
    assert lines_of(text, "MG201") == []
    assert [f for f in findings_of(text, "MG000")] == []


# -- MG202 retry block invalid or missing -----------------------------------------------------


@pytest.mark.parametrize(
    ("retries", "line"),
    [
        ("{perTryTimeout: 10s}", 8),
        ("{retryOn: connect-failure}", 8),
        ("{attempts: 0, retryRemoteLocalities: false}", 8),
        ("{attempts: null, perTryTimeout: 10s}", 8),
    ],
)
def test_mg202_1_fields_without_attempts(retries: str, line: int) -> None:
    text = vs(DEST, f"retries: {retries}")
    finding = only(text, "MG202")
    assert (finding.position.line, finding.severity.value) == (line, "error")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed_body(finding)["spec"]["http"][0]["retries"]["attempts"] == 2
    relint(text, finding, ("MG202", "MG204"))


def test_mg202_1_attempts_zero_alone_or_with_empty_retry_on_is_valid() -> None:
    assert lines_of(vs(DEST, "retries: {attempts: 0}"), "MG202") == []
    assert lines_of(vs(DEST, "retries: {attempts: 0, retryOn: ''}"), "MG202") == []
    assert (
        lines_of(
            vs(DEST, "retries: {attempts: 0, backoff: 1s, retryIgnorePreviousHosts: true}"), "MG202"
        )
        == []
    )


def test_mg202_1_llm_profile_fitted_to_the_timeout() -> None:
    text = vs(
        CHAT,
        DEST,
        "timeout: 120s",
        "retries: {attempts: 0, perTryTimeout: 60s, retryOn: connect-failure}",
    )
    finding = only(text, "MG202")
    assert finding.position.line == 10
    assert (
        fixed_body(finding)["spec"]["http"][0]["retries"]["attempts"] == 1
    )  # llm profile, fits 120s
    relint(text, finding, ("MG202", "MG204"))


@pytest.mark.parametrize(
    ("timeout", "params", "expected"),
    [
        (
            "15s",
            None,
            {"attempts": 0},
        ),  # no retry fits: perTryTimeout and retryOn dropped (erratum 1.3)
        ("25s", None, {"attempts": 1, "perTryTimeout": "10s", "retryOn": "connect-failure"}),
        (
            "15s",
            {"budget_fix": "shrink_per_try"},
            {"attempts": 2, "perTryTimeout": "5s", "retryOn": "connect-failure"},
        ),
    ],
)
def test_mg202_1_fix_satisfies_mg204(
    timeout: str, params: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    text = vs(
        DEST, f"timeout: {timeout}", "retries: {perTryTimeout: 10s, retryOn: connect-failure}"
    )
    finding = only(text, "MG202", params)
    assert fixed_body(finding)["spec"]["http"][0]["retries"] == expected
    relint(text, finding, ("MG202", "MG204"), params)


def test_mg202_2_negative_attempts() -> None:
    assert lines_of(vs(DEST, "retries:", "  attempts: -2"), "MG202") == [(9, "error")]


@pytest.mark.parametrize(
    "extra",
    [
        "match: [{uri: {prefix: /v2/models/iris/infer}}]",
        "match: [{uri: {prefix: /v1/models/iris}}]",
        "match: [{uri: {exact: /v1/models/iris:predict}}]",  # under the family /v1/models/
        "match: [{uri: {prefix: /v1/embeddings}}]",
        "match: [{uri: {regex: '/v1/(chat/)?completions'}}]",
    ],
)
def test_mg202_3_inference_paths_without_retries(extra: str) -> None:
    text = vs(extra, "route: [{destination: {host: some-backend}}]")
    finding = only(text, "MG202")
    assert (finding.position.line, finding.severity.value) == (7, "info")
    relint(text, finding, ("MG202", "MG204", "MG205"))


def test_mg202_3_inference_host_without_retries() -> None:
    text = SERVICE + vs(DEST, "timeout: 20s")
    finding = only(text, "MG202")
    assert (finding.position.line, finding.severity.value) == (14, "info")
    # default profile (2 × 10s) fitted to 20s: (1+1)·10s = 20s
    assert fixed_body(finding)["spec"]["http"][0]["retries"] == {
        "attempts": 1,
        "perTryTimeout": "10s",
        "retryOn": "connect-failure,refused-stream,reset-before-request",
    }
    relint(text, finding, ("MG202", "MG204", "MG205"))


def test_mg202_3_fully_qualified_and_other_namespace_hosts() -> None:
    fqdn = SERVICE + vs(
        "route: [{destination: {host: sklearn-predictor.ml-serving.svc.cluster.local}}]"
    )
    assert lines_of(fqdn, "MG202") == [(14, "info")]
    other_ns = SERVICE + vs(
        "route: [{destination: {host: sklearn-predictor.other.svc.cluster.local}}]"
    )
    assert lines_of(other_ns, "MG202") == []


def test_mg202_3_llm_route_profile_and_old_istio() -> None:
    text = vs(CHAT, DEST)
    finding = only(text, "MG202", {"istio_version": "1.22"})
    assert fixed_body(finding)["spec"]["http"][0]["retries"] == {
        "attempts": 1,
        "perTryTimeout": "60s",
        "retryOn": "connect-failure,refused-stream",
    }


@pytest.mark.parametrize(
    "text",
    [
        vs(DEST),  # not an inference host (no Service selects a model server)
        vs("match: [{uri: {prefix: /}}]", DEST),  # catch-all covers nothing
        vs("match: [{uri: {prefix: /healthz}}]", DEST),
        hr(
            "matches: [{path: {type: PathPrefix, value: /v1/chat/completions}}]",
            POOL,
            "timeouts: {request: 300s}",
        ),
    ],
)
def test_mg202_3_quiet(text: str) -> None:
    assert lines_of(text, "MG202") == []


# -- MG203 retryOn tokens ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_on", "fixed"),
    [
        ("'5xx, reset'", "5xx,reset"),
        ("' connect-failure'", "connect-failure"),
        ("connect_failure", "connect-failure"),
        ("5XX", "5xx"),
        ("gateway-errors", None),
        ("'connect-failure,'", "connect-failure"),
        ("',5xx'", "5xx"),
        ("'connect-failure,599'", None),
        ("'0'", None),
    ],
)
def test_mg203_invalid_tokens(retry_on: str, fixed: str | None) -> None:
    text = vs(DEST, f"retries: {{attempts: 1, retryOn: {retry_on}}}")
    finding = only(text, "MG203")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    if fixed is None:
        assert finding.fix is None
    else:
        assert finding.fix is not None and finding.fix.safety is Safety.SAFE
        assert fixed_body(finding)["spec"]["http"][0]["retries"]["retryOn"] == fixed
        relint(text, finding, ("MG203",))


def test_mg203_unquoted_status_code() -> None:
    finding = only(vs(DEST, "retries: {attempts: 1, retryOn: 503}"), "MG203")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert fixed_body(finding)["spec"]["http"][0]["retries"]["retryOn"] == "503"
    assert only(vs(DEST, "retries: {attempts: 1, retryOn: [5xx]}"), "MG203").fix is None


@pytest.mark.parametrize(("version", "lines"), [("1.22", [(8, "error")]), ("1.23", [])])
def test_mg203_version_gated_tokens(version: str, lines: list[tuple[int, str]]) -> None:
    for token in ("reset-before-request", "http3-post-connect-failure"):
        text = vs(DEST, f"retries: {{attempts: 1, retryOn: 'connect-failure,{token}'}}")
        assert lines_of(text, "MG203", {"istio_version": version}) == lines


def test_mg203_duplicates_are_info() -> None:
    text = vs(DEST, "retries: {attempts: 1, retryOn: 'reset,503,reset,503'}")
    finding = only(text, "MG203")
    assert (finding.position.line, finding.severity.value) == (8, "info")
    assert fixed_body(finding)["spec"]["http"][0]["retries"]["retryOn"] == "reset,503"


@pytest.mark.parametrize("retry_on", ["''", "'+503,0429'", "'retriable-status-codes,409'"])
def test_mg203_valid(retry_on: str) -> None:
    assert lines_of(vs(DEST, f"retries: {{attempts: 1, retryOn: {retry_on}}}"), "MG203") == []


def test_mg203_mesh_config_sources() -> None:
    operator = (
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n"
        "metadata: {name: cp, namespace: istio-system}\n"
        "spec:\n  meshConfig:\n    defaultHttpRetryPolicy: {retryOn: 'connect-failure,unknown'}\n"
    )
    assert lines_of(operator, "MG203") == [(6, "error")]
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-canary, namespace: istio-system}\n"
        "data:\n  mesh: |\n    defaultHttpRetryPolicy: {retryOn: 'reset '}\n"
    )
    finding = only(config_map, "MG203")
    assert (finding.position.line, finding.pointer, finding.fix) == (5, "/data/mesh", None)
    assert lines_of(config_map.replace("istio-system", "default"), "MG203") == []
    assert lines_of(config_map.replace("istio-canary", "app-config"), "MG203") == []


# -- MG204 retry budget ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "retries", "attempts"),
    [
        ("30s", "{attempts: 3, perTryTimeout: 10s}", 2),  # lesson default route: 40s > 30s
        ("120s", "{attempts: 2, perTryTimeout: 60s}", 1),  # lesson chat route: 180s > 120s
        ("30s", "{attempts: 2, perTryTimeout: 10s, backoff: 1s}", 1),  # 32s > 30s
        ("1m", "{attempts: 5, perTryTimeout: 15s}", 3),
    ],
)
def test_mg204_virtual_service_budget(timeout: str, retries: str, attempts: int) -> None:
    text = vs(DEST, f"timeout: {timeout}", f"retries: {retries}")
    finding = only(text, "MG204")
    assert (finding.position.line, finding.severity.value) == (9, "warning")
    assert finding.pointer == "/spec/http/0/retries/attempts"
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed_body(finding)["spec"]["http"][0]["retries"]["attempts"] == attempts
    relint(text, finding, ("MG204", "MG202"))


def test_mg204_zero_retries_fit_keeps_a_disabled_block() -> None:
    text = vs(
        DEST,
        "timeout: 15s",
        "retries: {attempts: 2, perTryTimeout: 10s, retryOn: 5xx, retryRemoteLocalities: true}",
    )
    finding = only(text, "MG204")
    assert fixed_body(finding)["spec"]["http"][0]["retries"] == {"attempts": 0}
    relint(text, finding, ("MG204", "MG202"))


def test_mg204_shrink_per_try() -> None:
    params = {"budget_fix": "shrink_per_try"}
    text = vs(DEST, "timeout: 10s", "retries: {attempts: 2, perTryTimeout: 4s, backoff: 500ms}")
    finding = only(text, "MG204", params)
    # (10s − 2·0.5s) / 3 = 3s
    assert fixed_body(finding)["spec"]["http"][0]["retries"]["perTryTimeout"] == "3s"
    relint(text, finding, ("MG204",), params)
    odd = vs(DEST, "timeout: 10s", "retries: {attempts: 2, perTryTimeout: 4s}")
    assert (
        fixed_body(only(odd, "MG204", params))["spec"]["http"][0]["retries"]["perTryTimeout"]
        == "3.333s"
    )


def test_mg204_per_try_not_below_timeout_is_info() -> None:
    text = vs(DEST, "timeout: 10s", "retries: {attempts: 2, perTryTimeout: 30s}")
    finding = only(text, "MG204")
    assert (finding.position.line, finding.severity.value, finding.fix) == (9, "info", None)
    assert finding.pointer == "/spec/http/0/retries/perTryTimeout"


@pytest.mark.parametrize(
    "lines",
    [
        ("timeout: 120s", "retries: {attempts: 1, perTryTimeout: 60s}"),  # equality passes
        ("retries: {attempts: 3, perTryTimeout: 60s}",),  # no route timeout
        ("timeout: 10s", "retries: {attempts: 3}"),  # no perTryTimeout
        ("timeout: 10s", "retries: {attempts: 0}"),
        ("timeout: 10s", "retries: {attempts: 2, perTryTimeout: 1d}"),  # MG201's
        ("timeout: nope", "retries: {attempts: 2, perTryTimeout: 10s}"),
        ("timeout: 10s", "retries: {attempts: '2', perTryTimeout: 10s}"),
    ],
)
def test_mg204_quiet(lines: tuple[str, ...]) -> None:
    assert lines_of(vs(DEST, *lines), "MG204") == []


@pytest.mark.parametrize(
    ("timeouts", "retry", "line", "fixes"),
    [
        ("{request: 30s, backendRequest: 10s}", "{attempts: 3}", 9, {"retry": {"attempts": 2}}),
        (
            "{request: 20s, backendRequest: 10s}",
            "{codes: [503]}",
            9,
            {"retry": {"attempts": 1, "codes": [503]}},
        ),
        (
            "{request: 15s, backendRequest: 10s}",
            "{attempts: 2}",
            9,
            {"timeouts": {"request": "15s", "backendRequest": "5s"}},
        ),
        (
            "{request: 1s, backendRequest: 300ms}",
            "{attempts: 3, backoff: 100ms}",
            9,
            {"retry": {"attempts": 1, "backoff": "100ms"}},
        ),
    ],
)
def test_mg204_httproute_budget(
    timeouts: str, retry: str, line: int, fixes: dict[str, Any]
) -> None:
    text = hr(
        "backendRefs: [{name: sklearn-predictor, port: 80}]",
        f"timeouts: {timeouts}",
        f"retry: {retry}",
    )
    finding = only(text, "MG204")
    assert (finding.position.line, finding.severity.value) == (line, "warning")
    rule = fixed_body(finding)["spec"]["rules"][0]
    for key, value in fixes.items():
        assert rule[key] == value
    relint(text, finding, ("MG204",))


@pytest.mark.parametrize(
    ("timeouts", "retry"),
    [
        ("{request: 0s, backendRequest: 10s}", "{attempts: 3}"),  # request disabled
        ("{request: 30s, backendRequest: 0s}", "{attempts: 3}"),
        ("{request: 30s}", "{attempts: 3}"),
        ("{request: 10s, backendRequest: 20s}", "{attempts: 1}"),  # CRD reject: MG503(1)
        ("{request: 30s, backendRequest: 10s}", "{attempts: 0}"),
        (
            "{request: 30s, backendRequest: 10s}",
            None,
        ),  # no retry: backendRequest is the route timeout
    ],
)
def test_mg204_httproute_quiet(timeouts: str, retry: str | None) -> None:
    lines = ["backendRefs: [{name: sklearn-predictor, port: 80}]", f"timeouts: {timeouts}"]
    if retry is not None:
        lines.append(f"retry: {retry}")
    assert lines_of(hr(*lines), "MG204") == []


# -- MG205 unsafe retry triggers on POST inference routes --------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        (CHAT, DEST),
        ("match: [{uri: {prefix: /v2/models/}}]", DEST),
        ("match: [{uri: {exact: /v1/embeddings}}]", DEST),
        ("match: [{method: {exact: POST}}]", "route: [{destination: {host: anything}}]"),
        ("match: [{uri: {prefix: /generate_stream}}]", DEST),
    ],
)
@pytest.mark.parametrize(
    "token",
    ["5xx", "reset", "gateway-error", "retriable-4xx", "502", "409", "+504", "deadline-exceeded"],
)
def test_mg205_unsafe_tokens(route: tuple[str, str], token: str) -> None:
    text = vs(
        *route, f"retries: {{attempts: 1, perTryTimeout: 10s, retryOn: 'connect-failure,{token}'}}"
    )
    finding = only(text, "MG205")
    assert (finding.position.line, finding.severity.value) == (9, "warning")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    relint(text, finding, ("MG205", "MG203"))


def test_mg205_inference_host_and_version_gate() -> None:
    text = SERVICE + vs(DEST, "retries: {attempts: 2, perTryTimeout: 10s, retryOn: 5xx}")
    assert lines_of(text, "MG205") == [(15, "warning")]
    finding = only(text, "MG205", {"istio_version": "1.22"})
    assert (
        fixed_body(finding)["spec"]["http"][0]["retries"]["retryOn"]
        == "connect-failure,refused-stream"
    )


@pytest.mark.parametrize(
    "lines",
    [
        (
            CHAT,
            DEST,
            "retries: {attempts: 1, retryOn: 'connect-failure,503,429,resource-exhausted'}",
        ),
        (CHAT, DEST, "retries: {attempts: 0}"),
        (CHAT, DEST, "retries: {retryOn: 5xx}"),  # attempts absent: no retries (MG202 reports it)
        (
            "match: [{method: {exact: GET}, uri: {prefix: /v1/models/}}]",
            DEST,
            "retries: {attempts: 2, retryOn: 5xx}",
        ),
        ("match: [{uri: {prefix: /healthz}}]", DEST, "retries: {attempts: 2, retryOn: 5xx}"),
        (DEST, "retries: {attempts: 2, retryOn: 5xx}"),  # not an inference host
    ],
)
def test_mg205_quiet(lines: tuple[str, ...]) -> None:
    assert lines_of(vs(*lines), "MG205") == []


def test_mg205_get_and_post_match_is_not_restricted() -> None:
    text = vs(
        "match: [{method: {exact: GET}, uri: {prefix: /v1/models/}}, {method: {exact: POST}}]",
        DEST,
        "retries: {attempts: 2, retryOn: reset}",
    )
    assert lines_of(text, "MG205") == [(9, "warning")]


def test_mg205_httproute_codes() -> None:
    text = hr(
        POOL, "timeouts: {request: 300s}", "retry: {attempts: 1, codes: [500, 502, 503, 429]}"
    )
    finding = only(text, "MG205")
    assert (finding.position.line, finding.severity.value) == (9, "warning")
    assert fixed_body(finding)["spec"]["rules"][0]["retry"]["codes"] == [503, 429]
    all_bad = hr(POOL, "timeouts: {request: 300s}", "retry: {codes: [504]}")
    assert "codes" not in fixed_body(only(all_bad, "MG205"))["spec"]["rules"][0]["retry"]
    post = hr(
        "matches: [{method: POST}]", "backendRefs: [{name: x, port: 80}]", "retry: {codes: [500]}"
    )
    assert lines_of(post, "MG205") == [(9, "warning")]
    assert lines_of(hr(POOL, "retry: {attempts: 0, codes: [500]}"), "MG205") == []
    assert lines_of(hr(POOL, "retry: {codes: [503, 429]}"), "MG205") == []
    get_only = hr("matches: [{method: GET}]", POOL, "retry: {codes: [500]}")
    assert lines_of(get_only, "MG205") == []


# -- MG206 LLM timeouts --------------------------------------------------------------------------


def test_mg206_1_virtual_service_llm_timeout() -> None:
    text = vs(CHAT, DEST, "timeout: 90s")
    finding = only(text, "MG206")
    assert (finding.position.line, finding.severity.value) == (9, "warning")
    assert fixed_body(finding)["spec"]["http"][0]["timeout"] == "120s"
    relint(text, finding, ("MG206",))
    assert lines_of(vs(CHAT, DEST, "timeout: 120s"), "MG206") == []
    assert lines_of(vs(CHAT, DEST), "MG206") == []  # no timeout: disabled
    assert lines_of(vs(DEST, "timeout: 30s"), "MG206") == []  # not an LLM route
    annotated = VS.replace(
        "namespace: ml-serving}",
        "namespace: ml-serving, annotations: {meshguard.io/route-class: llm}}",
    )
    assert lines_of(annotated + "  - " + DEST + "\n    timeout: 30s\n", "MG206") == [(8, "warning")]


@pytest.mark.parametrize(
    ("timeouts", "line", "expected"),
    [
        ("{request: 30s}", 8, {"request": "300s"}),
        ("{request: 60s, backendRequest: 30s}", 8, {"request": "300s"}),
        ("{request: 200s, backendRequest: 30s}", 8, {"request": "200s"}),
        ("{request: 0s, backendRequest: 60s}", 8, {"request": "0s"}),
        ("{backendRequest: 60s}", 8, {"request": "300s"}),
    ],
)
def test_mg206_2_httproute_llm_timeouts(timeouts: str, line: int, expected: dict[str, str]) -> None:
    text = hr(POOL, f"timeouts: {timeouts}")
    finding = only(text, "MG206")
    assert (finding.position.line, finding.severity.value) == (line, "warning")
    assert fixed_body(finding)["spec"]["rules"][0]["timeouts"] == expected
    relint(text, finding, ("MG206",))


def test_mg206_2_quiet() -> None:
    for timeouts in (
        "{request: 0s}",
        "{request: 300s, backendRequest: 120s}",
        "{request: 0s, backendRequest: 0s}",
    ):
        assert lines_of(hr(POOL, f"timeouts: {timeouts}"), "MG206") == []
    plain = hr("backendRefs: [{name: sklearn-predictor, port: 80}]", "timeouts: {request: 30s}")
    assert lines_of(plain, "MG206") == []


def test_mg206_3_inference_pool_without_timeouts() -> None:
    for body in ((POOL,), (POOL, "timeouts: {}")):
        text = hr(*body)
        finding = only(text, "MG206")
        assert (finding.position.line, finding.severity.value) == (7, "info")
        assert fixed_body(finding)["spec"]["rules"][0]["timeouts"] == {"request": "300s"}
        relint(text, finding, ("MG206",))


def test_mg206_3_uses_the_configured_timeout() -> None:
    finding = only(hr(POOL), "MG206", {"httproute_inferencepool_timeout": "0s"})
    assert fixed_body(finding)["spec"]["rules"][0]["timeouts"] == {"request": "0s"}


def test_mg206_4_embeddings_timeout() -> None:
    text = vs("match: [{uri: {exact: /v1/embeddings}}]", DEST, "timeout: 5s")
    finding = only(text, "MG206")
    assert (finding.position.line, finding.severity.value) == (9, "info")
    assert fixed_body(finding)["spec"]["http"][0]["timeout"] == "30s"
    assert (
        lines_of(vs("match: [{uri: {exact: /v1/embeddings}}]", DEST, "timeout: 10s"), "MG206") == []
    )
    route = hr(
        "matches: [{path: {type: Exact, value: /openai/v1/embeddings}}]",
        "backendRefs: [{name: e, port: 80}]",
        "timeouts: {request: 2s}",
    )
    assert lines_of(route, "MG206") == [(9, "info")]
    assert lines_of(route.replace("2s}", "0s}"), "MG206") == []


def test_mg206_llm_and_embeddings_prefix_reports_once() -> None:
    text = vs("match: [{uri: {prefix: /v1}}]", DEST, "timeout: 5s")
    assert lines_of(text, "MG206") == [(9, "warning")]


# -- robustness ----------------------------------------------------------------------------------


HOSTILE = [
    VS
    + "  - retries: {attempts: true, perTryTimeout: [1], retryOn: {a: b}, backoff: x}\n"
    + "    timeout: [1]\n",
    VS + "  - retries: {attempts: 99999999999999999999, perTryTimeout: 1ms}\n    timeout: 1ms\n",
    VS + "  - match: [{uri: {regex: '(a+)+$'}}]\n    retries: {attempts: 1, retryOn: 5xx}\n",
    VS + "  - retries: {attempts: 1, retryOn: '" + "9" * 5000 + "'}\n",
    HR
    + "  - retry: {attempts: -1, codes: [true, null, 'x', 500]}\n"
    + "    timeouts: {request: 1s, backendRequest: 1s}\n",
    HR + "  - " + POOL + "\n    timeouts: [request]\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
    "data: {mesh: '[unclosed'}\n",
    "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: x}\n"
    "spec: {meshConfig: [1]}\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_documents_never_crash(text: str) -> None:
    for rule in ("MG201", "MG202", "MG203", "MG204", "MG205", "MG206"):
        findings_of(text, rule)
    assert findings_of(text, "MG000") == []


def test_mg202_fix_uses_the_llm_profile_for_a_route_with_an_llm_timeout() -> None:
    """A catch-all route covers no path (P7), but a 120s timeout carries streams: a 10s
    perTryTimeout from the default profile would cut every stream at 10s."""
    text = (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata: {name: llm, namespace: ml-serving}\n"
        "spec:\n"
        "  hosts: [llm]\n"
        "  http:\n"
        "  - route: [{destination: {host: llm, port: {number: 8000}}}]\n"
        "    timeout: 120s\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata: {name: llm, namespace: ml-serving}\n"
        "spec: {selector: {app: vllm}, ports: [{name: http, port: 8000}]}\n"
        "---\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata: {name: vllm, namespace: ml-serving}\n"
        "spec:\n"
        "  selector: {matchLabels: {app: vllm}}\n"
        "  template:\n"
        "    metadata: {labels: {app: vllm}}\n"
        "    spec: {containers: [{name: v, image: v, resources: {limits: {nvidia.com/gpu: 1}}}]}\n"
    )
    findings = findings_of(text, "MG202")
    assert findings and findings[0].fix is not None
    block = findings[0].fix.ops[0]["value"]
    assert block["perTryTimeout"] == "60s" and block["attempts"] == 1
