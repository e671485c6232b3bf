"""meshguard.inference_api: both InferencePool generations and the poolRef defaults.

Field names were checked against the GIE CRDs (corpus gateway-api-inference-extension*):
`inference.networking.k8s.io_inferencepools.yaml` (v1) and, at v0.5.1/v1.0.0,
`inference.networking.x-k8s.io_{inferencepools,inferencemodels,inferenceobjectives}.yaml`.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshguard.config import Config
from meshguard.inference_api import (
    DEFAULT_EPP_PORT,
    POOL_GROUP_V1,
    POOL_GROUP_V1ALPHA2,
    find_pool,
    foreign_fields,
    is_inference_pool,
    istio_pool_group,
    pool_generation,
    pool_ref,
    pool_view,
)
from meshguard.inventory import Inventory
from meshguard.model import Origin, Resource


def res(
    api_version: str, kind: str, spec: Any, name: str = "qwen-pool", ns: str = "ml-serving"
) -> Resource:
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    return Resource(api_version, kind, ns, name, body, Origin("t.yaml", 0))


V1 = f"{POOL_GROUP_V1}/v1"
ALPHA = f"{POOL_GROUP_V1ALPHA2}/v1alpha2"


def test_v1_pool() -> None:
    view = pool_view(
        res(
            V1,
            "InferencePool",
            {
                "selector": {"matchLabels": {"app": "vllm"}},
                "targetPorts": [{"number": 8000}, {"number": 8001}],
                "endpointPickerRef": {
                    "name": "epp",
                    "port": {"number": 9002},
                    "failureMode": "FailOpen",
                },
            },
        )
    )
    assert view is not None and view.generation == "v1"
    assert view.match_labels == {"app": "vllm"} and view.selector_shape == "matchLabels"
    assert view.selector_pointer == "/spec/selector/matchLabels"
    assert view.target_ports == (8000, 8001) and view.target_ports_pointer == "/spec/targetPorts"
    epp = view.endpoint_picker
    assert epp is not None and epp.field == "endpointPickerRef" and epp.name == "epp"
    assert (
        epp.port == 9002 and epp.port_pointer == "/spec/endpointPickerRef/port" and epp.is_service
    )
    assert epp.failure_mode == "FailOpen" and epp.effective_failure_mode == "FailOpen"


def test_v1alpha2_pool_defaults() -> None:
    view = pool_view(
        res(
            ALPHA,
            "InferencePool",
            {
                "selector": {"app": "vllm"},
                "targetPortNumber": 8000,
                "extensionRef": {"name": "epp"},
            },
        )
    )
    assert view is not None and view.generation == "v1alpha2"
    assert view.match_labels == {"app": "vllm"} and view.selector_shape == "flat"
    assert view.target_ports == (8000,) and view.target_ports_pointer == "/spec/targetPortNumber"
    epp = view.endpoint_picker
    assert (
        epp is not None
        and epp.field == "extensionRef"
        and epp.port is None
        and not epp.port_written
    )
    assert epp.port_pointer == "/spec/extensionRef/portNumber"
    assert epp.effective_port() == DEFAULT_EPP_PORT and epp.effective_failure_mode == "FailClose"


def test_mixed_generations_read_leniently_and_reported() -> None:
    pool = res(
        V1,
        "InferencePool",
        {"selector": {"app": "x"}, "targetPortNumber": 8000, "extensionRef": {"name": "e"}},
    )
    view = pool_view(pool)
    assert view is not None and view.match_labels == {"app": "x"} and view.target_ports == (8000,)
    assert view.endpoint_picker is not None and view.endpoint_picker.field == "extensionRef"
    assert sorted(foreign_fields(pool)) == [
        ("/spec/extensionRef", "extensionRef"),
        ("/spec/selector", "flat selector"),
        ("/spec/targetPortNumber", "targetPortNumber"),
    ]
    alpha = res(
        ALPHA,
        "InferencePool",
        {"selector": {"matchLabels": {"a": "b"}}, "targetPorts": [{"number": 1}]},
    )
    assert sorted(foreign_fields(alpha)) == [
        ("/spec/selector/matchLabels", "selector.matchLabels"),
        ("/spec/targetPorts", "targetPorts"),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        None,
        "x",
        [],
        {"selector": "x", "targetPorts": "x", "endpointPickerRef": "x"},
        {
            "selector": {"matchLabels": ["a"]},
            "targetPorts": [1, None, {"number": True}, {"number": 70000}],
        },
        {
            "targetPortNumber": "8000",
            "endpointPickerRef": {"name": 3, "port": "x", "kind": 5, "failureMode": 1},
        },
    ],
)
def test_hostile_input(spec: Any) -> None:
    view = pool_view(res(V1, "InferencePool", spec))
    assert view is not None and view.target_ports == ()
    assert view.match_labels is None
    foreign_fields(res(V1, "InferencePool", spec))
    if view.endpoint_picker is not None:
        assert view.endpoint_picker.name is None and view.endpoint_picker.kind == "Service"


def test_not_a_pool() -> None:
    assert pool_view(res("v1", "Service", {})) is None
    assert not is_inference_pool(res("example.com/v1", "InferencePool", {}))
    assert pool_generation("llm-d.ai") is None


def test_pool_ref_defaults() -> None:
    objective = res("llm-d.ai/v1alpha2", "InferenceObjective", {"poolRef": {"name": "p"}}, name="o")
    ref = pool_ref(objective)
    assert (
        ref is not None
        and ref.group == POOL_GROUP_V1
        and ref.kind == "InferencePool"
        and not ref.group_written
    )
    model = res(ALPHA, "InferenceModel", {"poolRef": {"name": "p"}}, name="m")
    ref = pool_ref(model)
    assert ref is not None and ref.group == POOL_GROUP_V1ALPHA2
    explicit = res(ALPHA, "InferenceObjective", {"poolRef": {"name": "p", "group": ""}}, name="o")
    ref = pool_ref(explicit)
    assert ref is not None and ref.group == "" and ref.group_written
    assert pool_ref(res(ALPHA, "InferenceObjective", {"poolRef": "p"})) is None
    assert pool_ref(res("v1", "Service", {"poolRef": {"name": "p"}})) is None


def test_find_pool_and_istio_group() -> None:
    alpha = res(ALPHA, "InferencePool", {})
    inv = Inventory([alpha], Config().params)
    assert find_pool(inv, "ml-serving", "qwen-pool") is alpha
    assert find_pool(inv, "ml-serving", "qwen-pool", POOL_GROUP_V1) is None
    assert istio_pool_group((1, 26)) is None
    assert istio_pool_group((1, 27)) == POOL_GROUP_V1ALPHA2
    assert istio_pool_group((1, 28)) == POOL_GROUP_V1
