"""Rule examples and bundled examples against the official CRD schemas of the shared corpus.

A `pass` example is valid configuration, so each of its documents of a CRD kind must validate
against the CRD (Istio `crd-all.gen.yaml`; Gateway API standard channel, or experimental when the
example sets `gateway_api_channel: experimental`; Inference Extension HEAD, or the v1alpha2 CRDs of
v1.0.0, or of v0.5.1 when the example sets `gie_version: v0.5.1`; llm-d-router's llm-d.ai CRDs).
So must every such document of examples/production, examples/llm-gateway and examples/training.
`fail` examples are only noted (a SchemaNote warning) when the schema rejects them and the rule
does not claim the CRD as a peer: the finding is then about something else, and the example is
invalid on top of it. See `_crds.py` for the conversion; CEL rules (`x-kubernetes-validations`)
are not evaluated, so "validates" means "passes the structural schema".
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import _crds
from tests.lintkit import RULES

REPO = Path(__file__).resolve().parents[2]
BUNDLED = ("examples/production", "examples/llm-gateway", "examples/training")

# API groups whose CRDs _crds.CRD_SOURCES loads: a document of one of these groups is checked
# (and an unknown version or kind in them is an error); other groups (core, apps, kserve,
# kubeflow, IstioOperator, meshguard.io) have no official schema in the corpus.
CRD_GROUPS = frozenset(
    {
        "extensions.istio.io",
        "networking.istio.io",
        "security.istio.io",
        "telemetry.istio.io",
        "gateway.networking.k8s.io",
        "gateway.networking.x-k8s.io",
        "inference.networking.k8s.io",
        "inference.networking.x-k8s.io",
        "llm-d.ai",
    }
)

# Example documents that are wrong (not the converter): id → reason. Each is xfail(strict=True),
# so fixing the example turns the case into an XPASS failure and this entry must go.
WRONG_EXAMPLES: dict[str, str] = {}


class SchemaNote(UserWarning):
    """A fail example that its CRD also rejects, for a reason the rule does not claim."""


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _crd_documents(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`Kind` or `Kind-n` for the n-th of a kind, body) of the CRD-kind documents of a text."""
    seen: Counter[str] = Counter()
    for body in _crds.documents(text):
        if _group(str(body.get("apiVersion", ""))) not in CRD_GROUPS:
            continue
        kind = str(body["kind"])
        seen[kind] += 1
        yield (kind if seen[kind] == 1 else f"{kind}-{seen[kind]}"), body


def _example_cases(verdict: str) -> list[Any]:
    cases = []
    for meta in RULES.values():
        for i, example in enumerate(meta.examples):
            if verdict not in example:
                continue
            for label, body in _crd_documents(example[verdict]):
                case_id = f"{meta.id}-{verdict}-{i}/{label}"
                marks = []
                if case_id in WRONG_EXAMPLES:
                    marks.append(pytest.mark.xfail(strict=True, reason=WRONG_EXAMPLES[case_id]))
                params = example.get("params") or {}
                cases.append(pytest.param(meta.id, body, params, id=case_id, marks=marks))
    return cases


def _bundled_cases() -> list[Any]:
    cases = []
    for folder in BUNDLED:
        for path in sorted((REPO / folder).glob("*.y*ml")):
            for label, body in _crd_documents(path.read_text(encoding="utf-8")):
                name = (body.get("metadata") or {}).get("name", "")
                case_id = f"{folder}/{path.name}/{label}/{name}"
                marks = []
                if case_id in WRONG_EXAMPLES:
                    marks.append(pytest.mark.xfail(strict=True, reason=WRONG_EXAMPLES[case_id]))
                cases.append(pytest.param(body, id=case_id, marks=marks))
    return cases


def _schema_errors(corpus: Path, body: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    try:
        crd = _crds.validator_for(corpus, str(body["apiVersion"]), str(body["kind"]), params)
    except LookupError as exc:
        return [str(exc)]
    assert crd is not None, "CRD_GROUPS names a group that _crds.CRD_SOURCES does not load"
    return [f"{crd.source} {crd.kind} {crd.version}: {e}" for e in crd.errors(body)]


def _claims_crd(rule_id: str) -> bool:
    return any(peer.startswith("CRD") or " CRD" in peer for peer in RULES[rule_id].peers)


PASS_CASES = _example_cases("pass")
FAIL_CASES = _example_cases("fail")
BUNDLED_CASES = _bundled_cases()


def test_crd_groups_are_the_loaded_ones(corpus: Path) -> None:
    assert _crds.crd_groups(corpus) == CRD_GROUPS
    loaded = {(c.source, c.group, c.version, c.kind) for c in _crds.load_crds(corpus)}
    for wanted in [
        ("istio", "networking.istio.io", "v1", "VirtualService"),
        ("istio", "security.istio.io", "v1beta1", "PeerAuthentication"),
        ("gwapi-standard", "gateway.networking.k8s.io", "v1", "HTTPRoute"),
        ("gwapi-experimental", "gateway.networking.k8s.io", "v1", "HTTPRoute"),
        ("gie-head", "inference.networking.k8s.io", "v1", "InferencePool"),
        ("gie-v1.0.0", "inference.networking.x-k8s.io", "v1alpha2", "InferenceObjective"),
        ("gie-v0.5.1", "inference.networking.x-k8s.io", "v1alpha2", "InferenceModel"),
        ("llm-d-router", "llm-d.ai", "v1alpha2", "InferenceObjective"),
    ]:
        assert wanted in loaded


def test_there_is_something_to_check() -> None:
    assert len(PASS_CASES) > 80 and len(FAIL_CASES) > 150 and len(BUNDLED_CASES) > 25


@pytest.mark.parametrize(("rule", "body", "params"), PASS_CASES)
def test_pass_example_is_valid(corpus: Path, rule: str, body: dict[str, Any], params: Any) -> None:
    assert _schema_errors(corpus, body, params) == []


@pytest.mark.parametrize("body", BUNDLED_CASES)
def test_bundled_example_is_valid(corpus: Path, body: dict[str, Any]) -> None:
    assert _schema_errors(corpus, body, {}) == []


@pytest.mark.parametrize(("rule", "body", "params"), FAIL_CASES)
def test_fail_example_schema_note(
    corpus: Path, rule: str, body: dict[str, Any], params: Any
) -> None:
    """Never fails: records schema rejections the rule does not account for."""
    errors = _schema_errors(corpus, body, params)
    if errors and not _claims_crd(rule):
        warnings.warn(SchemaNote(f"{rule}: CRD also rejects: {'; '.join(errors)}"), stacklevel=1)


# --- the converter itself: known-valid and known-invalid documents ------------------------------

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v"}}
PA = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "p"}}
DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "d"}}
GW = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"}}
EF = {
    "apiVersion": "networking.istio.io/v1alpha3",
    "kind": "EnvoyFilter",
    "metadata": {"name": "e"},
}
LISTENER = {"name": "http", "port": 80, "protocol": "HTTP"}

CONVERTER_CASES = [
    # (id, document, valid?)
    ("unknown-field", {**VS, "spec": {"http": [{"timout": "5s"}]}}, False),
    ("enum", {**PA, "spec": {"mtls": {"mode": "strict"}}}, False),
    ("required", {**VS, "spec": {"http": [{"route": [{}]}]}}, False),
    (
        "int32-range",
        {
            **DR,
            "spec": {
                "host": "h",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 2**31}}},
            },
        },
        False,
    ),
    (
        "int32-max",
        {
            **DR,
            "spec": {
                "host": "h",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 2**31 - 1}}},
            },
        },
        True,
    ),
    # Istio's only x-kubernetes-int-or-string fields are in status
    ("int-or-string", {**VS, "status": {"observedGeneration": "7"}}, True),
    ("int-or-string-bool", {**VS, "status": {"observedGeneration": True}}, False),
    ("label-not-string", {**VS, "metadata": {"name": "v", "labels": {"a": True}}}, False),
    ("null-field-pruned", {**VS, "spec": {"hosts": None, "http": [{"name": None}]}}, True),
    (
        "preserve-unknown",
        {
            **EF,
            "spec": {
                "configPatches": [
                    {"patch": {"operation": "MERGE", "value": {"anything": {"goes": 1}}}}
                ]
            },
        },
        True,
    ),
    (
        "list-map-duplicate",
        {**GW, "spec": {"gatewayClassName": "istio", "listeners": [LISTENER, LISTENER]}},
        False,
    ),
    # `addresses[].type` defaults to IPAddress before the oneOf on it is checked
    (
        "default-applied",
        {
            **GW,
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [LISTENER],
                "addresses": [{"value": "10.0.0.1"}],
            },
        },
        True,
    ),
    # CEL is not evaluated: istiod's CRD rejects this (portLevelMtls requires selector)
    ("cel-not-evaluated", {**PA, "spec": {"portLevelMtls": {"8080": {"mode": "STRICT"}}}}, True),
]


@pytest.mark.parametrize(
    ("doc", "valid"), [pytest.param(d, v, id=i) for i, d, v in CONVERTER_CASES]
)
def test_converter(corpus: Path, doc: dict[str, Any], valid: bool) -> None:
    errors = _schema_errors(corpus, doc, {})
    assert (errors == []) == valid, errors


# Upstream's own manifests are the converter's false-positive check: every document of a CRD
# kind below real-world/ validates except these, each invalid for a reason of its own.
REAL_WORLD_INVALID: dict[str, str] = {
    "kubeflow-manifests/common/knative/knative-serving/base/patches/remove-gateway.yaml": (
        "a kustomize `$patch: delete` patch, not a resource"
    ),
    "llm-d-router/deploy/components/inference-gateway/gateways.yaml": (
        "no gatewayClassName: filled in by a kustomize overlay"
    ),
    "llm-d-router/deploy/environments/dev/base-kind-istio/patch-gateways.yaml": (
        "a kustomize patch (no listeners)"
    ),
    "llm-d-router/deploy/environments/dev/kubernetes-kgateway/patch-gateways.yaml": (
        "a kustomize patch (no listeners)"
    ),
    "llm-d-router/deploy/components/inference-gateway/inference-pools.yaml": (
        "${POOL_NAME} / ${TARGET_PORTS} placeholders for envsubst"
    ),
    "llm-d-router/deploy/environments/dev/coordinator-e2e-infra/inference-pools-3-epp.yaml": (
        "${TARGET_PORTS} placeholders for envsubst"
    ),
    "llm-d-router/test/testdata/inferencepool-with-model-hermetic.yaml": (
        "InferenceObjective with `targetModels`, a field of the removed InferenceModel"
    ),
}


def test_real_world_documents_validate(corpus: Path) -> None:
    rejected: dict[str, list[str]] = {}
    checked = 0
    for path in sorted((corpus / "real-world").rglob("*.yaml")):
        rel = str(path.relative_to(corpus / "real-world"))
        for _label, body in _crd_documents(path.read_text(encoding="utf-8")):
            if body["kind"] == "EndpointPickerConfig":
                continue  # an EPP config file in Kubernetes dress; no CRD exists for it
            checked += 1
            errors = _schema_errors(corpus, body, {})
            if errors:
                rejected.setdefault(rel, []).extend(errors)
    assert checked > 350
    assert sorted(rejected) == sorted(REAL_WORLD_INVALID), rejected
