"""Effective PeerAuthentication mode (RULES.md P6), a port of istiod's composition.

``istio pilot/pkg/security/authn/policy_applier.go: ComposePeerAuthentication``:

1. candidates are the selector-less PA of the root namespace (mesh), the selector-less PA of the
   workload's namespace (namespace) and the PAs of that namespace whose non-empty
   ``selector.matchLabels`` is a subset of the pod labels (workload;
   ``pilot/pkg/model/authentication.go: getConfigsForWorkload``). Selector PAs in the root
   namespace are ignored. Within one scope the first PA in creation order wins
   (``pilot/pkg/model/config.go: configCompareByCreationTime``: oldest ``creationTimestamp``,
   then smallest name, then namespace);
2. the mode starts PERMISSIVE and mesh, namespace, workload modes apply in that order, ``UNSET``
   inheriting;
3. ``portLevelMtls`` is read from the workload policy only, ``UNSET`` entries inherit its mode;
   keys are workload (container) ports, not Service ports.

Two choices istiod never has to make, because it only sees accepted objects:

* A PA the API server or Istio's validating webhook rejects (CRD schema/CEL,
  ``pkg/config/validation/validation.go: ValidatePeerAuthentication``) never exists, so it takes no
  part (``peer_authentication_error`` says why).
* A manifest has no ``creationTimestamp`` until it is created, and then it is the newest object:
  a missing or unreadable timestamp sorts after every real one (all missing: name order, as
  istiod does for same-second ties). Two copies of one object (input and cluster context) count
  once: the first copy, with the first timestamp found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple, Protocol

from meshguard.model import Resource

SECURITY_GROUP: Final = "security.istio.io"
PEER_AUTHENTICATION: Final = "PeerAuthentication"

UNSET: Final = "UNSET"
DISABLE: Final = "DISABLE"
PERMISSIVE: Final = "PERMISSIVE"
STRICT: Final = "STRICT"
MODES: Final = frozenset({UNSET, DISABLE, PERMISSIVE, STRICT})  # CRD enum (crd-all.gen.yaml)
WEAK_MODES: Final = frozenset({DISABLE, PERMISSIVE})

_NEVER: Final = datetime.max.replace(tzinfo=UTC)


class PolicySource(Protocol):
    """What P6 needs from an inventory (``meshguard.inventory.Inventory`` satisfies it)."""

    @property
    def root_namespace(self) -> str: ...

    def in_namespace(self, namespace: str, group: str, kind: str) -> list[Resource]: ...


# -- one PeerAuthentication --------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


def match_labels(pa: Resource) -> Mapping[str, Any]:
    """``spec.selector.matchLabels``; empty for a mesh/namespace (selector-less) policy."""
    selector = _mapping(pa.spec.get("selector")) or {}
    return _mapping(selector.get("matchLabels")) or {}


def has_selector(pa: Resource) -> bool:
    """istiod: ``Selector == nil || len(Selector.MatchLabels) == 0`` means selector-less."""
    return bool(match_labels(pa))


def mode_of(pa: Resource) -> str:
    """``spec.mtls.mode``, ``UNSET`` when absent (valid PAs only give a member of MODES)."""
    mtls = _mapping(pa.spec.get("mtls")) or {}
    mode = mtls.get("mode")
    return mode if isinstance(mode, str) else UNSET


def port_key(key: Any) -> int | None:
    """A ``portLevelMtls`` key as a port number (YAML keys arrive as strings), else None."""
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key if 0 < key <= 65535 else None
    if isinstance(key, str) and key.isascii() and key.isdigit():
        port = int(key)
        return port if 0 < port <= 65535 else None
    return None


def port_level_modes(pa: Resource) -> dict[int, str]:
    """``spec.portLevelMtls`` as port → mode (``UNSET`` when an entry has none)."""
    entries = _mapping(pa.spec.get("portLevelMtls")) or {}
    out: dict[int, str] = {}
    for key, entry in entries.items():
        port = port_key(key)
        if port is None:
            continue
        mode = (_mapping(entry) or {}).get("mode")
        out[port] = mode if isinstance(mode, str) else UNSET
    return out


def peer_authentication_error(pa: Resource) -> str | None:
    """Why the API server or Istio validation rejects this PA, or None when it is accepted.

    CRD schema and CEL (``crd-all.gen.yaml``) and ``ValidatePeerAuthentication``; only the parts
    that decide whether the object exists at all for P6.
    """
    spec = pa.body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        return "spec is not a mapping"
    error = _selector_error(pa) or _mtls_error(pa.spec.get("mtls"), "spec.mtls")
    if error:
        return error
    ports = pa.spec.get("portLevelMtls")
    if ports is None:
        return None
    if not isinstance(ports, dict):
        return "spec.portLevelMtls is not a mapping"
    if not ports:
        return "spec.portLevelMtls is empty"
    if not has_selector(pa):
        return "portLevelMtls requires selector"
    for key, entry in ports.items():
        if port_key(key) is None:
            return f"spec.portLevelMtls key {key!r} is not a port 1-65535"
        error = _mtls_error(entry, f"spec.portLevelMtls.{key}")
        if error:
            return error
    return None


def _selector_error(pa: Resource) -> str | None:
    selector = pa.spec.get("selector")
    if selector is None:
        return None
    if not isinstance(selector, dict):
        return "spec.selector is not a mapping"
    labels = selector.get("matchLabels")
    if labels is None:
        return None
    if not isinstance(labels, dict):
        return "spec.selector.matchLabels is not a mapping"
    if any(not isinstance(v, str) for v in labels.values()):
        return "spec.selector.matchLabels has a non-string value"
    return None


def _mtls_error(mtls: Any, where: str) -> str | None:
    if mtls is None:
        return None
    if not isinstance(mtls, dict):
        return f"{where} is not a mapping"
    mode = mtls.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in MODES):
        return f"{where}.mode {mode!r} is not one of UNSET, DISABLE, PERMISSIVE, STRICT"
    return None


def is_peer_authentication(res: Resource) -> bool:
    return res.group == SECURITY_GROUP and res.kind == PEER_AUTHENTICATION


# -- creation order ----------------------------------------------------------------------------


def creation_timestamp(res: Resource) -> datetime | None:
    """``metadata.creationTimestamp`` (RFC 3339, UTC), or None when missing or unreadable."""
    raw = res.metadata.get("creationTimestamp")
    if isinstance(raw, datetime):
        stamp = raw
    elif isinstance(raw, str):
        try:
            stamp = datetime.fromisoformat(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def creation_order(res: Resource, stamp: datetime | None = None) -> tuple[datetime, str, str]:
    """Sort key of ``configCompareByCreationTime``; a missing timestamp sorts last (module doc)."""
    when = stamp or creation_timestamp(res) or _NEVER
    # CreationTimestamp is stored in seconds (config.go), so compare whole seconds only.
    return (when.replace(microsecond=0), res.name, res.namespace)


def unique_policies(policies: Iterable[Resource]) -> list[tuple[Resource, datetime | None]]:
    """One entry per namespace/name: the first copy, with the first timestamp any copy carries."""
    first: dict[tuple[str, str], Resource] = {}
    stamps: dict[tuple[str, str], datetime | None] = {}
    for res in policies:
        key = (res.namespace, res.name)
        first.setdefault(key, res)
        if stamps.get(key) is None:
            stamps[key] = creation_timestamp(res)
    return [(res, stamps[key]) for key, res in first.items()]


def in_creation_order(policies: Iterable[Resource]) -> list[Resource]:
    """``sortConfigByCreationTime``: oldest first, same-second ties by name then namespace."""
    unique = unique_policies(policies)
    unique.sort(key=lambda pair: creation_order(*pair))
    return [res for res, _ in unique]


def oldest(policies: Iterable[Resource]) -> Resource | None:
    """The policy istiod keeps among several of one scope (first in creation order)."""
    ordered = in_creation_order(policies)
    return ordered[0] if ordered else None


# -- composition -------------------------------------------------------------------------------


class EffectiveMtls(NamedTuple):
    """``MergedPeerAuthentication`` plus the policies that produced it."""

    mode: str  # STRICT, PERMISSIVE or DISABLE
    mesh: Resource | None = None
    namespace: Resource | None = None
    workload: Resource | None = None
    per_port: Mapping[int, str] = MappingProxyType({})  # read-only: a shared default

    @property
    def decided_by(self) -> Resource | None:
        """The policy whose mode won (None: nothing set one, Istio's PERMISSIVE default)."""
        for scope in (self.workload, self.namespace, self.mesh):
            if scope is not None and mode_of(scope) != UNSET:
                return scope
        return None

    def port_mode(self, port: int) -> str:
        """Mode on a workload (container) port: its ``portLevelMtls`` entry, else the mode."""
        return self.per_port.get(port, self.mode)


def compose_peer_authentication(root_namespace: str, configs: Iterable[Resource]) -> EffectiveMtls:
    """``ComposePeerAuthentication``: ``configs`` are the PAs that apply to one workload.

    Rejected PAs (``peer_authentication_error``) are dropped first: they never reach istiod.
    """
    mesh: Resource | None = None
    namespace: Resource | None = None
    workload: Resource | None = None
    for cfg in in_creation_order(c for c in configs if peer_authentication_error(c) is None):
        if not has_selector(cfg):
            if cfg.namespace == root_namespace:
                mesh = mesh or cfg
            else:
                namespace = namespace or cfg
        elif cfg.namespace != root_namespace:
            workload = workload or cfg
    mode = PERMISSIVE
    for scope in (mesh, namespace, workload):
        if scope is not None and mode_of(scope) != UNSET:
            mode = mode_of(scope)
    per_port: dict[int, str] = {}
    if workload is not None:
        for port, port_mode in port_level_modes(workload).items():
            per_port[port] = mode if port_mode == UNSET else port_mode
    return EffectiveMtls(mode, mesh, namespace, workload, per_port)


def _selector_is_subset(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """``labels.Instance.SubsetOf``: every selector pair is present in the pod labels."""
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())


def policies_for_workload(
    source: PolicySource, namespace: str, labels: Mapping[str, Any]
) -> list[Resource]:
    """``getConfigsForWorkload``: PAs of the workload and root namespaces whose selector fits."""
    root = source.root_namespace
    found: list[Resource] = []
    for ns in dict.fromkeys((namespace, root)):
        for pa in source.in_namespace(ns, SECURITY_GROUP, PEER_AUTHENTICATION):
            if _selector_is_subset(match_labels(pa), labels):
                found.append(pa)
    return found


def workload_mtls(source: PolicySource, namespace: str, labels: Mapping[str, Any]) -> EffectiveMtls:
    """Effective mode of pods with ``labels`` in ``namespace`` (P6); ``port_mode`` for a port."""
    return compose_peer_authentication(
        source.root_namespace, policies_for_workload(source, namespace, labels)
    )


def namespace_mtls(source: PolicySource, namespace: str) -> EffectiveMtls:
    """Namespace mode (P6 steps 1–2, selector-less PAs only), as for a pod without workload PA."""
    root = source.root_namespace
    candidates = [
        pa
        for ns in dict.fromkeys((namespace, root))
        for pa in source.in_namespace(ns, SECURITY_GROUP, PEER_AUTHENTICATION)
        if not has_selector(pa)
    ]
    return compose_peer_authentication(root, candidates)


def port_mtls(source: PolicySource, namespace: str, labels: Mapping[str, Any], port: int) -> str:
    """Mode on one workload (container) port of pods with ``labels`` (P6 step 3)."""
    return workload_mtls(source, namespace, labels).port_mode(port)
