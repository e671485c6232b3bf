"""MG506–MG509: one test per numbered condition of RULES.md, asserting line and severity.

Upstream behind the cases: GIE CRDs and types (`gie api/v1/inferencepool_types.go` at v1.0.0,
v1.1.0, v1.4.0, v1.6.0; `v0.5.1:api/v1alpha2/{inferencepool,inferencemodel}_types.go`;
`v1.5.0:apix/v1alpha2/*`), llm-d-router `config/crd/bases/llm-d.ai_inferenceobjectives.yaml`,
and istio @86c9f01f (`pilot/pkg/features/experimental.go`, `pkg/env/var.go`,
`istio-discovery/templates/zzy_descope_legacy.yaml`, `pkg/kube/inject/inject.go`,
`pilot/pkg/networking/core/cluster_builder.go`).
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from meshguard.config import Config, with_parameters
from meshguard.engine import run
from meshguard.loader import load_text, load_values_file
from meshguard.model import Finding, Safety
from tests.lintkit import RULES, findings_of, lines_of

V1 = "apiVersion: inference.networking.k8s.io/v1"
ALPHA = "apiVersion: inference.networking.x-k8s.io/v1alpha2"
POOL_HEAD = "kind: InferencePool\nmetadata: {name: qwen-pool, namespace: ml-serving}\nspec:\n"
GOOD_PICKER = (
    "  endpointPickerRef: {name: qwen-epp, port: {number: 9002}, failureMode: FailClose}\n"
)


def pool(*spec_lines: str, api: str = V1) -> str:
    """An InferencePool whose spec fields start on line 5."""
    return api + "\n" + POOL_HEAD + "".join(f"  {line}\n" for line in spec_lines)


def v1_pool(*extra: str) -> str:
    return pool("selector: {matchLabels: {app: vllm-qwen}}", *extra)


def fixed(finding: Finding) -> Any:
    """The finding's resource after its fix."""
    assert finding.fix is not None and finding.resource is not None
    body = copy.deepcopy(dict(finding.resource.body))
    return jsonpatch.apply_patch(body, list(finding.fix.ops))


# -- MG506 -----------------------------------------------------------------------------------


def test_mg506_1_v1_with_v1alpha2_fields() -> None:
    text = pool(
        "targetPortNumber: 8000", "selector: {app: vllm-qwen}", "extensionRef: {name: qwen-epp}"
    )
    assert lines_of(text, "MG506") == [(5, "error"), (6, "error"), (7, "error")]
    for finding in findings_of(text, "MG506"):
        assert finding.fix is not None and finding.fix.safety == Safety.SAFE
    assert lines_of(text, "MG507") == []  # the v1alpha2 reference is MG506's


def test_mg506_1_extension_ref_converts_port_and_failure_mode() -> None:
    text = v1_pool(
        "targetPorts: [{number: 8000}]",
        "extensionRef: {name: qwen-epp, portNumber: 9003, failureMode: FailOpen}",
    )
    (finding,) = findings_of(text, "MG506")
    assert finding.position.line == 7
    assert fixed(finding)["spec"]["endpointPickerRef"] == {
        "name": "qwen-epp",
        "port": {"number": 9003},
        "failureMode": "FailOpen",
    }


def test_mg506_1_v1_field_already_present_wins() -> None:
    text = v1_pool("targetPorts: [{number: 8000}]", "targetPortNumber: 8001", GOOD_PICKER.strip())
    (finding,) = findings_of(text, "MG506")
    assert finding.position.line == 7
    assert fixed(finding)["spec"]["targetPorts"] == [{"number": 8000}]
    assert "targetPortNumber" not in fixed(finding)["spec"]


def test_mg506_2_v1alpha2_with_v1_fields() -> None:
    text = pool(
        "targetPorts: [{number: 8000}]",
        "selector: {matchLabels: {app: vllm-qwen}}",
        "extensionRef: {name: qwen-epp, portNumber: 9002}",
        "appProtocol: http",
        api=ALPHA,
    )
    assert lines_of(text, "MG506") == [(1, "warning"), (5, "error"), (6, "error"), (8, "error")]


def test_mg506_3_v1alpha2_is_deprecated_with_unsafe_conversion() -> None:
    text = pool(
        "targetPortNumber: 8000",
        "selector: {app: vllm-qwen}",
        "extensionRef: {name: qwen-epp}",
        api=ALPHA,
    )
    (finding,) = findings_of(text, "MG506")
    assert (finding.position.line, finding.severity.value) == (1, "warning")
    assert finding.fix is not None and finding.fix.safety == Safety.UNSAFE
    after = fixed(finding)
    assert after["apiVersion"] == "inference.networking.k8s.io/v1"
    assert after["spec"] == {
        "targetPorts": [{"number": 8000}],
        "selector": {"matchLabels": {"app": "vllm-qwen"}},
        "endpointPickerRef": {"name": "qwen-epp", "port": {"number": 9002}},
    }
    assert lines_of(yaml_dump(after), "MG506") == []


def test_mg506_3_no_conversion_on_istio_1_27() -> None:
    text = pool("targetPortNumber: 8000", "selector: {app: vllm-qwen}", api=ALPHA)
    (finding,) = findings_of(text, "MG506", {"istio_version": "1.27"})
    assert finding.severity.value == "warning" and finding.fix is None


@pytest.mark.parametrize(
    ("ports", "params", "line"),
    [
        ("targetPorts: []", None, 6),  # MinItems=1
        ("targetPorts: {number: 8000}", None, 6),  # not a list
        ("targetPorts: [{number: 8000}, {number: 8001}]", None, 6),  # v1.0.x MaxItems=1
        (
            "targetPorts: [" + ", ".join(f"{{number: {8000 + i}}}" for i in range(9)) + "]",
            {"gie_version": "v1.4.0"},
            6,
        ),
        ("targetPorts: [{number: 0}]", None, 6),
        ("targetPorts: [{port: 8000}]", None, 6),
    ],
)
def test_mg506_4_target_ports_invalid(ports: str, params: dict[str, str] | None, line: int) -> None:
    assert lines_of(v1_pool(ports, GOOD_PICKER.strip()), "MG506", params) == [(line, "error")]


def test_mg506_4_target_ports_missing() -> None:
    assert lines_of(v1_pool(GOOD_PICKER.strip()), "MG506") == [(4, "error")]


def test_mg506_4_repeated_numbers_one_fix() -> None:
    text = v1_pool(
        "targetPorts:",
        "- number: 8000",
        "- number: 8001",
        "- number: 8000",
        "- number: 8001",
        GOOD_PICKER.strip(),
    )
    (finding,) = findings_of(text, "MG506", {"gie_version": "v1.4.0"})
    assert (finding.position.line, finding.severity.value) == (9, "error")
    assert fixed(finding)["spec"]["targetPorts"] == [{"number": 8000}, {"number": 8001}]


def test_mg506_4_eight_ports_allowed_from_v1_1() -> None:
    ports = "targetPorts: [" + ", ".join(f"{{number: {8000 + i}}}" for i in range(8)) + "]"
    assert lines_of(v1_pool(ports, GOOD_PICKER.strip()), "MG506", {"gie_version": "v1.1.0"}) == []


@pytest.mark.parametrize(
    ("value", "fix"),
    [("h2c", "kubernetes.io/h2c"), ("HTTP", "http"), ("grpc", None), ("1", None)],
)
def test_mg506_5_app_protocol(value: str, fix: str | None) -> None:
    text = v1_pool("targetPorts: [{number: 8000}]", f"appProtocol: {value!r}", GOOD_PICKER.strip())
    (finding,) = findings_of(text, "MG506")
    assert (finding.position.line, finding.severity.value) == (7, "error")
    assert (fixed(finding)["spec"]["appProtocol"] if fix else finding.fix) == fix


# -- MG507 -----------------------------------------------------------------------------------


def test_mg507_1_v1_service_without_port() -> None:
    text = v1_pool(
        "targetPorts: [{number: 8000}]",
        "endpointPickerRef: {name: qwen-epp, failureMode: FailOpen}",
    )
    (finding,) = findings_of(text, "MG507")
    assert (finding.position.line, finding.severity.value) == (7, "error")
    assert fixed(finding)["spec"]["endpointPickerRef"]["port"] == {"number": 9002}
    assert finding.fix is not None and finding.fix.safety == Safety.UNSAFE


def test_mg507_1_v1_other_kind_needs_no_port() -> None:
    text = v1_pool(
        "targetPorts: [{number: 8000}]",
        "endpointPickerRef: {group: example.com, kind: Picker, name: e, failureMode: FailOpen}",
    )
    assert lines_of(text, "MG507") == []


def test_mg507_1_v1_port_without_number() -> None:
    text = v1_pool(
        "targetPorts: [{number: 8000}]",
        "endpointPickerRef: {name: e, port: {}, failureMode: FailOpen}",
    )
    assert lines_of(text, "MG507") == [(7, "error")]


def test_mg507_1_v1alpha2_port_number_absent_is_info() -> None:
    text = pool(
        "targetPortNumber: 8000",
        "selector: {app: a}",
        "extensionRef: {name: e, failureMode: FailOpen}",
        api=ALPHA,
    )
    assert lines_of(text, "MG507") == [(7, "info")]


@pytest.mark.parametrize(
    ("version", "severity"),
    [("v1.0.0", "error"), ("v1.5.0", "error"), ("v1.6.0", "warning")],
)
def test_mg507_2_endpoint_picker_ref_absent(version: str, severity: str) -> None:
    text = v1_pool("targetPorts: [{number: 8000}]")
    assert lines_of(text, "MG507", {"gie_version": version}) == [(4, severity)]


def test_mg507_2_v1alpha2_extension_ref_absent_is_error() -> None:
    text = pool("targetPortNumber: 8000", "selector: {app: a}", api=ALPHA)
    assert lines_of(text, "MG507", {"gie_version": "v1.6.0"}) == [(4, "error")]


def test_mg507_2_reference_not_a_mapping() -> None:
    text = v1_pool("targetPorts: [{number: 8000}]", "endpointPickerRef: qwen-epp")
    assert lines_of(text, "MG507", {"gie_version": "v1.6.0"}) == [(7, "error")]


def test_mg507_3_failure_mode_implicit() -> None:
    text = v1_pool(
        "targetPorts: [{number: 8000}]", "endpointPickerRef: {name: e, port: {number: 9002}}"
    )
    (finding,) = findings_of(text, "MG507")
    assert (finding.position.line, finding.severity.value) == (7, "info")
    assert fixed(finding)["spec"]["endpointPickerRef"]["failureMode"] == "FailClose"
    assert finding.fix is not None and finding.fix.safety == Safety.SAFE


# -- MG508 -----------------------------------------------------------------------------------

OBJ = "kind: InferenceObjective\nmetadata: {name: chat, namespace: ml-serving}\nspec:\n"
LLMD = "apiVersion: llm-d.ai/v1alpha2\n"
GIE_X = "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
REF = "  poolRef: {group: inference.networking.k8s.io, kind: InferencePool, name: qwen-pool}\n"


def test_mg508_1_inference_model_removed() -> None:
    text = GIE_X + textwrap.dedent(
        """\
        kind: InferenceModel
        metadata: {name: chat, namespace: ml-serving}
        spec:
          modelName: qwen-chat
          criticality: Standard
          poolRef: {name: qwen-pool}
        """
    )
    (finding,) = findings_of(text, "MG508")
    assert (finding.position.line, finding.severity.value) == (2, "error")
    after = fixed(finding)
    assert after["kind"] == "InferenceObjective"
    assert after["spec"] == {
        "poolRef": {
            "group": "inference.networking.k8s.io",
            "kind": "InferencePool",
            "name": "qwen-pool",
        },
        "priority": 0,
    }
    assert finding.fix is not None and finding.fix.new_documents == ()  # no rewrite kind in v1.0
    assert lines_of(text, "MG508", {"gie_version": "v0.5.1"}) == []


def test_mg508_1_custom_priority_mapping() -> None:
    text = (
        GIE_X
        + "kind: InferenceModel\nmetadata: {name: c}\nspec:\n"
        + "  criticality: Critical\n  poolRef: {name: p}\n"
    )
    params = {"criticality_to_priority": {"Critical": 7}}
    (finding,) = findings_of(text, "MG508", params)
    assert fixed(finding)["spec"]["priority"] == 7


def test_mg508_2_pool_ref_group_absent_is_info() -> None:
    text = LLMD + OBJ + "  priority: 1\n  poolRef: {name: qwen-pool}\n"
    (finding,) = findings_of(text, "MG508")
    assert (finding.position.line, finding.severity.value) == (6, "info")
    assert fixed(finding)["spec"]["poolRef"]["group"] == "inference.networking.k8s.io"


def test_mg508_2_model_rewrite_pool_ref_too() -> None:
    text = (
        LLMD
        + "kind: InferenceModelRewrite\nmetadata: {name: r}\nspec:\n"
        + "  poolRef: {name: p}\n  rules: []\n"
    )
    assert lines_of(text, "MG508") == [(5, "info")]


@pytest.mark.parametrize("group", ['""', "apps", "inference.networking.k8s.io.example"])
def test_mg508_2_pool_ref_group_without_pool_kind(group: str) -> None:
    text = LLMD + OBJ + f"  priority: 1\n  poolRef: {{group: {group}, name: qwen-pool}}\n"
    assert lines_of(text, "MG508") == [(6, "error")]


def test_mg508_2_legacy_pool_group_is_a_pool_group() -> None:
    text = (
        LLMD + OBJ + "  priority: 1\n  poolRef: {group: inference.networking.x-k8s.io, name: p}\n"
    )
    assert lines_of(text, "MG508") == []


@pytest.mark.parametrize(
    ("line", "fix"),
    [
        ("criticality: Critical", 100),
        ("criticality: Urgent", None),
        ("priority: '10'", 10),
        ("priority: 10.0", 10),
        ("priority: true", None),
        ("priority: high", None),
        ("priority: 4294967296", None),
    ],
)
def test_mg508_3_criticality_or_non_integer_priority(line: str, fix: int | None) -> None:
    text = LLMD + OBJ + f"  {line}\n" + REF
    (finding,) = findings_of(text, "MG508")
    assert (finding.position.line, finding.severity.value) == (5, "error")
    if fix is None:
        assert finding.fix is None
    else:
        assert fixed(finding)["spec"]["priority"] == fix


def test_mg508_3_other_inference_model_fields() -> None:
    text = LLMD + OBJ + "  modelName: m\n  targetModels: [{name: m-v1, weight: 100}]\n" + REF
    assert lines_of(text, "MG508") == [(5, "error"), (6, "error")]


def test_mg508_3_criticality_beside_priority_is_only_removed() -> None:
    text = LLMD + OBJ + "  criticality: Critical\n  priority: 3\n" + REF
    (finding,) = findings_of(text, "MG508")
    assert finding.fix is not None and finding.fix.safety == Safety.SAFE
    assert fixed(finding)["spec"]["priority"] == 3 and "criticality" not in fixed(finding)["spec"]


def test_mg508_4_gie_group_with_llm_d_home() -> None:
    text = GIE_X + OBJ + "  priority: 1\n" + REF
    assert lines_of(text, "MG508") == []
    (finding,) = findings_of(text, "MG508", {"gie_api_home": "llm-d"})
    assert (finding.position.line, finding.severity.value) == (1, "warning")
    assert fixed(finding)["apiVersion"] == "llm-d.ai/v1alpha2"


# -- MG509 -----------------------------------------------------------------------------------

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ml-gateway, namespace: istio-ingress}
spec:
  gatewayClassName: CLASS
  listeners: [{name: http, protocol: HTTP, port: 80}]
"""
ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: qwen, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
  rules:
  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: qwen-pool}]
"""
OPERATOR = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istiod, namespace: istio-system}
spec:
"""
FLAG = "ENABLE_GATEWAY_API_INFERENCE_EXTENSION"


def docs(*parts: str) -> str:
    return "---\n".join(parts)


def routed(cls: str = "istio") -> str:
    return docs(GATEWAY.replace("CLASS", cls), ROUTE)


def lint_with_values(tmp_path: Path, values: str, manifests: str, **params: Any) -> list[Finding]:
    """Helm values through the real path: load_values_file + engine.run (RULES.md MG409 sources)."""
    path = tmp_path / "values.yaml"
    path.write_text(textwrap.dedent(values))
    config = with_parameters(Config(), params) if params else Config()
    files = [load_values_file(str(path)), load_text(manifests, "input.yaml")]
    return [f for f in run(files, config, RULES).findings if f.rule == "MG509"]


def test_mg509_1_helm_values_flag_missing(tmp_path: Path) -> None:
    (finding,) = lint_with_values(tmp_path, "global: {}\nenv:\n  PILOT_X: '1'\n", routed())
    assert finding.file.endswith("values.yaml")
    assert (finding.position.line, finding.severity.value) == (2, "error")
    assert fixed(finding)["env"][FLAG] == "true"


def test_mg509_1_helm_values_no_env_at_all(tmp_path: Path) -> None:
    (finding,) = lint_with_values(tmp_path, "meshConfig: {accessLogFile: /dev/stdout}\n", routed())
    assert finding.severity.value == "error"
    assert fixed(finding)["env"] == {FLAG: "true"}


@pytest.mark.parametrize("value", ["'true'", "true", "'1'", "'True'", "'t'"])
def test_mg509_1_helm_values_flag_on(tmp_path: Path, value: str) -> None:
    assert lint_with_values(tmp_path, f"env:\n  {FLAG}: {value}\n", routed()) == []


def test_mg509_1_helm_legacy_pilot_env_wins(tmp_path: Path) -> None:
    # zzy_descope_legacy.yaml: mustMergeOverwrite $.Values .Values.pilot — pilot.env overrides env
    values = f"env:\n  {FLAG}: 'true'\npilot:\n  env:\n    {FLAG}: 'false'\n"
    (finding,) = lint_with_values(tmp_path, values, routed())
    assert (finding.position.line, finding.severity.value) == (5, "error")
    assert fixed(finding)["pilot"]["env"][FLAG] == "true"
    assert lint_with_values(tmp_path, f"pilot:\n  env:\n    {FLAG}: 'true'\n", routed()) == []


def test_mg509_1_no_istio_route_no_finding(tmp_path: Path) -> None:
    assert lint_with_values(tmp_path, "env: {}\n", routed("gke-l7-rilb")) == []
    assert (
        lint_with_values(tmp_path, "env: {}\n", ROUTE) == []
    )  # parent absent: not an Istio parent


def test_mg509_1_istio_gateway_class_by_controller() -> None:
    gc = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: mesh-gw}\n"
        "spec:\n  controllerName: istio.io/gateway-controller\n"
    )
    text = docs(OPERATOR + "  values: {pilot: {env: {}}}\n", gc, routed("mesh-gw"))
    assert lines_of(text, "MG509") == [(5, "error")]


def test_mg509_1_istio_operator_flag_false() -> None:
    text = docs(OPERATOR + f"  values:\n    pilot:\n      env: {{{FLAG}: 'false'}}\n", routed())
    (finding,) = findings_of(text, "MG509")
    assert (finding.position.line, finding.pointer) == (7, f"/spec/values/pilot/env/{FLAG}")


def test_mg509_1_istio_operator_k8s_env_wins() -> None:
    k8s = (
        f"  components:\n    pilot:\n      k8s:\n        env: [{{name: {FLAG}, value: 'false'}}]\n"
    )
    text = docs(OPERATOR + k8s + f"  values: {{pilot: {{env: {{{FLAG}: 'true'}}}}}}\n", routed())
    (finding,) = findings_of(text, "MG509")
    assert (
        finding.position.line == 8
        and fixed(finding)["spec"]["components"]["pilot"]["k8s"]["env"][0]["value"] == "true"
    )


def test_mg509_1_istio_operator_without_values_gets_nested_fix() -> None:
    text = docs(OPERATOR + "  meshConfig: {accessLogFile: /dev/stdout}\n", routed())
    (finding,) = findings_of(text, "MG509")
    assert finding.position.line == 4
    assert fixed(finding)["spec"]["values"] == {"pilot": {"env": {FLAG: "true"}}}


@pytest.mark.parametrize(
    ("spec", "line"),
    [("  components: {pilot: {enabled: false}}\n", 20), ("  profile: empty\n  values: {}\n", 21)],
)
def test_mg509_1_istio_operator_without_istiod_is_not_a_source(spec: str, line: int) -> None:
    assert lines_of(docs(OPERATOR + spec, routed()), "MG509") == [(line, "info")]


def test_mg509_1_istiod_deployment_without_flag() -> None:
    deploy = textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
        spec:
          template:
            spec:
              containers:
              - name: discovery
                image: docker.io/istio/pilot:1.28.1
                env:
                - {name: PILOT_TRACE_SAMPLING, value: "1"}
        """
    )
    (finding,) = findings_of(docs(deploy, routed()), "MG509")
    assert (finding.position.line, finding.severity.value) == (10, "error")
    env = fixed(finding)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[-1] == {"name": FLAG, "value": "true"}


def test_mg509_1_other_deployments_are_not_istiod() -> None:
    deploy = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
        "    spec:\n      containers: [{name: web, image: nginx}]\n"
    )
    assert lines_of(docs(deploy, routed()), "MG509") == [(22, "info")]


def test_mg509_1_unresolved_without_istiod_config() -> None:
    assert lines_of(routed(), "MG509") == [(14, "info")]
    assert lines_of(routed(), "MG509", {"strict_refs": True}) == [(14, "error")]


@pytest.mark.parametrize("version", ["1.26", "1.25"])
def test_mg509_1_flag_only_from_istio_1_27(version: str) -> None:
    text = docs(OPERATOR + "  values: {pilot: {env: {}}}\n", routed())
    assert lines_of(text, "MG509", {"istio_version": version}) == []
    assert lines_of(routed(), "MG509", {"istio_version": version}) == []


# (2) -- the EPP DestinationRule ----------------------------------------------------------------

NS = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving, labels: {LABELS}}\n"
EPP_POOL = v1_pool("targetPorts: [{number: 8000}]", GOOD_PICKER.strip())
EPP_SVC = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: qwen-epp, namespace: ml-serving}\n"
    "spec:\n  selector: {app: qwen-epp}\n  ports: [{port: 9002}]\n"
)
EPP_DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen-epp, namespace: ml-serving}
spec:
  template:
    metadata: {labels: {app: qwen-epp, LABEL}}
    spec:
      containers: [{name: epp, image: epp:v1}]
"""


def dr(
    tls: str,
    ns: str = "ml-serving",
    host: str = "qwen-epp.ml-serving.svc.cluster.local",
    extra: str = "",
) -> str:
    """A DestinationRule with tls on its line 7 (line 19 after a Namespace and EPP_POOL)."""
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: epp, namespace: {ns}}}\n"
        f"spec:\n  host: {host}\n{extra}  trafficPolicy:\n    tls: {tls}\n"
    )


def namespace(labels: str) -> str:
    return NS.replace("LABELS", labels)


def test_mg509_2a_not_injected_without_dr() -> None:
    text = docs(namespace("istio-injection: disabled"), EPP_POOL)
    (finding,) = findings_of(text, "MG509")
    assert (finding.position.line, finding.severity.value) == (11, "warning")
    assert finding.fix is not None and finding.fix.safety == Safety.UNSAFE
    (doc,) = finding.fix.new_documents
    assert doc["spec"] == {
        "host": "qwen-epp.ml-serving.svc.cluster.local",
        "trafficPolicy": {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}},
    }


def test_mg509_2a_not_injected_pods_opt_out() -> None:
    text = docs(
        namespace("istio-injection: enabled"),
        EPP_POOL,
        EPP_SVC,
        EPP_DEPLOY.replace("LABEL", 'sidecar.istio.io/inject: "false"'),
    )
    assert lines_of(text, "MG509") == [(11, "warning")]


@pytest.mark.parametrize("tls", ["{mode: ISTIO_MUTUAL}", "{mode: DISABLE}", "{sni: x}"])
def test_mg509_2a_not_injected_dr_wrong_mode(tls: str) -> None:
    text = docs(namespace("istio-injection: disabled"), EPP_POOL, dr(tls))
    (finding,) = findings_of(text, "MG509")
    assert (finding.position.line, finding.severity.value) == (19, "warning")
    assert fixed(finding)["spec"]["trafficPolicy"]["tls"] == {
        "mode": "SIMPLE",
        "insecureSkipVerify": True,
    }


def test_mg509_2a_not_injected_simple_dr_passes() -> None:
    text = docs(
        namespace("istio-injection: disabled"),
        EPP_POOL,
        dr("{mode: SIMPLE, insecureSkipVerify: true}"),
    )
    assert lines_of(text, "MG509") == []


@pytest.mark.parametrize("tls", ["{mode: SIMPLE, insecureSkipVerify: true}", "{mode: MUTUAL}"])
def test_mg509_2b_injected_dr_not_istio_mutual(tls: str) -> None:
    text = docs(namespace("istio-injection: enabled"), EPP_POOL, dr(tls))
    (finding,) = findings_of(text, "MG509")
    assert (finding.position.line, finding.severity.value) == (19, "warning")
    assert fixed(finding)["spec"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}


def test_mg509_2b_injected_without_dr_uses_auto_mtls() -> None:
    text = docs(namespace("istio-injection: enabled"), EPP_POOL)
    assert lines_of(text, "MG509") == []
    # auto mTLS off: nothing makes the gateway speak Istio mTLS to the EPP's sidecar
    assert lines_of(text, "MG509", {"mesh": {"enable_auto_mtls": False}}) == [(11, "warning")]
    off = OPERATOR + "  meshConfig: {enableAutoMtls: false}\n"
    assert lines_of(docs(text, off), "MG509") == [(11, "warning")]


def test_mg509_2b_injected_by_revision_label() -> None:
    text = docs(namespace("istio.io/rev: canary"), EPP_POOL, dr("{mode: SIMPLE}"))
    assert lines_of(text, "MG509") == [(19, "warning")]


def test_mg509_2_port_level_tls_wins() -> None:
    extra_tls = (
        "{mode: SIMPLE}\n    portLevelSettings:\n    - port: {number: 9002}\n"
        "      tls: {mode: ISTIO_MUTUAL}"
    )
    text = docs(namespace("istio-injection: enabled"), EPP_POOL, dr(extra_tls))
    assert lines_of(text, "MG509") == []


def test_mg509_2_dr_from_gateway_namespace_wins() -> None:
    text = docs(
        namespace("istio-injection: enabled"),
        EPP_POOL,
        dr("{mode: ISTIO_MUTUAL}"),
        dr("{mode: SIMPLE}", ns="istio-ingress"),
        GATEWAY.replace("CLASS", "istio"),
        ROUTE,
        OPERATOR
        + "  meshConfig: {accessLogFile: /dev/stdout}\n"
        + f"  values: {{pilot: {{env: {{{FLAG}: 'true'}}}}}}\n",
    )
    (finding,) = findings_of(text, "MG509")
    assert finding.resource is not None and finding.resource.namespace == "istio-ingress"
    assert finding.position.line == 27


def test_mg509_2_private_dr_in_pool_namespace_is_not_seen_by_gateway() -> None:
    private = dr("{mode: SIMPLE, insecureSkipVerify: true}", extra="  exportTo: ['.']\n")
    base = docs(namespace("istio-injection: disabled"), EPP_POOL, private)
    assert lines_of(base, "MG509") == []  # seen from the pool's own namespace
    text = docs(base, GATEWAY.replace("CLASS", "istio"), ROUTE)
    assert (11, "warning") in lines_of(text, "MG509")  # the gateway in istio-ingress sees none


def test_mg509_2_wildcard_and_root_namespace_dr() -> None:
    text = docs(
        namespace("istio-injection: enabled"),
        EPP_POOL,
        dr("{mode: SIMPLE}", ns="istio-system", host="'*.ml-serving.svc.cluster.local'"),
    )
    assert lines_of(text, "MG509") == [(19, "warning")]


def test_mg509_2_skipped_when_injection_unknown_or_pool_not_istio() -> None:
    assert lines_of(EPP_POOL, "MG509") == []  # no namespace, no pods
    only_other = docs(namespace("istio-injection: disabled"), EPP_POOL, routed("gke-l7-rilb"))
    assert lines_of(only_other, "MG509") == []
    alpha = pool(
        "targetPortNumber: 8000", "selector: {app: a}", "extensionRef: {name: qwen-epp}", api=ALPHA
    )
    assert (
        lines_of(docs(namespace("istio-injection: disabled"), alpha), "MG509") == []
    )  # Istio 1.28
    assert lines_of(
        docs(namespace("istio-injection: disabled"), alpha), "MG509", {"istio_version": "1.27"}
    ) == [(11, "warning")]


# -- robustness ------------------------------------------------------------------------------

HOSTILE = [
    "spec: []",
    "spec: {selector: 5, targetPorts: [1, null, {number: '8000'}], endpointPickerRef: []}",
    "spec: {appProtocol: 7, selector: {matchLabels: 5}, targetPorts: [{number: 1}, {number: 1}]}",
    "spec: {targetPortNumber: x, selector: [a], extensionRef: {portNumber: [], kind: 3, name: 4}}",
    "spec: {endpointPickerRef: {name: e, port: 9002, failureMode: 1}, targetPorts: {}}",
]


@pytest.mark.parametrize("spec", HOSTILE)
@pytest.mark.parametrize("api", [V1, ALPHA])
def test_hostile_pools_do_not_crash(api: str, spec: str) -> None:
    text = api + "\nkind: InferencePool\nmetadata: {name: p, namespace: ml-serving}\n" + spec + "\n"
    text = docs(namespace("istio-injection: disabled"), text, dr("[]"), routed())
    crashes = [f for f in findings_of(text, "MG000")]
    assert crashes == []


@pytest.mark.parametrize(
    "doc",
    [
        LLMD + OBJ + "  criticality: [1]\n  priority: {}\n  poolRef: [x]\n",
        LLMD + OBJ + "  poolRef: {group: 5, kind: [], name: {}}\n",
        GIE_X
        + "kind: InferenceModel\nmetadata: {name: m}\nspec:\n"
        + "  poolRef: 5\n  targetModels: [1, {name: 2}]\n",
        GIE_X + "kind: InferenceModel\nmetadata: {name: m}\nspec: 5\n",
        OPERATOR + "  values: {pilot: [1]}\n  components: {pilot: {k8s: {env: [1, {name: 5}]}}}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod}\n"
        "spec: {template: {spec: {containers: [{name: discovery, image: pilot, env: {}}]}}}\n",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
        "spec: {host: [1], trafficPolicy: 5}\n",
        ROUTE.replace(
            "parentRefs: [{name: ml-gateway, namespace: istio-ingress}]",
            "parentRefs: [5, {name: [1]}]",
        ),
    ],
)
def test_hostile_documents_do_not_crash(doc: str) -> None:
    text = docs(
        doc,
        GATEWAY.replace("CLASS", "istio"),
        ROUTE,
        EPP_POOL,
        namespace("istio-injection: enabled"),
    )
    assert findings_of(text, "MG000") == []


def yaml_dump(body: Any) -> str:
    import yaml

    return yaml.safe_dump(body, sort_keys=False)


def test_mg508_no_fix_that_would_drop_target_models() -> None:
    """At GIE v1.0 there is no InferenceModelRewrite: rewriting in place would lose the split."""
    from tests.lintkit import findings_of

    text = (
        "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
        "kind: InferenceModel\n"
        "metadata: {name: chat, namespace: ml-serving}\n"
        "spec:\n"
        "  modelName: chat\n"
        "  poolRef: {name: llm}\n"
        "  targetModels: [{name: chat-v1, weight: 90}, {name: chat-v2, weight: 10}]\n"
    )
    found = [f for f in findings_of(text, "MG508") if f.pointer == "/kind"]
    assert len(found) == 1 and found[0].fix is None
    assert "targetModels need an InferenceModelRewrite" in found[0].message
    moved = findings_of(text, "MG508", {"gie_version": "v1.2.0"})
    fixed = [f for f in moved if f.pointer == "/kind"]
    assert fixed[0].fix is not None and fixed[0].fix.new_documents
