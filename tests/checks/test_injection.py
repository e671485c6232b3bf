"""MG401–MG405: one test per numbered condition of RULES.md, asserting line and severity."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import pytest

from meshguard.model import Finding, Safety
from tests.lintkit import findings_of, lines_of, lint_text


def doc(text: str) -> str:
    return "---\n" + textwrap.dedent(text)


def fixed(finding: Finding) -> dict[str, Any]:
    """The resource body after applying the finding's fix."""
    assert finding.fix is not None and finding.resource is not None
    body = copy.deepcopy(dict(finding.resource.body))
    result: dict[str, Any] = jsonpatch.apply_patch(body, list(finding.fix.ops))
    return result


def only(text: str, rule: str, params: dict[str, Any] | None = None) -> Finding:
    found = findings_of(text, rule, params)
    assert len(found) == 1, found
    return found[0]


def namespace(labels: str = "", name: str = "ml-serving") -> str:
    extra = f"\n  labels: {labels}" if labels else ""
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}{extra}\n"


def deployment(
    template_meta: str,
    name: str = "iris",
    ns: str = "ml-serving",
    meta_extra: str = "",
    containers: str = "[{name: app, image: app:1}]",
) -> str:
    """A Deployment after a `---` line; `template_meta` is the template's metadata body.

    Line 1 is `---`, the template metadata mapping starts on line 10.
    """
    meta = textwrap.indent(textwrap.dedent(template_meta).strip("\n"), "      ")
    return (
        "---\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  namespace: {ns}{meta_extra}\n"
        "spec:\n"
        f"  selector: {{matchLabels: {{app: {name}}}}}\n"
        "  template:\n"
        "    metadata:\n"
        f"{meta}\n"
        "    spec:\n"
        f"      containers: {containers}\n"
    )


PREDICTOR = "labels: {app: iris, component: predictor}\n"


# -- MG401 --------------------------------------------------------------------------------------


def test_mg401_1_no_injection_label_is_error() -> None:
    finding = only(namespace(), "MG401")
    assert (finding.position.line, finding.severity.value) == (4, "error")
    assert finding.pointer == "/metadata/name"
    assert "ml-serving has no injection label" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_mg401_1_other_labels_point_at_labels() -> None:
    assert lines_of(namespace("{team: ml}"), "MG401") == [(5, "error")]


def test_mg401_1_every_pod_opts_in_is_info() -> None:
    text = (
        namespace("{team: ml}")
        + deployment('labels: {app: iris, sidecar.istio.io/inject: "true"}')
        + deployment("labels: {app: llama, istio.io/rev: default}", name="llama")
    )
    finding = only(text, "MG401")
    assert (finding.position.line, finding.severity.value) == (5, "info")
    assert "2 pod template(s) opt in" in finding.message


def test_mg401_1_one_pod_without_opt_in_is_error() -> None:
    text = namespace() + deployment('labels: {app: iris, sidecar.istio.io/inject: "true"}')
    text += deployment("labels: {app: llama}", name="llama")
    assert lines_of(text, "MG401") == [(4, "error")]


def test_mg401_1_enable_namespaces_by_default_is_quiet() -> None:
    params = {"istio": {"enable_namespaces_by_default": True}}
    assert lines_of(namespace(), "MG401", params) == []


def test_mg401_1_ambient_namespace_is_quiet() -> None:
    assert lines_of(namespace("{istio.io/dataplane-mode: ambient}"), "MG401") == []


def test_mg401_2_invalid_istio_injection_value() -> None:
    finding = only(namespace('{istio-injection: "true"}'), "MG401")
    assert (finding.position.line, finding.severity.value) == (5, "error")
    assert 'istio-injection label value "true"' in finding.message
    assert fixed(finding)["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_mg401_2_boolean_istio_injection_value() -> None:
    finding = only(namespace("{istio-injection: true}"), "MG401")
    assert finding.severity.value == "error"
    assert "value true on ML namespace ml-serving is a YAML boolean" in finding.message


def test_mg401_3_disabled_is_error() -> None:
    finding = only(namespace("{istio-injection: disabled}"), "MG401")
    assert (finding.position.line, finding.severity.value) == (5, "error")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE


def test_mg401_3_disabled_next_to_ambient_is_quiet() -> None:
    labels = "{istio-injection: disabled, istio.io/dataplane-mode: ambient}"
    assert lines_of(namespace(labels), "MG401") == []


def test_mg401_4_injection_and_revision_is_warning_with_safe_fix() -> None:
    text = namespace("{istio-injection: enabled, istio.io/rev: canary}")
    finding = only(text, "MG401")
    assert (finding.position.line, finding.severity.value) == (5, "warning")
    assert finding.pointer == "/metadata/labels/istio.io~1rev"
    assert "istio-injection wins" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert fixed(finding)["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_mg401_4_enabled_next_to_ambient_is_warning_without_fix() -> None:
    text = namespace("{istio-injection: enabled, istio.io/dataplane-mode: ambient}")
    finding = only(text, "MG401")
    assert (finding.severity.value, finding.pointer) == (
        "warning",
        "/metadata/labels/istio.io~1dataplane-mode",
    )
    assert finding.fix is None


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("default", [("warning", "/metadata/labels/istio.io~1dataplane-mode")]),
        (
            "canary",  # not installed: (5) as well
            [
                ("warning", "/metadata/labels/istio.io~1rev"),
                ("warning", "/metadata/labels/istio.io~1dataplane-mode"),
            ],
        ),
    ],
)
def test_mg401_4_revision_next_to_ambient_is_warning(
    revision: str, expected: list[tuple[str, str]]
) -> None:
    """istio injection.go analyzer (IST0123): istio.io/rev and istio.io/dataplane-mode are two
    injection labels even without istio-injection."""
    text = namespace(f"{{istio.io/rev: {revision}, istio.io/dataplane-mode: ambient}}")
    found = findings_of(text, "MG401")
    assert [(f.severity.value, f.pointer) for f in found] == expected
    assert "ambient leaves pods with a sidecar alone" in found[-1].message
    assert all(f.fix is None for f in found)  # which data plane is meant is the author's call


def test_mg401_4_revision_with_dataplane_mode_none_is_quiet() -> None:
    assert (
        findings_of(namespace("{istio.io/rev: default, istio.io/dataplane-mode: none}"), "MG401")
        == []
    )


def test_mg401_3_and_4_disabled_with_revision() -> None:
    text = namespace("{istio-injection: disabled, istio.io/rev: default}")
    found = findings_of(text, "MG401")
    assert [(f.severity.value, f.pointer) for f in found] == [
        ("error", "/metadata/labels/istio-injection"),
        ("warning", "/metadata/labels/istio.io~1rev"),
    ]
    assert [f.fix is not None for f in found] == [True, False]  # one fix per namespace
    assert fixed(found[0])["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_mg401_5_unknown_revision_is_warning() -> None:
    finding = only(namespace("{istio.io/rev: canary}"), "MG401")
    assert (finding.position.line, finding.severity.value) == (5, "warning")
    assert '"canary"' in finding.message and "(default)" in finding.message


def test_mg401_5_installed_revision_is_quiet() -> None:
    params = {"istio_revisions": ["stable", "canary"]}
    assert lines_of(namespace("{istio.io/rev: canary}"), "MG401", params) == []


def test_mg401_fix_writes_revision_label_when_configured() -> None:
    params = {"injection_label": "rev", "istio_revisions": ["stable"]}
    finding = only(namespace("{istio-injection: disabled}"), "MG401", params)
    assert fixed(finding)["metadata"]["labels"] == {"istio.io/rev": "stable"}


def test_mg401_only_ml_namespaces() -> None:
    assert lines_of(namespace(name="web"), "MG401") == []
    labelled = namespace('{meshguard.io/ml: "true"}', name="research")
    assert lines_of(labelled, "MG401") == [(5, "error")]


# -- MG402 --------------------------------------------------------------------------------------


def test_mg402_1_label_opt_out_is_warning() -> None:
    text = deployment('labels: {app: iris, sidecar.istio.io/inject: "false"}')
    finding = only(text, "MG402")
    assert (finding.position.line, finding.severity.value) == (11, "warning")
    assert finding.pointer == "/spec/template/metadata/labels/sidecar.istio.io~1inject"
    assert 'label sidecar.istio.io/inject: "false"' in finding.message


def test_mg402_1_and_2_annotation_opt_out() -> None:
    text = deployment(
        """\
        labels: {app: iris}
        annotations: {sidecar.istio.io/inject: "false"}
        """
    )
    assert lines_of(text, "MG402") == [(12, "warning"), (12, "info")]


def test_mg402_1_label_wins_over_annotation() -> None:
    text = deployment(
        """\
        labels: {app: iris, sidecar.istio.io/inject: "true"}
        annotations: {sidecar.istio.io/inject: "false"}
        """
    )
    finding = only(text, "MG402")  # only (2): the annotation is ignored
    assert (finding.position.line, finding.severity.value) == (12, "info")
    assert "is ignored" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert "annotations" not in fixed(finding)["spec"]["template"]["metadata"] or (
        fixed(finding)["spec"]["template"]["metadata"]["annotations"] == {}
    )


def test_mg402_1_exception_and_batch_kinds_are_quiet() -> None:
    text = deployment('labels: {app: iris, sidecar.istio.io/inject: "false"}')
    assert lines_of(text, "MG402", {"injection_exceptions": ["ml-serving/iris"]}) == []
    job = doc(
        """\
        apiVersion: batch/v1
        kind: Job
        metadata: {name: train, namespace: ml-training}
        spec:
          template:
            metadata: {labels: {sidecar.istio.io/inject: "false"}}
            spec: {restartPolicy: Never, containers: [{name: t, image: t:1}]}
        """
    )
    assert lines_of(job, "MG402") == []
    pod = doc(
        """\
        apiVersion: v1
        kind: Pod
        metadata:
          name: train-x
          namespace: ml-training
          labels: {sidecar.istio.io/inject: "false"}
          ownerReferences: [{apiVersion: batch/v1, kind: Job, name: train, uid: u}]
        spec: {containers: [{name: t, image: t:1}]}
        """
    )
    assert lines_of(pod, "MG402") == []


def test_mg402_1_only_ml_namespaces() -> None:
    text = deployment('labels: {app: web, sidecar.istio.io/inject: "false"}', ns="web")
    assert lines_of(text, "MG402") == []


def test_mg402_1_leaderworkerset_templates() -> None:
    text = doc(
        """\
        apiVersion: leaderworkerset.x-k8s.io/v1
        kind: LeaderWorkerSet
        metadata: {name: llama, namespace: ml-serving}
        spec:
          leaderWorkerTemplate:
            size: 2
            leaderTemplate:
              metadata: {labels: {role: leader}}
              spec: {containers: [{name: vllm, image: vllm:1}]}
            workerTemplate:
              metadata: {labels: {sidecar.istio.io/inject: "false"}}
              spec: {containers: [{name: vllm, image: vllm:1}]}
        """
    )
    finding = only(text, "MG402")
    assert (finding.position.line, finding.severity.value) == (12, "warning")
    assert finding.pointer.startswith("/spec/leaderWorkerTemplate/workerTemplate/metadata/labels/")


def test_mg402_2_annotation_move_is_safe_for_false() -> None:
    text = deployment(
        """\
        labels: {app: iris}
        annotations: {sidecar.istio.io/inject: "false", other: x}
        """
    )
    (info,) = [f for f in findings_of(text, "MG402") if f.severity.value == "info"]
    assert info.fix is not None and info.fix.safety is Safety.SAFE
    meta = fixed(info)["spec"]["template"]["metadata"]
    assert meta == {
        "labels": {"app": "iris", "sidecar.istio.io/inject": "false"},
        "annotations": {"other": "x"},
    }


def test_mg402_2_annotation_move_is_unsafe_for_true() -> None:
    text = deployment('annotations: {sidecar.istio.io/inject: "true"}')
    finding = only(text, "MG402")
    assert (finding.position.line, finding.severity.value) == (11, "info")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["spec"]["template"]["metadata"] == {
        "labels": {"sidecar.istio.io/inject": "true"},
        "annotations": {},
    }


def test_mg402_2_value_that_is_not_a_label_value_has_no_fix() -> None:
    text = deployment('annotations: {sidecar.istio.io/inject: "no way"}')
    finding = only(text, "MG402")
    assert finding.severity.value == "info" and finding.fix is None


def test_mg402_2_inference_service_annotation() -> None:
    text = doc(
        """\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata:
          name: sklearn-iris
          namespace: ml-serving
          annotations: {sidecar.istio.io/inject: "true"}
        spec: {predictor: {model: {modelFormat: {name: sklearn}}}}
        """
    )
    finding = only(text, "MG402")
    assert (finding.position.line, finding.severity.value) == (7, "info")
    assert fixed(finding)["metadata"]["labels"] == {"sidecar.istio.io/inject": "true"}


def test_mg402_3_boolean_label_is_error() -> None:
    text = deployment("labels: {app: iris, sidecar.istio.io/inject: false}")
    assert lines_of(text, "MG402") == [(11, "warning"), (11, "error")]
    (error,) = [f for f in findings_of(text, "MG402") if f.severity.value == "error"]
    assert "YAML boolean (false)" in error.message
    assert error.fix is not None and error.fix.safety is Safety.SAFE
    labels = fixed(error)["spec"]["template"]["metadata"]["labels"]
    assert labels["sidecar.istio.io/inject"] == "false"


def test_mg402_3_boolean_annotation_true() -> None:
    text = deployment("annotations: {sidecar.istio.io/inject: true}")
    found = findings_of(text, "MG402")
    assert [(f.position.line, f.severity.value) for f in found] == [(11, "error"), (11, "info")]
    error, info = found
    assert fixed(error)["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "true"
    }
    assert info.fix is None  # quoting first; the move is offered on the next pass


def test_mg402_3_list_value_is_error_without_fix() -> None:
    text = deployment("labels: {app: iris, sidecar.istio.io/inject: [a]}")
    (error,) = findings_of(text, "MG402")
    assert error.severity.value == "error" and error.fix is None


# -- MG403 --------------------------------------------------------------------------------------


def predictor(annotations: str) -> str:
    return deployment(PREDICTOR + (f"annotations: {annotations}\n" if annotations else ""))


def test_mg403_1_cpu_only_is_warning() -> None:
    finding = only(predictor('{sidecar.istio.io/proxyCPU: "200m"}'), "MG403")
    assert (finding.position.line, finding.severity.value) == (12, "warning")
    assert "leaves istio-proxy memory without request or limit" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/proxyCPU": "200m",
        "sidecar.istio.io/proxyMemory": "256Mi",
        "sidecar.istio.io/proxyMemoryLimit": "512Mi",
    }


def test_mg403_1_memory_limit_only_leaves_cpu_uncovered() -> None:
    finding = only(predictor('{sidecar.istio.io/proxyMemoryLimit: "1Gi"}'), "MG403")
    assert (finding.position.line, finding.severity.value) == (12, "warning")
    assert "istio-proxy CPU without" in finding.message


def test_mg403_1_one_of_each_resource_is_quiet() -> None:
    text = predictor('{sidecar.istio.io/proxyCPU: "1", sidecar.istio.io/proxyMemoryLimit: "1Gi"}')
    assert lines_of(text, "MG403") == []


def test_mg403_2_requests_only_is_info() -> None:
    text = predictor('{sidecar.istio.io/proxyCPU: "100m", sidecar.istio.io/proxyMemory: "1Gi"}')
    finding = only(text, "MG403")
    assert (finding.position.line, finding.severity.value) == (12, "info")
    annotations = fixed(finding)["spec"]["template"]["metadata"]["annotations"]
    # the memory limit is never below the request (MG404(4))
    assert annotations["sidecar.istio.io/proxyCPULimit"] == "500m"
    assert annotations["sidecar.istio.io/proxyMemoryLimit"] == "1Gi"


def test_mg403_2_limits_only_is_info() -> None:
    text = predictor(
        '{sidecar.istio.io/proxyCPULimit: "50m", sidecar.istio.io/proxyMemoryLimit: "1Gi"}'
    )
    finding = only(text, "MG403")
    assert finding.severity.value == "info" and "limits only" in finding.message
    annotations = fixed(finding)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/proxyCPU"] == "50m"  # never above the limit
    assert annotations["sidecar.istio.io/proxyMemory"] == "256Mi"


def test_mg403_2_invalid_existing_value_has_no_fix() -> None:
    text = predictor('{sidecar.istio.io/proxyCPU: "1x", sidecar.istio.io/proxyMemory: "1Gi"}')
    assert only(text, "MG403").fix is None


def test_mg403_3_no_annotations_without_mesh_input_is_info() -> None:
    finding = only(predictor(""), "MG403")
    assert (finding.position.line, finding.severity.value) == (10, "info")
    assert finding.pointer == "/spec/template/metadata"
    assert "(not in the input)" in finding.message
    assert len(fixed(finding)["spec"]["template"]["metadata"]["annotations"]) == 4


HELM_VALUES = """\
apiVersion: meshguard.io/v1
kind: IstioHelmValues
metadata: {name: values.yaml}
global:
  proxy:
    resources:
      requests: {cpu: %s, memory: 256Mi}
      limits: {cpu: 500m, memory: 512Mi}
"""


def test_mg403_3_mesh_values_not_the_profile_is_info() -> None:
    finding = only(HELM_VALUES % "200m" + predictor(""), "MG403")
    assert finding.severity.value == "info"
    assert "(not the ML profile in the input)" in finding.message


def test_mg403_3_mesh_profile_is_quiet() -> None:
    assert lines_of(HELM_VALUES % "0.1" + predictor(""), "MG403") == []
    configmap = doc(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio-sidecar-injector, namespace: istio-system}
        data:
          values: '{"global": {"proxy": {"resources": {"requests": {"cpu": "100m",
            "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}}}}'
        """
    )
    assert lines_of(configmap + predictor(""), "MG403") == []


def test_mg403_skips_non_inference_and_opted_out_pods() -> None:
    text = deployment('annotations: {sidecar.istio.io/proxyCPU: "200m"}\nlabels: {app: iris}')
    assert lines_of(text, "MG403") == []
    opted_out = deployment(
        'labels: {app: iris, component: predictor, sidecar.istio.io/inject: "false"}\n'
        'annotations: {sidecar.istio.io/proxyCPU: "200m"}',
        ns="serving",
    )
    assert lines_of(opted_out, "MG403") == []


def test_mg403_inference_pool_selected_workload() -> None:
    pool = doc(
        """\
        apiVersion: inference.networking.k8s.io/v1
        kind: InferencePool
        metadata: {name: llama, namespace: ml-serving}
        spec:
          selector: {matchLabels: {app: llama}}
          targetPorts: [{number: 8000}]
          endpointPickerRef: {name: llama-epp, port: {number: 9002}}
        """
    )
    text = pool + deployment(
        'labels: {app: llama}\nannotations: {sidecar.istio.io/proxyCPU: "1"}', name="llama"
    )
    assert lines_of(text, "MG403") == [(20, "warning")]


def test_mg403_inference_service_annotations() -> None:
    text = doc(
        """\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata:
          name: sklearn-iris
          namespace: ml-serving
          annotations: {sidecar.istio.io/proxyMemory: "256Mi"}
        spec: {predictor: {model: {modelFormat: {name: sklearn}}}}
        """
    )
    assert lines_of(text, "MG403") == [(7, "warning")]


# -- MG404 --------------------------------------------------------------------------------------


def pod(annotations: str) -> str:
    """A Pod after a `---` line; its annotations start on line 8."""
    body = textwrap.indent(textwrap.dedent(annotations).strip("\n"), "    ")
    return (
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: iris\n  namespace: ml-serving\n"
        f"  annotations:\n{body}\nspec: {{containers: [{{name: iris, image: iris:1}}]}}\n"
    )


def test_mg404_1a_unquoted_number_is_error_with_safe_fix() -> None:
    finding = only(pod("sidecar.istio.io/proxyCPU: 0.5"), "MG404")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert "YAML number, not a string" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert fixed(finding)["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] == "0.5"


def test_mg404_1a_boolean_has_no_fix() -> None:
    finding = only(pod("sidecar.istio.io/proxyMemory: true"), "MG404")
    assert finding.severity.value == "error" and finding.fix is None


def test_mg404_1b_invalid_quantity_is_error() -> None:
    text = pod('sidecar.istio.io/proxyMemory: "512mi"\nsidecar.istio.io/proxyCPU: "1K"')
    assert lines_of(text, "MG404") == [(8, "error"), (9, "error")]
    assert "suffix" in findings_of(text, "MG404")[0].message


def test_mg404_1b_empty_and_negative_values() -> None:
    text = pod('sidecar.istio.io/proxyCPU: ""\nsidecar.istio.io/proxyCPULimit: "-1"')
    assert lines_of(text, "MG404") == [(8, "error"), (9, "error")]
    assert "negative" in findings_of(text, "MG404")[1].message


def test_mg404_2_milli_bytes_with_fix() -> None:
    finding = only(pod('sidecar.istio.io/proxyMemoryLimit: "512m"'), "MG404")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert '"512m" is 0.512 bytes' in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["metadata"]["annotations"] == {
        "sidecar.istio.io/proxyMemoryLimit": "512Mi"
    }


def test_mg404_2_milli_fix_needs_a_whole_number_and_no_inversion() -> None:
    assert only(pod('sidecar.istio.io/proxyMemory: "0.5m"'), "MG404").fix is None
    text = pod('sidecar.istio.io/proxyMemory: "1024m"\nsidecar.istio.io/proxyMemoryLimit: "512Mi"')
    finding = only(text, "MG404")
    assert finding.fix is None  # 1024Mi would exceed the 512Mi limit


def test_mg404_2_below_one_mebibyte_is_error() -> None:
    text = pod('sidecar.istio.io/proxyMemory: "512Ki"')
    finding = only(text, "MG404")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert "less than 1Mi" in finding.message


def test_mg404_3_cpu_byte_suffix_and_sanity_max() -> None:
    text = pod('sidecar.istio.io/proxyCPU: "100Mi"\nsidecar.istio.io/proxyCPULimit: "200Mi"')
    assert lines_of(text, "MG404") == [(8, "warning"), (9, "warning")]
    many = pod('sidecar.istio.io/proxyCPU: "20"')
    assert lines_of(many, "MG404") == [(8, "warning")]
    assert lines_of(many, "MG404", {"cpu_sanity_max": 32}) == []


def test_mg404_4_request_above_limit_is_error() -> None:
    text = pod('sidecar.istio.io/proxyMemory: "1Gi"\nsidecar.istio.io/proxyMemoryLimit: "512Mi"')
    finding = only(text, "MG404")
    assert (finding.position.line, finding.severity.value) == (8, "error")
    assert finding.pointer == "/metadata/annotations/sidecar.istio.io~1proxyMemory"
    assert '"1Gi" is above sidecar.istio.io/proxyMemoryLimit "512Mi"' in finding.message


def test_mg404_5_decimal_memory_suffix_is_info() -> None:
    finding = only(pod('sidecar.istio.io/proxyMemoryLimit: "512M"'), "MG404")
    assert (finding.position.line, finding.severity.value) == (8, "info")
    assert "512M = 488.3Mi" in finding.message


def test_mg404_helm_values_accept_numbers() -> None:
    text = HELM_VALUES % "2" + "    # limits below requests\n"
    assert lines_of(text, "MG404") == [(7, "error")]  # cpu 2 > limit 500m
    quiet = HELM_VALUES % "100m"
    assert lines_of(quiet, "MG404") == []


def test_mg404_helm_values_milli_memory_fix() -> None:
    text = (HELM_VALUES % "100m").replace("memory: 512Mi", "memory: 512m")
    inverted, finding = findings_of(text, "MG404")  # 256Mi > 0.512 bytes is (4) as well
    assert (inverted.position.line, inverted.severity.value) == (7, "error")
    assert (finding.position.line, finding.pointer) == (8, "/global/proxy/resources/limits/memory")
    assert fixed(finding)["global"]["proxy"]["resources"]["limits"]["memory"] == "512Mi"


def test_mg404_leaderworkerset_and_cronjob_templates() -> None:
    text = doc(
        """\
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: eval, namespace: ml-training}
        spec:
          schedule: "@daily"
          jobTemplate:
            spec:
              template:
                metadata:
                  annotations: {sidecar.istio.io/proxyMemory: 128m}
                spec: {restartPolicy: Never, containers: [{name: e, image: e:1}]}
        """
    )
    assert lines_of(text, "MG404") == [(11, "error")]


# -- MG405 --------------------------------------------------------------------------------------


def test_mg405_pod_annotation_on_deployment_is_warning() -> None:
    text = deployment(
        "labels: {app: iris}",
        meta_extra='\n  annotations: {sidecar.istio.io/inject: "false", team: ml}',
    )
    finding = only(text, "MG405")
    assert (finding.position.line, finding.severity.value) == (7, "warning")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    body = fixed(finding)
    assert body["metadata"]["annotations"] == {"team": "ml"}
    assert body["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "false"
    }


def test_mg405_does_not_overwrite_template_value() -> None:
    text = deployment(
        'labels: {app: iris}\nannotations: {sidecar.istio.io/proxyCPU: "1"}',
        meta_extra='\n  annotations: {sidecar.istio.io/proxyCPU: "2"}',
    )
    finding = only(text, "MG405")
    body = fixed(finding)
    assert body["spec"]["template"]["metadata"]["annotations"] == {"sidecar.istio.io/proxyCPU": "1"}
    assert body["metadata"]["annotations"] == {}


def test_mg405_several_keys_fix_in_any_order() -> None:
    text = doc(
        """\
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: train
          namespace: ml-training
          annotations:
            traffic.sidecar.istio.io/excludeOutboundPorts: "6379"
            proxy.istio.io/config: "{}"
        spec:
          template:
            spec: {restartPolicy: Never, containers: [{name: t, image: t:1}]}
        """
    )
    found = findings_of(text, "MG405")
    assert [(f.position.line, f.severity.value) for f in found] == [(8, "warning"), (9, "warning")]
    for order in (found, found[::-1]):
        body = copy.deepcopy(dict(found[0].resource.body))  # type: ignore[union-attr]
        for f in order:
            body = jsonpatch.apply_patch(body, list(f.fix.ops))  # type: ignore[union-attr]
        assert body["metadata"]["annotations"] == {}
        assert body["spec"]["template"]["metadata"]["annotations"] == {
            "traffic.sidecar.istio.io/excludeOutboundPorts": "6379",
            "proxy.istio.io/config": "{}",
        }


def test_mg405_leaderworkerset_moves_to_both_templates() -> None:
    text = doc(
        """\
        apiVersion: leaderworkerset.x-k8s.io/v1
        kind: LeaderWorkerSet
        metadata:
          name: llama
          namespace: ml-serving
          annotations: {sidecar.istio.io/proxyMemoryLimit: 2Gi}
        spec:
          leaderWorkerTemplate:
            leaderTemplate:
              metadata: {labels: {role: leader}}
              spec: {containers: [{name: vllm, image: vllm:1}]}
            workerTemplate:
              spec: {containers: [{name: vllm, image: vllm:1}]}
        """
    )
    finding = only(text, "MG405")
    assert (finding.position.line, finding.severity.value) == (7, "warning")
    lwt = fixed(finding)["spec"]["leaderWorkerTemplate"]
    assert lwt["leaderTemplate"]["metadata"]["annotations"] == {
        "sidecar.istio.io/proxyMemoryLimit": "2Gi"
    }
    assert lwt["workerTemplate"]["metadata"] == {
        "annotations": {"sidecar.istio.io/proxyMemoryLimit": "2Gi"}
    }


def test_mg405_ignores_non_pod_annotations() -> None:
    text = deployment(
        "labels: {app: iris}",
        meta_extra=(
            "\n  annotations: {galley.istio.io/analyze-suppress: IST0107,"
            ' networking.istio.io/exportTo: ".", kubectl.kubernetes.io/restartedAt: x}'
        ),
    )
    assert lines_of(text, "MG405") == []


# -- robustness ---------------------------------------------------------------------------------


PREDICTOR_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ml-serving,"
    " labels: {component: predictor}}\n"
)
HOSTILE = [
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving, labels: [1, 2]}\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: x\n",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ml-serving, annotations: 3}\n",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ml-serving, labels: {a: null},"
    " annotations: {sidecar.istio.io/proxyCPU: [1], sidecar.istio.io/inject: {a: b},"
    " sidecar.istio.io/proxyMemory: null, sidecar.istio.io/proxyMemoryLimit: .inf}}\nspec: 1\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ml-serving,"
    " annotations: {sidecar.istio.io/proxyCPU: '1'}}\nspec: {template: 7}\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ml-serving}\n"
    "spec: {template: {metadata: [x]}}\n",
    "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: ml-serving,"
    " annotations: {sidecar.istio.io/inject: 'false'}}\nspec: {jobTemplate: {spec: null}}\n",
    "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: l,"
    " namespace: ml-serving, annotations: {proxy.istio.io/config: x}}\n"
    "spec: {leaderWorkerTemplate: {workerTemplate: [1], leaderTemplate: null}}\n",
    "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: i,"
    " namespace: ml-serving, annotations: {sidecar.istio.io/proxyCPU: 2Ki}}\nspec: []\n",
    "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: o}\n"
    "spec: {values: {global: {proxy: {resources:"
    " {requests: [1], limits: {cpu: {}, memory: '1e'}}}}}}\n",
    "apiVersion: meshguard.io/v1\nkind: IstioHelmValues\nmetadata: {name: v}\nglobal: 1\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector, namespace: x}\n"
    "data: {values: '" + "[" * 100_000 + "'}\n---\n" + PREDICTOR_POD,
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_documents_never_crash(text: str) -> None:
    result = lint_text(text)
    mine = ("in MG401 ", "in MG402 ", "in MG403 ", "in MG404 ", "in MG405 ")
    crashes = [
        f for f in result.findings if f.rule == "MG000" and any(m in f.message for m in mine)
    ]
    assert crashes == []
    for finding in result.findings:
        if finding.rule.startswith("MG40") and finding.fix is not None and finding.fix.ops:
            fixed(finding)  # every offered patch applies
