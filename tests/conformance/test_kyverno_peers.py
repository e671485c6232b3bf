"""meshguard against the good and bad fixtures of the kyverno Istio policies it claims as peers.

For each policy named in a rule's `peers` (KY:...), every resource that the policy's own tests
(`.kyverno-test/kyverno-test.yaml`, or chainsaw's report assertion) expect to fail must get the
rule at error or warning, and every resource they expect to pass must get neither — except where
RULES.md says meshguard deliberately differs; those cases name the reason and pin meshguard's own
outcome, so the difference stays visible.

Kyverno judges each resource alone, in whatever namespace it lands in; meshguard's namespace rules
need a `Namespace` object in an ML namespace (RULES.md MG101/MG104 "Applies to"), so each fixture is
linted alone together with the anchor its scenario adds (SCENARIOS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshguard.config import Config, with_parameters
from meshguard.engine import Result, run
from meshguard.loader import LoadedFile, load_text
from meshguard.model import Resource
from tests.lintkit import RULES

FLAVOURS = ("istio", "istio-cel")  # kyverno/policies istio/ (patterns) and istio-cel/ (CEL)

ML_DEFAULT_NS = """\
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
"""
MESH_STRICT = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""


@dataclass(frozen=True)
class Scenario:
    anchors: tuple[str, ...]  # documents added to the fixture
    ml_namespaces: tuple[str, ...]  # () = the fixture's own name (it is a Namespace)
    target: str  # which resource the rule's findings are read from: "fixture" or "namespace"


SCENARIOS: dict[str, Scenario] = {
    # the fixture has no namespace, so it lands in `default`, made an ML namespace here
    "ml-default": Scenario((ML_DEFAULT_NS,), ("default",), "fixture"),
    "ml-default-ns": Scenario((ML_DEFAULT_NS,), ("default",), "namespace"),
    # ... plus the mesh-wide STRICT PeerAuthentication of the root namespace
    "mesh-strict-ns": Scenario((ML_DEFAULT_NS, MESH_STRICT), ("default",), "namespace"),
    # the fixture is a Namespace, and an ML one
    "own-ns": Scenario((), (), "fixture"),
}


@dataclass(frozen=True)
class Case:
    policy: str
    file: str  # under .chainsaw-test/
    kind: str
    name: str
    kyverno: str  # "fail" | "pass", from the policy's own test
    rule: str
    scenario: str
    expect: str | None  # worst severity of `rule` on the target; None: no finding
    differs: str = ""  # why meshguard deliberately disagrees with kyverno here (RULES.md)


_UNSET = "RULES.md MG101 Peers: kyverno accepts UNSET, which resolves to PERMISSIVE with no parent"
_NO_NS_PA = "RULES.md MG101: a selector PeerAuthentication does not set the namespace mode"
_WORKLOAD = (
    "RULES.md MG101 counts selector-less PeerAuthentications only; the workload DISABLE is MG102's"
)
_BATCH = (
    "RULES.md MG402(1): batch pods opting out are MG407's fallback, not a finding; "
    "only MG402(2) (deprecated annotation form) remains, at info"
)

STRICT_MTLS = [
    Case(
        "enforce-strict-mtls",
        "pa-bad.yaml" if verdict == "fail" else "pa-good.yaml",
        "PeerAuthentication",
        name,
        verdict,
        rule,
        scenario,
        sev,
        differs,
    )
    for rule, scenario, name, verdict, sev, differs in (
        ("MG102", "ml-default", "pa-bad01", "fail", "warning", ""),  # PERMISSIVE
        ("MG102", "ml-default", "pa-bad02", "fail", "error", ""),  # DISABLE
        ("MG102", "ml-default", "pa-bad03", "fail", "error", ""),  # selector + DISABLE
        *(("MG102", "ml-default", f"good-pa0{i}", "pass", None, "") for i in range(1, 6)),
        ("MG101", "ml-default-ns", "pa-bad01", "fail", "error", ""),
        ("MG101", "ml-default-ns", "pa-bad02", "fail", "error", ""),
        ("MG101", "ml-default-ns", "pa-bad03", "fail", "error", ""),
        ("MG101", "ml-default-ns", "good-pa01", "pass", None, ""),  # STRICT
        ("MG101", "ml-default-ns", "good-pa02", "pass", "error", _UNSET),  # mode: UNSET
        ("MG101", "ml-default-ns", "good-pa03", "pass", "error", _UNSET),  # spec: {}
        ("MG101", "ml-default-ns", "good-pa04", "pass", "error", _NO_NS_PA),  # selector + STRICT
        ("MG101", "ml-default-ns", "good-pa05", "pass", "error", _UNSET),  # mtls: {}
        # with the mesh-wide STRICT policy every good fixture inherits STRICT
        ("MG101", "mesh-strict-ns", "pa-bad01", "fail", "error", ""),
        ("MG101", "mesh-strict-ns", "pa-bad02", "fail", "error", ""),
        ("MG101", "mesh-strict-ns", "pa-bad03", "fail", None, _WORKLOAD),
        *(("MG101", "mesh-strict-ns", f"good-pa0{i}", "pass", None, "") for i in range(1, 6)),
    )
]

SIDECAR_NAMESPACE = [
    Case(
        "enforce-sidecar-injection-namespace",
        file,
        "Namespace",
        name,
        verdict,
        "MG401",
        "own-ns",
        sev,
    )
    for file, name, verdict, sev in (
        ("ns-bad-disabled.yaml", "bad-istio-sinj01", "fail", "error"),
        ("ns-bad-somelabel.yaml", "bad-istio-sinj02", "fail", "error"),
        ("ns-bad-nolabel.yaml", "bad-istio-sinj03", "fail", "error"),
        ("ns-good.yaml", "good-istio-sinj01", "pass", None),
        ("ns-good.yaml", "good-istio-sinj02", "pass", None),
    )
]

DISABLING_INJECTION = [
    Case(
        "prevent-disabling-injection-pods",
        file,
        kind,
        name,
        verdict,
        "MG402",
        "ml-default",
        sev,
        differs,
    )
    for file, kind, name, verdict, sev, differs in (
        ("pod-bad.yaml", "Pod", "badpod01", "fail", "warning", ""),
        ("pod-bad.yaml", "Pod", "badpod02", "fail", "warning", ""),
        ("podcontroller-bad.yaml", "Deployment", "baddeploy01", "fail", "warning", ""),
        ("podcontroller-bad.yaml", "Deployment", "baddeploy02", "fail", "warning", ""),
        ("podcontroller-bad.yaml", "CronJob", "badcronjob01", "fail", "info", _BATCH),
        ("podcontroller-bad.yaml", "CronJob", "badcronjob02", "fail", "info", _BATCH),
        # the annotation form, even "true", is MG402(2) at info: no error or warning
        ("pod-good.yaml", "Pod", "goodpod01", "pass", "info", ""),
        ("pod-good.yaml", "Pod", "goodpod02", "pass", None, ""),
        ("podcontroller-good.yaml", "Deployment", "gooddeploy01", "pass", None, ""),
        ("podcontroller-good.yaml", "Deployment", "gooddeploy02", "pass", "info", ""),
        ("podcontroller-good.yaml", "CronJob", "goodcronjob01", "pass", None, ""),
        ("podcontroller-good.yaml", "CronJob", "goodcronjob02", "pass", "info", ""),
    )
]

PER_RESOURCE = (*STRICT_MTLS, *SIDECAR_NAMESPACE, *DISABLING_INJECTION)
CASES = [
    pytest.param(
        flavour, case, id=f"{flavour}/{case.policy}/{case.rule}/{case.scenario}/{case.name}"
    )
    for flavour in FLAVOURS
    for case in PER_RESOURCE
]
POLICIES = sorted({c.policy for c in PER_RESOURCE} | {"require-authorizationpolicy"})
LOUD = ("error", "warning")


def _policy_dir(corpus: Path, flavour: str, policy: str) -> Path:
    return corpus / "kyverno-istio" / flavour / policy


def _fixture(corpus: Path, flavour: str, case: Case) -> LoadedFile:
    """The one document of the fixture file that the case names, as a file of its own."""
    path = _policy_dir(corpus, flavour, case.policy) / ".chainsaw-test" / case.file
    loaded = load_text(path.read_text(encoding="utf-8"), str(path))
    found = [r for r in loaded.resources if (r.kind, r.name) == (case.kind, case.name)]
    assert len(found) == 1, f"{case.kind} {case.name} not in {path}"
    return LoadedFile(loaded.path, loaded.text, found)


def _lint(files: list[LoadedFile], ml_namespaces: list[str]) -> Result:
    return run(files, with_parameters(Config(), {"ml_namespaces": ml_namespaces}), RULES)


def _worst(result: Result, rule: str, target: Resource | tuple[str, str]) -> str | None:
    def on_target(res: Resource | None) -> bool:
        if res is None:
            return False
        if isinstance(target, Resource):
            return res.ref == target.ref
        return (res.kind, res.name) == target

    severities = [f.severity for f in result.findings if f.rule == rule and on_target(f.resource)]
    return max(severities, key=lambda s: s.rank).value if severities else None


def _check_expectation(case: Case, got: str | None) -> None:
    agrees = (got in LOUD) == (case.kyverno == "fail")
    assert agrees or case.differs, (
        f"{case.rule} says {got or 'nothing'} where kyverno says {case.kyverno} and RULES.md "
        "documents no difference"
    )
    assert not (agrees and case.differs), "a documented difference that no longer differs"
    assert got == case.expect, f"{case.rule}: worst severity {got}, expected {case.expect}"


@pytest.mark.parametrize(("flavour", "case"), CASES)
def test_kyverno_fixture(corpus: Path, flavour: str, case: Case) -> None:
    scenario = SCENARIOS[case.scenario]
    fixture = _fixture(corpus, flavour, case)
    anchors = [load_text(text, f"anchor-{i}.yaml") for i, text in enumerate(scenario.anchors)]
    result = _lint([*anchors, fixture], list(scenario.ml_namespaces) or [case.name])
    target: Resource | tuple[str, str] = (
        fixture.resources[0] if scenario.target == "fixture" else ("Namespace", "default")
    )
    _check_expectation(case, _worst(result, case.rule, target))


# require-authorizationpolicy looks the AuthorizationPolicies up cluster-wide (an apiCall), so its
# chainsaw test applies everything first; here too the step-01 documents are one run.
REQUIRE_AP = [
    Case("require-authorizationpolicy", "", "Namespace", name, verdict, "MG104", "step-01", sev)
    for name, verdict, sev in (
        ("istio-reqauthzpol-bad-ns", "fail", "warning"),
        ("istio-reqauthzpol-good-ns", "pass", None),
    )
]


@pytest.mark.parametrize("case", REQUIRE_AP, ids=lambda c: f"istio/{c.policy}/{c.rule}/{c.name}")
def test_require_authorizationpolicy(corpus: Path, case: Case) -> None:
    folder = _policy_dir(corpus, "istio", case.policy) / ".chainsaw-test"
    steps = sorted(folder.glob("chainsaw-step-01-apply-*.yaml"))
    files = [load_text(p.read_text(encoding="utf-8"), str(p)) for p in steps]
    namespaces = [r.name for f in files for r in f.resources if r.kind == "Namespace"]
    assert case.name in namespaces
    result = _lint(files, namespaces)
    _check_expectation(case, _worst(result, case.rule, ("Namespace", case.name)))


# --- the tables above are the policies' own expectations --------------------------------------


def _kyverno_results(corpus: Path, flavour: str, policy: str) -> set[tuple[str, str, str, str]]:
    """(file, kind, name, result) of every resource the policy's kyverno-test.yaml lists."""
    folder = _policy_dir(corpus, flavour, policy) / ".kyverno-test"
    test: Mapping[str, Any] = yaml.safe_load(
        (folder / "kyverno-test.yaml").read_text(encoding="utf-8")
    )
    names: dict[tuple[str, str], str] = {}
    for rel in test["resources"]:
        path = (folder / rel).resolve()
        for res in load_text(path.read_text(encoding="utf-8"), str(path)).resources:
            names[(res.kind, res.name)] = path.name
    return {
        (names[(entry["kind"], name)], entry["kind"], name, entry["result"])
        for entry in test["results"]
        for name in entry["resources"]
    }


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    "policy",
    [
        "enforce-strict-mtls",
        "enforce-sidecar-injection-namespace",
        "prevent-disabling-injection-pods",
    ],
)
def test_cases_cover_the_kyverno_test(corpus: Path, flavour: str, policy: str) -> None:
    want = _kyverno_results(corpus, flavour, policy)
    groups = {(c.rule, c.scenario) for c in PER_RESOURCE if c.policy == policy}
    assert groups, f"no cases for {policy}"
    for rule, scenario in sorted(groups):
        got = {
            (c.file, c.kind, c.name, c.kyverno)
            for c in PER_RESOURCE
            if (c.policy, c.rule, c.scenario) == (policy, rule, scenario)
        }
        assert got == want, f"{rule}/{scenario} does not cover kyverno-test.yaml exactly"


def test_require_ap_cases_follow_the_report_assertion(corpus: Path) -> None:
    folder = _policy_dir(corpus, "istio", "require-authorizationpolicy") / ".chainsaw-test"
    reports = list(yaml.safe_load_all((folder / "report-assert.yaml").read_text(encoding="utf-8")))
    want = {
        (r["metadata"]["ownerReferences"][0]["name"], "fail" if r["summary"]["fail"] else "pass")
        for r in reports
    }
    assert {(c.name, c.kyverno) for c in REQUIRE_AP} == want


@pytest.mark.parametrize("policy", POLICIES)
def test_rules_claim_the_policy(policy: str) -> None:
    for rule in sorted({c.rule for c in (*PER_RESOURCE, *REQUIRE_AP) if c.policy == policy}):
        assert any(p.startswith(f"KY:{policy}") for p in RULES[rule].peers), (
            f"{rule} is tested against KY:{policy} but does not list it in peers"
        )


def test_fixtures_are_the_same_in_both_flavours(corpus: Path) -> None:
    """istio-cel reuses the istio fixtures; if they part, the cases above need a second look."""
    for policy in (
        "enforce-strict-mtls",
        "enforce-sidecar-injection-namespace",
        "prevent-disabling-injection-pods",
    ):
        for name in sorted({c.file for c in PER_RESOURCE if c.policy == policy}):
            a, b = (_policy_dir(corpus, f, policy) / ".chainsaw-test" / name for f in FLAVOURS)
            assert a.read_bytes() == b.read_bytes(), f"{policy}/{name} differs between flavours"
