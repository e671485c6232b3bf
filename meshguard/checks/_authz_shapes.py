"""How istiod reads an AuthorizationPolicy, and which workloads and ports it reaches (MG105–MG108).

Shared by the checks in `authz.py`; nothing here raises on hostile input.

* Decoding: istiod turns CRD specs into protos with `github.com/golang/protobuf/jsonpb`
  (`istio pkg/util/protomarshal/protomarshal.go`), which leaves a repeated field that is `null`
  or `[]` unset. So `from: []`, `to: []`, `when: []` and `rules: []` are *absent* to Istio, and
  a rule whose fields are all absent is the empty rule `{}` ("An empty rule is always matched",
  `istio-api security/v1beta1/authorization_policy.proto`). `decoded_list` encodes that once.
* Scope: a selector-less, targetRef-less policy applies to every workload of its namespace; a
  `targetRef(s)` to a Service applies to what that Service selects (RULES.md §0.3).
* Ports: Service port protocols follow `istio pkg/config/kube/conversion.go: ConvertProtocol`
  (local copy until it moves to `meshguard/semantics`; MG408 uses the same rules).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.inventory import Inventory, Workload
from meshguard.model import JsonPointer, Resource, pointer
from meshguard.semantics.paths import ap_path_template_error
from meshguard.semantics.protocols import HTTP_FAMILY, port_protocol

ALLOW = "ALLOW"
DENY = "DENY"
AUDIT = "AUDIT"
CUSTOM = "CUSTOM"

# authorization_policy.proto Source / Operation fields (names as in the CRD).
SOURCE_FIELDS = (
    *("principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals"),
    *("namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts"),
    *("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"),
    *("trustDomains", "notTrustDomains"),
)
OPERATION_FIELDS = (
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
)

_WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})  # conversion.go: wellKnownPorts


# -- decoding ------------------------------------------------------------------------------------
def decoded_list(value: Any) -> list[Any] | None:
    """A repeated field as istiod sees it: `None` when absent, `null` or `[]` (jsonpb)."""
    if isinstance(value, list) and value:
        return value
    return None


def action_of(spec: Mapping[str, Any]) -> str:
    """`spec.action`, ALLOW when absent (the proto default); unknown text is returned as is."""
    action = spec.get("action")
    return action if isinstance(action, str) and action else ALLOW


def is_allow(spec: Mapping[str, Any]) -> bool:
    return action_of(spec) == ALLOW


def rules_of(res: Resource) -> Iterator[tuple[int, Mapping[str, Any], JsonPointer]]:
    """(index, rule, pointer) for every rule that is a mapping."""
    for i, rule in enumerate(decoded_list(res.spec.get("rules")) or ()):
        if isinstance(rule, Mapping):
            yield i, rule, pointer("spec", "rules", i)


def rule_is_empty(rule: Mapping[str, Any]) -> bool:
    """True when jsonpb leaves `from`, `to` and `when` all unset: the rule matches every request."""
    return all(decoded_list(rule.get(key)) is None for key in ("from", "to", "when"))


def sources_of(
    rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[tuple[Mapping[str, Any], JsonPointer]]:
    """(source, pointer) of every `from[].source` that is a mapping."""
    for j, item in enumerate(decoded_list(rule.get("from")) or ()):
        src = item.get("source") if isinstance(item, Mapping) else None
        if isinstance(src, Mapping):
            yield src, f"{rule_ptr}/from/{j}/source"


def operations_of(
    rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[tuple[Mapping[str, Any], JsonPointer]]:
    """(operation, pointer) of every `to[].operation` that is a mapping."""
    for j, item in enumerate(decoded_list(rule.get("to")) or ()):
        op = item.get("operation") if isinstance(item, Mapping) else None
        if isinstance(op, Mapping):
            yield op, f"{rule_ptr}/to/{j}/operation"


def has_values(mapping: Mapping[str, Any], key: str) -> bool:
    """The field is set to a non-empty list (what jsonpb keeps)."""
    return decoded_list(mapping.get(key)) is not None


def string_values(
    mapping: Mapping[str, Any], key: str, base: JsonPointer
) -> Iterator[tuple[str, JsonPointer]]:
    """(value, pointer) of the string items of a list field."""
    for k, value in enumerate(decoded_list(mapping.get(key)) or ()):
        if isinstance(value, str):
            yield value, f"{base}/{key}/{k}"


def tcp_only(op: Mapping[str, Any], protocols: Mapping[str, set[str]]) -> bool:
    """Every listed port is a non-HTTP target port of the selected workloads (RULES.md MG105)."""
    ports = port_values(op, "ports")
    return bool(ports) and not any(is_http_port(p, protocols) for p in ports)


def principal_shape_ok(value: str) -> bool:
    """`*`, `*`-prefixed/suffixed, or `<trust-domain>/ns/<ns>/sa/<sa>` (Source.principals)."""
    if value.startswith("*") or value.endswith("*"):
        return True
    parts = value.split("/")
    return len(parts) == 5 and parts[1] == "ns" and parts[3] == "sa" and all(parts)


def from_only_principals(rule: Mapping[str, Any], rule_ptr: JsonPointer, allowed: set[str]) -> bool:
    """Every `from` entry is a source naming principals, all of them in `allowed`."""
    entries = decoded_list(rule.get("from"))
    if not allowed or entries is None:
        return False
    sources = list(sources_of(rule, rule_ptr))
    if len(sources) != len(entries):
        return False
    for src, src_ptr in sources:
        principals = {v for v, _ in string_values(src, "principals", src_ptr)}
        if not principals or not principals <= allowed:
            return False
    return True


def star_repair(value: str, *, templates: bool) -> tuple[str, bool] | None:
    """(repaired value, is a template) for a path with a literal `*` (RULES.md MG107 fix (1)).

    Whole-segment `*` become `{*}` (a trailing one `{**}`, like the prefix the author meant)
    when templates are available and Istio accepts the result; otherwise the value is cut after
    its first `*` (a prefix match). None for a leading `*` or when only `/*` would remain.
    """
    if value.startswith("*"):
        return None
    segments = value.split("/")
    last = len(segments) - 1
    whole = all(s in ("*", "**") or "*" not in s for s in segments) and "**" not in segments[:last]
    if templates and whole:
        templated = "/".join(
            s if "*" not in s else ("{**}" if k == last else "{*}") for k, s in enumerate(segments)
        )
        if ap_path_template_error(templated) is None:
            return templated, True
    widened = value[: value.index("*") + 1]
    return None if widened == "/*" else (widened, False)


def suggested_paths(inference_paths: list[str], api_paths: list[str]) -> list[str]:
    """RULES.md MG105 expected shape: `<inference path>*`, then LLM/embeddings paths verbatim.

    A substring marker (`generate_stream`) is served under `/v2/models/`, already covered.
    """
    paths = [f"{prefix}*" for prefix in inference_paths]
    for entry in api_paths:
        path = entry if entry.startswith("/") else "/v2/models/*"
        if path not in paths:
            paths.append(path)
    return paths


def add_ports_ops(
    rule_ptr: JsonPointer, op_ptrs: list[JsonPointer], ports: list[str]
) -> tuple[Mapping[str, Any], ...]:
    """RFC 6902 ops giving every operation (or a new `to`) these `ports` (MG106 fix (3))."""
    if op_ptrs:
        return tuple({"op": "add", "path": f"{ptr}/ports", "value": list(ports)} for ptr in op_ptrs)
    return (
        {"op": "add", "path": f"{rule_ptr}/to", "value": [{"operation": {"ports": list(ports)}}]},
    )


def port_values(mapping: Mapping[str, Any], key: str) -> list[str]:
    """`ports`/`notPorts` items as strings (the proto field is `repeated string`)."""
    return [
        str(v)
        for v in decoded_list(mapping.get(key)) or ()
        if isinstance(v, (str, int)) and not isinstance(v, bool)
    ]


# -- scope: which workloads a policy reaches -------------------------------------------------
def match_labels_of(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`selector.matchLabels`, or None for a namespace-wide policy."""
    selector = spec.get("selector")
    labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
    return labels if isinstance(labels, Mapping) and labels else None


def _target_services(res: Resource, inventory: Inventory) -> list[Resource] | None:
    """Services named by `targetRef(s)`; None when the policy has no targetRef at all."""
    refs: list[Any] = []
    if isinstance(res.spec.get("targetRef"), Mapping):
        refs.append(res.spec["targetRef"])
    refs.extend(decoded_list(res.spec.get("targetRefs")) or ())
    if not refs:
        return None
    services = []
    for ref in refs:
        if (
            not isinstance(ref, Mapping)
            or ref.get("kind") != "Service"
            or ref.get("group") not in (None, "", "core")
        ):
            continue
        svc = inventory.get("", "Service", res.namespace, str(ref.get("name", "")))
        if svc is not None:
            services.append(svc)
    return services


def _service_selector(svc: Resource) -> Mapping[str, Any] | None:
    selector = svc.spec.get("selector")
    return selector if isinstance(selector, Mapping) and selector else None


def matches_inference(res: Resource, inventory: Inventory) -> bool:
    """RULES.md §0.3: does the policy select an inference workload (manifests-only fallback too)?"""
    services = _target_services(res, inventory)
    if services is not None:
        return any(
            (sel := _service_selector(svc)) is not None
            and inventory.selector_matches_inference(res.namespace, sel)
            for svc in services
        )
    return inventory.selector_matches_inference(res.namespace, match_labels_of(res.spec))


def selected_workloads(res: Resource, inventory: Inventory) -> list[Workload]:
    """Pod templates of the run that the policy applies to."""
    services = _target_services(res, inventory)
    if services is None:
        return inventory.workloads_selected(res.namespace, match_labels_of(res.spec))
    out: list[Workload] = []
    for svc in services:
        selector = _service_selector(svc)
        if selector is not None:
            out.extend(
                w for w in inventory.workloads_selected(res.namespace, selector) if w not in out
            )
    return out


# -- Service port protocols ----------------------------------------------------------------
def target_port_protocols(workloads: list[Workload], inventory: Inventory) -> dict[str, set[str]]:
    """Workload (target) port → protocols of the Service ports that map it (P6: target ports)."""
    out: dict[str, set[str]] = {}
    for workload in workloads:
        for svc in inventory.services_selecting(workload):
            ports = svc.spec.get("ports")
            for port in ports if isinstance(ports, list) else ():
                if not isinstance(port, Mapping):
                    continue
                target = workload.target_port(port)
                if target is not None:
                    out.setdefault(str(target), set()).add(port_protocol(port))
    return out


def is_http_port(port: str, protocols: Mapping[str, set[str]]) -> bool:
    """HTTP unless every Service port mapping it is outside MG408's HTTP family (unmapped: HTTP)."""
    found = protocols.get(port)
    return not found or bool(found & HTTP_FAMILY)


def http_target_ports(protocols: Mapping[str, set[str]]) -> list[str]:
    """Target ports carrying HTTP (declared or sniffed), numerically sorted."""
    return sorted((p for p in protocols if is_http_port(p, protocols)), key=lambda p: (len(p), p))
