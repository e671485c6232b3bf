"""End to end on the LLM gateway (Gateway API + InferencePool) and training examples.

Each clean folder (`examples/llm-gateway`, `examples/training`) follows RULES.md §3 and lints with
no error or warning; each broken twin is the same files with deliberate mistakes marked
`# broken: MGnnn`, and the findings it gets are pinned here, each justified by RULES.md (rule +
condition). Like tests/e2e/test_examples.py, every run uses `--no-config` and all rules.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, cast

import pytest

from meshguard.cli import main
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
CLEAN = ["llm-gateway", "training"]

Pin = tuple[str, str, int, str]  # (rule, file name, line, severity)

# -- examples/llm-gateway-broken: errors and warnings -------------------------------------------
LLM_GATEWAY_BROKEN: list[Any] = [
    # PeerAuthentication default is PERMISSIVE: the namespace's effective mode (P6) is not STRICT
    # (MG101, error, reported on the ML Namespace) ...
    ("MG101", "namespaces.yaml", 16, "error"),
    # ... and a selector-less PA in an ML namespace sets PERMISSIVE (MG102, warning) ...
    ("MG102", "security.yaml", 26, "warning"),
    # ... so every ALLOW rule matching positive `principals` relies on an identity that plaintext
    # callers do not have (MG603: ALLOW + positive mTLS-only field where the P6 mode is not
    # STRICT, warning): allow-llm rule 0 (gateway -> vLLM), rule 1 (EPP -> vLLM /metrics) ...
    ("MG603", "security.yaml", 54, "warning"),
    ("MG603", "security.yaml", 61, "warning"),
    # ... and allow-epp-extproc (gateway -> EPP 9002).
    ("MG603", "security.yaml", 84, "warning"),
    # Listener protocol GRPC: not HTTP/HTTPS/TLS/TCP/UDP, not domain-prefixed (MG501(1), error).
    ("MG501", "gateway.yaml", 43, "error"),
    # backendRef kind InferencePool without group: the group defaults to "" (MG505(1), error).
    ("MG505", "gateway.yaml", 93, "error"),
    # An InferencePool rule is an LLM route (P7); timeouts.request 60s != 0s and < llm_min_timeout
    # 120s (MG206(2), warning).
    ("MG206", "gateway.yaml", 103, "warning"),
    # A v1 InferencePool with the v1alpha2 field spec.targetPortNumber (MG506(1), error).
    ("MG506", "inference.yaml", 22, "error"),
    # vLLM pods are inference workloads (GPU Deployment selected by the pool, §0.3) and S =
    # {proxyCPU, proxyCPULimit} covers no memory request or limit (MG403(1), warning).
    ("MG403", "vllm.yaml", 38, "warning"),
]

# The EPP Service is absent from the input: a manifests-only run reports an absent referent as info
# "unresolved", an error only with --strict-refs (RULES.md MG6xx preamble).
LLM_GATEWAY_BROKEN_UNRESOLVED: list[Pin] = [
    # endpointPickerRef.name names no Service in the pool's namespace (MG606(3)).
    ("MG606", "inference.yaml", 24, "error"),
    # The EPP DestinationRule's host resolves to no Service (MG602 resolves spec.host -> Service).
    ("MG602", "epp.yaml", 120, "error"),
]

# -- examples/training-broken: errors and warnings ----------------------------------------------
TRAINING_BROKEN: list[Any] = [
    # Annotation sidecar.istio.io/inject is the YAML boolean false (MG402(3), error: annotations
    # decode into map[string]string; (3) is not covered by MG402(1)'s exemption for MG407 kinds).
    ("MG402", "jobs.yaml", 50, "error"),
    # PyTorchJob master in injected ml-training without the nativeSidecar annotation; istio_version
    # 1.28 (default), native_sidecars auto, kubernetes_version unknown: a classic sidecar (MG407,
    # warning).
    ("MG407", "jobs.yaml", 87, "warning"),
    # Worker proxyMemory "256m": memory with suffix m (milli) is 0.256 bytes (MG404(2), error).
    ("MG404", "jobs.yaml", 128, "error"),
]

# Rules named in `# broken:` markers that are deliberately not reported, and why.
NOT_REPORTED = {
    "training-broken": {
        # The master's partial proxy annotations are a real mistake, but MG403 applies to inference
        # workloads only, and a GPU pod owned by a Kubeflow training kind is not one (§0.3, §7
        # erratum 1.25).
        "MG403": "MG403 applies to inference workloads only (RULES.md §0.3)",
    },
}

PINNED = {"llm-gateway-broken": LLM_GATEWAY_BROKEN, "training-broken": TRAINING_BROKEN}


def _value(case: Any) -> Pin:
    return cast(Pin, case.values[0] if hasattr(case, "values") else case)


def _is_gap(case: Any) -> bool:
    return any(mark.name == "xfail" for mark in getattr(case, "marks", ()))


def _lint_json(
    name: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    code = main(["lint", "--no-config", "--format", "json", *extra, str(EXAMPLES / name)])
    return code, json.loads(capsys.readouterr().out)


def _pins(report: dict[str, Any], severities: tuple[str, ...] = ("error", "warning")) -> list[Pin]:
    return [
        (f["rule"], f["file"].rsplit("/", 1)[-1], f["line"], f["severity"])
        for f in report["findings"]
        if f["severity"] in severities
    ]


# -- clean folders ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN)
def test_clean_example_has_no_error_or_warning(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _lint_json(name, capsys)
    assert _pins(report) == []
    assert code == 0


@pytest.mark.parametrize("name", CLEAN)
def test_clean_example_has_no_info_either(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The clean folders are closed worlds: every referent is in the folder (no "unresolved"), the
    istiod settings are an IstioOperator (MG409 and MG509(1) read it without --istio-values), and
    every optional field the rules ask to make explicit is written out (MG507(3), MG508(2))."""
    code, report = _lint_json(name, capsys, "--strict-refs")
    assert report["findings"] == []
    assert code == 0


# -- broken twins -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, pin",
    [
        pytest.param(
            name,
            _value(case),
            marks=getattr(case, "marks", ()),
            id=f"{name}-{_value(case)[0]}-{_value(case)[2]}",
        )
        for name, cases in PINNED.items()
        for case in cases
    ],
)
def test_broken_twin_finding_is_reported(
    name: str, pin: Pin, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report = _lint_json(name, capsys)
    assert pin in _pins(report)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_broken_twin_reports_exactly_the_pinned_findings(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing beyond the pinned list; only findings of a documented gap may be missing."""
    code, report = _lint_json(name, capsys)
    got = Counter(_pins(report))
    expected = Counter(_value(c) for c in PINNED[name])
    gaps = {_value(c) for c in PINNED[name] if _is_gap(c)}
    assert got - expected == Counter()
    assert set(expected - got) <= gaps
    order = [(f["file"], f["line"], f["column"], f["rule"]) for f in report["findings"]]
    assert order == sorted(order)
    assert code == 1  # errors and warnings fail by default


def test_missing_epp_service_is_unresolved_info_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, report = _lint_json("llm-gateway-broken", capsys)
    infos = _pins(report, ("info",))
    for rule, file, line, _ in LLM_GATEWAY_BROKEN_UNRESOLVED:
        assert (rule, file, line, "info") in infos


def test_missing_epp_service_is_an_error_with_strict_refs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _lint_json("llm-gateway-broken", capsys, "--strict-refs")
    got = Counter(_pins(report))
    expected = Counter([*map(_value, LLM_GATEWAY_BROKEN), *LLM_GATEWAY_BROKEN_UNRESOLVED])
    assert got == expected
    assert code == 1


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_broken_marker_is_reported(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each rule a `# broken: MGnnn` comment names is reported (any severity, with --strict-refs),
    unless NOT_REPORTED says why not; and every pinned rule has its marker."""
    marked: set[str] = set()
    for path in sorted((EXAMPLES / name).glob("*.yaml")):
        for match in re.finditer(
            r"#\s*broken:\s*(MG\d{3}(?:/MG\d{3})*)", path.read_text(encoding="utf-8")
        ):
            marked.update(match.group(1).split("/"))
    _, report = _lint_json(name, capsys, "--strict-refs")
    reported = {f["rule"] for f in report["findings"]}
    excused = NOT_REPORTED.get(name, {})
    assert marked - reported <= set(excused)
    consequences = {"MG603"}  # follows from the MG101/MG102 mistake, not a mistake of its own
    assert {_value(c)[0] for c in PINNED[name]} - consequences <= marked
