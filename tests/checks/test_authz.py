"""MG105–MG108: AuthorizationPolicy checks, one test per numbered condition (RULES.md §2 MG1xx).

Golden semantics (RULES.md §5, §6 item 5) are marked `golden`: `from: []` is decoded as absent
(jsonpb), `spiffe://` principals are double-prefixed (generator.go), methods match case-sensitively
(matcher/header.go), `/v2/models/*/infer` is an exact literal (matcher/string.go) and `{*}` must be
a whole segment (pkg/config/security/security.go: CheckValidPathTemplate).
"""

from __future__ import annotations

import textwrap

import pytest

from meshguard.checks._authz_shapes import decoded_list
from meshguard.model import Safety
from tests.lintkit import findings_of, lines_of

HEAD = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap, namespace: ml-serving}
"""

GATEWAY = "cluster.local/ns/istio-ingress/sa/ml-gateway-istio"


def ap(spec: str, namespace: str = "ml-serving") -> str:
    """An AuthorizationPolicy whose `spec:` starts on line 4."""
    return (
        HEAD.replace("ml-serving", namespace)
        + "spec:\n"
        + textwrap.indent(textwrap.dedent(spec), "  ")
    )


PREDICTOR = "selector: {matchLabels: {component: predictor}}\n"
FROM_GW = f'from: [{{source: {{principals: ["{GATEWAY}"]}}}}]'
TO_V2 = 'to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]'


# ---------------------------------------------------------------------------------------------
# MG105 — ALLOW policy for inference is not explicit, or allows everything
# ---------------------------------------------------------------------------------------------
class TestMG105:
    def test_empty_rule_is_an_error(self) -> None:
        text = ap(PREDICTOR + "rules: [{}]\n")
        assert lines_of(text, "MG105") == [(6, "error")]

    def test_empty_rule_error_does_not_need_an_inference_workload(self) -> None:
        text = ap("selector: {matchLabels: {app: web}}\nrules: [{}]\n")
        assert lines_of(text, "MG105") == [(6, "error")]

    def test_golden_rule_of_empty_lists_is_the_empty_rule(self) -> None:
        # jsonpb decodes from: [] / to: [] as unset, so this rule is `{}`: allow-all
        text = ap(PREDICTOR + "rules:\n- from: []\n  to: []\n")
        assert lines_of(text, "MG105") == [(7, "error")]

    def test_missing_from_is_a_warning(self) -> None:
        text = ap(
            PREDICTOR
            + 'rules:\n- to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG105") == [(7, "warning")]

    def test_golden_from_empty_list_is_decoded_as_absent(self) -> None:
        text = ap(PREDICTOR + f"rules:\n- from: []\n  {TO_V2}\n")
        found = findings_of(text, "MG105")
        assert [(f.position.line, f.severity.value) for f in found] == [(7, "warning")]
        assert "from: []" in found[0].message

    def test_wildcard_principal_is_a_warning(self) -> None:
        text = ap(
            PREDICTOR
            + 'rules:\n- from: [{source: {principals: ["*"]}}]\n'
            + '  to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]\n'
        )
        found = findings_of(text, "MG105")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (7, "warning", "/spec/rules/0/from/0/source/principals/0")
        ]

    def test_missing_to_is_a_warning(self) -> None:
        text = ap(PREDICTOR + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n')
        assert lines_of(text, "MG105") == [(7, "warning")]

    def test_operation_without_methods_is_a_warning(self) -> None:
        text = ap(
            PREDICTOR
            + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
            + '  to: [{operation: {paths: ["/v2/models/*"]}}]\n'
        )
        found = findings_of(text, "MG105")
        assert [(f.position.line, f.severity.value) for f in found] == [(8, "warning")]
        assert "no methods" in found[0].message

    def test_operation_without_paths_is_a_warning(self) -> None:
        text = ap(
            PREDICTOR
            + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
            + '  to: [{operation: {methods: ["POST"]}}]\n'
        )
        found = findings_of(text, "MG105")
        assert [(f.position.line, f.severity.value) for f in found] == [(8, "warning")]
        assert "no paths" in found[0].message

    def test_namespace_only_source_is_info(self) -> None:
        text = ap(
            PREDICTOR
            + 'rules:\n- from: [{source: {namespaces: ["knative-serving"]}}]\n'
            + '  to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG105") == [(7, "info")]

    def test_namespaces_with_principals_is_quiet(self) -> None:
        text = ap(
            PREDICTOR
            + f'rules:\n- from: [{{source: {{namespaces: ["apps"], principals: ["{GATEWAY}"]}}}}]\n'
            + '  to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG105") == []

    def test_explicit_policy_passes(self) -> None:
        text = ap(
            PREDICTOR
            + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
            + '  to: [{operation: {methods: ["POST", "GET"], '
            + 'paths: ["/v1/models/*", "/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG105") == []

    def test_only_ml_namespaces(self) -> None:
        text = ap(PREDICTOR + "rules: [{}]\n", namespace="web")
        assert lines_of(text, "MG105") == []

    def test_labelled_namespace_is_an_ml_namespace(self) -> None:
        ns = "apiVersion: v1\nkind: Namespace\n"
        ns += 'metadata: {name: models, labels: {meshguard.io/ml: "true"}}\n---\n'
        text = ns + ap(PREDICTOR + "rules: [{}]\n", namespace="models")
        assert lines_of(text, "MG105") == [(10, "error")]

    def test_deny_policies_are_not_checked(self) -> None:
        text = ap(PREDICTOR + "action: DENY\nrules: [{}]\n")
        assert lines_of(text, "MG105") == []

    def test_warnings_need_an_inference_workload(self) -> None:
        text = ap(
            'selector: {matchLabels: {app: web}}\nrules: [{to: [{operation: {ports: ["80"]}}]}]\n'
        )
        assert lines_of(text, "MG105") == []

    def test_selectorless_policy_reaches_gpu_deployment(self) -> None:
        deploy = """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: llm, namespace: ml-serving}
            spec:
              template:
                metadata: {labels: {app: llm}}
                spec: {containers: [{name: vllm, resources: {limits: {nvidia.com/gpu: 1}}}]}
            ---
            """
        text = textwrap.dedent(deploy) + ap(
            f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
        )
        assert lines_of(text, "MG105") == [(14, "warning")]

    def test_target_ref_service_selecting_inference(self) -> None:
        svc = """\
            apiVersion: v1
            kind: Service
            metadata: {name: predictor, namespace: ml-serving}
            spec: {selector: {component: predictor}, ports: [{name: http, port: 80}]}
            ---
            """
        text = textwrap.dedent(svc) + ap(
            'targetRefs: [{kind: Service, group: "", name: predictor}]\n'
            + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
        )
        assert lines_of(text, "MG105") == [(12, "warning")]

    def test_fix_is_a_display_only_suggestion(self) -> None:
        found = findings_of(ap(PREDICTOR + "rules: [{}]\n"), "MG105")
        fix = found[0].fix
        assert fix is not None and fix.safety is Safety.NONE and not fix.ops
        assert '"/v1/models/*"' in fix.title and '"/v1/chat/completions"' in fix.title
        assert "cluster.local/ns/" in fix.title and "generate_stream" not in fix.title


class TestMG105Ports:
    """Paths (and methods) may be omitted only when every listed port is non-HTTP (MG408 family)."""

    @staticmethod
    def text(service_ports: str, op: str) -> str:
        workload = textwrap.dedent(
            """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: predictor, namespace: ml-serving}
            spec:
              template:
                metadata: {labels: {component: predictor}}
                spec:
                  containers:
                  - name: kserve-container
                    ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 9000}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: predictor, namespace: ml-serving}
            spec:
              selector: {component: predictor}
            """
        )
        policy = ap(PREDICTOR + f"rules:\n- {FROM_GW}\n  to: [{{operation: {op}}}]\n")
        return workload + f"  ports: {service_ports}\n---\n" + policy

    @pytest.mark.parametrize(
        ("service_ports", "op", "want"),
        [
            # tcp-* name: TCP, the rule may carry only ports
            ("[{name: tcp-admin, port: 9000, targetPort: admin}]", '{ports: ["9000"]}', []),
            # appProtocol decides even when the name says http (ConvertProtocol)
            ("[{name: http-admin, port: 9000, appProtocol: tcp}]", '{ports: ["9000"]}', []),
            # mysql well-known port without a name: TCP
            ("[{port: 3306, targetPort: 9000}]", '{ports: ["9000"]}', []),
            # an HTTP port needs methods and paths
            ("[{name: http, port: 80, targetPort: 8080}]", '{ports: ["8080"]}', [(26, "warning")]),
            # sniffed (unrecognised name) counts as HTTP
            ("[{name: admin, port: 9000}]", '{ports: ["9000"]}', [(26, "warning")]),
            # a port no Service maps counts as HTTP
            ("[{name: tcp-admin, port: 9000}]", '{ports: ["7000"]}', [(26, "warning")]),
            # one HTTP port among the listed ones is enough
            (
                "[{name: tcp-admin, port: 9000}, {name: http, port: 80, targetPort: 8080}]",
                '{ports: ["9000", 8080]}',
                [(26, "warning")],
            ),
            # grpc is HTTP family
            ("[{name: grpc, port: 9000}]", '{ports: ["9000"]}', [(26, "warning")]),
        ],
    )
    def test_port_exemption(self, service_ports: str, op: str, want: list[tuple[int, str]]) -> None:
        assert lines_of(self.text(service_ports, op), "MG105") == want


@pytest.mark.parametrize(("value", "want"), [(None, None), ([], None), ("x", None), ([1], [1])])
def test_golden_decoded_list(value: object, want: object) -> None:
    # jsonpb: null and [] leave a repeated field unset
    assert decoded_list(value) == want


# ---------------------------------------------------------------------------------------------
# MG106 — Unsafe AuthorizationPolicy matching pattern
# ---------------------------------------------------------------------------------------------
class TestMG106:
    @pytest.mark.parametrize("action", ["DENY", "CUSTOM"])
    def test_1_deny_or_custom_without_rules(self, action: str) -> None:
        assert lines_of(ap(f"action: {action}\n"), "MG106") == [(5, "error")]

    def test_1_golden_rules_empty_list_is_absent(self) -> None:
        assert lines_of(ap("action: DENY\nrules: []\n"), "MG106") == [(5, "error")]

    def test_1_allow_without_rules_is_allow_nothing(self) -> None:
        assert lines_of(ap("action: ALLOW\n"), "MG106") == []
        assert lines_of(HEAD + "spec: {}\n", "MG106") == []

    @pytest.mark.parametrize(
        ("rule", "line"),
        [
            ('- to: [{operation: {notPaths: ["/v2/repository/*"]}}]', 6),
            ('- from: [{source: {notPrincipals: ["cluster.local/ns/a/sa/b"]}}]', 6),
            ('- from: [{source: {notNamespaces: ["a"]}}]', 6),
            ('- from: [{source: {notIpBlocks: ["10.0.0.0/8"]}}]', 6),
            ('- to: [{operation: {notMethods: ["DELETE"]}}]', 6),
            ('- to: [{operation: {notPorts: ["9000"]}}]', 6),
            ('- when:\n  - {key: "request.headers[x-user]", notValues: ["bot"]}', 7),
        ],
    )
    def test_2_allow_with_negative_field(self, rule: str, line: int) -> None:
        assert lines_of(ap(f"rules:\n{rule}\n"), "MG106") == [(line, "warning")]

    def test_2_deny_with_negative_field_is_fine(self) -> None:
        text = ap(
            "action: DENY\nrules:\n"
            '- to: [{operation: {ports: ["8080"], notPaths: ["/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG106") == []

    def test_3a_deny_with_http_only_operation(self) -> None:
        text = ap('action: DENY\nrules:\n- to: [{operation: {paths: ["/v2/repository/*"]}}]\n')
        found = findings_of(text, "MG106")
        assert [(f.position.line, f.severity.value) for f in found] == [(7, "warning")]
        assert found[0].fix is None  # no Service known: no ports to add

    def test_3a_deny_with_ports_is_fine(self) -> None:
        text = ap(
            'action: DENY\nrules:\n- to: [{operation: {notPorts: ["15021"], paths: ["/admin"]}}]\n'
        )
        assert lines_of(text, "MG106") == []

    def test_3b_deny_from_only_with_http_source(self) -> None:
        text = ap('action: DENY\nrules:\n- from: [{source: {requestPrincipals: ["*"]}}]\n')
        assert lines_of(text, "MG106") == [(7, "warning")]

    def test_3b_deny_from_only_with_tcp_source_is_fine(self) -> None:
        text = ap('action: DENY\nrules:\n- from: [{source: {notNamespaces: ["ml-serving"]}}]\n')
        assert lines_of(text, "MG106") == []

    def test_3_deny_empty_rule_is_not_http_only(self) -> None:
        # as ValidateAuthorizationPolicy: a rule without from/to denies everything, TCP included
        assert lines_of(ap("action: DENY\nrules: [{}]\n"), "MG106") == []

    def test_3_fix_adds_http_target_ports(self) -> None:
        workload = textwrap.dedent(
            """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: predictor, namespace: ml-serving}
            spec:
              template:
                metadata: {labels: {app: p}}
                spec:
                  containers:
                  - {name: c, ports: [{name: web, containerPort: 8080}, {containerPort: 5432}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: predictor, namespace: ml-serving}
            spec:
              selector: {app: p}
              ports:
              - {name: http, port: 80, targetPort: web}
              - {name: tcp-db, port: 5432}
              - {name: grpc, port: 9000}
            ---
            """
        )
        text = workload + ap(
            "selector: {matchLabels: {app: p}}\naction: DENY\n"
            'rules:\n- from: [{source: {requestPrincipals: ["*"]}}]\n'
        )
        found = findings_of(text, "MG106")
        assert [(f.position.line, f.severity.value) for f in found] == [(28, "warning")]
        fix = found[0].fix
        assert fix is not None and fix.safety is Safety.UNSAFE
        # 9000 is mapped by the Service but no container listens there: still an HTTP target port
        assert fix.ops == (
            {
                "op": "add",
                "path": "/spec/rules/0/to",
                "value": [{"operation": {"ports": ["8080", "9000"]}}],
            },
        )

    @pytest.mark.parametrize(
        ("field", "effect"), [("from", "allows any source"), ("to", "allows any operation")]
    )
    def test_4a_golden_empty_list_is_decoded_as_absent(self, field: str, effect: str) -> None:
        other = "to" if field == "from" else "from"
        value = (
            '[{operation: {methods: ["GET"]}}]'
            if other == "to"
            else f'[{{source: {{principals: ["{GATEWAY}"]}}}}]'
        )
        found = findings_of(ap(f"rules:\n- {field}: []\n  {other}: {value}\n"), "MG106")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "error", f"/spec/rules/0/{field}")
        ]
        assert effect in found[0].message

    def test_4a_deny_from_empty_list_denies_everything(self) -> None:
        found = findings_of(
            ap('action: DENY\nrules:\n- from: []\n  to: [{operation: {ports: ["80"]}}]\n'), "MG106"
        )
        assert [(f.position.line, f.severity.value) for f in found] == [(7, "error")]
        assert "denies any source" in found[0].message

    @pytest.mark.parametrize(
        ("rule", "pointer"),
        [
            ("- from: [{source: {}}]", "/spec/rules/0/from/0/source"),
            ("- from: [{source: {principals: []}}]", "/spec/rules/0/from/0/source"),
            ("- from: [{source: null}]", "/spec/rules/0/from/0/source"),
            ("- from: [{}]", "/spec/rules/0/from/0"),
            ("- to: [{operation: {}}]", "/spec/rules/0/to/0/operation"),
            ("- to: [{operation: null}]", "/spec/rules/0/to/0/operation"),
        ],
    )
    def test_4b_empty_source_or_operation(self, rule: str, pointer: str) -> None:
        found = findings_of(ap(f"rules:\n{rule}\n"), "MG106")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (6, "error", pointer)
        ]

    def test_pass_example(self) -> None:
        text = ap(
            f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n'
            '  to: [{operation: {methods: ["POST"], paths: ["/v2/models/*"]}}]\n'
        )
        assert lines_of(text, "MG106") == []


# ---------------------------------------------------------------------------------------------
# MG107 — AuthorizationPolicy value can never match
# ---------------------------------------------------------------------------------------------
def op_rule(field: str, value: str, action: str = "ALLOW") -> str:
    return ap(
        f"action: {action}\nrules:\n"
        f'- to: [{{operation: {{ports: ["80"], {field}: ["{value}"]}}}}]\n'
    )


def src_rule(source: str) -> str:
    return ap(
        f"rules:\n- from: [{{source: {source}}}]\n"
        "  to: [{operation: {methods: [GET], paths: [/x]}}]\n"
    )


class TestMG107:
    @pytest.mark.parametrize(
        ("action", "severity"),
        [("ALLOW", "warning"), ("AUDIT", "warning"), ("DENY", "error"), ("CUSTOM", "error")],
    )
    def test_1_golden_mid_path_star_is_literal(self, action: str, severity: str) -> None:
        assert lines_of(op_rule("paths", "/v2/models/*/infer", action), "MG107") == [(7, severity)]

    @pytest.mark.parametrize("value", ["*/models/*", "*abc*", "/v2/**", "/v1/models/*:predict"])
    def test_1_other_literal_stars(self, value: str) -> None:
        assert lines_of(op_rule("paths", value), "MG107") == [(7, "warning")]

    @pytest.mark.parametrize(
        ("action", "severity"),
        [("ALLOW", "error"), ("AUDIT", "warning"), ("DENY", "warning"), ("CUSTOM", "warning")],
    )
    def test_1_not_paths_severity_is_inverted(self, action: str, severity: str) -> None:
        # a dead notPaths value excludes nothing: the ALLOW matches more (hole), a DENY denies more
        assert lines_of(op_rule("notPaths", "/dex/**", action), "MG107") == [(7, severity)]

    @pytest.mark.parametrize(
        "value", ["*", "/v1/models/*", "*.json", "/v2/models/iris/infer", "/v2/models/{*}/infer"]
    )
    def test_1_valid_values(self, value: str) -> None:
        assert lines_of(op_rule("paths", value), "MG107") == []

    @pytest.mark.parametrize(
        ("value", "version", "fixed"),
        [
            ("/v2/models/*/infer", "1.28", "/v2/models/{*}/infer"),
            ("/v2/*/models/*/infer", "1.28", "/v2/{*}/models/{*}/infer"),
            ("/v2/**", "1.28", "/v2/{**}"),
            ("/v2/models/*/infer", "1.21", "/v2/models/*"),
            ("/v1/models/*:predict", "1.28", "/v1/models/*"),
            ("*/models/*", "1.28", None),
            ("/*/infer", "1.28", "/{*}/infer"),
            ("/*/infer", "1.21", None),  # widening to "/*" would allow every path
        ],
    )
    def test_1_fix(self, value: str, version: str, fixed: str | None) -> None:
        found = findings_of(op_rule("paths", value), "MG107", {"istio_version": version})
        assert len(found) == 1
        fix = found[0].fix
        if fixed is None:
            assert fix is None
        else:
            assert fix is not None and fix.safety is Safety.UNSAFE
            assert fix.ops == (
                {"op": "replace", "path": "/spec/rules/0/to/0/operation/paths/0", "value": fixed},
            )

    @pytest.mark.parametrize(
        "value",
        [
            "/v1/models/{*}:predict",  # golden: {*} must be a whole segment
            "/v2/{*}.json",
            "/v2/{**}/models/{*}",  # {**} not the last operator
            "/v2/{*}/x*",  # other segment not a plain literal
            "/v2/{*}//infer",  # empty segment
        ],
    )
    def test_2_rejected_templates(self, value: str) -> None:
        assert lines_of(op_rule("paths", value), "MG107") == [(7, "error")]

    def test_2_templates_need_istio_1_22(self) -> None:
        text = op_rule("paths", "/v2/models/{*}/infer")
        assert lines_of(text, "MG107", {"istio_version": "1.21"}) == [(7, "error")]
        assert lines_of(text, "MG107", {"istio_version": "1.22"}) == []

    @pytest.mark.parametrize("field", ["principals", "notPrincipals"])
    def test_3_golden_spiffe_prefix_is_doubled(self, field: str) -> None:
        found = findings_of(src_rule(f'{{{field}: ["spiffe://{GATEWAY}"]}}'), "MG107")
        assert [(f.position.line, f.severity.value) for f in found] == [(6, "error")]
        fix = found[0].fix
        assert fix is not None and fix.ops[0]["value"] == GATEWAY and fix.safety is Safety.UNSAFE

    @pytest.mark.parametrize(
        "value",
        ["ml-gateway", "cluster.local/ns//sa/x", "cluster.local/sa/x/ns/y", "a/ns/b/sa/c/d"],
    )
    def test_4_principal_shape_is_a_warning(self, value: str) -> None:
        assert lines_of(src_rule(f'{{principals: ["{value}"]}}'), "MG107") == [(6, "warning")]

    @pytest.mark.parametrize(
        "value", ["*", "*/sa/gateway", "cluster.local/ns/apps/*", "td.example/ns/a/sa/b"]
    )
    def test_4_principal_shape_ok(self, value: str) -> None:
        # any trust domain is accepted: aliases are legal (RULES.md §0.3 mesh.trust_domain)
        assert lines_of(src_rule(f'{{principals: ["{value}"]}}'), "MG107") == []

    @pytest.mark.parametrize(
        ("action", "severity"),
        [("ALLOW", "warning"), ("AUDIT", "warning"), ("DENY", "error"), ("CUSTOM", "error")],
    )
    def test_5_golden_lower_case_method(self, action: str, severity: str) -> None:
        found = findings_of(op_rule("methods", "post", action), "MG107")
        assert [(f.position.line, f.severity.value) for f in found] == [(7, severity)]
        assert found[0].fix is not None and found[0].fix.ops[0]["value"] == "POST"

    @pytest.mark.parametrize(("action", "severity"), [("ALLOW", "error"), ("DENY", "warning")])
    def test_5_not_methods_severity_is_inverted(self, action: str, severity: str) -> None:
        assert lines_of(op_rule("notMethods", "delete", action), "MG107") == [(7, severity)]

    @pytest.mark.parametrize("value", ["Post", "get*"])
    def test_5_mixed_case_and_prefix(self, value: str) -> None:
        assert lines_of(op_rule("methods", value), "MG107") == [(7, "warning")]

    @pytest.mark.parametrize("value", ["POST", "*", "G*"])
    def test_5_upper_case_is_fine(self, value: str) -> None:
        assert lines_of(op_rule("methods", value), "MG107") == []

    @pytest.mark.parametrize(
        "source",
        [
            f'{{serviceAccounts: ["apps/web"], principals: ["{GATEWAY}"]}}',
            '{notServiceAccounts: ["apps/web"], namespaces: ["apps"]}',
            '{serviceAccounts: ["apps/web"], principals: []}',  # CRD CEL has(): presence counts
        ],
    )
    def test_6_service_accounts_with_principals_or_namespaces(self, source: str) -> None:
        assert lines_of(src_rule(source), "MG107") == [(6, "error")]

    def test_6_service_accounts_alone_is_fine(self) -> None:
        assert lines_of(src_rule('{serviceAccounts: ["apps/web"]}'), "MG107") == []


# ---------------------------------------------------------------------------------------------
# MG108 — ALLOW policy exposes model-management or catch-all paths
# ---------------------------------------------------------------------------------------------
def paths_rule(paths: str, source: str = f'{{principals: ["{GATEWAY}"]}}', extra: str = "") -> str:
    return ap(
        PREDICTOR
        + extra
        + f"rules:\n- from: [{{source: {source}}}]\n"
        + f'  to: [{{operation: {{methods: ["POST"], paths: {paths}}}}}]\n'
    )


class TestMG108:
    @pytest.mark.parametrize(
        "value",
        [
            "*",
            "/*",
            "/v2/*",
            "/v2/repository*",
            "/v2/repository/*",
            "*/load",
            "*/unload",
            "/v2/{**}",
            "/v2/{*}/models/{*}/load",
            "/v2/repository/models/*",
        ],
    )
    def test_catch_all_or_management_path(self, value: str) -> None:
        found = findings_of(paths_rule(f'["/v2/models/*", "{value}"]'), "MG108")
        assert [(f.position.line, f.severity.value, f.pointer) for f in found] == [
            (8, "warning", "/spec/rules/0/to/0/operation/paths/1")
        ]

    @pytest.mark.parametrize(
        "value",
        [
            "/v2/models/*",
            "/v1/models/*",
            "/inference.GRPCInferenceService/*",
            "/v1/chat/completions",
        ],
    )
    def test_inference_paths_are_fine(self, value: str) -> None:
        assert lines_of(paths_rule(f'["{value}"]'), "MG108") == []

    def test_rule_without_to(self) -> None:
        text = ap(PREDICTOR + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n')
        assert lines_of(text, "MG108") == [(7, "warning")]

    def test_golden_rule_with_empty_to_list(self) -> None:
        text = ap(
            PREDICTOR + f'rules:\n- from: [{{source: {{principals: ["{GATEWAY}"]}}}}]\n  to: []\n'
        )
        assert lines_of(text, "MG108") == [(7, "warning")]

    def test_operation_without_paths(self) -> None:
        text = ap(PREDICTOR + 'rules:\n- to: [{operation: {methods: ["POST"]}}]\n')
        assert lines_of(text, "MG108") == [(7, "warning")]

    def test_admin_principals_may_reach_management(self) -> None:
        admin = "cluster.local/ns/ml-ops/sa/loader"
        text = paths_rule('["/v2/repository/*"]', source=f'{{principals: ["{admin}"]}}')
        assert lines_of(text, "MG108", {"admin_principals": [admin]}) == []
        assert lines_of(text, "MG108") == [(8, "warning")]

    def test_admin_and_other_principals_still_warn(self) -> None:
        admin = "cluster.local/ns/ml-ops/sa/loader"
        text = paths_rule(
            '["/v2/repository/*"]', source=f'{{principals: ["{admin}", "{GATEWAY}"]}}'
        )
        assert lines_of(text, "MG108", {"admin_principals": [admin]}) == [(8, "warning")]

    def test_deny_and_non_inference_and_non_ml_are_quiet(self) -> None:
        assert lines_of(paths_rule('["*"]', extra="action: DENY\n"), "MG108") == []
        text = ap(
            'selector: {matchLabels: {app: web}}\nrules:\n- to: [{operation: {paths: ["*"]}}]\n'
        )
        assert lines_of(text, "MG108") == []
        text = ap(PREDICTOR + 'rules:\n- to: [{operation: {paths: ["*"]}}]\n', namespace="web")
        assert lines_of(text, "MG108") == []


# ---------------------------------------------------------------------------------------------
# Robustness: hostile documents never crash a check
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        "spec: hello\n",
        "spec: [1, 2]\n",
        "spec: {rules: hello}\n",
        "spec: {rules: [1, x, null, [], {from: x, to: 3, when: y}]}\n",
        "spec: {action: 3, rules: [{from: [1, null, {source: [1]}], to: [{operation: [2]}]}]}\n",
        "spec: {selector: x, targetRefs: [1, {kind: Service}], rules: [{}]}\n",
        "spec: {selector: {matchLabels: [1]}, rules: [{to: [{operation: "
        "{paths: [1, null, {a: b}], methods: [2], ports: [true, {}]}}]}]}\n",
        "spec: {rules: [{from: [{source: {principals: [1, null], serviceAccounts: x, "
        "namespaces: 2}}], when: [1, {notValues: 3}]}]}\n",
        'spec: {action: DENY, rules: [{to: [{operation: {paths: ["/a"]}}]}], '
        "selector: {matchLabels: {component: predictor}}}\n",
    ],
)
def test_hostile_input_does_not_crash(spec: str) -> None:
    from tests.lintkit import lint_text

    result = lint_text(HEAD + spec)
    assert not [f for f in result.findings if f.rule == "MG000"]


def test_hostile_services_and_workloads_do_not_crash() -> None:
    from tests.lintkit import lint_text

    text = textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: p, namespace: ml-serving}
        spec:
          template:
            metadata: {labels: {component: predictor}}
            spec: {containers: [1, {ports: x}, {ports: [1, {name: web, containerPort: x}]}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: p, namespace: ml-serving}
        spec:
          selector: {component: predictor}
          ports:
          - 1
          - {name: 5, port: x, targetPort: web}
          - {appProtocol: 7, targetPort: true}
          - {targetPort: [1]}
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: ap, namespace: ml-serving}
        spec:
          selector: {matchLabels: {component: predictor}}
          action: DENY
          rules:
          - {to: [{operation: {paths: ["/a"]}}]}
          - {from: [{source: {requestPrincipals: ["*"]}}]}
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: ap2, namespace: ml-serving}
        spec:
          targetRefs: [{kind: Service, name: p}, {kind: Service, name: [1]}]
          rules: [{to: [{operation: {ports: [x, 1]}}]}]
        """
    )
    result = lint_text(text)
    assert not [f for f in result.findings if f.rule == "MG000"]
    assert {f.rule for f in result.findings} >= {"MG105", "MG106"}
