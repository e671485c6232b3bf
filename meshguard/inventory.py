"""Indexes over every resource of a run, so cross-resource rules cost O(resources).

Built once per run (manifests, `--context` files, or the webhook's cluster cache). Rules look
things up by kind/namespace/name, by normalised service host (RULES.md P5), by pod labels and by
the resource that declares a pod template; mesh-wide settings come from `meshconfig`. None of
them scans all resources per resource.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from meshguard.body import mapping
from meshguard.config import Params
from meshguard.meshconfig import MeshSource, mesh_sources, mesh_value
from meshguard.model import Resource
from meshguard.semantics.hosts import service_host

_T = TypeVar("_T")
NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"
INFERENCE_GROUPS = ("inference.networking.k8s.io", "inference.networking.x-k8s.io")
LWS_GROUP = "leaderworkerset.x-k8s.io"
ML_NAMESPACE_LABEL = "meshguard.io/ml"

# Where each controller keeps its pod template (JSON Pointer tokens).
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_KUBEFLOW_REPLICA_SPECS = {
    "PyTorchJob": "pytorchReplicaSpecs",
    "TFJob": "tfReplicaSpecs",
    "MPIJob": "mpiReplicaSpecs",
    "XGBoostJob": "xgbReplicaSpecs",
    "PaddleJob": "paddleReplicaSpecs",
}


class Workload(NamedTuple):
    """A pod template (or a Pod) with the labels its pods will carry."""

    resource: Resource
    pointer: str  # the template: "" for a Pod, "/spec/template" for a Deployment, ...
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    pod_spec: Mapping[str, Any]
    owner_kind: str  # the controller kind, or a Pod's ownerReferences kind

    @property
    def namespace(self) -> str:
        return self.resource.namespace

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def ref(self) -> str:
        return f"{self.resource.kind} {self.namespace}/{self.name}"

    @property
    def metadata_pointer(self) -> str:
        """Where the pods' metadata is written: KServe copies an InferenceService's own metadata
        to its predictor pods, so that is `/metadata`; otherwise the template's `metadata`."""
        if self.resource.kind == "InferenceService":
            return "/metadata"
        return self.pointer + "/metadata"

    def container_port(self, name: str) -> int | None:
        """Resolve a named port (a Service's `targetPort: http`) against the pod's containers."""
        for container in containers(self.pod_spec):
            ports = container.get("ports")
            for port in ports if isinstance(ports, list) else ():
                if isinstance(port, dict) and port.get("name") == name:
                    number = port.get("containerPort")
                    return (
                        number if isinstance(number, int) and not isinstance(number, bool) else None
                    )
        return None

    def target_port(self, service_port: Mapping[str, Any]) -> int | None:
        """The workload port a Service port sends to: `targetPort` (named or numeric), else
        `port`."""
        target = service_port.get("targetPort", service_port.get("port"))
        if isinstance(target, bool):
            return None
        if isinstance(target, int):
            return target
        if isinstance(target, str):
            return int(target) if target.isdigit() else self.container_port(target)
        return None

    def requests_any(self, resource_names: Iterable[str]) -> bool:
        """True when a container requests or limits one of these extended resources."""
        wanted = set(resource_names)
        for container in containers(self.pod_spec):
            resources = container.get("resources")
            if not isinstance(resources, dict):
                continue
            for section in ("requests", "limits"):
                amounts = resources.get(section)
                if isinstance(amounts, dict) and wanted.intersection(amounts):
                    return True
        return False


def containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The init containers and containers of a pod spec that are mappings."""
    out: list[Mapping[str, Any]] = []
    for key in ("initContainers", "containers"):
        items = pod_spec.get(key)
        if isinstance(items, list):
            out.extend(c for c in items if isinstance(c, dict))
    return out


def workloads_of(res: Resource) -> list[Workload]:
    """Pod templates a resource declares (Pod, controllers, CronJob, Kubeflow jobs, JobSet,
    LeaderWorkerSet, KServe). Checks use `Inventory.workloads_of_resource`, which returns these
    same objects (InferencePool selection is keyed on them)."""
    if res.kind == "Pod" and res.group == "":
        owners = res.metadata.get("ownerReferences")
        first = owners[0] if isinstance(owners, list) and owners else None
        owner = first.get("kind", "") if isinstance(first, dict) else ""
        return [Workload(res, "", res.labels, res.annotations, res.spec, owner)]
    tokens = _TEMPLATE_PATHS.get(res.kind)
    if tokens is not None and res.group in ("", "apps", "batch", "extensions"):
        return [_template_workload(res, tokens, res.kind)]
    if res.kind in _KUBEFLOW_REPLICA_SPECS:
        field = _KUBEFLOW_REPLICA_SPECS[res.kind]
        specs = mapping(res.spec.get(field))
        return [
            _template_workload(res, ("spec", field, role, "template"), res.kind) for role in specs
        ]
    if res.kind == "JobSet":
        jobs = res.spec.get("replicatedJobs")
        if isinstance(jobs, list):
            return [
                _template_workload(
                    res,
                    ("spec", "replicatedJobs", str(i), "template", "spec", "template"),
                    "JobSet",
                )
                for i in range(len(jobs))
            ]
    if res.kind == "LeaderWorkerSet" and res.group == LWS_GROUP:
        # lws api/leaderworkerset/v1: the leader template is optional (workers' is used then)
        roles = mapping(res.spec.get("leaderWorkerTemplate"))
        return [
            _template_workload(res, ("spec", "leaderWorkerTemplate", role), "LeaderWorkerSet")
            for role in ("leaderTemplate", "workerTemplate")
            if role in roles
        ]
    if res.kind == "InferenceService" and res.group == "serving.kserve.io":
        # KServe labels the predictor pods it creates (pkg/constants/constants.go).
        labels = {"serving.kserve.io/inferenceservice": res.name, "component": "predictor"}
        predictor = mapping(res.spec.get("predictor"))
        return [
            Workload(res, "/spec/predictor", labels, res.annotations, predictor, "InferenceService")
        ]
    return []


def _template_workload(res: Resource, tokens: tuple[str, ...], owner_kind: str) -> Workload:
    data = res.body
    template: Any = data
    for token in tokens:
        if isinstance(template, dict):
            template = template.get(token)
        elif isinstance(template, list) and token.isdigit() and int(token) < len(template):
            template = template[int(token)]  # JobSet replicatedJobs[i]
        else:
            template = None
        if template is None:
            break
    template = mapping(template)
    meta = mapping(template.get("metadata"))
    pointer = "/" + "/".join(tokens)
    return Workload(
        res,
        pointer,
        mapping(meta.get("labels")),
        mapping(meta.get("annotations")),
        mapping(template.get("spec")),
        owner_kind,
    )


def selector_matches(match_labels: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Kubernetes matchLabels: every pair present (an empty selector matches everything)."""
    return all(str(labels.get(k)) == str(v) and k in labels for k, v in match_labels.items())


class Inventory:
    """Every resource of a run, indexed. Read-only after construction."""

    def __init__(self, resources: Iterable[Resource], params: Params) -> None:
        self.params = params
        self.resources: list[Resource] = list(resources)
        self._by_kind: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        self._by_ns_kind: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
        self._by_name: dict[tuple[str, str, str, str], Resource] = {}
        self._workloads_by_ns: dict[str, list[Workload]] = defaultdict(list)
        self._workloads_by_resource: dict[int, list[Workload]] = {}
        self._services_by_host: dict[str, Resource] = {}
        self._memo: dict[str, Any] = {}
        domain = params.get("mesh.domain_suffix")
        for res in self.resources:
            key = (res.group, res.kind)
            self._by_kind[key].append(res)
            self._by_ns_kind[(res.namespace, *key)].append(res)
            self._by_name.setdefault((res.group, res.kind, res.namespace, res.name), res)
            workloads = workloads_of(res)
            if workloads:
                self._workloads_by_resource[id(res)] = workloads
                self._workloads_by_ns[res.namespace].extend(workloads)
            if res.kind == "Service" and res.group == "":
                self._services_by_host.setdefault(
                    service_host(res.name, res.namespace, domain), res
                )

    def memo(self, key: str, build: Callable[[], _T]) -> _T:
        """An index a family of rules needs, built once per run on first use (e.g. DRs by host)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[no-any-return]

    # -- by kind / namespace / name ------------------------------------------------------------
    def of_kind(self, group: str, kind: str) -> list[Resource]:
        return self._by_kind.get((group, kind), [])

    def in_namespace(self, namespace: str, group: str, kind: str) -> list[Resource]:
        return self._by_ns_kind.get((namespace, group, kind), [])

    def get(self, group: str, kind: str, namespace: str, name: str) -> Resource | None:
        return self._by_name.get((group, kind, namespace, name))

    # -- namespaces ----------------------------------------------------------------------------
    @cached_property
    def ml_namespaces(self) -> frozenset[str]:
        """`ml_namespaces` plus every Namespace labelled `meshguard.io/ml: "true"`."""
        names = set(self.params.get("ml_namespaces"))
        for ns in self.of_kind("", "Namespace"):
            if str(ns.labels.get(ML_NAMESPACE_LABEL, "")).lower() == "true":
                names.add(ns.name)
        return frozenset(names)

    def is_ml_namespace(self, namespace: str) -> bool:
        return namespace in self.ml_namespaces

    @property
    def root_namespace(self) -> str:
        return str(self.params.get("mesh.root_namespace"))

    # -- workloads and services ----------------------------------------------------------------
    def workloads(self, namespace: str) -> list[Workload]:
        return self._workloads_by_ns.get(namespace, [])

    def workloads_of_resource(self, res: Resource) -> list[Workload]:
        """The inventory's own Workloads of a resource, so `is_inference_workload` (keyed on
        them) sees InferencePool selection; a resource outside the run gets fresh ones."""
        found = self._workloads_by_resource.get(id(res))
        if found is not None and found[0].resource is res:
            return found
        return workloads_of(res)

    def workloads_selected(
        self, namespace: str, match_labels: Mapping[str, Any] | None
    ) -> list[Workload]:
        """Workloads of a namespace that a matchLabels selector selects (None: all of them).

        Candidates come from the label index under the selector's rarest pair, so a selector
        costs what it selects, not what its namespace holds."""
        if not match_labels:
            return list(self.workloads(namespace))
        index = self._workloads_by_label
        candidates = min(
            (index.get((namespace, str(k), str(v)), ()) for k, v in match_labels.items()), key=len
        )
        return [w for w in candidates if selector_matches(match_labels, w.labels)]

    @cached_property
    def _workloads_by_label(self) -> dict[tuple[str, str, str], list[Workload]]:
        """(namespace, label key, value as text) → workloads, in the run's order."""
        index: dict[tuple[str, str, str], list[Workload]] = defaultdict(list)
        for namespace, workloads in self._workloads_by_ns.items():
            for workload in workloads:
                for key, value in workload.labels.items():
                    index[(namespace, str(key), str(value))].append(workload)
        return index

    def service_by_host(self, host: str) -> Resource | None:
        """The Service behind a fully qualified host (normalise short names with P5 first)."""
        return self._services_by_host.get(host.lower())

    def services_selecting(self, workload: Workload) -> list[Resource]:
        """Services of the workload's namespace whose selector selects it, in the run's order."""
        index, order = self._services_by_selector_pair
        found: dict[int, Resource] = {}
        for key, value in workload.labels.items():
            for svc in index.get((workload.namespace, str(key), str(value)), ()):
                if selector_matches(svc.spec["selector"], workload.labels):
                    found[id(svc)] = svc
        return sorted(found.values(), key=lambda svc: order[id(svc)])

    @cached_property
    def _services_by_selector_pair(
        self,
    ) -> tuple[dict[tuple[str, str, str], list[Resource]], dict[int, int]]:
        """Each Service with a selector, filed under the first pair of it: a workload can only be
        selected by Services filed under one of its own labels. Also each Service's ordinal."""
        index: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
        order: dict[int, int] = {}
        for ordinal, svc in enumerate(self.of_kind("", "Service")):
            selector = svc.spec.get("selector")
            if isinstance(selector, dict) and selector:
                key, value = next(iter(selector.items()))
                index[(svc.namespace, str(key), str(value))].append(svc)
                order[id(svc)] = ordinal
        return index, order

    def is_inference_workload(self, workload: Workload) -> bool:
        """RULES.md 0.3 `inference_workload`: KServe labels, accelerators (not batch), or an
        InferencePool."""
        spec = self.params.get("inference_workload")
        if any(key in workload.labels for key in spec["label_keys"]):
            return True
        if any(
            str(workload.labels.get(k)) == str(v)
            for k, v in spec["labels"].items()
            if k in workload.labels
        ):
            return True
        if workload.requests_any(spec["accelerator_resources"]):
            return workload.owner_kind not in set(spec["batch_owner_kinds"])
        return id(workload) in self._pool_selected_ids

    @cached_property
    def _pool_selected_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for group in INFERENCE_GROUPS:
            for pool in self.of_kind(group, "InferencePool"):
                selector = pool.spec.get("selector")
                if not isinstance(selector, dict):
                    continue
                labels = (
                    selector.get("matchLabels", selector) if "matchLabels" in selector else selector
                )
                if isinstance(labels, dict) and labels:
                    ids.update(id(w) for w in self.workloads_selected(pool.namespace, labels))
        return frozenset(ids)

    def selector_matches_inference(
        self, namespace: str, match_labels: Mapping[str, Any] | None
    ) -> bool:
        """Does a selector (None/empty: the whole namespace) select an inference workload?

        Manifests-only fallback (RULES.md 0.3): when the selector selects no pod template in the
        run, a selector naming `serving.kserve.io/inferenceservice` or `component: predictor`
        counts.
        """
        selected = self.workloads_selected(namespace, match_labels)
        if selected:
            return any(self.is_inference_workload(w) for w in selected)
        if not match_labels:
            return False
        spec = self.params.get("inference_workload")
        if any(key in match_labels for key in spec["label_keys"]):
            return True
        return any(
            str(match_labels.get(k)) == str(v)
            for k, v in spec["labels"].items()
            if k in match_labels
        )

    @cached_property
    def mesh_sources(self) -> list[MeshSource]:
        """Helm values, IstioOperators, `istio` and injector ConfigMaps of the run (meshconfig)."""
        return mesh_sources(self.resources, self.root_namespace)

    def mesh_source_of(self, res: Resource) -> MeshSource | None:
        """The mesh source a resource is, if any."""
        index = self.memo("inventory:mesh-source-of", self._mesh_source_index)
        return index.get(id(res))

    def _mesh_source_index(self) -> dict[int, MeshSource]:
        return {id(source.resource): source for source in self.mesh_sources}

    def mesh_value(self, *path: str) -> Any:
        """A meshConfig setting as the run configures it (`meshconfig.mesh_value`)."""
        return mesh_value(self.mesh_sources, *path)

    @cached_property
    def auto_mtls(self) -> bool:
        """`mesh.enable_auto_mtls`, unless the run's meshConfig sets `enableAutoMtls: false`."""
        configured = self.mesh_value("enableAutoMtls")
        return bool(self.params.get("mesh.enable_auto_mtls")) and configured is not False

    @cached_property
    def inference_hosts(self) -> frozenset[str]:
        """Hosts of Services whose selector matches an inference workload (MG202, MG205, MG3xx)."""
        domain = self.params.get("mesh.domain_suffix")
        hosts = set()
        for svc in self.of_kind("", "Service"):
            selector = svc.spec.get("selector")
            if (
                isinstance(selector, dict)
                and selector
                and self.selector_matches_inference(svc.namespace, selector)
            ):
                hosts.add(service_host(svc.name, svc.namespace, domain))
        return frozenset(hosts)
