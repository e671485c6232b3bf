"""MG406–MG409: mesh-wide proxy resources, batch pods with classic sidecars, Service port
protocols of model servers, and access logging / tracing.

Mesh config comes from `Inventory.mesh_sources` (istiod Helm values, IstioOperator, ConfigMap
`istio`); MG406 also reads the injector's rendered values (ConfigMap `istio-sidecar-injector`
`data.values`, JSON). Port protocols are `semantics.protocols.port_protocol` (Istio
`ConvertProtocol`); this module only decides what is worth reporting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from meshguard.checks._pod_annotations import quantity_of
from meshguard.inventory import Inventory, Workload, workloads_of
from meshguard.loader import HELM_VALUES_KIND
from meshguard.meshconfig import MeshSource
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.hosts import service_host
from meshguard.semantics.protocols import GRPC_CAPABLE, SNIFFED, port_protocol
from meshguard.semantics.retryon import parse_istio_version

Op = dict[str, Any]
_EMPTY: Mapping[str, Any] = {}


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _get(data: Any, *tokens: str) -> Any:
    for token in tokens:
        if not isinstance(data, Mapping):
            return None
        data = data.get(token)
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A label/annotation value as the API server holds it (YAML booleans lower-cased)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _version(raw: Any) -> tuple[int, int] | None:
    try:
        return parse_istio_version(raw)
    except (ValueError, TypeError, AttributeError):
        return None


def _tokens(ptr: JsonPointer) -> tuple[str, ...]:
    return tuple(ptr.split("/")[1:]) if ptr else ()


def _child(node: Any, token: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(token)
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return None


def _nest(tokens: tuple[str, ...], value: Any) -> Any:
    for token in reversed(tokens):
        value = {token: value}
    return value


def _merge_ops(body: Any, tokens: tuple[str, ...], patch: Mapping[str, Any]) -> list[Op]:
    """RFC 6902 ops that deep-merge `patch` into the mapping at `tokens`, creating what is
    missing; computed on the unmodified body, they never overlap and apply in any order."""
    node = body
    for i, token in enumerate(tokens):
        child = _child(node, token)
        if not isinstance(child, Mapping) and not (isinstance(child, list) and i + 1 < len(tokens)):
            value = _nest(tokens[i + 1 :], patch)
            return [{"op": "add", "path": pointer(*tokens[: i + 1]), "value": value}]
        node = child
    ops: list[Op] = []
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(_child(node, key), Mapping):
            ops.extend(_merge_ops(body, (*tokens, key), value))
        else:
            ops.append({"op": "add", "path": pointer(*tokens, key), "value": value})
    return ops


def _deep_merge(data: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, value in patch.items():
        out[key] = _deep_merge(_map(out.get(key)), value) if isinstance(value, Mapping) else value
    return out


# -- MG406 -----------------------------------------------------------------------------------

_RESOURCES = ("global", "proxy", "resources")
_KEYS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
# istio manifests/charts/istio-control/istio-discovery/values.yaml global.proxy.resources
_ISTIO_DEFAULT = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "2000m", "memory": "1024Mi"},
}
_INJECTOR_CONFIGMAP = "istio-sidecar-injector"


def _values_target(res: Resource) -> tuple[Mapping[str, Any], tuple[str, ...], bool] | None:
    """(Helm values, their pointer tokens, whether they are a JSON string) of a resource."""
    if res.kind == HELM_VALUES_KIND:
        return res.body, (), False
    if res.kind == "IstioOperator":
        return _map(res.spec.get("values")), ("spec", "values"), False
    if res.kind == "ConfigMap" and res.name.startswith(_INJECTOR_CONFIGMAP):
        text = _get(res.body, "data", "values")
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):  # json.loads recurses per nesting level
            return None
        if isinstance(data, Mapping):
            return data, ("data", "values"), True
    return None


def _deviations(
    values: Mapping[str, Any], profile: Mapping[str, Any]
) -> list[tuple[str, str, Any, Any]]:
    """(section, name, value found or None, profile value) for keys absent or not the profile;
    invalid values are MG404's (its Applies-to covers `global.proxy.resources`)."""
    resources = _get(values, *_RESOURCES)
    out = []
    for section, name in _KEYS:
        want, got = _get(profile, section, name), _get(resources, section, name)
        want_q = quantity_of(want)
        if want_q is None:
            continue
        if got is None:
            out.append((section, name, None, want))
        elif (got_q := quantity_of(got)) is not None and got_q != want_q:
            out.append((section, name, got, want))
    return out


@check("MG406")
def mesh_proxy_resources_not_profile(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The injector uses `global.proxy.resources` for every pod without `sidecar.istio.io/proxy*`
    annotations (istio injection-template.yaml `define "resources"`); the chart defaults are
    requests 100m/128Mi, limits 2000m/1024Mi (istio-discovery values.yaml), not the ML profile."""
    target = _values_target(res)
    if target is None:
        return
    values, base, is_string = target
    deviations = _deviations(values, _map(ctx.params.get("sidecar_resources")))
    if not deviations:
        return
    shown: list[str] = []
    patch: dict[str, dict[str, Any]] = {}
    for section, name, got, want in deviations:
        found = f"absent (istio default {_ISTIO_DEFAULT[section][name]})" if got is None else got
        shown.append(f"{section}.{name} {found}, profile {want}")
        patch.setdefault(section, {})[name] = want
    title = "set global.proxy.resources to the sidecar_resources profile"
    if is_string:
        text = json.dumps(_deep_merge(values, _nest(_RESOURCES, patch)), indent=2)
        ptr, where = pointer(*base), "data.values global.proxy.resources"
        fix = Fix.replace(ptr, text, f"{title} (rewrites data.values)", safety=Safety.UNSAFE)
    else:
        ptr, where = pointer(*base, *_RESOURCES), ".".join((*base, *_RESOURCES))
        fix = Fix(
            title, tuple(_merge_ops(res.body, (*base, *_RESOURCES), patch)), safety=Safety.UNSAFE
        )
    yield ctx.finding(ptr, f"{where} is not the ml sidecar profile: {'; '.join(shown)}", fix=fix)


# -- MG407 -----------------------------------------------------------------------------------

_INJECT = "sidecar.istio.io/inject"
_NATIVE = "sidecar.istio.io/nativeSidecar"
_REV = "istio.io/rev"
_TRAINER = "trainer.kubeflow.org"
_AUTO_MIN_K8S = (1, 33)  # istio pkg/kube/inject/webhook.go DetectNativeSidecar: minVersion 33
_NATIVE_MIN_K8S = (1, 29)  # Kubernetes SidecarContainers: beta, on by default


@dataclass(frozen=True, slots=True)
class _PodTemplate:
    tokens: tuple[str, ...] | None  # where the template is, for the fix; None: not in this object
    anchor: JsonPointer
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    pod_spec: Mapping[str, Any]


def _batch_templates(res: Resource, ctx: RuleContext) -> list[_PodTemplate]:
    """Pod templates whose pods must exit for the job to complete."""
    if res.kind == "RayJob":
        return _rayjob_templates(res)
    if res.kind == "TrainJob":
        return _trainjob_templates(res, ctx)
    # mpi-operator deletes MPIJob workers once the launcher completes: only the launcher must exit
    return [
        _PodTemplate(_tokens(w.pointer), w.pointer, w.labels, w.annotations, w.pod_spec)
        for w in workloads_of(res)
        if not (res.kind == "MPIJob" and _tokens(w.pointer)[2:3] == ("Worker",))
    ]


def _rayjob_templates(res: Resource) -> list[_PodTemplate]:
    """KubeRay K8sJobMode (the default) runs `ray job submit` in a Job; other modes run no Job."""
    if _text(res.spec.get("submissionMode")) not in ("", "K8sJobMode"):
        return []
    template = res.spec.get("submitterPodTemplate")
    if not isinstance(template, Mapping):  # KubeRay's default submitter template has no metadata
        return [_PodTemplate(None, "/spec", _EMPTY, _EMPTY, _EMPTY)]
    meta, tokens = _map(template.get("metadata")), ("spec", "submitterPodTemplate")
    labels, annotations = _map(meta.get("labels")), _map(meta.get("annotations"))
    return [_PodTemplate(tokens, pointer(*tokens), labels, annotations, _map(template.get("spec")))]


def _trainjob_templates(res: Resource, ctx: RuleContext) -> list[_PodTemplate]:
    """TrainJob pods come from its (Cluster)TrainingRuntime's JobSet template, plus the pod
    metadata the TrainJob overrides (podTemplateOverrides or runtimePatches, by release)."""
    labels: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    _collect_metadata(res.spec, labels, annotations, 0)
    runtime = _training_runtime(res, ctx)
    jobs = _list(_get(runtime.spec, "template", "spec", "replicatedJobs")) if runtime else []
    metas = [_map(_get(job, "template", "spec", "template", "metadata")) for job in jobs]
    anchor = "/spec/runtimeRef" if "runtimeRef" in res.spec else "/spec"
    return [
        _PodTemplate(None, anchor, {**_map(m.get("labels")), **labels},
                     {**_map(m.get("annotations")), **annotations}, _EMPTY)
        for m in metas or [_EMPTY]
    ]  # fmt: skip


def _collect_metadata(
    node: Any, labels: dict[str, Any], annotations: dict[str, Any], depth: int
) -> None:
    if depth > 20:
        return
    for key, value in node.items() if isinstance(node, Mapping) else enumerate(_list(node)):
        if key == "metadata" and isinstance(value, Mapping):
            labels.update(_map(value.get("labels")))
            annotations.update(_map(value.get("annotations")))
        _collect_metadata(value, labels, annotations, depth + 1)


def _training_runtime(res: Resource, ctx: RuleContext) -> Resource | None:
    ref = _map(res.spec.get("runtimeRef"))
    name = _text(ref.get("name"))
    if _text(ref.get("kind")) == "TrainingRuntime":
        return ctx.inventory.get(_TRAINER, "TrainingRuntime", res.namespace, name)
    index = ctx.inventory.memo(
        "proxyconfig:cluster-training-runtimes",
        lambda: {r.name: r for r in ctx.inventory.of_kind(_TRAINER, "ClusterTrainingRuntime")},
    )
    return index.get(name)


def _will_be_injected(namespace: str, tpl: _PodTemplate, ctx: RuleContext) -> bool:
    """The injector webhooks' selectors (istio-discovery templates/mutatingwebhook.yaml) and
    `injectRequired` (pkg/kube/inject/inject.go: hostNetwork, the label over the annotation)."""
    labels = tpl.labels
    choice = _text(labels[_INJECT]) if _INJECT in labels else _text(tpl.annotations.get(_INJECT))
    if choice == "false" or tpl.pod_spec.get("hostNetwork") is True:
        return False
    pod_opt_in = _REV in labels or _text(labels.get(_INJECT)) == "true"
    ns = ctx.inventory.get("", "Namespace", "", namespace)
    if ns is None:  # RULES.md MG407: an absent ML namespace counts as injected (MG401 enforces it)
        return ctx.inventory.is_ml_namespace(namespace) or pod_opt_in
    if "istio-injection" in ns.labels:
        return _text(ns.labels["istio-injection"]) == "enabled"
    if _REV in ns.labels or pod_opt_in:
        return True
    return bool(ctx.params.get("istio.enable_namespaces_by_default")) and _INJECT not in labels


def _classic_by_default(ctx: RuleContext) -> str | None:
    """Why istiod injects a classic sidecar into a pod without the annotation; None if native.

    ENABLE_NATIVE_SIDECARS: a bool defaulting to false in 1.23–1.26 (pilot/pkg/features/
    experimental.go); true|false|auto defaulting to auto from 1.27, unknown values disable
    (pilot.go); auto needs Kubernetes >= 1.33 on the node, else on all nodes (DetectNativeSidecar).
    """
    istio_text, raw = ctx.params.get("istio_version"), ctx.params.get("istio.native_sidecars")
    mode = _text(raw).lower()
    if (_version(istio_text) or (1, 28)) < (1, 27):
        mode = "true" if mode == "true" else "false"
    elif raw is None or mode == "auto":
        mode = "auto"
    if mode == "true":
        return None
    if mode != "auto":
        if raw is None:
            return f"istio {istio_text} defaults ENABLE_NATIVE_SIDECARS to false"
        return f"istio.native_sidecars is {_text(raw)} (ENABLE_NATIVE_SIDECARS off)"
    k8s_text = ctx.params.get("kubernetes_version")
    k8s = _version(k8s_text)
    if k8s is not None and k8s >= _AUTO_MIN_K8S:
        return None
    shown = "unknown (kubernetes_version unset)" if k8s is None else _text(k8s_text)
    return f"istio {istio_text} auto-enables native sidecars from kubernetes 1.33, cluster {shown}"


def _native_fix(res: Resource, tpl: _PodTemplate, ctx: RuleContext) -> Fix | None:
    if tpl.tokens is None:
        return None
    k8s = _version(ctx.params.get("kubernetes_version"))
    if k8s is not None and k8s >= _NATIVE_MIN_K8S:
        ops = _merge_ops(res.body, (*tpl.tokens, "metadata", "annotations"), {_NATIVE: "true"})
        title = 'set pod annotation sidecar.istio.io/nativeSidecar: "true"'
    else:
        ops = _merge_ops(res.body, (*tpl.tokens, "metadata", "labels"), {_INJECT: "false"})
        title = 'add pod label sidecar.istio.io/inject: "false" (no native sidecars before 1.29)'
    return Fix(title, tuple(ops), safety=Safety.UNSAFE)


@check("MG407")
def batch_pod_classic_sidecar(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """A Job completes only when every container exits and a classic istio-proxy never does
    (istio/istio#11045); a native sidecar (init container, restartPolicy: Always) does not block
    it (injection-template.yaml: `ne (annotation | default .NativeSidecars) "false"`)."""
    default_reason = _classic_by_default(ctx)
    kind = res.kind.lower()
    for tpl in _batch_templates(res, ctx):
        setting = _text(tpl.annotations.get(_NATIVE))  # "" falls back to the istiod default too
        if setting not in ("", "false") or (setting == "" and default_reason is None):
            continue  # any other annotation value forces a native sidecar
        if not _will_be_injected(res.namespace, tpl, ctx):
            continue
        ptr, reason = tpl.anchor, str(default_reason)
        if setting == "false":
            ptr = tpl.anchor + pointer("metadata", "annotations", _NATIVE)
            reason = 'pod annotation sidecar.istio.io/nativeSidecar is "false"'
        message = f"{kind} pods get a classic istio-proxy sidecar that never exits"
        yield ctx.finding(
            ptr,
            f"{message}, so the {kind} never completes: {reason}",
            fix=_native_fix(res, tpl, ctx),
        )


# -- MG408 -----------------------------------------------------------------------------------

_GRPC_PORTS = {8081: "kserve grpc port", 8001: "triton grpc port"}
_REST_PORTS = frozenset({8080, 8000, 8501})  # KServe; Triton and vLLM; TF Serving


def _container_ports(workloads: list[Workload]) -> tuple[dict[int, str], dict[str, int]]:
    by_number: dict[int, str] = {}
    by_name: dict[str, int] = {}
    for w in workloads:
        for container in _list(w.pod_spec.get("containers")) + _list(
            w.pod_spec.get("initContainers")
        ):
            for port in _list(_map(container).get("ports")):
                number, name = _map(port).get("containerPort"), _text(_map(port).get("name"))
                if isinstance(number, int) and not isinstance(number, bool):
                    by_number.setdefault(number, name)
                    by_name.setdefault(name, number)
    return by_number, by_name


def _target(
    port: Mapping[str, Any], by_number: dict[int, str], by_name: dict[str, int]
) -> tuple[int | None, str]:
    """(container port number, container port name) a Service port targets, as far as known;
    targetPort defaults to port, and a name is resolved against the selected containers."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if isinstance(target, int) and not isinstance(target, bool):
        return target, by_number.get(target, "")
    if isinstance(target, str) and target:
        return by_name.get(target), target
    return None, ""


def _declared(port: Mapping[str, Any]) -> str:
    if port.get("appProtocol") is not None:
        return f"appProtocol {_text(port['appProtocol'])!r}"
    return f"name {_text(port.get('name'))!r}" if port.get("name") else "no name, no appProtocol"


@check("MG408")
def model_port_protocol_undeclared(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio takes a port's protocol from `appProtocol`, else the name prefix, and sniffs the rest
    (istio pkg/config/kube/conversion.go ConvertProtocol); undeclared gRPC loses HTTP/2 handling,
    gRPC retry codes and gRPC AuthorizationPolicy paths."""
    selector, ports = res.spec.get("selector"), res.spec.get("ports")
    if not isinstance(selector, Mapping) or not selector or not isinstance(ports, list):
        return
    host = service_host(res.name, res.namespace, ctx.params.get("mesh.domain_suffix"))
    if host not in ctx.inventory.inference_hosts:
        return
    targets = _container_ports(ctx.inventory.workloads_selected(res.namespace, selector))
    for index, port in enumerate(ports):
        finding = _port_finding(ctx, index, port, targets) if isinstance(port, Mapping) else None
        if finding is not None:
            yield finding


def _port_finding(
    ctx: RuleContext,
    index: int,
    port: Mapping[str, Any],
    ports: tuple[dict[int, str], dict[str, int]],
) -> Finding | None:
    protocol = port_protocol(port)
    number, name = _target(port, *ports)
    cname = name.lower()  # port names are lower-case IANA_SVC_NAMEs; compare case-insensitively
    ptr, shown = pointer("spec", "ports", index), "sniffed" if protocol == SNIFFED else protocol
    label = f"service port {_text(port.get('name')) or 'unnamed'} ({_text(port.get('port'))})"
    grpc = _GRPC_PORTS.get(number or 0) or (
        "grpc container port" if cname.startswith("grpc") else ""
    )
    if grpc and protocol not in GRPC_CAPABLE:
        target = f"{cname} ({number})" if cname and number else cname or str(number)
        # a container port named otherwise (http-management, metrics) says it is not gRPC: no fix
        value: str | None = "grpc" if not cname or cname.startswith(("grpc", "h2c")) else None
        message = f"{label} targets {grpc} {target} but its protocol is {shown} ({_declared(port)})"
    elif protocol == SNIFFED:
        value = _http_protocol(number, cname)
        message = f"{label} declares no istio protocol ({_declared(port)}): sniffed"
    else:
        return None
    fix = Fix.add(ptr + "/appProtocol", value, f"set appProtocol: {value}", safety=Safety.UNSAFE)
    return ctx.finding(ptr, message, fix=fix if value else None)


def _http_protocol(number: int | None, cname: str) -> str | None:
    """appProtocol for a sniffed port, only when the container port says HTTP or the port is a
    known REST port of a model server: a wrong `http` breaks a TCP protocol."""
    lowered = cname.lower()
    if lowered.startswith("http2") or lowered == "h2c":
        return "http2"
    if lowered.startswith("http") or (not cname and number in _REST_PORTS):
        return "http"
    return None


# -- MG409 -----------------------------------------------------------------------------------

_TELEMETRY = "telemetry.istio.io"
_SAMPLING = ("defaultConfig", "tracing", "sampling")
Fixer = Callable[[Any], Fix | None]


def _mesh_sources(inventory: Inventory) -> list[MeshSource]:
    """Workaround: meshconfig._parse_mesh lets yaml.safe_load's RecursionError on a deeply nested
    `data.mesh` escape; treat such a run as having no mesh config rather than crash."""
    try:
        return inventory.mesh_sources
    except RecursionError:
        return []


def _logs_on(mesh: Mapping[str, Any]) -> bool:
    path, providers = mesh.get("accessLogFile"), _get(mesh, "defaultProviders", "accessLogging")
    return (isinstance(path, str) and path != "") or any(
        isinstance(p, str) and p for p in _list(providers)
    )


def _telemetry_logs(telemetry: Resource) -> bool:
    """A mesh-wide Telemetry entry that logs: not `disabled`, with a provider (an entry without
    providers uses defaultProviders.accessLogging: pilot/pkg/model/telemetry.go mergeLogs)."""
    spec = telemetry.spec
    if spec.get("selector") or spec.get("targetRef") or spec.get("targetRefs"):
        return False
    return any(
        _text(_map(e).get("disabled")) != "true"
        and any(_text(_map(p).get("name")) for p in _list(_map(e).get("providers")))
        for e in _list(spec.get("accessLogging"))
    )


def _access_logging_state(inventory: Inventory) -> tuple[bool, frozenset[int]]:
    """(logging is on somewhere, the sources to report on: those declaring a meshConfig, or all)."""
    sources, root = _mesh_sources(inventory), inventory.root_namespace
    on = any(_logs_on(s.mesh) for s in sources) or any(
        _telemetry_logs(t) for t in inventory.in_namespace(root, _TELEMETRY, "Telemetry")
    )
    declaring = [
        s
        for s in sources
        if s.mesh_is_string or _get(s.resource.body, *_tokens(s.mesh_pointer)) is not None
    ]
    return on, frozenset(id(s.resource) for s in (declaring or sources))


def _mesh_fix(
    source: MeshSource, patch: Mapping[str, Any], title: str, safety: Safety
) -> Fix | None:
    if not source.mesh_is_string:
        return Fix(
            title,
            tuple(_merge_ops(source.resource.body, _tokens(source.mesh_pointer), patch)),
            safety=safety,
        )
    try:  # data.mesh is a YAML string: rewrite it whole (its comments are lost, hence unsafe)
        parsed = yaml.safe_load(str(_get(source.resource.body, "data", "mesh")))
    except (yaml.YAMLError, RecursionError):
        return None
    if parsed is not None and not isinstance(parsed, Mapping):
        return None
    text = yaml.safe_dump(_deep_merge(_map(parsed), patch), sort_keys=False)
    return Fix.replace(
        source.mesh_pointer, text, f"{title} (rewrites data.mesh)", safety=Safety.UNSAFE
    )


def _mesh_ptr(source: MeshSource, *tokens: str) -> JsonPointer:
    if source.mesh_is_string or _get(source.mesh, *tokens) is None:
        return source.mesh_pointer
    return source.mesh_pointer + pointer(*tokens)


@check("MG409")
def telemetry_not_configured(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Access logs are off by default (`accessLogFile: ""`, mesh/v1alpha1/config.proto), and every
    sampling knob is a percent 0–100 whose default is 1.0 (proxy.proto, telemetry.proto)."""
    if res.kind == "Telemetry":
        for i, entry in enumerate(_list(res.spec.get("tracing"))):
            ptr = pointer("spec", "tracing", i, "randomSamplingPercentage")
            value = _get(entry, "randomSamplingPercentage")
            name, effect = "tracing randomSamplingPercentage", "istio validation rejects it"
            yield from _sampling(ctx, value, ptr, name, _replace(ptr), effect)
        return
    index = ctx.inventory.memo(
        "proxyconfig:mesh-sources",
        lambda: {id(s.resource): s for s in _mesh_sources(ctx.inventory)},
    )
    source = index.get(id(res))
    if source is None:
        return
    yield from _access_logging_off(source, ctx)
    if ctx.params.get("require_tracing") and _text(source.mesh.get("enableTracing")) == "false":
        message = "meshConfig.enableTracing is false: proxies report no trace spans"
        yield ctx.finding(_mesh_ptr(source, "enableTracing"), message, severity=Severity.WARNING)
    yield from _mesh_sampling(source, ctx)


def _access_logging_off(source: MeshSource, ctx: RuleContext) -> Iterator[Finding]:
    inventory = ctx.inventory
    on, targets = inventory.memo("proxyconfig:logs", lambda: _access_logging_state(inventory))
    if on or id(source.resource) not in targets:
        return
    found = source.mesh.get("accessLogFile")
    message = (
        f"access logging is off: meshConfig.accessLogFile "
        f"{'absent' if found is None else json.dumps(found)}, no defaultProviders.accessLogging, "
        f"no telemetry in {inventory.root_namespace} with an enabled accessLogging provider"
    )
    title = "set meshConfig.accessLogFile: /dev/stdout"
    fix = _mesh_fix(source, {"accessLogFile": "/dev/stdout"}, title, Safety.SAFE)
    yield ctx.finding(
        _mesh_ptr(source, "accessLogFile"), message, severity=Severity.WARNING, fix=fix
    )


def _replace(ptr: JsonPointer) -> Fixer:
    return lambda value: Fix.replace(ptr, value, f"clamp to {value}", safety=Safety.UNSAFE)


def _mesh_sampling(source: MeshSource, ctx: RuleContext) -> Iterator[Finding]:
    """defaultConfig.tracing.sampling (> 100 becomes 1.0: pilot/pkg/networking/core/tracing.go
    proxyConfigSamplingValue) and istiod `traceSampling` (PILOT_TRACE_SAMPLING: out of range
    becomes 1.0, pilot/pkg/features/telemetry.go). The istiod chart reads a top-level
    `traceSampling`; IstioOperator uses `values.pilot.traceSampling`."""

    def mesh_fix(value: Any) -> Fix | None:
        return _mesh_fix(
            source, _nest(_SAMPLING, value), f"clamp sampling to {value}", Safety.UNSAFE
        )

    name = "meshConfig.defaultConfig.tracing.sampling"
    value = _get(source.mesh, *_SAMPLING)
    yield from _sampling(
        ctx,
        value,
        _mesh_ptr(source, *_SAMPLING),
        name,
        mesh_fix,
        ">istiod samples 1 percent instead",
    )
    if source.values_pointer is None:
        return
    helm = source.values_pointer == ""
    for path in (
        [("traceSampling",), ("pilot", "traceSampling")] if helm else [("pilot", "traceSampling")]
    ):
        ptr = source.values_pointer + pointer(*path)
        value = _get(source.values, *path)
        yield from _sampling(
            ctx, value, ptr, ".".join(path), _replace(ptr), "istiod samples 1 percent instead"
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sampling(
    ctx: RuleContext, value: Any, ptr: JsonPointer, name: str, fixer: Fixer, effect: str = ""
) -> Iterator[Finding]:
    """(3) outside [0, 100] -> error, clamped by the fix; (4) in (0, 1] -> info: a percent.
    `effect` is what Istio does with it, prefixed by `>` when only values above 100 get it."""
    number = _number(value)
    if number is None:
        return
    if math.isnan(number) or not 0 <= number <= 100:
        effect = f"; {effect.lstrip('>')}" if effect and (number > 100 or effect[0] != ">") else ""
        clamped: Any = None if math.isnan(number) else (0 if number < 0 else 100)
        if clamped is not None and not isinstance(value, int):
            clamped = str(clamped) if isinstance(value, str) else float(clamped)
        fix = fixer(clamped) if clamped is not None else None
        yield ctx.finding(
            ptr,
            f"{name} {value} is outside 0-100 percent{effect}",
            severity=Severity.ERROR,
            fix=fix,
        )
    elif number <= 1 and number > 0:
        share = f"{number:g} percent of requests (1 in {round(100 / number)})"
        yield ctx.finding(
            ptr, f"{name} {value} samples {share}, not a fraction", severity=Severity.INFO
        )
