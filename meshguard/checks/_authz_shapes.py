"""How istiod reads an AuthorizationPolicy, which workloads and ports it reaches, and whether a
request matches it.

Shared by MG104–MG108 (`authz.py`, `mtls.py`), MG603 (`identity.py`), MG606 (`pools.py`) and
MG608 (`consistency.py`); nothing here raises on hostile input.

* Decoding: istiod turns CRD specs into protos with `github.com/golang/protobuf/jsonpb`
  (`istio pkg/util/protomarshal/protomarshal.go`), which leaves a repeated field that is `null`
  or `[]` unset. So `from: []`, `to: []`, `when: []` and `rules: []` are *absent* to Istio, and
  a rule whose fields are all absent is the empty rule `{}` ("An empty rule is always matched",
  `istio-api security/v1beta1/authorization_policy.proto`). `decoded_list` encodes that once.
* Scope: a selector-less, targetRef-less policy applies to every workload of its namespace; a
  `targetRef(s)` to a Service applies to what that Service selects (RULES.md §0.3); a policy of
  the root namespace reaches the whole mesh.
* Matching: fields of one operation or source are ANDed, values of one field ORed; strings use
  Istio's prefix/suffix/exact matcher (`pilot/pkg/security/authz/matcher/string.go`).
* Ports: Service port protocols follow `istio pkg/config/kube/conversion.go: ConvertProtocol`
  (local copy until it moves to `meshguard/semantics`; MG408 uses the same rules).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from meshguard.inventory import Inventory, Workload, selector_matches
from meshguard.model import JsonPointer, Resource, pointer
from meshguard.semantics.paths import (
    ap_path_matches,
    ap_path_template_error,
    contains_path_template,
)
from meshguard.semantics.protocols import HTTP_FAMILY, port_protocol

SECURITY_GROUP = "security.istio.io"
AUTHORIZATION_POLICY = "AuthorizationPolicy"
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

TEMPLATES_SINCE = (1, 22)  # istio 6f0f9139d77 (#50365) added {*}/{**}; first tag 1.22.0
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
        if isinstance(rule, dict):
            yield i, rule, pointer("spec", "rules", i)


def rule_is_empty(rule: Mapping[str, Any]) -> bool:
    """True when jsonpb leaves `from`, `to` and `when` all unset: the rule matches every request."""
    return all(decoded_list(rule.get(key)) is None for key in ("from", "to", "when"))


def sources_of(
    rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[tuple[Mapping[str, Any], JsonPointer]]:
    """(source, pointer) of every `from[].source` that is a mapping."""
    for j, item in enumerate(decoded_list(rule.get("from")) or ()):
        src = item.get("source") if isinstance(item, dict) else None
        if isinstance(src, dict):
            yield src, f"{rule_ptr}/from/{j}/source"


def operations_of(
    rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[tuple[Mapping[str, Any], JsonPointer]]:
    """(operation, pointer) of every `to[].operation` that is a mapping."""
    for j, item in enumerate(decoded_list(rule.get("to")) or ()):
        op = item.get("operation") if isinstance(item, dict) else None
        if isinstance(op, dict):
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
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    return labels if isinstance(labels, dict) and labels else None


def target_service_refs(res: Resource) -> list[tuple[JsonPointer, str]] | None:
    """(pointer, name) of the `targetRef(s)` naming a core Service; None when the policy has no
    targetRef at all (it is then scoped by its selector)."""
    refs: list[tuple[JsonPointer, Any]] = []
    if isinstance(res.spec.get("targetRef"), dict):
        refs.append(("/spec/targetRef", res.spec["targetRef"]))
    listed = decoded_list(res.spec.get("targetRefs")) or []
    refs.extend((f"/spec/targetRefs/{i}", ref) for i, ref in enumerate(listed))
    if not refs:
        return None
    return [
        (ptr, ref["name"])
        for ptr, ref in refs
        if isinstance(ref, dict)
        and ref.get("kind") == "Service"
        and ref.get("group") in (None, "", "core")
        and isinstance(ref.get("name"), str)
        and ref["name"]
    ]


def target_services(res: Resource, inventory: Inventory) -> list[Resource] | None:
    """Services named by `targetRef(s)` that are in the run; None without any targetRef."""
    refs = target_service_refs(res)
    if refs is None:
        return None
    found = (inventory.get("", "Service", res.namespace, name) for _, name in refs)
    return [svc for svc in found if svc is not None]


def _service_selector(svc: Resource) -> Mapping[str, Any] | None:
    selector = svc.spec.get("selector")
    return selector if isinstance(selector, dict) and selector else None


def matches_inference(res: Resource, inventory: Inventory) -> bool:
    """RULES.md §0.3: does the policy select an inference workload (manifests-only fallback too)?"""
    services = target_services(res, inventory)
    if services is not None:
        return any(
            (sel := _service_selector(svc)) is not None
            and inventory.selector_matches_inference(res.namespace, sel)
            for svc in services
        )
    return inventory.selector_matches_inference(res.namespace, match_labels_of(res.spec))


def selected_workloads(res: Resource, inventory: Inventory) -> list[Workload]:
    """Pod templates of the run that the policy applies to."""
    services = target_services(res, inventory)
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


# -- evaluation: does a request match ----------------------------------------------------------
def allow_policies_for(
    inventory: Inventory, namespace: str, labels: Mapping[str, Any]
) -> list[Resource]:
    """ALLOW policies reaching pods with these labels: their namespace's, plus the root
    namespace's (mesh-wide); `targetRef(s)` reach the pods their Services select."""
    out = []
    for ns in dict.fromkeys((namespace, inventory.root_namespace)):
        for ap in inventory.in_namespace(ns, SECURITY_GROUP, AUTHORIZATION_POLICY):
            raw = ap.body.get("spec")
            if not isinstance(raw, (Mapping, type(None))) or not is_allow(ap.spec):
                continue
            services = target_services(ap, inventory)
            if services is not None:
                hits = ns == namespace and any(
                    (sel := _service_selector(svc)) is not None and selector_matches(sel, labels)
                    for svc in services
                )
            else:
                wanted = match_labels_of(ap.spec)
                hits = wanted is None or selector_matches(wanted, labels)
            if hits:
                out.append(ap)
    return out


def ap_string_match(pattern: str, value: str) -> bool:
    """Istio's string matcher for principals/namespaces: `*`, `*suffix`, `prefix*` or exact
    (`pilot/pkg/security/authz/matcher/string.go`)."""
    if pattern == "*":
        return bool(value)
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def ap_path_matcher(path: str, istio: tuple[int, int]) -> Callable[[str], bool]:
    """Does a `paths` value match `path` in Istio `istio`? Before 1.22 (`TEMPLATES_SINCE`) a
    `{*}` template is literal text."""
    templates = istio >= TEMPLATES_SINCE

    def matches(pattern: str) -> bool:
        if not templates and contains_path_template(pattern):
            return pattern == path
        return ap_path_matches(pattern, path)

    return matches


def operation_admits(
    op: Mapping[str, Any], method: str, port: int | None, path_ok: Callable[[str], bool]
) -> bool:
    """Every field of one operation matches (ANDed); `hosts` is not judged (Host header unknown)."""
    methods = [v for v, _ in string_values(op, "methods", "")]
    if has_values(op, "methods") and method not in methods:
        return False
    if method in [v for v, _ in string_values(op, "notMethods", "")]:
        return False
    if port is not None:
        ports = port_values(op, "ports")
        if (ports and str(port) not in ports) or str(port) in port_values(op, "notPorts"):
            return False
    paths = [v for v, _ in string_values(op, "paths", "")]
    if has_values(op, "paths") and not any(path_ok(p) for p in paths):
        return False
    return not any(path_ok(p) for p, _ in string_values(op, "notPaths", ""))


def rule_operations_admit(
    rule: Mapping[str, Any], method: str, port: int | None, path_ok: Callable[[str], bool]
) -> bool:
    """Some operation of the rule admits the request (a rule without `to` admits all)."""
    if decoded_list(rule.get("to")) is None:
        return True
    return any(operation_admits(op, method, port, path_ok) for op, _ in operations_of(rule, ""))


def rule_sources_admit(
    rule: Mapping[str, Any],
    rule_ptr: JsonPointer,
    account: str | None,
    namespace: str,
    trust_domain: str,
) -> bool | None:
    """Some source of the rule admits the caller (None: only with an unknown service account)."""
    if decoded_list(rule.get("from")) is None:
        return True
    verdicts = [
        source_admits(src, account, namespace, trust_domain)
        for src, _ in sources_of(rule, rule_ptr)
    ]
    return True if True in verdicts else None if None in verdicts else False


def source_admits(
    src: Mapping[str, Any], account: str | None, namespace: str, trust_domain: str
) -> bool | None:
    """One source, fields ANDed, for a mesh caller (service account `account` of `namespace`,
    None: unknown) that sends no JWT; IP blocks and `when` are not judged (assumed to match)."""

    def values(key: str) -> list[str]:
        return [v for v, _ in string_values(src, key, "")]

    def principal_ok(pattern: str) -> bool | None:
        if account is None:
            return None
        # any trust domain: aliases are legal (RULES.md MG107(4))
        tail = f"/ns/{namespace}/sa/{account}"
        return ap_string_match(pattern, trust_domain + tail) or (
            pattern.endswith(tail) and "/" not in pattern[: -len(tail)]
        )

    checks: list[bool | None] = []
    if has_values(src, "principals"):
        found = [principal_ok(p) for p in values("principals")]
        checks.append(True if True in found else None if None in found else False)
    if has_values(src, "notPrincipals"):
        found = [principal_ok(p) for p in values("notPrincipals")]
        checks.append(False if True in found else None if None in found else True)
    if has_values(src, "namespaces"):
        checks.append(any(ap_string_match(p, namespace) for p in values("namespaces")))
    if has_values(src, "notNamespaces"):
        checks.append(not any(ap_string_match(p, namespace) for p in values("notNamespaces")))
    if has_values(src, "serviceAccounts"):
        checks.append(
            None if account is None else f"{namespace}/{account}" in values("serviceAccounts")
        )
    if has_values(src, "notServiceAccounts") and account is not None:
        checks.append(f"{namespace}/{account}" not in values("notServiceAccounts"))
    if has_values(src, "requestPrincipals"):
        checks.append(False)  # no JWT, no request principal
    return False if False in checks else None if None in checks else True


# -- Service port protocols ----------------------------------------------------------------
def target_port_protocols(workloads: list[Workload], inventory: Inventory) -> dict[str, set[str]]:
    """Workload (target) port → protocols of the Service ports that map it (P6: target ports)."""
    out: dict[str, set[str]] = {}
    for workload in workloads:
        for svc in inventory.services_selecting(workload):
            ports = svc.spec.get("ports")
            for port in ports if isinstance(ports, list) else ():
                if not isinstance(port, dict):
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
