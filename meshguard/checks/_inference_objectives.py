"""MG508 internals: InferenceModel → InferenceObjective, poolRef defaults, integer priority.

`gie v0.5.1 api/v1alpha2/inferencemodel_types.go` (criticality enum; unset "may be treated as
Standard"); `gie v1.5.0 apix/v1alpha2/{inferenceobjective,inferencemodelrewrite}_types.go`
(integer priority, unset = 0; weighted `rules[].targets[]`); `llm-d-router
config/crd/bases/llm-d.ai_inferenceobjectives.yaml` (int32 priority; `poolRef.group` default
`inference.networking.k8s.io`). InferenceModelRewrite CRDs ship from GIE v1.2.0 to v1.5.x.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import mapping
from meshguard.checks._inference_mesh import gie_version
from meshguard.inference_api import (
    LLM_D_GROUP,
    OBJECTIVE_HOMES,
    POOL_GROUP_V1,
    POOL_GROUPS,
    POOL_KIND,
    pool_ref,
)
from meshguard.model import Finding, Fix, Resource, Safety, Severity
from meshguard.registry import RuleContext

Op = Mapping[str, Any]
_INT32 = (-(2**31), 2**31 - 1)


def _home_api_version(ctx: RuleContext) -> str:
    return f"{OBJECTIVE_HOMES.get(str(ctx.params.get('gie_api_home')), LLM_D_GROUP)}/v1alpha2"


def inference_model_removed(res: Resource, ctx: RuleContext) -> Finding:
    """MG508(1): rewrite the object in place as an InferenceObjective (RULES.md mapping)."""
    spec = res.spec
    ref = mapping(spec.get("poolRef"))
    new_spec: dict[str, Any] = {
        "poolRef": {"group": POOL_GROUP_V1, "kind": POOL_KIND, "name": ref.get("name", "")}
    }
    table = mapping(ctx.params.get("criticality_to_priority"))
    criticality = spec.get("criticality")
    if isinstance(criticality, str) and criticality in table:
        new_spec["priority"] = table[criticality]
    api_version = _home_api_version(ctx)
    ops: tuple[Op, ...] = (
        {"op": "replace", "path": "/apiVersion", "value": api_version},
        {"op": "replace", "path": "/kind", "value": "InferenceObjective"},
        {"op": "replace" if "spec" in res.body else "add", "path": "/spec", "value": new_spec},
    )
    rewrite = _model_rewrite(res, ctx, api_version)
    shown = "v{}.{}.{}".format(*gie_version(ctx))
    message = (
        f"InferenceModel {res.namespace}/{res.name} was removed in GIE v1.0 (gie_version {shown})"
    )
    targets = spec.get("targetModels")
    if isinstance(targets, list) and targets and rewrite is None:
        # Traffic splitting needs an InferenceModelRewrite, which this GIE release does not
        # serve: rewriting in place would silently drop the targetModels, so no fix.
        return ctx.finding(
            "/kind",
            f"{message}; its targetModels need an InferenceModelRewrite (GIE v1.2+)",
            severity=Severity.ERROR,
        )
    return ctx.finding(
        "/kind",
        message,
        severity=Severity.ERROR,
        fix=Fix(
            "replace the InferenceModel with an InferenceObjective",
            ops,
            new_documents=(rewrite,) if rewrite else (),
            safety=Safety.UNSAFE,
        ),
    )


def _model_rewrite(res: Resource, ctx: RuleContext, api_version: str) -> dict[str, Any] | None:
    """`modelName` + weighted `targetModels` → an InferenceModelRewrite (GIE v1.2–v1.5, llm-d)."""
    home = str(ctx.params.get("gie_api_home"))
    if home != "llm-d" and not (1, 2, 0) <= gie_version(ctx) < (1, 6, 0):
        return None
    model, targets = res.spec.get("modelName"), res.spec.get("targetModels")
    if not isinstance(model, str) or not isinstance(targets, list) or not targets:
        return None
    out = []
    for target in targets:
        if not isinstance(target, dict) or not isinstance(target.get("name"), str):
            return None
        entry: dict[str, Any] = {"modelRewrite": target["name"]}
        if "weight" in target:
            entry["weight"] = target["weight"]
        out.append(entry)
    name = mapping(res.spec.get("poolRef")).get("name", "")
    return {
        "apiVersion": api_version,
        "kind": "InferenceModelRewrite",
        "metadata": {"name": res.name, "namespace": res.namespace},
        "spec": {
            "poolRef": {"group": POOL_GROUP_V1, "kind": POOL_KIND, "name": name},
            "rules": [{"matches": [{"model": {"type": "Exact", "value": model}}], "targets": out}],
        },
    }


def pool_ref_group(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG508(2): an absent group defaults to the v1 pool group in both CRDs (erratum 2.7)."""
    ref = pool_ref(res)
    if ref is None:
        return
    where = f"{res.kind} {res.namespace}/{res.name}"
    if not ref.group_written:
        yield ctx.finding(
            ref.pointer,
            f"{where} poolRef has no group (defaults to {POOL_GROUP_V1})",
            severity=Severity.INFO,
            fix=Fix.add(
                ref.pointer + "/group", POOL_GROUP_V1, f"write poolRef.group: {POOL_GROUP_V1}"
            ),
        )
    elif ref.group not in POOL_GROUPS:
        yield ctx.finding(
            ref.pointer + "/group",
            f"{where} poolRef.group {ref.group!r} has no InferencePool kind",
            severity=Severity.ERROR,
            fix=Fix.replace(
                ref.pointer + "/group",
                POOL_GROUP_V1,
                f"set poolRef.group to {POOL_GROUP_V1}",
                safety=Safety.UNSAFE,
            ),
        )


def priority_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG508(3): `criticality` (and `modelName`, `targetModels`) are InferenceModel fields,
    unknown to InferenceObjective; `priority` is an int32 (llm-d CRD `format: int32`)."""
    spec = res.spec
    where = f"InferenceObjective {res.namespace}/{res.name}"
    for key in ("modelName", "targetModels"):
        if key in spec:
            yield ctx.finding(
                f"/spec/{key}",
                f"{where} sets InferenceModel field {key}",
                severity=Severity.ERROR,
            )
    if "criticality" in spec:
        value = spec["criticality"]
        table = mapping(ctx.params.get("criticality_to_priority"))
        ops: list[Op] = [{"op": "remove", "path": "/spec/criticality"}]
        fix: Fix | None = Fix("remove criticality", tuple(ops), safety=Safety.SAFE)
        if "priority" not in spec:
            if isinstance(value, str) and value in table:
                ops.append({"op": "add", "path": "/spec/priority", "value": table[value]})
                title = f"replace criticality {value} with priority {table[value]}"
                fix = Fix(title, tuple(ops), safety=Safety.UNSAFE)
            else:
                fix = None
        yield ctx.finding(
            "/spec/criticality",
            f"{where} sets InferenceModel field criticality {value!r}",
            severity=Severity.ERROR,
            fix=fix,
        )
    if "priority" in spec and not _is_int32(spec["priority"]):
        value = spec["priority"]
        whole = _whole_number(value)
        yield ctx.finding(
            "/spec/priority",
            f"{where} priority {value!r} is not a 32-bit integer",
            severity=Severity.ERROR,
            fix=Fix.replace("/spec/priority", whole, f"set priority to {whole}")
            if whole is not None
            else None,
        )


def _is_int32(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and _INT32[0] <= value <= _INT32[1]
    )


def _whole_number(value: Any) -> int | None:
    """`"10"` or `10.0` → 10 (the author's integer, mistyped); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,10}", value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if _INT32[0] <= number <= _INT32[1] else None
