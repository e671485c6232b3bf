"""Will a pod get an Istio sidecar? One reading of the injector for every rule.

A pod is injected when an injector webhook selects it and the injector then agrees, both read at
RULES.md's pinned istio commit:

1. The webhooks (``manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml``)
   see labels only. Per revision: ``rev.namespace.`` (namespace ``istio.io/rev In [rev]``, no
   ``istio-injection``) and ``rev.object.`` (neither namespace label, pod ``istio.io/rev In
   [rev]``); for the default revision ``namespace.`` (``istio-injection In [enabled]``),
   ``object.`` (neither namespace label, pod ``sidecar.istio.io/inject In ["true"]`` without
   ``istio.io/rev``) and, with ``sidecarInjectorWebhook.enableNamespacesByDefault``, ``auto.``
   (no injection label on either). Every one of them skips a pod labelled
   ``sidecar.istio.io/inject: "false"``.
2. ``injectRequired`` (``pkg/kube/inject/inject.go``): never with ``hostNetwork`` or in the
   system namespaces (``initializer.go: IgnoredNamespaces``); ``sidecar.istio.io/inject`` — the
   label, else the deprecated annotation — ``"false"`` opts out, compared exactly (any other value
   falls back to the default policy, which injects).

An ``istio.io/rev`` label counts as selected whatever revision it names: whether that revision is
installed is MG401(5)'s question (``istio_revisions``), not a reason to call its pods
un-injected. ``istio.io/dataplane-mode: ambient`` is read by neither gate. A namespace absent from
the run leaves the namespace selectors unknown: pods selected by their own labels are injected,
an ML namespace counts as labelled for injection (MG401 enforces that label; RULES.md MG407), and
anything else is unknown (None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshguard.config import Params
    from meshguard.inventory import Inventory

INJECT = "sidecar.istio.io/inject"  # label (supported) and annotation (deprecated)
REV_LABEL = "istio.io/rev"
INJECTION_LABEL = "istio-injection"
DATAPLANE_LABEL = "istio.io/dataplane-mode"
DEFAULT_REVISION = "default"
# istio pkg/kube/inject/initializer.go IgnoredNamespaces
IGNORED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)


def as_text(value: Any) -> str | None:
    """The string a scalar label/annotation value stands for (YAML `false` -> "false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return value if isinstance(value, str) else None


def installed_revisions(params: Params) -> list[str]:
    """`istio_revisions`: the revisions (and tags) whose webhooks exist; `default` when unset."""
    raw = params.get("istio_revisions")
    revisions = [r for r in raw if isinstance(r, str)] if isinstance(raw, list) else []
    return revisions or [DEFAULT_REVISION]


def inject_choice(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> str | None:
    """The `sidecar.istio.io/inject` text `injectRequired` reads: "if both are present we prefer
    the label" (inject.go); None when neither is set."""
    if INJECT in labels:
        return as_text(labels[INJECT])
    return as_text(annotations.get(INJECT))


def webhook_selects(
    namespace_labels: Mapping[str, Any], labels: Mapping[str, Any], by_default: bool
) -> bool:
    """Does an injector webhook select a pod with these labels in a namespace with these labels?
    (`by_default`: `enableNamespacesByDefault`, the `auto.` webhook.)"""
    inject = as_text(labels[INJECT]) if INJECT in labels else None
    if inject == "false":
        return False
    if INJECTION_LABEL in namespace_labels:  # every other webhook needs it absent
        return as_text(namespace_labels[INJECTION_LABEL]) == "enabled"
    if REV_LABEL in namespace_labels or REV_LABEL in labels:  # `rev.namespace.`, `rev.object.`
        return True
    if inject is not None:  # `auto.` needs it absent
        return inject == "true"
    return by_default


def sidecar_injected(
    inventory: Inventory,
    namespace: str,
    labels: Mapping[str, Any],
    annotations: Mapping[str, Any],
    pod_spec: Mapping[str, Any],
) -> bool | None:
    """Will pods with this metadata and spec in `namespace` get a sidecar (None: unknown)?"""
    if pod_spec.get("hostNetwork") is True or namespace in IGNORED_NAMESPACES:
        return False
    if inject_choice(labels, annotations) == "false":
        return False
    ns = inventory.get("", "Namespace", "", namespace)
    if ns is None:
        if webhook_selects({}, labels, False) or inventory.is_ml_namespace(namespace):
            return True
        return None
    by_default = bool(inventory.params.get("istio.enable_namespaces_by_default"))
    return webhook_selects(ns.labels, labels, by_default)
