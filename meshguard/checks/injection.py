"""MG401–MG405: sidecar injection labels, injection opt-outs and proxy resource annotations.

Webhook selectors: ``istio manifests/charts/istio-control/istio-discovery/templates/
mutatingwebhook.yaml``; the per-pod decision: ``pkg/kube/inject/inject.go: injectRequired``;
proxy resources: ``files/injection-template.yaml`` (``define "resources"``); annotation scopes:
``istio-api annotation/annotations.yaml``. Shared data lives in ``_pod_annotations``, the webhook
selectors in ``semantics.injection``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from fractions import Fraction
from functools import partial
from typing import Any, NamedTuple

from meshguard.body import dig
from meshguard.checks import _pod_annotations as pa
from meshguard.checks._pod_annotations import PodTemplate
from meshguard.inventory import Workload
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.injection import (
    DATAPLANE_LABEL,
    INJECT,
    INJECTION_LABEL,
    REV_LABEL,
    as_text,
    installed_revisions,
    webhook_selects,
)
from meshguard.semantics.quantity import parse_quantity, quantity_error, quantity_suffix

LABELS_PTR = "/metadata/labels"


class _Issue(NamedTuple):
    pointer: JsonPointer
    message: str
    severity: Severity


# -- MG401 -------------------------------------------------------------------------------------


@check("MG401")
def ml_namespace_injection_label_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Namespaces are selected by label alone (mutatingwebhook.yaml): `istio-injection In
    [enabled]`, or `istio.io/rev In [<rev>]` together with `istio-injection DoesNotExist`."""
    if res.group != "" or not res.name or not ctx.inventory.is_ml_namespace(res.name):
        return
    issues = _namespace_issues(res, ctx)
    fix = _namespace_fix(res, ctx) if issues else None
    for index, (ptr, message, severity) in enumerate(issues):
        yield ctx.finding(ptr, message, severity=severity, fix=fix if index == 0 else None)


def _label_ptr(key: str) -> JsonPointer:
    return pointer("metadata", "labels", key)


def _namespace_issues(res: Resource, ctx: RuleContext) -> list[_Issue]:
    labels, ns = res.labels, res.name
    if INJECTION_LABEL in labels:
        return _injection_label_issues(ns, labels)
    if REV_LABEL in labels:
        rev, revisions = labels[REV_LABEL], installed_revisions(ctx.params)
        issues = []
        if as_text(rev) not in revisions:
            message = (
                f"istio.io/rev {pa.shown(rev)} on ML namespace {ns} is not an installed revision "
                f"({', '.join(revisions)})"
            )
            issues.append(_Issue(_label_ptr(REV_LABEL), message, Severity.WARNING))
        if labels.get(DATAPLANE_LABEL) == "ambient":
            # (4) as istio's analyzer reads it (injection.go: the revision and data-plane labels
            # count as two injection labels); RULES.md names only pairs with istio-injection
            message = (
                f"ML namespace {ns} has both istio.io/rev: {pa.shown(rev)} and "
                "istio.io/dataplane-mode: ambient: the revision's injector still adds sidecars, "
                "and ambient leaves pods with a sidecar alone; keep one data plane"
            )
            issues.append(_Issue(_label_ptr(DATAPLANE_LABEL), message, Severity.WARNING))
        return issues
    if labels.get(DATAPLANE_LABEL) == "ambient":
        return []
    if ctx.params.get("istio.enable_namespaces_by_default"):
        return []  # the `auto.` webhook injects unlabelled namespaces
    return [_unlabelled_namespace(res, ctx)]


def _injection_label_issues(ns: str, labels: Mapping[str, Any]) -> list[_Issue]:
    """(2)-(4): `istio-injection` is set; it also overrides any revision label."""
    injection = labels[INJECTION_LABEL]
    ambient = labels.get(DATAPLANE_LABEL) == "ambient"
    ptr, shown = _label_ptr(INJECTION_LABEL), pa.shown(injection)
    issues = []
    if not isinstance(injection, str):
        message = (
            f"istio-injection label value {shown} on ML namespace {ns} is a YAML "
            f"{pa.yaml_type(injection)}, not a string: the API server rejects the namespace"
        )
        issues.append(_Issue(ptr, message, Severity.ERROR))
    elif injection not in ("enabled", "disabled"):
        message = (
            f"istio-injection label value {shown} on ML namespace {ns} matches no injection "
            "webhook (only enabled or disabled)"
        )
        issues.append(_Issue(ptr, message, Severity.ERROR))
    elif injection == "disabled" and not ambient:
        message = f"ML namespace {ns} disables sidecar injection (istio-injection: disabled)"
        issues.append(_Issue(ptr, message, Severity.ERROR))
    ignored = [REV_LABEL] if REV_LABEL in labels else []
    if ambient and injection == "enabled":
        ignored.append(DATAPLANE_LABEL)
    for other in ignored:
        message = (
            f"ML namespace {ns} has both istio-injection: {shown} and {other}: "
            f"{pa.shown(labels[other])}; istio-injection wins and {other} is ignored"
        )
        issues.append(_Issue(_label_ptr(other), message, Severity.WARNING))
    return issues


def _unlabelled_namespace(res: Resource, ctx: RuleContext) -> _Issue:
    """No namespace webhook matches; only pods labelled for the `object.` webhooks are injected."""
    ptr = LABELS_PTR if isinstance(res.metadata.get("labels"), dict) else "/metadata/name"
    workloads = ctx.inventory.workloads(res.name)
    if workloads and all(_opts_in(w) for w in workloads):
        message = (
            f"ML namespace {res.name} has no injection label: its {len(workloads)} pod "
            "template(s) opt in with pod labels (pod-level opt-in; new workloads are not injected)"
        )
        return _Issue(ptr, message, Severity.INFO)
    message = (
        f"ML namespace {res.name} has no injection label (istio-injection, istio.io/rev or "
        "istio.io/dataplane-mode: ambient): its pods get no sidecar"
    )
    return _Issue(ptr, message, Severity.ERROR)


def _opts_in(workload: Workload) -> bool:
    """The `object.`/`rev.object.` webhooks select the pods by their own labels."""
    return webhook_selects({}, pa.pod_labels(workload), False)


def _namespace_fix(res: Resource, ctx: RuleContext) -> Fix | None:
    """One label per namespace: istio-injection: enabled, or istio.io/rev: <first revision>."""
    meta, labels = res.body.get("metadata"), res.labels
    if not isinstance(meta, dict) or labels.get(DATAPLANE_LABEL) == "ambient":
        return None  # ambient and sidecar labels together: which data plane is meant is a guess
    if ctx.params.get("injection_label") == "rev":
        key, value, other = REV_LABEL, installed_revisions(ctx.params)[0], INJECTION_LABEL
    else:
        key, value, other = INJECTION_LABEL, "enabled", REV_LABEL
    raw = meta.get("labels")
    ops: list[Mapping[str, Any]] = []
    if raw is None:
        ops.append({"op": "add", "path": LABELS_PTR, "value": {key: value}})
    elif not isinstance(raw, dict):
        return None
    elif raw.get(key) != value:
        ops.append({"op": "add", "path": _label_ptr(key), "value": value})
    if isinstance(raw, dict) and other in raw:
        ops.append({"op": "remove", "path": _label_ptr(other)})
    if not ops:
        return None
    title = f"set label {key}: {value}" + (f" and remove {other}" if other in labels else "")
    # Dropping an ignored istio.io/rev next to istio-injection: enabled changes nothing.
    unchanged = labels.get(INJECTION_LABEL) == "enabled" and key == INJECTION_LABEL
    return Fix(title, tuple(ops), safety=Safety.SAFE if unchanged else Safety.UNSAFE)


# -- MG402 -------------------------------------------------------------------------------------


@check("MG402")
def pod_opts_out_of_injection(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The label is the supported switch (labels.yaml); the annotation is `deprecated: true` and
    the label wins when both are set (inject.go injectRequired)."""
    if not ctx.inventory.is_ml_namespace(res.namespace):
        return
    raw = ctx.params.get("injection_exceptions")
    exceptions = {e.strip() for e in raw if isinstance(e, str)} if isinstance(raw, list) else set()
    for tpl in pa.pod_templates(res, ctx.inventory):
        yield from _non_string_inject(tpl, ctx)
        if f"{res.namespace}/{res.name}" not in exceptions:
            yield from _inject_opt_out(tpl, ctx)
        yield from _deprecated_inject_annotation(tpl, ctx)


def _non_string_inject(tpl: PodTemplate, ctx: RuleContext) -> Iterator[Finding]:
    """Labels and annotations decode into map[string]string: a YAML boolean rejects the object."""
    for where, values in (("label", tpl.labels), ("annotation", tpl.annotations)):
        value = values.get(INJECT)
        if value is None or isinstance(value, str):
            continue  # a YAML null decodes as "" and is not rejected
        ptr = tpl.label_pointer(INJECT) if where == "label" else tpl.annotation_pointer(INJECT)
        text = as_text(value)
        message = (
            f"{where} {INJECT} on {tpl.ref} is a YAML {pa.yaml_type(value)} ({text or '…'}), "
            "not a string: the API server rejects the object"
        )
        fix = Fix.replace(ptr, text, f'quote the value: "{text}"') if text is not None else None
        yield ctx.finding(ptr, message, severity=Severity.ERROR, fix=fix)


def _inject_opt_out(tpl: PodTemplate, ctx: RuleContext) -> Iterator[Finding]:
    setting = pa.effective_inject(tpl)
    if setting.value != "false":
        return
    if tpl.resource.kind in pa.BATCH_KINDS or tpl.workload.owner_kind in pa.BATCH_KINDS:
        return  # batch/training opt-outs are MG407's fallback (RULES.md MG402(1))
    message = (
        f'{tpl.ref} opts out of sidecar injection ({setting.where} {INJECT}: "false") '
        f"in ML namespace {tpl.resource.namespace}"
    )
    yield ctx.finding(setting.pointer, message, severity=Severity.WARNING)


def _deprecated_inject_annotation(tpl: PodTemplate, ctx: RuleContext) -> Iterator[Finding]:
    if INJECT not in tpl.annotations:
        return
    value, ptr = tpl.annotations[INJECT], tpl.annotation_pointer(INJECT)
    fix = None
    if INJECT in tpl.labels:
        message = (
            f"deprecated annotation {INJECT}: {pa.shown(value)} on {tpl.ref} is ignored: "
            f"the label {INJECT}: {pa.shown(tpl.labels[INJECT])} takes precedence"
        )
        fix = Fix.remove(ptr, "remove the ignored annotation")
    else:
        message = (
            f"deprecated annotation {INJECT}: {pa.shown(value)} on {tpl.ref}: the injection "
            "webhook objectSelector only sees the label"
        )
        adds = None
        if isinstance(value, str):
            adds = tpl.add_ops("labels", {INJECT: value}, [INJECT])
        if adds is not None and pa.is_label_value(value):
            ops = (*adds, {"op": "remove", "path": ptr})
            # Without a namespace label only the label (object. webhook) selects the pod.
            safety = Safety.UNSAFE if value == "true" else Safety.SAFE
            fix = Fix(f'move it to label {INJECT}: "{value}"', ops, safety=safety)
    yield ctx.finding(ptr, message, severity=Severity.INFO, fix=fix)


# -- MG403 -------------------------------------------------------------------------------------

_RESOURCES = {
    "CPU": (pa.PROXY_CPU, pa.PROXY_CPU_LIMIT),
    "memory": (pa.PROXY_MEMORY, pa.PROXY_MEMORY_LIMIT),
}
_REQUEST_KEYS = (pa.PROXY_CPU, pa.PROXY_MEMORY)
_LIMIT_KEYS = (pa.PROXY_CPU_LIMIT, pa.PROXY_MEMORY_LIMIT)


@check("MG403")
def partial_proxy_resource_annotations(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Any one proxy* annotation replaces all of global.proxy.resources, and only the keys present
    are rendered (injection-template.yaml `define "resources"`)."""
    inv = ctx.inventory
    for tpl in pa.pod_templates(res, inv):
        if not inv.is_inference_workload(tpl.workload) or pa.effective_inject(tpl).value == "false":
            continue
        present = [k for k in tpl.annotations if k in pa.PROXY_RESOURCE_KEYS]
        if present:
            yield from _partial_proxy_annotations(tpl, ctx, present)
        else:
            yield from _no_proxy_annotations(tpl, ctx)


def _partial_proxy_annotations(
    tpl: PodTemplate, ctx: RuleContext, present: list[str]
) -> Iterator[Finding]:
    ptr = tpl.annotation_pointer(present[0])
    shown = ", ".join(present)
    uncovered = {name: keys for name, keys in _RESOURCES.items() if not set(keys) & set(present)}
    if uncovered:
        message = (
            f"{shown} on inference {tpl.ref} leave{'s' if len(present) == 1 else ''} istio-proxy "
            f"{' and '.join(uncovered)} without request or limit: global.proxy.resources is "
            "ignored once any proxy* annotation is set"
        )
        missing = [key for keys in uncovered.values() for key in keys]
        fix = pa.profile_fix(tpl, _profile(ctx), missing)
        yield ctx.finding(ptr, message, severity=Severity.WARNING, fix=fix)
    elif set(present) in (set(_REQUEST_KEYS), set(_LIMIT_KEYS)):
        only = "requests" if set(present) == set(_REQUEST_KEYS) else "limits"
        message = f"{shown} on inference {tpl.ref} set istio-proxy {only} only"
        yield ctx.finding(
            ptr, message, severity=Severity.INFO, fix=pa.pair_fix(tpl, _profile(ctx), only)
        )


def _no_proxy_annotations(tpl: PodTemplate, ctx: RuleContext) -> Iterator[Finding]:
    sources = pa.mesh_proxy_resources(ctx.inventory)
    profile = _profile(ctx)
    if any(pa.is_profile(resources, profile) for resources in sources):
        return
    why = "not the ML profile in the input" if sources else "not in the input"
    ptr = tpl.meta_pointer + (
        "/annotations" if isinstance(pa.get(tpl.meta, "annotations"), dict) else ""
    )
    if tpl.meta is None:
        ptr = tpl.workload.pointer
    message = (
        f"inference {tpl.ref} sets no sidecar.istio.io/proxy* annotations: istio-proxy gets the "
        f"mesh-wide global.proxy.resources ({why})"
    )
    yield ctx.finding(
        ptr,
        message,
        severity=Severity.INFO,
        fix=pa.profile_fix(tpl, _profile(ctx), list(pa.PROXY_RESOURCE_KEYS)),
    )


def _profile(ctx: RuleContext) -> Mapping[str, Any]:
    profile = ctx.params.get("sidecar_resources")
    return profile if isinstance(profile, dict) else {}


# -- MG404 -------------------------------------------------------------------------------------

_Pairs = Mapping[tuple[str, str], pa.ParsedValue]


@check("MG404")
def sidecar_resource_value_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The injector parses the annotations with resource.ParseQuantity (inject/validate.go
    validateResourceQuantity) and the API server validates the injected container afterwards."""
    if res.kind in ("IstioHelmValues", "IstioOperator"):
        source = ctx.inventory.mesh_source_of(res)
        if source is not None and source.values_pointer is not None:
            yield from _check_values(pa.helm_values(source), ctx)
        return
    for tpl in pa.pod_templates(res, ctx.inventory):
        yield from _check_values(pa.annotation_values(tpl), ctx)


def _check_values(values: list[pa.ResourceValue], ctx: RuleContext) -> Iterator[Finding]:
    parsed: dict[tuple[str, str], pa.ParsedValue] = {}
    for value in values:
        text = yield from _parse_value(value, ctx)
        if text is not None:
            parsed[(value.section, value.resource)] = pa.ParsedValue(
                value, text, parse_quantity(text)
            )
    for item in parsed.values():
        yield from _value_range(item, parsed, ctx)
    for resource in ("cpu", "memory"):
        request, limit = parsed.get(("requests", resource)), parsed.get(("limits", resource))
        if request and limit and request.amount > limit.amount:
            message = (
                f'{request.value.name} "{request.text}" is above {limit.value.name} '
                f'"{limit.text}": the injected pod is rejected (a request must not exceed '
                "its limit)"
            )
            yield ctx.finding(request.value.pointer, message, severity=Severity.ERROR)


def _parse_value(value: pa.ResourceValue, ctx: RuleContext) -> Generator[Finding, None, str | None]:
    """(1a) not a string where an annotation needs one, (1b) not a quantity; returns its text."""
    raw = value.raw
    if value.annotation and raw is not None and not isinstance(raw, str):
        number = pa.yaml_type(raw) == "number"
        text = as_text(raw)
        message = (
            f"{value.name} value {text or '…'} is a YAML {pa.yaml_type(raw)}, not a string: "
            "the API server rejects the object"
        )
        quotable = number and text is not None
        fix = Fix.replace(value.pointer, text, f'quote the value: "{text}"') if quotable else None
        yield ctx.finding(value.pointer, message, severity=Severity.ERROR, fix=fix)
        return text if quotable and quantity_error(text) is None else None
    error = quantity_error(raw, require_string=value.annotation)
    if error is not None:
        message = f"{value.name} {pa.shown(raw)} is not a valid quantity: {error}"
        yield ctx.finding(value.pointer, message, severity=Severity.ERROR)
        return None
    return pa.quantity_text(raw)


def _value_range(item: pa.ParsedValue, parsed: _Pairs, ctx: RuleContext) -> Iterator[Finding]:
    """(1b) negative, (2) milli-bytes or < 1Mi, (3) CPU unit mix-ups, (5) decimal byte units."""
    value, text, amount = item
    suffix = quantity_suffix(text) or ""
    shown = f'{value.name} "{text}"'
    finding = partial(ctx.finding, value.pointer)
    if amount < 0:
        yield finding(f"{shown} is negative: the injected pod is rejected", severity=Severity.ERROR)
    elif value.resource == "memory":
        if suffix == "m":
            message = f"{shown} is {float(amount):g} bytes: suffix m is milli, not Mi"
            yield finding(message, severity=Severity.ERROR, fix=_milli_fix(item, parsed, ctx))
        elif amount < pa.MI:
            yield finding(f"{shown} is less than 1Mi of memory", severity=Severity.ERROR)
        elif suffix in pa.DECIMAL_BYTE_SUFFIXES:
            message = f"{shown} uses decimal suffix {suffix}: {text} = {pa.format_mi(amount)}"
            yield finding(message, severity=Severity.INFO)
    elif suffix in pa.BINARY_SUFFIXES:
        yield finding(f"{shown} uses byte suffix {suffix} for CPU", severity=Severity.WARNING)
    else:
        cores = ctx.params.get("cpu_sanity_max")
        if isinstance(cores, int | float) and amount > Fraction(str(cores)):
            message = f"{shown} is {float(amount):g} cores, above cpu_sanity_max {cores}"
            yield finding(message, severity=Severity.WARNING)


def _milli_fix(item: pa.ParsedValue, parsed: _Pairs, ctx: RuleContext) -> Fix | None:
    """`256m` -> `256Mi` when the number is at least 1, the profile writes Mi, and no inversion."""
    value, number = item.value, item.text[:-1]
    wanted = as_text(dig(_profile(ctx), value.section, "memory"))
    if wanted is None or not wanted.endswith("Mi"):
        return None
    try:
        if parse_quantity(number) < 1:
            return None
        amount = parse_quantity(number + "Mi")
    except ValueError:
        return None
    other = parsed.get(("limits" if value.section == "requests" else "requests", "memory"))
    if other is not None:
        request, limit = (
            (amount, other.amount) if value.section == "requests" else (other.amount, amount)
        )
        if request > limit:
            return None
    return Fix.replace(value.pointer, number + "Mi", f'write "{number}Mi"', safety=Safety.UNSAFE)


# -- MG405 -------------------------------------------------------------------------------------


@check("MG405")
def pod_annotation_on_controller(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The injector reads the Pod's annotations only; annotations.yaml scopes these to `[Pod]`
    (analyzer annotations.go reports IST0107 MisplacedAnnotation)."""
    keys = [key for key in res.annotations if pa.is_pod_scoped(key)]
    if not keys:
        return
    templates = [t for t in pa.pod_templates(res, ctx.inventory) if t.resource is res]
    entries = {key: res.annotations[key] for key in keys}
    for key in keys:
        ptr = pointer("metadata", "annotations", key)
        message = (
            f"pod-scoped annotation {key} on {res.kind} {res.namespace}/{res.name} metadata has no "
            "effect: the injector reads the pod template's annotations only"
        )
        yield ctx.finding(
            ptr,
            message,
            severity=Severity.WARNING,
            fix=_move_to_templates(templates, entries, key, ptr),
        )


def _move_to_templates(
    templates: list[PodTemplate], entries: Mapping[str, Any], key: str, ptr: str
) -> Fix | None:
    if not templates:
        return None
    ops: list[Mapping[str, Any]] = []
    for tpl in templates:
        adds = tpl.add_ops("annotations", entries, [key])
        if adds is None:
            return None
        ops.extend(adds)
    ops.append({"op": "remove", "path": ptr})
    where = " and ".join(t.meta_pointer + "/annotations" for t in templates)
    return Fix(f"move {key} to {where}", tuple(ops), safety=Safety.UNSAFE)
