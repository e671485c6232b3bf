"""Every served API version of a kind is checked alike (RULES.md §2 preamble and §5)."""

from __future__ import annotations

import pytest

from tests.lintkit import lint_text

VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/{version}
kind: VirtualService
metadata: {{name: chat, namespace: ml-serving}}
spec:
  hosts: [chat]
  http:
  - match: [{{uri: {{prefix: /v1/chat/completions}}}}]
    route: [{{destination: {{host: chat}}}}]
    timeout: 120s
    retries: {{attempts: 2, perTryTimeout: 60s, retryOn: "5xx,reset"}}
"""
PEER_AUTHENTICATION = """\
apiVersion: security.istio.io/{version}
kind: PeerAuthentication
metadata: {{name: predictor, namespace: ml-serving}}
spec:
  selector: {{matchLabels: {{component: predictor}}}}
  mtls: {{mode: STRICT}}
  portLevelMtls: {{8080: {{mode: DISABLE}}}}
"""


def _findings(text: str) -> list[tuple[str, int, str]]:
    return [(f.rule, f.position.line, f.severity.value) for f in lint_text(text).findings]


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha3"])
def test_networking_versions_match_v1(version: str) -> None:
    want = _findings(VIRTUAL_SERVICE.format(version="v1"))
    assert ("MG204", 10, "warning") in want and ("MG205", 10, "warning") in want
    assert _findings(VIRTUAL_SERVICE.format(version=version)) == want


def test_security_v1beta1_matches_v1() -> None:
    want = _findings(PEER_AUTHENTICATION.format(version="v1"))
    assert ("MG102", 7, "error") in want
    assert _findings(PEER_AUTHENTICATION.format(version="v1beta1")) == want


POOL_V1 = """\
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llm, namespace: ml-serving}
spec:
  selector: {matchLabels: {app: vllm}}
  targetPortNumber: 8000
  endpointPickerRef: {name: llm-epp, port: {number: 9002}, failureMode: FailClose}
"""


def test_inference_pool_field_names_follow_the_group() -> None:
    """v1 uses targetPorts; v1alpha2's targetPortNumber under the v1 group is an error (MG506)."""
    assert ("MG506", 6, "error") in _findings(POOL_V1)
    alpha = (
        POOL_V1.replace("inference.networking.k8s.io/v1", "inference.networking.x-k8s.io/v1alpha2")
        .replace(
            "endpointPickerRef: {name: llm-epp, port: {number: 9002}, failureMode: FailClose}",
            "extensionRef: {name: llm-epp, portNumber: 9002, failureMode: FailClose}",
        )
        .replace("selector: {matchLabels: {app: vllm}}", "selector: {app: vllm}")
    )
    assert ("MG506", 6, "error") not in _findings(alpha)
