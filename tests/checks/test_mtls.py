"""MG101–MG104, one test per numbered condition of RULES.md (line and severity of each finding)."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import pytest
import yaml

from meshguard.config import Config
from meshguard.engine import run
from meshguard.loader import load_text
from meshguard.model import Safety
from tests.lintkit import RULES, findings_of, lines_of, lint_text

NS = """\
apiVersion: v1
kind: Namespace
metadata: {name: ml-serving}
"""


def doc(text: str) -> str:
    return "---\n" + textwrap.dedent(text)


def pa(name: str, namespace: str, spec: str, meta: str = "") -> str:
    extra = f", {meta}" if meta else ""
    return doc(
        f"""\
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {{name: {name}, namespace: {namespace}{extra}}}
        spec: {spec}
        """
    )


def ap(name: str, namespace: str, spec: str) -> str:
    return doc(
        f"""\
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {{name: {name}, namespace: {namespace}}}
        spec: {spec}
        """
    )


# -- MG101 -------------------------------------------------------------------------------------


def test_mg101_no_policy_is_permissive() -> None:
    (finding,) = findings_of(NS, "MG101")
    assert (finding.position.line, finding.severity.value) == (3, "error")
    assert "PERMISSIVE" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    (new,) = finding.fix.new_documents
    assert new == {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "ml-serving"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }


def test_mg101_namespace_policy_overrides_mesh() -> None:
    text = (
        NS
        + pa("default", "istio-system", "{mtls: {mode: STRICT}}")
        + pa("default", "ml-serving", "{mtls: {mode: DISABLE}}")
    )
    (finding,) = findings_of(text, "MG101")
    assert (finding.position.line, finding.severity.value) == (3, "error")
    assert "DISABLE, set by namespace-wide PeerAuthentication ml-serving/default" in finding.message
    assert finding.fix is None  # the existing namespace policy is repaired instead (MG102)


def test_mg101_unset_inherits_mesh() -> None:
    strict = (
        NS
        + pa("default", "istio-system", "{mtls: {mode: STRICT}}")
        + pa("default", "ml-serving", "{mtls: {mode: UNSET}}")
    )
    assert lines_of(strict, "MG101") == []
    permissive = (
        NS
        + pa("default", "istio-system", "{mtls: {mode: PERMISSIVE}}")
        + pa("default", "ml-serving", "{}")
    )
    assert lines_of(permissive, "MG101") == [(3, "error")]


def test_mg101_unset_without_mesh_is_permissive_and_has_no_fix() -> None:
    (finding,) = findings_of(NS + pa("default", "ml-serving", "{mtls: {mode: UNSET}}"), "MG101")
    assert finding.severity.value == "error" and finding.fix is None


def test_mg101_workload_policies_do_not_make_the_namespace_strict() -> None:
    text = NS + pa(
        "predictor", "ml-serving", "{selector: {matchLabels: {app: p}}, mtls: {mode: STRICT}}"
    )
    (finding,) = findings_of(text, "MG101")
    assert finding.position.line == 3
    # the fix must not reuse a taken name
    assert finding.fix is not None and finding.fix.new_documents[0]["metadata"]["name"] == "default"
    taken = NS + pa(
        "default", "ml-serving", "{selector: {matchLabels: {app: p}}, mtls: {mode: STRICT}}"
    )
    (finding,) = findings_of(taken, "MG101")
    assert (
        finding.fix is not None
        and finding.fix.new_documents[0]["metadata"]["name"] == "namespace-strict"
    )


def test_mg101_root_selector_policy_is_ignored() -> None:
    text = NS + pa(
        "default", "istio-system", "{selector: {matchLabels: {app: p}}, mtls: {mode: STRICT}}"
    )
    assert lines_of(text, "MG101") == [(3, "error")]


def test_mg101_oldest_namespace_policy_wins() -> None:
    old_permissive = pa(
        "zz-old",
        "ml-serving",
        "{mtls: {mode: PERMISSIVE}}",
        'creationTimestamp: "2024-01-01T00:00:00Z"',
    )
    new_strict = pa(
        "aa-new",
        "ml-serving",
        "{mtls: {mode: STRICT}}",
        'creationTimestamp: "2025-01-01T00:00:00Z"',
    )
    assert lines_of(NS + old_permissive + new_strict, "MG101") == [(3, "error")]


def test_mg101_same_second_tie_goes_to_the_smaller_name() -> None:
    stamp = 'creationTimestamp: "2025-01-01T00:00:00Z"'
    first = pa("a-strict", "ml-serving", "{mtls: {mode: STRICT}}", stamp)
    second = pa("b-permissive", "ml-serving", "{mtls: {mode: PERMISSIVE}}", stamp)
    assert lines_of(NS + second + first, "MG101") == []
    assert lines_of(
        NS
        + pa("a", "ml-serving", "{mtls: {mode: DISABLE}}")
        + pa("b", "ml-serving", "{mtls: {mode: STRICT}}"),
        "MG101",
    ) == [(3, "error")]


def test_mg101_rejected_policy_takes_no_part() -> None:
    # portLevelMtls without selector: rejected by the CRD and by ValidatePeerAuthentication
    text = NS + pa(
        "default", "ml-serving", "{mtls: {mode: STRICT}, portLevelMtls: {8080: {mode: STRICT}}}"
    )
    (finding,) = findings_of(text, "MG101")
    assert finding.severity.value == "error" and finding.fix is None


def test_mg101_cluster_copy_supplies_the_creation_time() -> None:
    """An edited manifest keeps its cluster object's age; a new one is the newest."""
    edited = load_text(
        NS
        + pa("zz-legacy", "ml-serving", "{mtls: {mode: PERMISSIVE}}")
        + pa("aa", "ml-serving", "{mtls: {mode: STRICT}}"),
        "in.yaml",
    )
    cluster = load_text(
        pa(
            "zz-legacy",
            "ml-serving",
            "{mtls: {mode: PERMISSIVE}}",
            'creationTimestamp: "2023-01-01T00:00:00Z"',
        ),
        "cluster.yaml",
    )
    result = run([edited], Config(), RULES, context=cluster.resources)
    assert [(f.position.line, f.severity.value) for f in result.findings if f.rule == "MG101"] == [
        (3, "error")
    ]


def test_mg101_info_when_strict_only_from_mesh() -> None:
    text = NS + pa("default", "istio-system", "{mtls: {mode: STRICT}}")
    assert lines_of(text, "MG101") == []
    (finding,) = findings_of(text, "MG101", {"require_namespace_pa": True})
    assert (finding.position.line, finding.severity.value) == (3, "info")
    assert finding.message.startswith("STRICT relies on the mesh-wide policy only")
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    own = text + pa("default", "ml-serving", "{mtls: {mode: STRICT}}")
    assert lines_of(own, "MG101", {"require_namespace_pa": True}) == []


def test_mg101_only_ml_namespace_objects_are_evaluated() -> None:
    assert lines_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n", "MG101") == []
    assert (
        lines_of(pa("default", "ml-serving", "{mtls: {mode: PERMISSIVE}}"), "MG101") == []
    )  # no Namespace object
    labelled = (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: llm\n"
        '  labels: {meshguard.io/ml: "true"}\n'
    )
    assert lines_of(labelled, "MG101") == [(4, "error")]
    assert lines_of(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n",
        "MG101",
        {"ml_namespaces": ["web"]},
    ) == [(3, "error")]


def test_mg101_custom_root_namespace() -> None:
    text = NS + pa("default", "mesh-root", "{mtls: {mode: STRICT}}")
    assert lines_of(text, "MG101") == [(3, "error")]
    assert lines_of(text, "MG101", {"mesh": {"root_namespace": "mesh-root"}}) == []


def test_mg101_fix_uses_v1beta1_before_istio_1_22() -> None:
    (finding,) = findings_of(NS, "MG101", {"istio_version": "1.21"})
    assert (
        finding.fix is not None
        and finding.fix.new_documents[0]["apiVersion"] == "security.istio.io/v1beta1"
    )


# -- MG102 -------------------------------------------------------------------------------------


def test_mg102_mode_disable_is_error_permissive_warning() -> None:
    assert lines_of(pa("default", "ml-serving", "{mtls: {mode: DISABLE}}"), "MG102") == [
        (5, "error")
    ]
    assert lines_of(pa("default", "ml-serving", "{mtls: {mode: PERMISSIVE}}"), "MG102") == [
        (5, "warning")
    ]
    assert lines_of(pa("default", "ml-serving", "{mtls: {mode: UNSET}}"), "MG102") == []
    assert lines_of(pa("default", "ml-serving", "{mtls: {mode: STRICT}}"), "MG102") == []


def test_mg102_port_level_modes() -> None:
    text = """\
    apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: predictor, namespace: ml-serving}
    spec:
      selector: {matchLabels: {component: predictor}}
      mtls: {mode: STRICT}
      portLevelMtls:
        8080: {mode: DISABLE}
        8081: {mode: PERMISSIVE}
        8082: {mode: UNSET}
        8083: {}
    """
    assert lines_of(text, "MG102") == [(8, "error"), (9, "warning")]
    fixes = [f.fix for f in findings_of(text, "MG102")]
    assert [fx.ops[0] for fx in fixes if fx] == [
        {"op": "replace", "path": "/spec/portLevelMtls/8080/mode", "value": "STRICT"},
        {"op": "replace", "path": "/spec/portLevelMtls/8081/mode", "value": "STRICT"},
    ]
    assert all(fx is not None and fx.safety is Safety.UNSAFE for fx in fixes)


def test_mg102_port_level_on_selectorless_policy_is_mg103() -> None:
    text = pa(
        "default", "ml-serving", "{mtls: {mode: STRICT}, portLevelMtls: {8080: {mode: DISABLE}}}"
    )
    assert lines_of(text, "MG102") == []
    assert lines_of(text, "MG103") == [(5, "error")]


def test_mg102_exceptions() -> None:
    text = pa(
        "predictor",
        "ml-serving",
        "{selector: {matchLabels: {a: b}}, mtls: {mode: PERMISSIVE}, "
        "portLevelMtls: {8080: {mode: DISABLE}}}",
    )
    assert lines_of(text, "MG102") == [(5, "warning"), (5, "error")]
    assert lines_of(text, "MG102", {"mtls_exceptions": ["ml-serving/predictor"]}) == []
    assert lines_of(text, "MG102", {"mtls_exceptions": ["ml-serving/predictor:8080"]}) == [
        (5, "warning")
    ]
    assert lines_of(text, "MG102", {"mtls_exceptions": ["other/predictor"]}) == [
        (5, "warning"),
        (5, "error"),
    ]


def test_mg102_only_ml_and_root_namespaces() -> None:
    assert lines_of(pa("default", "web", "{mtls: {mode: DISABLE}}"), "MG102") == []
    assert lines_of(
        pa("default", "web", "{mtls: {mode: DISABLE}}"), "MG102", {"ml_namespaces": ["web"]}
    ) == [(5, "error")]


def test_mg102_mesh_policy_only_when_it_decides_an_ml_namespace() -> None:
    mesh = pa("default", "istio-system", "{mtls: {mode: DISABLE}}")
    assert lines_of(mesh, "MG102") == []  # no ML Namespace object in the run
    (finding,) = findings_of(NS + mesh, "MG102")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert finding.fix is None and "ml-serving" in finding.message
    unset = NS + mesh + pa("default", "ml-serving", "{mtls: {mode: UNSET}}")
    assert lines_of(unset, "MG102") == [(8, "error")]
    own = NS + mesh + pa("default", "ml-serving", "{mtls: {mode: STRICT}}")
    assert lines_of(own, "MG102") == []


def test_mg102_ignored_mesh_policy_decides_nothing() -> None:
    older = pa("aaa", "istio-system", "{mtls: {mode: STRICT}}")
    younger = pa("default", "istio-system", "{mtls: {mode: PERMISSIVE}}")
    assert lines_of(NS + older + younger, "MG102") == []
    root_selector = pa(
        "gw", "istio-system", "{selector: {matchLabels: {a: b}}, mtls: {mode: DISABLE}}"
    )
    assert lines_of(NS + root_selector, "MG102") == []  # MG103(2) only


# -- MG103 -------------------------------------------------------------------------------------


def test_mg103_1_port_level_without_selector() -> None:
    text = pa(
        "default", "ml-serving", "{mtls: {mode: STRICT}, portLevelMtls: {9090: {mode: PERMISSIVE}}}"
    )
    (finding,) = findings_of(text, "MG103")
    assert (finding.position.line, finding.severity.value, finding.pointer) == (
        5,
        "error",
        "/spec/portLevelMtls",
    )
    empty = pa(
        "default", "web", "{selector: {matchLabels: {}}, portLevelMtls: {9090: {mode: STRICT}}}"
    )
    assert lines_of(empty, "MG103") == [(5, "error")]


def test_mg103_2_selector_in_root_namespace() -> None:
    text = pa("gw", "istio-system", "{selector: {matchLabels: {app: gw}}, mtls: {mode: STRICT}}")
    (finding,) = findings_of(text, "MG103")
    assert (finding.position.line, finding.severity.value, finding.pointer) == (
        5,
        "warning",
        "/spec/selector",
    )
    assert (
        lines_of(
            pa("default", "istio-system", "{selector: {matchLabels: {}}, mtls: {mode: STRICT}}"),
            "MG103",
        )
        == []
    )


def test_mg103_3_duplicate_namespace_policies() -> None:
    text = pa("default", "ml-serving", "{mtls: {mode: STRICT}}") + pa(
        "strict", "ml-serving", "{mtls: {mode: STRICT}}"
    )
    (finding,) = findings_of(text, "MG103")
    assert (finding.position.line, finding.severity.value) == (9, "warning")
    assert "ml-serving/default applies instead" in finding.message
    stamped = pa("default", "ml-serving", "{}", 'creationTimestamp: "2026-01-01T00:00:00Z"') + pa(
        "strict", "ml-serving", "{}", 'creationTimestamp: "2025-01-01T00:00:00Z"'
    )
    assert lines_of(stamped, "MG103") == [(4, "warning")]
    other_ns = pa("default", "ml-serving", "{}") + pa("default", "ml-training", "{}")
    assert lines_of(other_ns, "MG103") == []


def test_mg103_3_duplicate_mesh_policies() -> None:
    text = pa("default", "istio-system", "{mtls: {mode: STRICT}}") + pa(
        "zz", "istio-system", "{mtls: {mode: STRICT}}"
    )
    assert lines_of(text, "MG103") == [(9, "warning")]


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: predictor, namespace: ml-serving}
spec:
  template:
    metadata: {labels: {app: sklearn, component: predictor}}
    spec:
      containers:
      - name: server
        ports: [{name: http, containerPort: 8080}]
"""


def test_mg103_3_two_workload_policies_select_one_pod_template() -> None:
    text = (
        DEPLOY
        + pa("by-app", "ml-serving", "{selector: {matchLabels: {app: sklearn}}}")
        + pa("by-component", "ml-serving", "{selector: {matchLabels: {component: predictor}}}")
    )
    (finding,) = findings_of(text, "MG103")
    assert (finding.position.line, finding.severity.value) == (19, "warning")
    assert "Deployment ml-serving/predictor" in finding.message
    disjoint = (
        DEPLOY
        + pa("a", "ml-serving", "{selector: {matchLabels: {app: sklearn}}}")
        + pa("b", "ml-serving", "{selector: {matchLabels: {app: other}}}")
    )
    assert lines_of(disjoint, "MG103") == []


def test_mg103_3_workload_duplicates_without_pod_templates() -> None:
    same = pa("a", "ml-serving", "{selector: {matchLabels: {app: x}}}") + pa(
        "b", "ml-serving", "{selector: {matchLabels: {app: x}}}"
    )
    assert lines_of(same, "MG103") == [(9, "warning")]
    narrower = pa("a", "ml-serving", "{selector: {matchLabels: {app: x}}}") + pa(
        "b", "ml-serving", "{selector: {matchLabels: {app: x, v: '1'}}}"
    )
    assert lines_of(narrower, "MG103") == [(9, "warning")]
    # the broader policy still applies to pods without v=1: not reported without pod templates
    broader_loses = pa("b", "ml-serving", "{selector: {matchLabels: {app: x}}}") + pa(
        "a", "ml-serving", "{selector: {matchLabels: {app: x, v: '1'}}}"
    )
    assert lines_of(broader_loses, "MG103") == []


SERVICE = """\
---
apiVersion: v1
kind: Service
metadata: {name: predictor, namespace: ml-serving}
spec:
  selector: {component: predictor}
  ports: [{name: http, port: 80, targetPort: %s}]
"""


def test_mg103_4_service_port_as_key() -> None:
    policy = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {app: sklearn}}, portLevelMtls: {'80': {mode: PERMISSIVE}}}",
    )
    text = DEPLOY + SERVICE % "http" + policy
    (finding,) = findings_of(text, "MG103")
    assert (finding.position.line, finding.severity.value, finding.pointer) == (
        22,
        "warning",
        "/spec/portLevelMtls/80",
    )
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert finding.fix.ops == (
        {"op": "add", "path": "/spec/portLevelMtls/8080", "value": {"mode": "PERMISSIVE"}},
        {"op": "remove", "path": "/spec/portLevelMtls/80"},
    )


def test_mg103_4_target_and_container_ports_are_fine() -> None:
    container_key = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {app: sklearn}}, portLevelMtls: {'8080': {mode: STRICT}}}",
    )
    assert lines_of(DEPLOY + SERVICE % "8080" + container_key, "MG103") == []
    same_port = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {component: predictor}}, portLevelMtls: {'80': {mode: STRICT}}}",
    )
    svc_no_target = SERVICE.replace(", targetPort: %s", "")
    assert lines_of(svc_no_target + same_port, "MG103") == []  # targetPort defaults to port


def test_mg103_4_unresolved_named_target_port_is_not_reported() -> None:
    policy = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {component: predictor}}, portLevelMtls: {'80': {mode: STRICT}}}",
    )
    assert lines_of(SERVICE % "http" + policy, "MG103") == []


def test_mg103_4_no_fix_when_the_target_is_ambiguous_or_taken() -> None:
    taken = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {component: predictor}}, "
        "portLevelMtls: {'80': {mode: STRICT}, '8080': {mode: DISABLE}}}",
    )
    (finding,) = findings_of(SERVICE % "8080" + taken, "MG103")
    assert finding.fix is None
    second = SERVICE.replace("name: predictor", "name: predictor-b") % "9090"
    policy = pa(
        "p",
        "ml-serving",
        "{selector: {matchLabels: {component: predictor}}, portLevelMtls: {'80': {mode: STRICT}}}",
    )
    (finding,) = findings_of(SERVICE % "8080" + second + policy, "MG103")
    assert finding.fix is None and "targetPort 8080, 9090" in finding.message


# -- MG104 -------------------------------------------------------------------------------------


def test_mg104_no_default_deny_is_warning() -> None:
    (finding,) = findings_of(NS, "MG104")
    assert (finding.position.line, finding.severity.value) == (3, "warning")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert "explicit ALLOW" in finding.fix.title
    assert finding.fix.new_documents[0]["spec"] == {}


@pytest.mark.parametrize(
    "spec",
    [
        "{}",
        "{action: ALLOW}",
        "{selector: {matchLabels: {}}}",
        "{selector: {}}",
        "{rules: []}",
        "{rules: [{from: [{source: {principals: [a]}}]}]}",
        "{rules: [{when: [{key: request.headers[x], values: [y]}]}]}",
    ],
)
def test_mg104_namespace_default_deny_shapes(spec: str) -> None:
    assert lines_of(NS + ap("p", "ml-serving", spec), "MG104") == []


@pytest.mark.parametrize(
    "spec",
    [
        "{rules: [{}]}",
        "{rules: [{from: [], to: []}]}",
        "{rules: [{to: [{operation: {paths: [/x]}}]}, {}]}",
        "{action: DENY}",
        "{action: AUDIT}",
        "{action: CUSTOM, provider: {name: ext}}",
        "{selector: {matchLabels: {app: x}}}",
        "{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]}",
        "{targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: g}}",
        "[]",
        "{rules: {}}",
        "{rules: [1]}",
        "{selector: [1]}",
        "{selector: {matchLabels: [1]}}",
    ],
)
def test_mg104_not_default_deny(spec: str) -> None:
    assert lines_of(NS + ap("p", "ml-serving", spec), "MG104") == [(3, "warning")]


def test_mg104_root_namespace_only_is_info() -> None:
    text = NS + ap("allow-nothing", "istio-system", "{}")
    (finding,) = findings_of(text, "MG104")
    assert (finding.position.line, finding.severity.value) == (3, "info")
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    selected = NS + ap("gw", "istio-system", "{selector: {matchLabels: {app: x}}}")
    assert lines_of(selected, "MG104") == [(3, "warning")]
    other = NS + ap("allow-nothing", "other", "{}")
    assert lines_of(other, "MG104") == [(3, "warning")]


def test_mg104_fix_name_not_taken() -> None:
    text = NS + ap("allow-nothing", "ml-serving", "{selector: {matchLabels: {app: x}}}")
    (finding,) = findings_of(text, "MG104")
    assert (
        finding.fix is not None
        and finding.fix.new_documents[0]["metadata"]["name"] == "default-deny"
    )


def test_mg104_only_ml_namespace_objects() -> None:
    assert lines_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n", "MG104") == []
    assert lines_of(ap("x", "ml-serving", "{rules: [{}]}"), "MG104") == []


# -- robustness --------------------------------------------------------------------------------

HOSTILE_SPECS = [
    "[]",
    "'STRICT'",
    "42",
    "{mtls: STRICT}",
    "{mtls: [STRICT]}",
    "{mtls: {mode: [STRICT]}}",
    "{mtls: {mode: 3}}",
    "{selector: app}",
    "{selector: {matchLabels: [a]}}",
    "{selector: {matchLabels: {a: [1]}}}",
    "{selector: {matchLabels: {a: b}}, portLevelMtls: [8080]}",
    "{selector: {matchLabels: {a: b}}, portLevelMtls: {http: {mode: DISABLE}}}",
    "{selector: {matchLabels: {a: b}}, portLevelMtls: {8080: DISABLE}}",
    "{selector: {matchLabels: {a: b}}, portLevelMtls: {8080: null}}",
    "{selector: {matchLabels: {a: b}}, portLevelMtls: {}}",
    "null",
]


@pytest.mark.parametrize("spec", HOSTILE_SPECS)
def test_hostile_documents_never_crash(spec: str) -> None:
    svc = (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ml-serving}\n"
        "spec: {selector: {a: b}, ports: [{port: 80, targetPort: [1]}, 7, {port: x}]}\n"
    )
    text = (
        NS
        + pa("x", "ml-serving", spec)
        + pa("y", "istio-system", spec)
        + pa("z", "ml-serving", spec, "creationTimestamp: [1]")
        + ap("w", "ml-serving", spec)
        + svc
    )
    result = lint_text(text)
    assert [f for f in result.findings if f.rule == "MG000"] == []


# -- fixes re-lint clean -----------------------------------------------------------------------


def _with_fixes(text: str, rule: str, params: dict[str, object] | None = None) -> str:
    """Apply every fix of `rule` (patched bodies and added documents) and dump the result."""
    resources = load_text(textwrap.dedent(text), "input.yaml").resources
    bodies: list[Any] = [copy.deepcopy(dict(r.body)) for r in resources]
    added: list[Any] = []
    for finding in lint_text(text, params).findings:
        if finding.rule != rule or finding.fix is None or finding.resource is None:
            continue
        index = next(i for i, r in enumerate(resources) if r.ref == finding.resource.ref)
        bodies[index] = jsonpatch.apply_patch(bodies[index], list(finding.fix.ops))
        added.extend(finding.fix.new_documents)
    return str(yaml.safe_dump_all([*bodies, *added], sort_keys=False))


@pytest.mark.parametrize(
    ("rule", "text", "params"),
    [
        ("MG101", NS, None),
        (
            "MG101",
            NS + pa("default", "istio-system", "{mtls: {mode: STRICT}}"),
            {"require_namespace_pa": True},
        ),
        (
            "MG102",
            pa(
                "p",
                "ml-serving",
                "{selector: {matchLabels: {a: b}}, mtls: {mode: DISABLE}, "
                "portLevelMtls: {'80': {mode: PERMISSIVE}}}",
            ),
            None,
        ),
        (
            "MG103",
            DEPLOY
            + SERVICE % "http"
            + pa(
                "p",
                "ml-serving",
                "{selector: {matchLabels: {app: sklearn}}, portLevelMtls: {'80': {mode: STRICT}}}",
            ),
            None,
        ),
        ("MG104", NS, None),
        ("MG104", NS + ap("allow-nothing", "istio-system", "{}"), None),
    ],
)
def test_fix_relints_clean(rule: str, text: str, params: dict[str, object] | None) -> None:
    assert lines_of(text, rule, params)
    fixed = _with_fixes(text, rule, params)
    assert lines_of(fixed, rule, params) == []
    assert _with_fixes(fixed, rule, params) == fixed  # a second pass changes nothing
