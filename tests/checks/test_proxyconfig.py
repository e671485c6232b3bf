"""MG406–MG409: one test per numbered condition of RULES.md, asserting line and severity."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from meshguard.config import Config, with_parameters
from meshguard.engine import Result, run
from meshguard.loader import load_text, load_values_file
from meshguard.model import Finding, Safety
from tests.lintkit import RULES, findings_of, lines_of


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


def lint_values(
    tmp_path: Path, values: str, manifests: str = "", params: dict[str, Any] | None = None
) -> Result:
    """Lint a Helm values file as `--istio-values` does (load_values_file), plus manifests."""
    path = tmp_path / "values.yaml"
    path.write_text(textwrap.dedent(values))
    files = [load_values_file(str(path))]
    if manifests:
        files.append(load_text(textwrap.dedent(manifests), "input.yaml"))
    config = with_parameters(Config(), params) if params else Config()
    return run(files, config, RULES)


def values_findings(result: Result, rule: str) -> list[tuple[str, int, str]]:
    return [
        (f.pointer, f.position.line, f.severity.value)
        for f in result.findings
        if f.rule == rule and f.file.endswith("values.yaml")
    ]


# -- MG406 mesh-wide proxy resources -----------------------------------------------------------

IOP = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istiod, namespace: istio-system}
spec:
  meshConfig: {accessLogFile: /dev/stdout}
"""


def iop_resources(resources: str) -> str:
    return (
        IOP
        + "  values:\n    global:\n      proxy:\n        resources:\n"
        + textwrap.indent(textwrap.dedent(resources), " " * 10)
    )


def test_mg406_absent_keys_are_info_and_fix_writes_profile() -> None:
    text = iop_resources("requests: {cpu: 100m}\n")
    assert lines_of(text, "MG406") == [(9, "info")]
    finding = only(text, "MG406")
    assert "requests.memory absent (istio default 128Mi), profile 256Mi" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    resources = fixed(finding)["spec"]["values"]["global"]["proxy"]["resources"]
    assert resources == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


def test_mg406_different_value_is_info() -> None:
    text = iop_resources(
        "requests: {cpu: 100m, memory: 128Mi}\nlimits: {cpu: 500m, memory: 512Mi}\n"
    )
    finding = only(text, "MG406")
    assert (finding.position.line, finding.severity.value) == (9, "info")
    assert "requests.memory 128Mi, profile 256Mi" in finding.message
    assert fixed(finding)["spec"]["values"]["global"]["proxy"]["resources"]["requests"] == {
        "cpu": "100m",
        "memory": "256Mi",
    }


def test_mg406_quantities_compare_by_value() -> None:
    text = iop_resources(
        'requests: {cpu: "0.1", memory: 268435456}\nlimits: {cpu: 0.5, memory: 0.5Gi}\n'
    )
    assert lines_of(text, "MG406") == []


def test_mg406_invalid_values_are_mg404s() -> None:
    text = iop_resources(
        "requests: {cpu: 100m, memory: 256mi}\nlimits: {cpu: 500m, memory: 512Mi}\n"
    )
    assert lines_of(text, "MG406") == []


def test_mg406_no_values_block_uses_chart_defaults() -> None:
    finding = only(IOP, "MG406")
    assert finding.pointer == "/spec/values/global/proxy/resources"
    assert (
        fixed(finding)["spec"]["values"]["global"]["proxy"]["resources"]["limits"]["cpu"] == "500m"
    )


def test_mg406_profile_parameter() -> None:
    text = iop_resources(
        "requests: {cpu: 100m, memory: 256Mi}\nlimits: {cpu: 500m, memory: 512Mi}\n"
    )
    profile = {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    finding = only(text, "MG406", {"sidecar_resources": profile})
    assert "limits.cpu 500m, profile 1" in finding.message


def test_mg406_helm_values_file(tmp_path: Path) -> None:
    result = lint_values(
        tmp_path,
        """\
        # istiod values.yaml
        global:
          proxy:
            resources:
              requests: {cpu: 100m}
        """,
    )
    assert values_findings(result, "MG406") == [("/global/proxy/resources", 4, "info")]
    finding = next(f for f in result.findings if f.rule == "MG406")
    assert fixed(finding)["global"]["proxy"]["resources"]["limits"] == {
        "cpu": "500m",
        "memory": "512Mi",
    }


def test_mg406_helm_values_without_global(tmp_path: Path) -> None:
    result = lint_values(tmp_path, "meshConfig: {accessLogFile: /dev/stdout}\n")
    finding = next(f for f in result.findings if f.rule == "MG406")
    assert finding.pointer == "/global/proxy/resources"
    assert fixed(finding)["global"]["proxy"]["resources"]["requests"]["memory"] == "256Mi"


INJECTOR = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: |-
    {"global": {"proxy": {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}},
     "revision": ""}
"""


def test_mg406_injector_configmap_values() -> None:
    finding = only(INJECTOR, "MG406")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/data/values",
        5,
        "info",
    )
    rendered = json.loads(fixed(finding)["data"]["values"])
    assert rendered["global"]["proxy"]["resources"]["requests"]["memory"] == "256Mi"
    assert rendered["revision"] == ""


def test_mg406_other_configmaps_and_hostile_values() -> None:
    other = INJECTOR.replace("istio-sidecar-injector", "app-config")
    assert lines_of(other, "MG406") == []
    broken = INJECTOR.replace('{"global"', '["global"').replace('""}', '""]')
    assert lines_of(broken, "MG406") == []
    for resources in ('"x"', "[1, 2]", "{requests: 5, limits: [1]}"):
        text = IOP + f"  values: {{global: {{proxy: {{resources: {resources}}}}}}}\n"
        assert [s for _, s in lines_of(text, "MG406")] == ["info"]
    assert [s for _, s in lines_of(IOP + "  values: [1]\n", "MG406")] == ["info"]


# -- MG407 batch pods with a classic sidecar -----------------------------------------------------

JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: eval, namespace: ml-training}
spec:
  template:
    metadata:
      labels: {app: eval}
    spec:
      restartPolicy: Never
      containers: [{name: eval, image: eval:1}]
"""


def job(labels: str = "{app: eval}", annotations: str = "", namespace: str = "ml-training") -> str:
    text = JOB.replace("labels: {app: eval}", f"labels: {labels}").replace("ml-training", namespace)
    if annotations:
        text = text.replace("    spec:\n", f"      annotations: {annotations}\n    spec:\n")
    return text


def namespace(name: str, labels: str = "{}") -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {labels}}}\n---\n"


def test_mg407_classic_sidecar_by_default_is_warning_fix_opts_out() -> None:
    finding = only(JOB, "MG407")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/template",
        5,
        "warning",
    )
    assert "kubernetes_version unset" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["spec"]["template"]["metadata"]["labels"] == {
        "app": "eval",
        "sidecar.istio.io/inject": "false",
    }


def test_mg407_kubernetes_below_133_in_auto_mode_fix_adds_native_annotation() -> None:
    finding = only(JOB, "MG407", {"kubernetes_version": "v1.31.4"})
    assert (finding.position.line, finding.severity.value) == (5, "warning")
    annotations = fixed(finding)["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"sidecar.istio.io/nativeSidecar": "true"}


def test_mg407_auto_mode_on_kubernetes_133_is_native() -> None:
    assert lines_of(JOB, "MG407", {"kubernetes_version": "1.33"}) == []


def test_mg407_istio_before_127_defaults_to_classic() -> None:
    params = {"istio_version": "1.26", "kubernetes_version": "1.33"}
    finding = only(JOB, "MG407", params)
    assert (finding.position.line, finding.severity.value) == (5, "warning")
    assert "defaults ENABLE_NATIVE_SIDECARS to false" in finding.message
    assert lines_of(JOB, "MG407", {**params, "istio": {"native_sidecars": True}}) == []
    assert lines_of(JOB, "MG407", {**params, "istio": {"native_sidecars": "auto"}}) == [
        (5, "warning")
    ]


@pytest.mark.parametrize("setting", [False, "false", "bogus"])
def test_mg407_native_sidecars_disabled_in_istiod(setting: object) -> None:
    params = {"kubernetes_version": "1.33", "istio": {"native_sidecars": setting}}
    assert lines_of(JOB, "MG407", params) == [(5, "warning")]


def test_mg407_native_sidecars_forced_in_istiod() -> None:
    assert lines_of(JOB, "MG407", {"istio": {"native_sidecars": "true"}}) == []


def test_mg407_annotation_false_disables_native_sidecars() -> None:
    text = job(annotations='{sidecar.istio.io/nativeSidecar: "false"}')
    finding = only(text, "MG407", {"kubernetes_version": "1.33"})
    assert finding.pointer == "/spec/template/metadata/annotations/sidecar.istio.io~1nativeSidecar"
    assert (finding.position.line, finding.severity.value) == (8, "warning")
    assert fixed(finding)["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/nativeSidecar": "true"
    }


@pytest.mark.parametrize("value", ['"true"', '"yes"', "true"])
def test_mg407_any_other_annotation_value_forces_native(value: str) -> None:
    assert lines_of(job(annotations=f"{{sidecar.istio.io/nativeSidecar: {value}}}"), "MG407") == []


def test_mg407_empty_annotation_falls_back_to_the_default() -> None:
    text = job(annotations='{sidecar.istio.io/nativeSidecar: ""}')
    assert lines_of(text, "MG407") == [(5, "warning")]


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        ('{app: eval, sidecar.istio.io/inject: "false"}', ""),
        ("{app: eval}", '{sidecar.istio.io/inject: "false"}'),
    ],
)
def test_mg407_opted_out_pods_are_not_injected(labels: str, annotations: str) -> None:
    assert lines_of(job(labels, annotations), "MG407") == []


def test_mg407_label_wins_over_annotation() -> None:
    text = job('{app: eval, sidecar.istio.io/inject: "true"}', '{sidecar.istio.io/inject: "false"}')
    assert lines_of(text, "MG407") == [(5, "warning")]


def test_mg407_host_network_pods_are_not_injected() -> None:
    text = JOB.replace("restartPolicy: Never", "restartPolicy: Never\n      hostNetwork: true")
    assert lines_of(text, "MG407") == []


@pytest.mark.parametrize(
    ("labels", "pod_labels", "params", "expected"),
    [
        ("{istio-injection: enabled}", "{app: eval}", None, [(9, "warning")]),
        ("{istio-injection: disabled}", "{app: eval}", None, []),
        ('{istio-injection: "true"}', "{app: eval}", None, []),  # no webhook matches
        ("{istio.io/rev: canary}", "{app: eval}", None, [(9, "warning")]),
        ("{}", "{app: eval}", None, []),
        ("{}", "{app: eval, istio.io/rev: canary}", None, [(9, "warning")]),
        ("{}", '{app: eval, sidecar.istio.io/inject: "true"}', None, [(9, "warning")]),
        ("{}", "{app: eval}", {"istio": {"enable_namespaces_by_default": True}}, [(9, "warning")]),
    ],
)
def test_mg407_namespace_injection(
    labels: str, pod_labels: str, params: dict[str, Any] | None, expected: list[tuple[int, str]]
) -> None:
    text = namespace("ml-training", labels) + job(pod_labels)
    assert lines_of(text, "MG407", params) == expected


def test_mg407_absent_namespace_injected_only_when_ml() -> None:
    assert lines_of(job(namespace="batch"), "MG407") == []
    assert lines_of(
        job('{app: eval, sidecar.istio.io/inject: "true"}', namespace="batch"), "MG407"
    ) == [(5, "warning")]
    assert lines_of(job(namespace="research"), "MG407", {"ml_namespaces": ["research"]}) == [
        (5, "warning")
    ]


def test_mg407_cronjob_and_deployment() -> None:
    cron = """\
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: nightly, namespace: ml-training}
    spec:
      schedule: "0 2 * * *"
      jobTemplate:
        spec:
          template:
            spec:
              containers: [{name: eval, image: eval:1}]
    """
    assert lines_of(cron, "MG407") == [(8, "warning")]
    finding = only(cron, "MG407")
    assert fixed(finding)["spec"]["jobTemplate"]["spec"]["template"]["metadata"] == {
        "labels": {"sidecar.istio.io/inject": "false"}
    }
    deployment = cron.replace("batch/v1", "apps/v1").replace("CronJob", "Deployment")
    assert lines_of(deployment, "MG407") == []


def test_mg407_kubeflow_roles_and_mpi_launcher_only() -> None:
    pytorch = """\
    apiVersion: kubeflow.org/v1
    kind: PyTorchJob
    metadata: {name: finetune, namespace: ml-training}
    spec:
      pytorchReplicaSpecs:
        Master:
          template:
            spec: {containers: [{name: pytorch, image: trainer:1}]}
        Worker:
          template:
            spec: {containers: [{name: pytorch, image: trainer:1}]}
    """
    assert lines_of(pytorch, "MG407") == [(7, "warning"), (10, "warning")]
    mpi = (
        pytorch.replace("PyTorchJob", "MPIJob")
        .replace("pytorchReplicaSpecs", "mpiReplicaSpecs")
        .replace("Master", "Launcher")
    )
    assert lines_of(mpi, "MG407") == [(7, "warning")]


def test_mg407_jobset() -> None:
    text = """\
    apiVersion: jobset.x-k8s.io/v1alpha2
    kind: JobSet
    metadata: {name: train, namespace: ml-training}
    spec:
      replicatedJobs:
      - name: workers
        template:
          spec:
            template:
              spec: {containers: [{name: t, image: t:1}]}
    """
    finding = only(text, "MG407")
    assert (finding.pointer, finding.position.line) == (
        "/spec/replicatedJobs/0/template/spec/template",
        9,
    )
    labels = fixed(finding)["spec"]["replicatedJobs"][0]["template"]["spec"]["template"][
        "metadata"
    ]["labels"]
    assert labels == {"sidecar.istio.io/inject": "false"}


RAYJOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: batch-infer, namespace: ml-training}
spec:
  entrypoint: python infer.py
"""


def test_mg407_rayjob_submitter() -> None:
    finding = only(RAYJOB, "MG407")
    assert (finding.pointer, finding.position.line, finding.fix) == ("/spec", 4, None)
    assert lines_of(RAYJOB + "  submissionMode: HTTPMode\n", "MG407") == []
    template = (
        RAYJOB + "  submitterPodTemplate:\n    spec: {containers: [{name: s, image: ray:2}]}\n"
    )
    finding = only(template, "MG407", {"kubernetes_version": "1.30"})
    assert (finding.pointer, finding.position.line) == ("/spec/submitterPodTemplate", 6)
    assert fixed(finding)["spec"]["submitterPodTemplate"]["metadata"] == {
        "annotations": {"sidecar.istio.io/nativeSidecar": "true"}
    }


TRAINJOB = """\
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: finetune, namespace: ml-training}
spec:
  runtimeRef: {name: torch-distributed}
"""
RUNTIME = """\
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata: {name: torch-distributed}
spec:
  template:
    spec:
      replicatedJobs:
      - name: node
        template:
          spec:
            template:
              metadata:
                annotations: {sidecar.istio.io/nativeSidecar: "true"}
              spec: {containers: [{name: node, image: torch:1}]}
"""


def test_mg407_trainjob_runtime_and_overrides() -> None:
    finding = only(TRAINJOB, "MG407")
    assert (finding.pointer, finding.position.line, finding.fix) == ("/spec/runtimeRef", 5, None)
    assert lines_of(TRAINJOB + RUNTIME, "MG407") == []
    assert lines_of(TRAINJOB + RUNTIME.replace('"true"', '"false"'), "MG407") == [(5, "warning")]
    override = TRAINJOB + (
        "  podTemplateOverrides:\n  - targetJobs: [{name: node}]\n"
        '    metadata: {annotations: {sidecar.istio.io/nativeSidecar: "true"}}\n'
    )
    assert lines_of(override, "MG407") == []
    namespaced = TRAINJOB.replace("{name: torch-distributed}", "{name: rt, kind: TrainingRuntime}")
    runtime = RUNTIME.replace("ClusterTrainingRuntime", "TrainingRuntime").replace(
        "{name: torch-distributed}", "{name: rt, namespace: ml-training}"
    )
    assert lines_of(namespaced + runtime, "MG407") == []


@pytest.mark.parametrize(
    "spec",
    [
        "spec: x",
        "spec: {template: x}",
        "spec: {template: {metadata: [1], spec: 5}}",
        "spec: {runtimeRef: 1}",
    ],
)
def test_mg407_hostile_input(spec: str) -> None:
    for head in (JOB.split("spec:")[0], TRAINJOB.split("spec:")[0], RAYJOB.split("spec:")[0]):
        lint = lines_of(head + spec + "\n", "MG407")
        assert all(sev == "warning" for _, sev in lint)
        assert not findings_of(head + spec + "\n", "MG000")


# -- MG408 model-server port protocol ------------------------------------------------------------

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: triton, namespace: ml-serving}
spec:
  selector: {matchLabels: {app: triton}}
  template:
    metadata: {labels: {app: triton, component: predictor}}
    spec:
      containers:
      - name: triton
        image: nvcr.io/nvidia/tritonserver:25.01-py3
        ports: [{name: http, containerPort: 8000}, {name: grpc, containerPort: 8001}]
---
apiVersion: v1
kind: Service
metadata: {name: triton, namespace: ml-serving}
spec:
  selector: {app: triton}
  ports:
"""


def service(*ports: str) -> str:
    return DEPLOY + "".join(f"  - {p}\n" for p in ports)


def test_mg408_sniffed_port_is_warning_fix_http_from_container_name() -> None:
    finding = only(service("{name: rest, port: 8000}"), "MG408")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/ports/0",
        20,
        "warning",
    )
    assert "sniffed" in finding.message and "name 'rest'" in finding.message
    assert fixed(finding)["spec"]["ports"][0]["appProtocol"] == "http"
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE


def test_mg408_unrecognised_app_protocol_decides() -> None:
    finding = only(service("{name: http, port: 8000, appProtocol: rest}"), "MG408")
    assert (finding.position.line, finding.severity.value) == (20, "warning")
    assert "appProtocol 'rest'" in finding.message
    assert fixed(finding)["spec"]["ports"][0]["appProtocol"] == "http"


def test_mg408_sniffed_port_without_http_evidence_has_no_fix() -> None:
    finding = only(service("{name: metrics, port: 8002}"), "MG408")
    assert (finding.position.line, finding.fix) == (20, None)
    unnamed = only(service("{port: 8080}"), "MG408")  # no container port 8080, known REST port
    assert fixed(unnamed)["spec"]["ports"][0]["appProtocol"] == "http"


def test_mg408_grpc_target_port_not_grpc() -> None:
    finding = only(service("{name: http-grpc, port: 8001}"), "MG408")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/ports/0",
        20,
        "warning",
    )
    assert "triton grpc port" in finding.message and "protocol is http" in finding.message
    assert fixed(finding)["spec"]["ports"][0]["appProtocol"] == "grpc"
    kserve = only(service("{name: http, port: 9000, targetPort: 8081}"), "MG408")
    assert "kserve grpc port" in kserve.message


def test_mg408_named_target_port_resolved_against_containers() -> None:
    finding = only(service("{name: rpc, port: 9000, targetPort: grpc}"), "MG408")
    assert (finding.position.line, finding.severity.value) == (20, "warning")
    assert "grpc (8001)" in finding.message and "sniffed" in finding.message
    assert fixed(finding)["spec"]["ports"][0]["appProtocol"] == "grpc"
    assert (
        lines_of(service("{name: web, port: 80, targetPort: http, appProtocol: http}"), "MG408")
        == []
    )


def test_mg408_grpc_port_named_otherwise_by_the_container_has_no_fix() -> None:
    text = DEPLOY.replace("8001}]", "8001}, {name: http-mgmt, containerPort: 8081}]")
    finding = only(text + "  - {name: http-mgmt, port: 8081}\n", "MG408")
    assert (finding.position.line, finding.fix) == (20, None)


@pytest.mark.parametrize(
    "port",
    [
        "{name: grpc, port: 8001}",
        "{name: x, port: 8001, appProtocol: kubernetes.io/h2c}",
        "{name: grpc-web, port: 8001}",
        "{name: http2, port: 8001}",
        "{name: db, port: 3306}",
        "{name: dns, port: 53, protocol: UDP}",
        "{name: tcp-x, port: 8000}",
    ],
)
def test_mg408_declared_ports_pass(port: str) -> None:
    assert lines_of(service(port), "MG408") == []


def test_mg408_only_services_of_inference_pods() -> None:
    plain = service("{name: rest, port: 8000}").replace(", component: predictor", "")
    assert lines_of(plain, "MG408") == []
    fallback = """\
    apiVersion: v1
    kind: Service
    metadata: {name: iris, namespace: ml-serving}
    spec:
      selector: {serving.kserve.io/inferenceservice: iris}
      ports: [{name: rpc, port: 8081}]
    """
    assert lines_of(fallback, "MG408") == [(6, "warning")]


@pytest.mark.parametrize(
    "ports",
    ["ports: x", "ports: [1, x, null]", "ports: [{targetPort: true}]", "ports: [{port: [1]}]"],
)
def test_mg408_hostile_ports(ports: str) -> None:
    text = DEPLOY.replace("  ports:\n", f"  {ports}\n")
    assert not findings_of(text, "MG000")


# -- MG409 access logging and tracing ------------------------------------------------------------

MESH = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: istiod, namespace: istio-system}
spec:
  meshConfig:
"""
TELEMETRY = """\
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
"""


def mesh(*lines: str) -> str:
    return MESH + "".join(f"    {line}\n" for line in lines)


def test_mg409_access_logging_off_is_warning_fix_sets_stdout() -> None:
    text = mesh("enableTracing: true")
    finding = only(text, "MG409")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/meshConfig",
        5,
        "warning",
    )
    assert "accessLogFile absent" in finding.message
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert fixed(finding)["spec"]["meshConfig"]["accessLogFile"] == "/dev/stdout"


def test_mg409_empty_access_log_file() -> None:
    finding = only(mesh('accessLogFile: ""'), "MG409")
    assert (finding.pointer, finding.position.line) == ("/spec/meshConfig/accessLogFile", 6)
    assert 'accessLogFile ""' in finding.message


@pytest.mark.parametrize(
    "extra",
    [
        "    defaultProviders: {accessLogging: [envoy]}\n",
        TELEMETRY + "  - providers: [{name: envoy}]\n",
        TELEMETRY + "  - providers: [{name: otel}]\n    disabled: false\n",
    ],
)
def test_mg409_access_logging_enabled_elsewhere(extra: str) -> None:
    assert lines_of(mesh("enableTracing: true") + extra, "MG409") == []


@pytest.mark.parametrize(
    "extra",
    [
        TELEMETRY + "  - providers: [{name: envoy}]\n    disabled: true\n",
        TELEMETRY + "  - match: {mode: CLIENT}\n",  # no provider and no default provider
        TELEMETRY.replace("istio-system", "ml-serving") + "  - providers: [{name: envoy}]\n",
        TELEMETRY.replace("spec:\n", "spec:\n  selector: {matchLabels: {app: x}}\n")
        + "  - providers: [{name: envoy}]\n",
    ],
)
def test_mg409_telemetry_that_does_not_log_mesh_wide(extra: str) -> None:
    assert lines_of(mesh("enableTracing: true") + extra, "MG409") == [(5, "warning")]


def test_mg409_no_mesh_config_in_input() -> None:
    assert lines_of(TELEMETRY.lstrip("-\n") + "  - providers: [{name: envoy}]\n", "MG409") == []
    other = CONFIGMAP.replace("istio-system", "default")
    assert lines_of(other, "MG409") == []


def test_mg409_reports_sources_that_declare_mesh_config(tmp_path: Path) -> None:
    result = lint_values(
        tmp_path, "global: {proxy: {resources: {}}}\n", mesh("enableTracing: true")
    )
    assert [(f.file, f.position.line) for f in result.findings if f.rule == "MG409"] == [
        ("input.yaml", 5)
    ]
    result = lint_values(
        tmp_path, "meshConfig: {accessLogFile: /dev/stdout}\n", mesh("enableTracing: true")
    )
    assert [f for f in result.findings if f.rule == "MG409"] == []


def test_mg409_helm_values_file(tmp_path: Path) -> None:
    result = lint_values(
        tmp_path,
        """\
        meshConfig:
          enableTracing: true
          defaultConfig: {tracing: {sampling: 150}}
        traceSampling: 0.5
        pilot: {traceSampling: 101}
        """,
    )
    assert sorted(values_findings(result, "MG409")) == [
        ("/meshConfig", 1, "warning"),
        ("/meshConfig/defaultConfig/tracing/sampling", 3, "error"),
        ("/pilot/traceSampling", 5, "error"),
        ("/traceSampling", 4, "info"),
    ]
    by_pointer = {f.pointer: f for f in result.findings if f.rule == "MG409"}
    assert fixed(by_pointer["/meshConfig"])["meshConfig"]["accessLogFile"] == "/dev/stdout"
    assert fixed(by_pointer["/pilot/traceSampling"])["pilot"]["traceSampling"] == 100
    assert "istiod samples 1 percent instead" in by_pointer["/pilot/traceSampling"].message


def test_mg409_helm_values_without_mesh_config(tmp_path: Path) -> None:
    result = lint_values(tmp_path, "global: {proxy: {resources: {}}}\n")
    finding = next(f for f in result.findings if f.rule == "MG409")
    assert (finding.pointer, finding.severity.value) == ("/meshConfig", "warning")
    assert fixed(finding)["meshConfig"] == {"accessLogFile": "/dev/stdout"}


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    # mesh-wide settings
    enableTracing: true
    defaultConfig:
      tracing: {sampling: 1.0}
"""


def test_mg409_configmap_mesh_is_rewritten_whole() -> None:
    found = findings_of(CONFIGMAP, "MG409")
    assert sorted((f.pointer, f.position.line, f.severity.value) for f in found) == [
        ("/data/mesh", 5, "info"),
        ("/data/mesh", 5, "warning"),
    ]
    logging = next(f for f in found if f.severity.value == "warning")
    assert logging.fix is not None and logging.fix.safety is Safety.UNSAFE
    mesh_after = yaml.safe_load(fixed(logging)["data"]["mesh"])
    assert mesh_after == {
        "enableTracing": True,
        "defaultConfig": {"tracing": {"sampling": 1.0}},
        "accessLogFile": "/dev/stdout",
    }


def test_mg409_enable_tracing_false_is_warning() -> None:
    text = mesh("accessLogFile: /dev/stdout", "enableTracing: false")
    finding = only(text, "MG409")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/meshConfig/enableTracing",
        7,
        "warning",
    )
    assert finding.fix is None
    assert lines_of(text, "MG409", {"require_tracing": False}) == []


@pytest.mark.parametrize(
    ("value", "clamped"),
    [("150", 100), ("100.5", 100.0), ("-5", 0), ("-0.5", 0.0), ('"250"', "100")],
)
def test_mg409_sampling_out_of_range_is_error_fix_clamps(value: str, clamped: object) -> None:
    text = mesh("accessLogFile: /dev/stdout", f"defaultConfig: {{tracing: {{sampling: {value}}}}}")
    finding = only(text, "MG409")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/meshConfig/defaultConfig/tracing/sampling",
        7,
        "error",
    )
    assert fixed(finding)["spec"]["meshConfig"]["defaultConfig"]["tracing"]["sampling"] == clamped
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE


def test_mg409_sampling_nan_has_no_fix() -> None:
    finding = only(
        mesh("accessLogFile: /dev/stdout", "defaultConfig: {tracing: {sampling: .nan}}"), "MG409"
    )
    assert (finding.severity.value, finding.fix) == ("error", None)


def test_mg409_istio_operator_trace_sampling() -> None:
    text = mesh("accessLogFile: /dev/stdout") + "  values:\n    pilot: {traceSampling: 120}\n"
    finding = only(text, "MG409")
    assert (finding.pointer, finding.position.line, finding.severity.value) == (
        "/spec/values/pilot/traceSampling",
        8,
        "error",
    )
    assert fixed(finding)["spec"]["values"]["pilot"]["traceSampling"] == 100


def test_mg409_telemetry_random_sampling_percentage() -> None:
    text = TELEMETRY.lstrip("-\n").replace("accessLogging:", "tracing:") + (
        "  - randomSamplingPercentage: 101\n"
        "  - randomSamplingPercentage: 0.01\n"
        "  - randomSamplingPercentage: 50\n"
    )
    assert lines_of(text, "MG409") == [(6, "error"), (7, "info")]
    ns = text.replace("istio-system", "ml-serving")  # validation rejects it in any namespace
    assert lines_of(ns, "MG409") == [(6, "error"), (7, "info")]
    finding = findings_of(text, "MG409")[0]
    assert fixed(finding)["spec"]["tracing"][0]["randomSamplingPercentage"] == 100
    assert "istio validation rejects it" in finding.message


@pytest.mark.parametrize(
    ("value", "expected"), [("0.5", [(7, "info")]), ("1", [(7, "info")]), ("0", []), ("10.0", [])]
)
def test_mg409_sampling_at_most_one_percent_is_info(
    value: str, expected: list[tuple[int, str]]
) -> None:
    text = mesh("accessLogFile: /dev/stdout", f"defaultConfig: {{tracing: {{sampling: {value}}}}}")
    assert lines_of(text, "MG409") == expected
    if expected:
        assert "1 in" in only(text, "MG409").message


@pytest.mark.parametrize(
    "body",
    [
        "meshConfig: x",
        "meshConfig: {defaultConfig: [1], accessLogFile: 5, defaultProviders: {accessLogging: x}}",
        "meshConfig: {defaultConfig: {tracing: x}}",
        "values: {pilot: [1]}",
    ],
)
def test_mg409_hostile_mesh_config(body: str) -> None:
    text = MESH.replace("  meshConfig:\n", f"  {body}\n")
    assert not findings_of(text, "MG000")
    hostile_telemetry = (
        "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n"
        "spec: {tracing: [1, {randomSamplingPercentage: x}], accessLogging: x}\n"
    )
    assert not findings_of(hostile_telemetry, "MG000")


@pytest.mark.parametrize(("name", "key"), [("istio", "mesh"), ("istio-sidecar-injector", "values")])
def test_deeply_nested_embedded_config_never_crashes(name: str, key: str) -> None:
    deep = "[" * 5000 + "]" * 5000
    text = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: istio-system}}\n"
        f"data:\n  {key}: '{deep}'\n"
    )
    crashes = [f.message for f in findings_of(text, "MG000")]
    assert not [m for m in crashes if "MG406" in m or "MG409" in m]
