"""MG606–MG609: one test per numbered condition of RULES.md (line and severity of each finding).

Closed worlds use `strict_refs` (RULES.md MG6xx preamble); absent referents are `unresolved`
(info, error with --strict-refs), present-but-wrong referents are findings at the rule's severity.
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import pytest

from meshguard.config import Config, with_parameters
from meshguard.engine import run
from meshguard.loader import load_text
from meshguard.model import Safety
from tests.lintkit import RULES, findings_of, lines_of, lint_text

STRICT = {"strict_refs": True}
GATEWAY = "cluster.local/ns/istio-ingress/sa/ml-gateway-istio"


def docs(*parts: str) -> str:
    return "---\n".join(textwrap.dedent(p) for p in parts)


def fixed_body(text: str, rule: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    found = [f for f in findings_of(text, rule, params) if f.fix is not None]
    assert len(found) == 1
    body = copy.deepcopy(dict(found[0].resource.body))  # type: ignore[union-attr]
    return jsonpatch.apply_patch(body, list(found[0].fix.ops))  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# MG606 — InferencePool selects no pods, wrong ports, or missing EPP Service
# ---------------------------------------------------------------------------------------------
POOL = """\
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: qwen-pool, namespace: ml-serving}
spec:
  selector: {matchLabels: {app: SELECTOR}}
  targetPorts: [{number: TARGET}]
  endpointPickerRef: {name: qwen-epp, port: {number: EPP_PORT}, failureMode: FailClose}
"""
POOL_ALPHA = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: qwen-pool, namespace: ml-serving}
spec:
  selector: {app: SELECTOR}
  targetPortNumber: TARGET
  extensionRef: {name: qwen-epp}
"""
VLLM = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm-qwen, namespace: NS}
spec:
  selector: {matchLabels: {app: vllm-qwen}}
  template:
    metadata: {labels: {app: vllm-qwen}}
    spec: {containers: [{name: vllm, image: "vllm:v0.10.0", ports: [{containerPort: 8000}]}]}
"""
EPP_SVC = """\
apiVersion: v1
kind: Service
metadata: {name: qwen-epp, namespace: ml-serving}
spec:
  selector: {app: qwen-epp}
  ports: [{name: grpc-ext-proc, port: 9002, appProtocol: http2}]
"""
EPP_POD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen-epp, namespace: ml-serving}
spec:
  selector: {matchLabels: {app: qwen-epp}}
  template:
    metadata: {labels: {app: qwen-epp}}
    spec: {serviceAccountName: qwen-epp, containers: [{name: epp, image: epp:v1.0.0}]}
"""
ALLOW_NOTHING = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: NS}
spec: {}
"""


def pool(selector: str = "vllm-qwen", target: int = 8000, epp_port: int = 9002) -> str:
    return (
        POOL.replace("SELECTOR", selector)
        .replace("TARGET", str(target))
        .replace("EPP_PORT", str(epp_port))
    )


def vllm(namespace: str = "ml-serving") -> str:
    return VLLM.replace("NS", namespace)


def allow_nothing(namespace: str = "ml-serving") -> str:
    return ALLOW_NOTHING.replace("NS", namespace)


def allow_llm(
    scrape_source: str | None, scrape_op: str = 'methods: ["GET"], paths: ["/metrics"]'
) -> str:
    """§3.2 allow-llm: the gateway's POST rule, plus a scrape rule when `scrape_source` is given."""
    lines = [
        "apiVersion: security.istio.io/v1",
        "kind: AuthorizationPolicy",
        "metadata: {name: allow-llm, namespace: ml-serving}",
        "spec:",
        "  selector: {matchLabels: {app: vllm-qwen}}",
        "  rules:",
        f'  - from: [{{source: {{principals: ["{GATEWAY}"]}}}}]',
        '    to: [{operation: {methods: ["POST"], paths: ["/v1/chat/completions"]}}]',
    ]
    if scrape_source is not None:
        lines += [
            f"  - from: [{{source: {scrape_source}}}]",
            f"    to: [{{operation: {{{scrape_op}}}}}]",
        ]
    return "\n".join(lines) + "\n"


class TestMG606:
    def test_1_selector_matches_no_template_in_the_namespace(self) -> None:
        text = docs(pool("vllm-qwen3"), vllm(), EPP_SVC)
        assert lines_of(text, "MG606", STRICT) == [(5, "error")]
        assert "matches none of the 1 pod template(s)" in findings_of(text, "MG606")[0].message

    def test_1_no_template_in_the_namespace_is_unresolved(self) -> None:
        text = docs(pool(), EPP_SVC)
        assert lines_of(text, "MG606") == [(5, "info")]
        assert lines_of(text, "MG606", STRICT) == [(5, "error")]

    def test_1_pods_in_another_namespace_do_not_count(self) -> None:
        # "cross-namespace selection is not supported": the pool's namespace has no pods in the run
        text = docs(pool(), vllm("ml-other"), EPP_SVC)
        assert lines_of(text, "MG606") == [(5, "info")]

    def test_1_v1alpha2_flat_selector(self) -> None:
        text = docs(
            POOL_ALPHA.replace("SELECTOR", "vllm-qwen3").replace("TARGET", "8000"), vllm(), EPP_SVC
        )
        assert lines_of(text, "MG606", STRICT) == [(5, "error")]

    def test_1_leader_worker_set_templates_count(self) -> None:
        lws = """\
        apiVersion: leaderworkerset.x-k8s.io/v1
        kind: LeaderWorkerSet
        metadata: {name: vllm-qwen, namespace: ml-serving}
        spec:
          leaderWorkerTemplate:
            size: 2
            workerTemplate:
              metadata: {labels: {app: vllm-qwen}}
              spec: {containers: [{name: vllm, image: "vllm:v0", ports: [{containerPort: 8000}]}]}
        """
        text = docs(pool(), lws, EPP_SVC)
        assert lines_of(text, "MG606", STRICT) == []

    def test_2_target_port_not_a_container_port(self) -> None:
        text = docs(pool(target=8080), vllm(), EPP_SVC)
        found = findings_of(text, "MG606", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "warning", "/spec/targetPorts/0/number")
        ]
        assert "target port 8080" in found[0].message and "8000" in found[0].message

    def test_2_v1alpha2_target_port_number(self) -> None:
        text = docs(
            POOL_ALPHA.replace("SELECTOR", "vllm-qwen").replace("TARGET", "8080"), vllm(), EPP_SVC
        )
        assert [(f.pointer, f.severity.value) for f in findings_of(text, "MG606", STRICT)] == [
            ("/spec/targetPortNumber", "warning")
        ]

    def test_2_no_declared_container_ports_is_not_judged(self) -> None:
        text = docs(
            pool(target=8080), vllm().replace(", ports: [{containerPort: 8000}]", ""), EPP_SVC
        )
        assert lines_of(text, "MG606", STRICT) == []

    def test_3_missing_epp_service_is_unresolved(self) -> None:
        text = docs(pool(), vllm())
        assert lines_of(text, "MG606") == [(7, "info")]
        assert lines_of(text, "MG606", STRICT) == [(7, "error")]

    def test_3_external_name_service(self) -> None:
        svc = """\
        apiVersion: v1
        kind: Service
        metadata: {name: qwen-epp, namespace: ml-serving}
        spec: {type: ExternalName, externalName: epp.example.com}
        """
        text = docs(pool(), vllm(), svc)
        found = findings_of(text, "MG606", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (7, "error", "/spec/endpointPickerRef/name")
        ]

    def test_3_port_is_the_target_port_not_the_service_port(self) -> None:
        svc = EPP_SVC.replace("port: 9002", "port: 80, targetPort: 9002")
        found = findings_of(docs(pool(), vllm(), svc), "MG606", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (7, "error", "/spec/endpointPickerRef/port/number")
        ]
        assert "it is a targetPort" in found[0].message and "ports: 80" in found[0].message

    def test_3_v1alpha2_implied_port_9002(self) -> None:
        alpha = POOL_ALPHA.replace("SELECTOR", "vllm-qwen").replace("TARGET", "8000")
        svc = EPP_SVC.replace("port: 9002", "port: 9003")
        found = findings_of(docs(alpha, vllm(), svc), "MG606", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (7, "error", "/spec/extensionRef")
        ]
        assert "9002 (implied default)" in found[0].message

    def test_3_matching_port_passes(self) -> None:
        assert lines_of(docs(pool(), vllm(), EPP_SVC), "MG606", STRICT) == []

    def test_3_epp_service_only_in_context_resolves(self) -> None:
        context = load_text(textwrap.dedent(EPP_SVC), "cluster.yaml").resources
        config = with_parameters(Config(), STRICT)
        result = run(
            [load_text(docs(pool(), vllm()), "input.yaml")], config, RULES, context=context
        )
        assert [f for f in result.findings if f.rule == "MG606"] == []

    def test_4_default_deny_without_metrics_rule(self) -> None:
        text = docs(pool(), vllm(), EPP_POD, EPP_SVC, allow_nothing(), allow_llm(None))
        found = findings_of(text, "MG606", STRICT)
        assert [(f.position.line, f.severity.value) for f in found] == [(7, "warning")]
        assert "GET /metrics" in found[0].message and "ml-serving/qwen-epp" in found[0].message

    def test_4_metrics_rule_for_the_epp_account_passes(self) -> None:
        source = '{principals: ["cluster.local/ns/ml-serving/sa/qwen-epp"]}'
        text = docs(pool(), vllm(), EPP_POD, EPP_SVC, allow_nothing(), allow_llm(source))
        assert lines_of(text, "MG606", STRICT) == []

    def test_4_wrong_account_or_wrong_path_is_blocked(self) -> None:
        other = '{principals: ["cluster.local/ns/ml-serving/sa/prometheus"]}'
        text = docs(pool(), vllm(), EPP_POD, EPP_SVC, allow_nothing(), allow_llm(other))
        assert lines_of(text, "MG606", STRICT) == [(7, "warning")]
        source = '{namespaces: ["ml-serving"]}'
        text = docs(
            pool(),
            vllm(),
            EPP_POD,
            EPP_SVC,
            allow_nothing(),
            allow_llm(source, 'methods: ["GET"], paths: ["/stats"]'),
        )
        assert lines_of(text, "MG606", STRICT) == [(7, "warning")]

    def test_4_ports_and_path_parameter(self) -> None:
        source = '{serviceAccounts: ["ml-serving/qwen-epp"]}'
        text = docs(
            pool(),
            vllm(),
            EPP_POD,
            EPP_SVC,
            allow_nothing(),
            allow_llm(source, 'ports: ["9090"], methods: ["GET"], paths: ["/metrics"]'),
        )
        assert lines_of(text, "MG606", STRICT) == [(7, "warning")]
        text = docs(
            pool(),
            vllm(),
            EPP_POD,
            EPP_SVC,
            allow_nothing(),
            allow_llm(source, 'methods: ["GET"], paths: ["/prom/*"]'),
        )
        assert lines_of(text, "MG606", {**STRICT, "epp_metrics_path": "/prom/metrics"}) == []

    def test_4_any_allow_policy_denies_by_default(self) -> None:
        # authorization_policy.proto: once an ALLOW policy applies, unmatched requests are denied
        text = docs(pool(), vllm(), EPP_POD, EPP_SVC, allow_llm(None))
        assert lines_of(text, "MG606", STRICT) == [(7, "warning")]

    def test_4_root_namespace_default_deny(self) -> None:
        text = docs(pool(), vllm(), EPP_POD, EPP_SVC, allow_nothing("istio-system"))
        assert lines_of(text, "MG606", STRICT) == [(7, "warning")]

    def test_4_no_allow_policy_means_allow(self) -> None:
        assert lines_of(docs(pool(), vllm(), EPP_POD, EPP_SVC), "MG606", STRICT) == []

    def test_4_epp_pods_absent_and_principal_rule_is_unresolved(self) -> None:
        source = '{principals: ["cluster.local/ns/ml-serving/sa/qwen-epp"]}'
        text = docs(pool(), vllm(), EPP_SVC, allow_nothing(), allow_llm(source))
        assert lines_of(text, "MG606") == [(7, "info")]

    @pytest.mark.parametrize(
        "spec",
        [
            '"junk"',
            "{selector: [1, 2], targetPorts: x, endpointPickerRef: 7}",
            "{selector: {matchLabels: [a]}, targetPorts: [{number: true}], "
            "endpointPickerRef: {name: 5}}",
            "{selector: {matchLabels: {app: vllm-qwen}}, targetPorts: [null, {number: 8000}], "
            "endpointPickerRef: {name: qwen-epp, port: nine}}",
        ],
    )
    def test_hostile_input_never_raises(self, spec: str) -> None:
        text = docs(pool().split("spec:")[0] + f"spec: {spec}\n", vllm(), EPP_SVC, allow_nothing())
        assert [f for f in lint_text(text, STRICT).findings if f.rule == "MG000"] == []


# ---------------------------------------------------------------------------------------------
# MG607 — InferenceObjective/InferenceModel poolRef does not resolve
# ---------------------------------------------------------------------------------------------
OBJECTIVE = """\
apiVersion: llm-d.ai/v1alpha2
kind: InferenceObjective
metadata: {name: batch, namespace: NS}
spec:
  priority: -10
  poolRef: REF
"""
V1_POOL = pool()
ALPHA_POOL = POOL_ALPHA.replace("SELECTOR", "vllm-qwen").replace("TARGET", "8000")


def objective(ref: str, namespace: str = "ml-serving") -> str:
    return OBJECTIVE.replace("REF", ref).replace("NS", namespace)


class TestMG607:
    def test_group_names_the_other_generation(self) -> None:
        text = docs(objective("{group: inference.networking.x-k8s.io, name: qwen-pool}"), V1_POOL)
        found = findings_of(text, "MG607", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "error", "/spec/poolRef/group")
        ]
        assert found[0].fix is not None and found[0].fix.safety is Safety.UNSAFE
        assert (
            fixed_body(text, "MG607")["spec"]["poolRef"]["group"] == "inference.networking.k8s.io"
        )

    def test_defaulted_group_misses_a_v1alpha2_pool(self) -> None:
        text = docs(objective("{name: qwen-pool}"), ALPHA_POOL)
        found = findings_of(text, "MG607", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "error", "/spec/poolRef")
        ]
        assert "(default)" in found[0].message
        assert fixed_body(text, "MG607")["spec"]["poolRef"] == {
            "name": "qwen-pool",
            "group": "inference.networking.x-k8s.io",
        }

    def test_inference_model_defaults_to_the_v1alpha2_group(self) -> None:
        model = """\
        apiVersion: inference.networking.x-k8s.io/v1alpha2
        kind: InferenceModel
        metadata: {name: chat, namespace: ml-serving}
        spec: {modelName: qwen, poolRef: {name: qwen-pool}}
        """
        assert lines_of(docs(model, ALPHA_POOL), "MG607", STRICT) == []
        assert lines_of(docs(model, V1_POOL), "MG607", STRICT) == [(4, "error")]

    def test_pool_in_another_namespace(self) -> None:
        text = docs(
            objective("{group: inference.networking.k8s.io, name: qwen-pool}", "ml-apps"), V1_POOL
        )
        found = findings_of(text, "MG607", STRICT)
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "error", "/spec/poolRef/name")
        ]
        assert "[ml-serving]" in found[0].message

    def test_absent_pool_is_unresolved(self) -> None:
        text = objective("{group: inference.networking.k8s.io, name: qwen-pool}")
        assert lines_of(text, "MG607") == [(6, "info")]
        assert lines_of(text, "MG607", STRICT) == [(6, "error")]

    def test_pool_only_in_context_resolves(self) -> None:
        text = objective("{group: inference.networking.k8s.io, name: qwen-pool}")
        context = load_text(V1_POOL, "cluster.yaml").resources
        config = with_parameters(Config(), STRICT)
        result = run([load_text(text, "input.yaml")], config, RULES, context=context)
        assert [f for f in result.findings if f.rule == "MG607"] == []
        # ... and the context pool is never checked itself
        assert all(f.file != "cluster.yaml" for f in result.findings)

    def test_resolving_ref_and_non_pool_group_are_quiet(self) -> None:
        assert lines_of(docs(objective("{name: qwen-pool}"), V1_POOL), "MG607", STRICT) == []
        # a group without InferencePool is MG508(2)'s error, not a dangling reference
        assert lines_of(objective("{group: llm-d.ai, name: qwen-pool}"), "MG607", STRICT) == []

    @pytest.mark.parametrize(
        "ref", ['"qwen-pool"', "{name: 7}", "{group: [x], name: qwen-pool}", "null"]
    )
    def test_hostile_input_never_raises(self, ref: str) -> None:
        text = docs(objective(ref), V1_POOL)
        assert [f for f in lint_text(text, STRICT).findings if f.rule == "MG000"] == []


# ---------------------------------------------------------------------------------------------
# MG608 — ALLOW policy blocks gRPC inference
# ---------------------------------------------------------------------------------------------
PREDICTOR_SVC = """\
apiVersion: v1
kind: Service
metadata: {name: sklearn-predictor, namespace: ml-serving}
spec:
  selector: {component: predictor}
  ports: [PORTS]
"""
PREDICTOR = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: sklearn-predictor, namespace: ml-serving}
spec:
  selector: {matchLabels: {component: predictor}}
  template:
    metadata: {labels: {component: predictor}}
    spec: {containers: [{name: kserve-container, image: kserve/sklearnserver:v0.14.0}]}
"""
GRPC_PORT = "{name: grpc, port: 8081, appProtocol: grpc}"


def predictor_svc(ports: str = GRPC_PORT) -> str:
    return PREDICTOR_SVC.replace("PORTS", ports)


def ap(
    to: str,
    *,
    name: str = "allow-inference",
    namespace: str = "ml-serving",
    selector: str = "selector: {matchLabels: {component: predictor}}",
) -> str:
    """An ALLOW policy whose `to:` is on line 8 of its document."""
    return textwrap.dedent(
        f"""\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          {selector}
          rules:
          - from: [{{source: {{principals: ["{GATEWAY}"]}}}}]
            to: {to}
        """
    )


REST_ONLY = '[{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]'
# Line of the AP's `to:` after predictor_svc() (6 lines) and PREDICTOR (8 lines) and two "---".
AP_TO_LINE = 6 + 1 + 8 + 1 + 8


class TestMG608:
    def test_rest_only_paths_on_a_grpc_port(self) -> None:
        text = docs(predictor_svc(), PREDICTOR, ap(REST_ONLY))
        found = findings_of(text, "MG608")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (AP_TO_LINE, "warning", "/spec/rules/0/to/0/operation/paths")
        ]
        assert "ml-serving/sklearn-predictor:8081" in found[0].message
        assert found[0].fix is not None and found[0].fix.safety is Safety.UNSAFE
        paths = fixed_body(text, "MG608")["spec"]["rules"][0]["to"][0]["operation"]["paths"]
        assert paths == ["/v2/models/*", "/inference.GRPCInferenceService/*"]

    def test_fixed_policy_relints_clean(self) -> None:
        fixed = REST_ONLY.replace(
            '"/v2/models/*"', '"/v2/models/*", "/inference.GRPCInferenceService/*"'
        )
        assert lines_of(docs(predictor_svc(), PREDICTOR, ap(fixed)), "MG608") == []

    @pytest.mark.parametrize(
        "to",
        [
            '[{operation: {methods: ["POST"]}}]',  # paths absent
            # methods absent
            '[{operation: {paths: ["/inference.GRPCInferenceService/ModelInfer"]}}]',
            # a /<pkg>.<Service>/ first segment
            '[{operation: {methods: ["POST"], paths: ["/grpc.health.v1.Health/Check"]}}]',
            '[{operation: {methods: ["POST"], paths: ["*"]}}]',
            '[{operation: {methods: ["POST"], paths: ["/inference.GRPCInferenceService/{*}"]}}]',
            '[{operation: {ports: ["8081"]}}]',
        ],
    )
    def test_operations_that_admit_grpc(self, to: str) -> None:
        assert lines_of(docs(predictor_svc(), PREDICTOR, ap(to)), "MG608") == []

    def test_template_is_a_literal_before_istio_1_22(self) -> None:
        to = '[{operation: {methods: ["POST"], paths: ["/{*}/ModelInfer"]}}]'
        text = docs(predictor_svc(), PREDICTOR, ap(to))
        assert lines_of(text, "MG608") == []
        assert lines_of(text, "MG608", {"istio_version": "1.21"}) == [(AP_TO_LINE, "warning")]

    def test_ports_are_anded_with_paths(self) -> None:
        # upstream (authorization_policy.proto): operation fields are ANDed, so listing the gRPC
        # port next to REST paths still denies every gRPC call (RULES.md MG608 reads it as cover)
        to = '[{operation: {ports: ["8081"], methods: ["POST"], paths: ["/v2/models/*"]}}]'
        assert lines_of(docs(predictor_svc(), PREDICTOR, ap(to)), "MG608") == [
            (AP_TO_LINE, "warning")
        ]

    def test_operation_on_another_port_is_not_fixable_so_the_service_port_is_reported(self) -> None:
        to = '[{operation: {ports: ["8080"], methods: ["POST"], paths: ["/v2/models/*"]}}]'
        found = findings_of(docs(predictor_svc(), PREDICTOR, ap(to)), "MG608")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "warning", "/spec/ports/0")
        ]
        assert found[0].fix is None

    def test_get_only_rule_reports_the_service_port(self) -> None:
        to = '[{operation: {methods: ["GET"], paths: ["/v2/models/*"]}}]'
        assert lines_of(docs(predictor_svc(), PREDICTOR, ap(to)), "MG608") == [(6, "warning")]

    def test_allow_nothing_alone_reports_the_service_port(self) -> None:
        ports = "{name: http, port: 8080}, {name: grpc-infer, port: 8081}"
        found = findings_of(docs(predictor_svc(ports), PREDICTOR, allow_nothing()), "MG608")
        assert [(f.position.line, f.pointer) for f in found] == [(6, "/spec/ports/1")]
        assert "ml-serving/allow-nothing" in found[0].message

    def test_root_namespace_default_deny_counts(self) -> None:
        text = docs(predictor_svc(), PREDICTOR, allow_nothing("istio-system"))
        assert lines_of(text, "MG608") == [(6, "warning")]

    def test_no_allow_policy_means_allow(self) -> None:
        assert lines_of(docs(predictor_svc(), PREDICTOR), "MG608") == []

    def test_policy_selecting_other_pods_is_not_reported(self) -> None:
        other = ap(REST_ONLY, selector="selector: {matchLabels: {app: web}}")
        assert lines_of(docs(predictor_svc(), PREDICTOR, other), "MG608") == []

    def test_http_port_and_non_inference_pods_are_not_judged(self) -> None:
        assert (
            lines_of(
                docs(predictor_svc("{name: http, port: 8080}"), PREDICTOR, ap(REST_ONLY)), "MG608"
            )
            == []
        )
        web = PREDICTOR.replace("component: predictor", "app: web")
        svc = predictor_svc().replace("component: predictor", "app: web")
        policy = ap(REST_ONLY, selector="selector: {matchLabels: {app: web}}")
        assert lines_of(docs(svc, web, policy), "MG608") == []

    def test_known_grpc_target_port_on_an_undeclared_port(self) -> None:
        svc = predictor_svc("{name: predict, port: 9000, targetPort: 8081}")
        assert lines_of(docs(svc, PREDICTOR, ap(REST_ONLY)), "MG608") == [(AP_TO_LINE, "warning")]
        declared = predictor_svc("{name: predict, port: 9000, targetPort: 8081, appProtocol: http}")
        assert lines_of(docs(declared, PREDICTOR, ap(REST_ONLY)), "MG608") == []

    def test_manifests_only_pods_are_virtual(self) -> None:
        text = docs(predictor_svc(), ap(REST_ONLY))
        assert lines_of(text, "MG608") == [(6 + 1 + 8, "warning")]

    def test_target_ref_policy(self) -> None:
        selector = 'targetRefs: [{kind: Service, group: "", name: sklearn-predictor}]'
        text = docs(predictor_svc(), PREDICTOR, ap(REST_ONLY, selector=selector))
        assert lines_of(text, "MG608") == [(AP_TO_LINE, "warning")]

    def test_one_finding_per_operation_for_several_ports(self) -> None:
        ports = f"{GRPC_PORT}, {{name: grpc-web, port: 8082, targetPort: 8081}}"
        found = findings_of(docs(predictor_svc(ports), PREDICTOR, ap(REST_ONLY)), "MG608")
        assert [f.pointer for f in found] == ["/spec/rules/0/to/0/operation/paths"]
        assert ":8081" in found[0].message and ":8082" in found[0].message

    @pytest.mark.parametrize(
        "to",
        ['"junk"', "[1, null, {operation: [x]}]", '[{operation: {methods: "POST", paths: 5}}]'],
    )
    def test_hostile_input_never_raises(self, to: str) -> None:
        text = docs(
            predictor_svc("{name: grpc, port: x}, 7, {name: grpc, port: 8081}"), PREDICTOR, ap(to)
        )
        assert [f for f in lint_text(text).findings if f.rule == "MG000"] == []


# ---------------------------------------------------------------------------------------------
# MG609 — Conflicting DestinationRules for one host / subset policy never activated
# ---------------------------------------------------------------------------------------------
def dr(name: str, spec: str, namespace: str = "ml-serving", meta: str = "") -> str:
    """A DestinationRule whose spec starts on line 4 of its document."""
    extra = f", {meta}" if meta else ""
    body = textwrap.indent(textwrap.dedent(spec), "  ")
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        f"metadata: {{name: {name}, namespace: {namespace}{extra}}}\n"
        f"spec:\n{body}"
    )


LB = "trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n"
OD = "trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}}\n"
SUBSET_V2 = (
    "subsets:\n- name: v2\n  labels: {version: v2}\n"
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}}}\n"
)


class TestMG609:
    def test_1_later_top_level_policy_is_ignored(self) -> None:
        text = docs(
            dr("iris-a", "host: iris-predictor\n" + LB), dr("iris-b", "host: iris-predictor\n" + OD)
        )
        found = findings_of(text, "MG609")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (13, "warning", "/spec/trafficPolicy")
        ]
        assert "ml-serving/iris-a is older" in found[0].message

    def test_1_creation_timestamp_decides_which_is_older(self) -> None:
        text = docs(
            dr(
                "iris-a",
                "host: iris-predictor\n" + LB,
                meta='creationTimestamp: "2026-05-01T00:00:00Z"',
            ),
            dr(
                "iris-b",
                "host: iris-predictor\n" + OD,
                meta='creationTimestamp: "2026-01-01T00:00:00Z"',
            ),
        )
        assert [f.resource.name for f in findings_of(text, "MG609")] == ["iris-a"]  # type: ignore[union-attr]

    def test_1_duplicate_subset_is_ignored(self) -> None:
        text = docs(
            dr("iris-a", "host: iris-predictor\nsubsets: [{name: v1, labels: {version: v1}}]\n"),
            dr(
                "iris-b",
                "host: iris-predictor\nsubsets:\n"
                "- {name: v1, labels: {v: x}}\n- {name: v2, labels: {v: y}}\n",
            ),
        )
        assert [(f.position.line, f.pointer) for f in findings_of(text, "MG609")] == [
            (14, "/spec/subsets/0/name")
        ]

    def test_1_lossless_merge_is_reported_on_the_host(self) -> None:
        text = docs(
            dr("iris-a", "host: iris-predictor\n" + LB),
            dr(
                "iris-b",
                "host: iris-predictor.ml-serving.svc.cluster.local\n"
                "subsets: [{name: v1, labels: {version: v1}}]\n",
            ),
        )
        found = findings_of(text, "MG609")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (12, "warning", "/spec/host")
        ]
        assert "2 DestinationRules" in found[0].message

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ('exportTo: ["."]\n', ""),  # different exportTo: kept apart
            (
                "workloadSelector: {matchLabels: {app: a}}\n",
                "workloadSelector: {matchLabels: {app: b}}\n",
            ),
        ],
    )
    def test_1_rules_that_istio_keeps_apart(self, a: str, b: str) -> None:
        text = docs(
            dr("iris-a", "host: iris-predictor\n" + a + LB),
            dr("iris-b", "host: iris-predictor\n" + b + OD),
        )
        assert lines_of(text, "MG609") == []

    def test_1_equal_selectors_and_default_export_merge(self) -> None:
        sel = "workloadSelector: {matchLabels: {app: a}}\n"
        text = docs(
            dr("iris-a", "host: iris-predictor\n" + sel + LB),
            dr("iris-b", 'host: iris-predictor\nexportTo: ["*"]\n' + sel + OD),
        )
        assert lines_of(text, "MG609") == [(16, "warning")]

    def test_1_other_namespace_is_not_merged(self) -> None:
        text = docs(
            dr("iris", "host: iris-predictor\n" + LB),
            dr("iris", "host: iris-predictor\n" + OD, "ml-staging"),
        )
        assert lines_of(text, "MG609") == []

    def test_1_client_namespace_override_is_info(self) -> None:
        text = docs(
            dr("iris", "host: iris-predictor\n" + OD),
            dr("iris-apps", "host: iris-predictor.ml-serving.svc.cluster.local\n" + LB, "apps"),
        )
        found = findings_of(text, "MG609")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (12, "info", "/spec/host")
        ]
        assert "clients in apps" in found[0].message and "ml-serving/iris" in found[0].message

    def test_1_no_override_when_the_service_rule_is_private(self) -> None:
        text = docs(
            dr("iris", 'host: iris-predictor\nexportTo: ["."]\n' + OD),
            dr("iris-apps", "host: iris-predictor.ml-serving.svc.cluster.local\n" + LB, "apps"),
        )
        assert lines_of(text, "MG609") == []

    def test_1_root_namespace_rule_is_the_mesh_fallback_not_an_override(self) -> None:
        text = docs(
            dr("iris", "host: iris-predictor\n" + OD),
            dr(
                "iris-mesh",
                "host: iris-predictor.ml-serving.svc.cluster.local\n" + LB,
                "istio-system",
            ),
        )
        assert lines_of(text, "MG609") == []

    def test_2_subset_policy_without_a_route_is_info(self) -> None:
        spec = "host: iris-predictor\n" + SUBSET_V2
        found = findings_of(dr("iris", spec), "MG609")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (9, "info", "/spec/subsets/0/trafficPolicy")
        ]

    @pytest.mark.parametrize(
        "http",
        [
            "[{route: [{destination: {host: iris-predictor, subset: v2}}]}]",
            "[{route: [{destination: {host: iris-predictor}}],"
            " mirror: {host: iris-predictor, subset: v2}}]",
            "[{route: [{destination: {host: iris-predictor}}],"
            " mirrors: [{destination: {host: iris-predictor, subset: v2}}]}]",
        ],
    )
    def test_2_route_or_mirror_activates_the_subset(self, http: str) -> None:
        spec = "host: '*.ml-serving.svc.cluster.local'\n" + SUBSET_V2
        vs = f"""\
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: iris, namespace: ml-serving}}
        spec: {{hosts: [iris-predictor], http: {http}}}
        """
        assert lines_of(docs(dr("iris", spec), vs), "MG609") == []

    def test_input_and_context_copy_are_one_rule(self) -> None:
        text = dr("iris", "host: iris-predictor\n" + LB)
        result = run(
            [load_text(text, "input.yaml")],
            Config(),
            RULES,
            context=load_text(text, "ctx.yaml").resources,
        )
        assert [f for f in result.findings if f.rule == "MG609"] == []

    @pytest.mark.parametrize(
        "spec",
        [
            "host: 7\n",
            "host: iris-predictor\nsubsets: [1, {name: [v]}, {name: v2, trafficPolicy: x}]\n",
            "host: iris-predictor\nexportTo: x\nworkloadSelector: [a]\ntrafficPolicy: null\n",
        ],
    )
    def test_hostile_input_never_raises(self, spec: str) -> None:
        text = docs(dr("a", spec), dr("b", spec))
        assert [f for f in lint_text(text).findings if f.rule == "MG000"] == []
