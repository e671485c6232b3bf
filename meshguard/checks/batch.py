"""MG407: batch and training pods whose classic istio-proxy sidecar never exits.

A Job completes only when every container exits; a classic sidecar never does (istio/istio#11045),
a native one (an init container with `restartPolicy: Always`) does not block completion. Whether
the pods get a sidecar at all is `semantics.injection` (RULES.md MG407: an absent ML namespace
counts as injected); which sidecar, the `ENABLE_NATIVE_SIDECARS` default of the istio release.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.body import as_list, dig, mapping
from meshguard.checks._body import merge_ops, pointer_tokens, scalar_text
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.injection import INJECT, sidecar_injected
from meshguard.semantics.retryon import istio_version, parse_istio_version

_EMPTY: Mapping[str, Any] = {}


def _version(raw: Any) -> tuple[int, int] | None:
    """`kubernetes_version` as (major, minor); None when unset."""
    try:
        return parse_istio_version(raw)
    except (ValueError, TypeError, AttributeError):
        return None


_NATIVE = "sidecar.istio.io/nativeSidecar"
_TRAINER = "trainer.kubeflow.org"
_AUTO_MIN_K8S = (1, 33)  # istio pkg/kube/inject/webhook.go DetectNativeSidecar: minVersion 33
_NATIVE_MIN_K8S = (1, 29)  # Kubernetes SidecarContainers: beta, on by default


class _PodTemplate(NamedTuple):
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
        _PodTemplate(pointer_tokens(w.pointer), w.pointer, w.labels, w.annotations, w.pod_spec)
        for w in ctx.inventory.workloads_of_resource(res)
        if not (res.kind == "MPIJob" and pointer_tokens(w.pointer)[2:3] == ("Worker",))
    ]


def _rayjob_templates(res: Resource) -> list[_PodTemplate]:
    """KubeRay K8sJobMode (the default) runs `ray job submit` in a Job; other modes run no Job."""
    if scalar_text(res.spec.get("submissionMode")) not in ("", "K8sJobMode"):
        return []
    template = res.spec.get("submitterPodTemplate")
    if not isinstance(template, dict):  # KubeRay's default submitter template has no metadata
        return [_PodTemplate(None, "/spec", _EMPTY, _EMPTY, _EMPTY)]
    meta, tokens = mapping(template.get("metadata")), ("spec", "submitterPodTemplate")
    labels, annotations = mapping(meta.get("labels")), mapping(meta.get("annotations"))
    return [
        _PodTemplate(tokens, pointer(*tokens), labels, annotations, mapping(template.get("spec")))
    ]


def _trainjob_templates(res: Resource, ctx: RuleContext) -> list[_PodTemplate]:
    """TrainJob pods come from its (Cluster)TrainingRuntime's JobSet template, plus the pod
    metadata the TrainJob overrides (podTemplateOverrides or runtimePatches, by release)."""
    labels: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    _collect_metadata(res.spec, labels, annotations, 0)
    runtime = _training_runtime(res, ctx)
    jobs = as_list(dig(runtime.spec, "template", "spec", "replicatedJobs")) if runtime else []
    metas = [mapping(dig(job, "template", "spec", "template", "metadata")) for job in jobs]
    anchor = "/spec/runtimeRef" if "runtimeRef" in res.spec else "/spec"
    return [
        _PodTemplate(None, anchor, {**mapping(m.get("labels")), **labels},
                     {**mapping(m.get("annotations")), **annotations}, _EMPTY)
        for m in metas or [_EMPTY]
    ]  # fmt: skip


def _collect_metadata(
    node: Any, labels: dict[str, Any], annotations: dict[str, Any], depth: int
) -> None:
    if depth > 20:
        return
    for key, value in node.items() if isinstance(node, dict) else enumerate(as_list(node)):
        if key == "metadata" and isinstance(value, dict):
            labels.update(mapping(value.get("labels")))
            annotations.update(mapping(value.get("annotations")))
        _collect_metadata(value, labels, annotations, depth + 1)


def _training_runtime(res: Resource, ctx: RuleContext) -> Resource | None:
    ref = mapping(res.spec.get("runtimeRef"))
    name = scalar_text(ref.get("name"))
    if scalar_text(ref.get("kind")) == "TrainingRuntime":
        return ctx.inventory.get(_TRAINER, "TrainingRuntime", res.namespace, name)
    index = ctx.inventory.memo(
        "proxyconfig:cluster-training-runtimes",
        lambda: {r.name: r for r in ctx.inventory.of_kind(_TRAINER, "ClusterTrainingRuntime")},
    )
    return index.get(name)


def _classic_by_default(ctx: RuleContext) -> str | None:
    """Why istiod injects a classic sidecar into a pod without the annotation; None if native.

    ENABLE_NATIVE_SIDECARS: a bool defaulting to false in 1.23–1.26 (pilot/pkg/features/
    experimental.go); true|false|auto defaulting to auto from 1.27, unknown values disable
    (pilot.go); auto needs Kubernetes >= 1.33 on the node, else on all nodes (DetectNativeSidecar).
    """
    istio_text, raw = ctx.params.get("istio_version"), ctx.params.get("istio.native_sidecars")
    mode = scalar_text(raw).lower()
    if istio_version(ctx.params) < (1, 27):
        mode = "true" if mode == "true" else "false"
    elif raw is None or mode == "auto":
        mode = "auto"
    if mode == "true":
        return None
    if mode != "auto":
        if raw is None:
            return f"istio {istio_text} defaults ENABLE_NATIVE_SIDECARS to false"
        return f"istio.native_sidecars is {scalar_text(raw)} (ENABLE_NATIVE_SIDECARS off)"
    k8s_text = ctx.params.get("kubernetes_version")
    k8s = _version(k8s_text)
    if k8s is not None and k8s >= _AUTO_MIN_K8S:
        return None
    shown = "unknown (kubernetes_version unset)" if k8s is None else scalar_text(k8s_text)
    return f"istio {istio_text} auto-enables native sidecars from kubernetes 1.33, cluster {shown}"


def _native_fix(res: Resource, tpl: _PodTemplate, ctx: RuleContext) -> Fix | None:
    if tpl.tokens is None:
        return None
    k8s = _version(ctx.params.get("kubernetes_version"))
    if k8s is not None and k8s >= _NATIVE_MIN_K8S:
        ops = merge_ops(res.body, (*tpl.tokens, "metadata", "annotations"), {_NATIVE: "true"})
        title = 'set pod annotation sidecar.istio.io/nativeSidecar: "true"'
    else:
        ops = merge_ops(res.body, (*tpl.tokens, "metadata", "labels"), {INJECT: "false"})
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
        setting = scalar_text(
            tpl.annotations.get(_NATIVE)
        )  # "" falls back to the istiod default too
        if setting not in ("", "false") or (setting == "" and default_reason is None):
            continue  # any other annotation value forces a native sidecar
        # RULES.md MG407: an absent namespace counts as injected only when it is an ML namespace
        injected = sidecar_injected(
            ctx.inventory, res.namespace, tpl.labels, tpl.annotations, tpl.pod_spec
        )
        if injected is not True:
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
