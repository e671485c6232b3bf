"""MG207–MG210: one test per numbered condition of RULES.md, asserting line and severity."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from meshguard.model import Finding, Safety
from tests.lintkit import findings_of, lines_of

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sklearn, namespace: ml-serving}
spec:
  hosts: [sklearn-predictor]
"""
ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: sklearn, namespace: ml-serving}
spec:
  parentRefs: [{name: ml-gateway, namespace: istio-ingress}]
"""
DEST = "route: [{destination: {host: sklearn-predictor, subset: v1}}]"


def vs(body: str) -> str:
    return VS + body


def route(body: str) -> str:
    return ROUTE + body


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


# -- MG207 model-version routing shape ------------------------------------------------------------


SPLIT = """\
  - route:
    - {destination: {host: sklearn-predictor, subset: v1}, weight: 90}
    - {destination: {host: sklearn-predictor, subset: v2}, weight: 10}
"""


def test_mg207_1_upper_case_header_key_is_info_and_renamed() -> None:
    text = (
        vs(f"""\
  http:
  - match: [{{headers: {{X-Model-Version: {{exact: v2}}}}}}]
    {DEST}
""")
        + SPLIT
    )
    assert lines_of(text, "MG207") == [(7, "info")]
    finding = only(text, "MG207")
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    headers = fixed(finding)["spec"]["http"][0]["match"][0]["headers"]
    assert headers == {"x-model-version": {"exact": "v2"}}


def test_mg207_1_no_rename_when_lower_case_key_also_present() -> None:
    text = (
        vs(f"""\
  http:
  - match:
    - headers:
        X-Model-Version: {{exact: v2}}
        x-model-version: {{exact: v2}}
    {DEST}
""")
        + SPLIT
    )
    finding = only(text, "MG207")
    assert (finding.position.line, finding.fix) == (9, None)


@pytest.mark.parametrize("kind", ["prefix", "regex"])
def test_mg207_2_version_matched_by_prefix_or_regex_is_info(kind: str) -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{{kind}: v2}}}}}}]
    {DEST}
  - route:
    - {{destination: {{host: sklearn-predictor, subset: v1}}, weight: 90}}
    - {{destination: {{host: sklearn-predictor, subset: v2}}, weight: 10}}
""")
    finding = only(text, "MG207")
    assert finding.pointer == f"/spec/http/0/match/0/headers/x-model-version/{kind}"
    assert lines_of(text, "MG207") == [(7, "info")]


def test_mg207_3_last_rule_not_catch_all_is_warning_with_default_route_fix() -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: sklearn-predictor, subset: v2}}}}]
  - match: [{{uri: {{prefix: /v1}}}}]
    {DEST}
""")
    assert lines_of(text, "MG207") == [(9, "warning")]
    finding = only(text, "MG207")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["spec"]["http"][-1] == {
        "route": [{"destination": {"host": "sklearn-predictor"}}]
    }


@pytest.mark.parametrize(
    "catch_all",
    [
        "- " + DEST,
        "- match: [{uri: {prefix: /}}]\n    " + DEST,
        '- match: [{uri: {regex: ".*"}, name: d}]\n    ' + DEST,
    ],
)
def test_mg207_3_catch_all_shapes_end_the_list(catch_all: str) -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: sklearn-predictor, subset: v2}}}}]
  {catch_all}
""")
    assert [s for _, s in lines_of(text, "MG207")] == ["info"]  # only (4)


def test_mg207_3_header_restricted_last_rule_is_not_a_catch_all() -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: sklearn-predictor, subset: v2}}}}]
  - match: [{{uri: {{prefix: /}}, gateways: [mesh]}}]
    {DEST}
""")
    assert lines_of(text, "MG207") == [(9, "warning")]


def test_mg207_3_skipped_for_delegate_and_after_an_earlier_catch_all() -> None:
    delegate = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sklearn-delegate, namespace: ml-serving}
spec:
  http:
  - match: [{headers: {x-model-version: {exact: v2}}}]
    route: [{destination: {host: sklearn-predictor, subset: v2}}]
"""
    assert lines_of(delegate, "MG207") == []
    reversed_layout = vs(f"""\
  http:
  - {DEST}
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: sklearn-predictor, subset: v2}}}}]
""")
    assert lines_of(reversed_layout, "MG207") == []
    assert lines_of(reversed_layout, "MG208") == [(8, "error")]


def test_mg207_4_single_destination_default_route_is_info() -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: sklearn-predictor, subset: v2}}}}]
  - {DEST}
""")
    assert lines_of(text, "MG207") == [(9, "info")]
    assert only(text, "MG207").pointer == "/spec/http/1/route"
    assert lines_of(text, "MG207", {"canary_split": []}) == []


def test_mg207_applies_only_with_the_version_header() -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-tenant: {{prefix: a}}}}}}]
    {DEST}
""")
    assert lines_of(text, "MG207") == []
    assert sorted(lines_of(text, "MG207", {"version_header": "X-Tenant"})) == [
        (7, "info"),
        (7, "warning"),
    ]


# -- MG208 unreachable VirtualService rule ------------------------------------------------------


def test_mg208_rules_after_a_match_less_rule_are_errors() -> None:
    text = vs(f"""\
  http:
  - {DEST}
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}}}]
    {DEST}
  - match: []
    {DEST}
""")
    assert lines_of(text, "MG208") == [(8, "error"), (10, "error")]


@pytest.mark.parametrize(
    "entry",
    [
        '{uri: {prefix: "/"}}',
        '{uri: {regex: ".*"}}',
        "{name: all}",
        "{statPrefix: s, uri: {}}",
        '{headers: {x-a: {exact: "1"}}}, {uri: {prefix: /}}',
    ],
)
def test_mg208_catch_all_match_entries(entry: str) -> None:
    text = vs(f"""\
  http:
  - match: [{entry}]
    {DEST}
  - match: [{{uri: {{prefix: /v1}}}}]
    {DEST}
""")
    assert lines_of(text, "MG208") == [(9, "error")]


@pytest.mark.parametrize(
    "field",
    [
        "gateways: [mesh]",
        "port: 8080",
        "sourceLabels: {app: a}",
        "sourceNamespace: ns",
        "withoutHeaders: {x-a: {exact: b}}",
        "ignoreUriCase: true",
        "method: {exact: POST}",
        "authority: {exact: a}",
        "scheme: {exact: https}",
        "queryParams: {a: {exact: b}}",
        "headers: {x-a: {exact: b}}",
    ],
)
def test_mg208_restricting_fields_make_prefix_slash_not_a_catch_all(field: str) -> None:
    text = vs(f"""\
  http:
  - match: [{{uri: {{prefix: /}}, {field}}}]
    {DEST}
  - {DEST}
""")
    assert lines_of(text, "MG208") == []


def test_mg208_identical_match_is_warning_ignoring_name() -> None:
    text = vs(f"""\
  http:
  - match: [{{headers: {{x-model-version: {{exact: v2}}}}, name: a}}]
    {DEST}
  - match:
    - {{uri: {{prefix: /v2}}}}
    - {{headers: {{x-model-version: {{exact: v2}}}}, name: b}}
    {DEST}
  - {DEST}
""")
    assert lines_of(text, "MG208") == [(11, "warning")]
    assert only(text, "MG208").pointer == "/spec/http/1/match/1"


def test_mg208_shadowed_prefix_and_exact_are_warnings() -> None:
    text = vs(f"""\
  http:
  - match: [{{uri: {{prefix: /v1/models}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models/iris}}, method: {{exact: POST}}}}]
    {DEST}
  - match: [{{uri: {{exact: /v1/models/iris:predict}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models/x}}, ignoreUriCase: true}}]
    {DEST}
  - match: [{{uri: {{prefix: /v2}}}}]
    {DEST}
""")
    assert lines_of(text, "MG208") == [(9, "warning"), (11, "warning")]


def test_mg208_conditioned_earlier_prefix_does_not_shadow() -> None:
    text = vs(f"""\
  http:
  - match: [{{uri: {{prefix: /v1}}, headers: {{x-model-version: {{exact: v2}}}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models}}}}]
    {DEST}
""")
    assert lines_of(text, "MG208") == []


def test_mg208_earlier_prefix_with_conditions_shadows_a_later_entry_repeating_them() -> None:
    """Fields of an entry are ANDed: /v1 + GET takes /v1/models + GET (+ a header), but not
    /v1/models with any method, nor /v1/models + POST (istio validation.go coveredValidation)."""
    text = vs(f"""\
  http:
  - match: [{{uri: {{prefix: /v1}}, method: {{exact: GET}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models}}, method: {{exact: GET}}}}]
    {DEST}
  - match: [{{uri: {{exact: /v1/m/iris}}, headers: {{x-a: {{exact: b}}}}, method: {{exact: GET}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models}}, method: {{exact: POST}}}}]
    {DEST}
  - match: [{{uri: {{prefix: /v1/models}}}}]
    {DEST}
  - {DEST}
""")
    assert lines_of(text, "MG208") == [(9, "warning"), (11, "warning")]
    message = findings_of(text, "MG208")[0].message
    assert message == (
        'match 0 of http rule 1 (uri prefix "/v1/models") is shadowed by http rule 0, which '
        'takes every path under "/v1" with the same method'
    )


def test_mg208_tcp_rules() -> None:
    text = vs("""\
  tcp:
  - match: [{port: 9000}]
    route: [{destination: {host: a}}]
  - match: [{port: 9000}]
    route: [{destination: {host: b}}]
  - route: [{destination: {host: c}}]
  - match: [{port: 9001}]
    route: [{destination: {host: d}}]
""")
    assert lines_of(text, "MG208") == [(9, "warning"), (12, "error")]


def test_mg208_tls_rules() -> None:
    """istio validation.go analyzeUnreachableTLSRules: the same checks as for tcp."""
    text = vs("""\
  tls:
  - match: [{port: 2443, sniHosts: [a.example.com]}]
    route: [{destination: {host: a}}]
  - match: [{sniHosts: [a.example.com], port: 2443}, {port: 8443, sniHosts: [a.example.com]}]
    route: [{destination: {host: b}}]
  - match: [{sniHosts: [a.example.com], port: 2443}]
    route: [{destination: {host: c}}]
""")
    assert lines_of(text, "MG208") == [(9, "warning"), (11, "warning")]


def test_mg208_httproute_order_is_not_checked() -> None:
    text = route("""\
  rules:
  - backendRefs: [{name: sklearn-v1, port: 80}]
  - matches: [{headers: [{name: x-model-version, value: v2}]}]
    backendRefs: [{name: sklearn-v2, port: 80}]
""")
    assert lines_of(text, "MG208") == []


# -- MG209 traffic-split weights ------------------------------------------------------------------

TWO = vs("""\
  http:
  - route:
    - {destination: {host: sklearn-predictor, subset: v1}A}
    - {destination: {host: HOST, subset: v2}B}
""")


def vs_split(a: str = "", b: str = "", host: str = "sklearn-predictor") -> str:
    return TWO.replace("A}", a + "}").replace("B}", b + "}").replace("HOST", host)


def test_mg209_vs_negative_weight_is_error() -> None:
    text = vs_split(", weight: 110", ", weight: -10")
    assert lines_of(text, "MG209") == [(9, "error")]


def test_mg209_vs_zero_total_is_error_with_canary_fix() -> None:
    text = vs_split()
    assert lines_of(text, "MG209") == [(7, "error")]
    finding = only(text, "MG209")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    weights = [d["weight"] for d in fixed(finding)["spec"]["http"][0]["route"]]
    assert weights == [90, 10]


def test_mg209_vs_explicit_zero_total_has_no_fix() -> None:
    text = vs_split(", weight: 0", ", weight: 0")
    finding = only(text, "MG209")
    assert (finding.position.line, finding.severity.value, finding.fix) == (7, "error", None)


def test_mg209_vs_sum_not_100_is_info_and_normalized_on_request() -> None:
    text = vs_split(", weight: 9", ", weight: 1")
    assert lines_of(text, "MG209") == [(7, "info")]
    assert only(text, "MG209").fix is None
    finding = only(text, "MG209", {"normalize_weights": True})
    assert finding.fix is not None and finding.fix.safety is Safety.SAFE
    assert [d["weight"] for d in fixed(finding)["spec"]["http"][0]["route"]] == [90, 10]


def test_mg209_rounding_rescale_is_unsafe_and_keeps_every_destination() -> None:
    text = vs("""\
  http:
  - route:
    - {destination: {host: a, subset: v1}, weight: 1000}
    - {destination: {host: b, subset: v2}, weight: 1}
    - {destination: {host: c, subset: v3}, weight: 1}
""")
    finding = only(text, "MG209", {"normalize_weights": True})
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert [d["weight"] for d in fixed(finding)["spec"]["http"][0]["route"]] == [98, 1, 1]


def test_mg209_sum_info_needs_two_destinations_and_a_written_weight() -> None:
    single = vs("""\
  http:
  - route: [{destination: {host: sklearn-predictor}, weight: 50}]
""")
    assert lines_of(single, "MG209") == []
    assert lines_of(vs_split(", weight: 100"), "MG209") == []  # 100 + unset 0


def test_mg209_canary_ratio_differs_is_info_for_same_host_only() -> None:
    assert lines_of(vs_split(", weight: 80", ", weight: 20"), "MG209") == [(7, "info")]
    fqdn = "sklearn-predictor.ml-serving.svc.cluster.local"
    assert lines_of(vs_split(", weight: 80", ", weight: 20", fqdn), "MG209") == [(7, "info")]
    assert lines_of(vs_split(", weight: 80", ", weight: 20", "other"), "MG209") == []
    assert lines_of(vs_split(", weight: 80", ", weight: 20"), "MG209", {"canary_split": []}) == []
    assert lines_of(vs_split(", weight: 9", ", weight: 1"), "MG209") == [(7, "info")]  # only Σ


def test_mg209_vs_tcp_routes() -> None:
    text = vs("""\
  tcp:
  - route:
    - destination: {host: a}
    - destination: {host: b}
""")
    assert lines_of(text, "MG209") == [(7, "error")]


def test_mg209_httproute_all_zero_is_warning() -> None:
    text = route("""\
  rules:
  - backendRefs: [{name: sklearn-v1, port: 80, weight: 0}]
""")
    assert lines_of(text, "MG209") == [(7, "warning")]


def test_mg209_httproute_weight_out_of_range_is_error() -> None:
    text = route("""\
  rules:
  - backendRefs:
    - {name: sklearn-v1, port: 80, weight: -1}
    - {name: sklearn-v2, port: 80}
""")
    assert lines_of(text, "MG209") == [(8, "error")]


def test_mg209_httproute_unset_weight_is_one() -> None:
    both_unset = route("""\
  rules:
  - backendRefs:
    - {name: sklearn-v1, port: 80}
    - {name: sklearn-v2, port: 80}
""")
    # no Σ info (no written weight), but 1:1 is not the 90/10 canary split
    assert lines_of(both_unset, "MG209") == [(7, "info")]
    assert "canary_split" in only(both_unset, "MG209").message
    one_set = route("""\
  rules:
  - backendRefs:
    - {name: sklearn-v1, port: 80, weight: 90}
    - {name: sklearn-v2, port: 80}
""")
    sum_info, canary_info = sorted(
        findings_of(one_set, "MG209"), key=lambda f: f.message, reverse=True
    )
    assert (sum_info.position.line, sum_info.severity.value) == (7, "info")
    assert "sum to 91" in sum_info.message and "90/1" in canary_info.message


def test_mg209_httproute_canary_only_between_services() -> None:
    text = route("""\
  rules:
  - backendRefs:
    - {group: inference.networking.k8s.io, kind: InferencePool, name: a, weight: 50}
    - {name: sklearn-v2, port: 80, weight: 50}
""")
    assert lines_of(text, "MG209") == []


# -- MG210 glob characters in route paths ---------------------------------------------------------


def test_mg210_1_httproute_brace_is_error() -> None:
    text = route("""\
  rules:
  - matches: [{path: {type: Exact, value: "/v1/models/{name}/infer"}}]
    backendRefs: [{name: sklearn-predictor, port: 80}]
""")
    assert lines_of(text, "MG210") == [(7, "error")]
    assert only(text, "MG210").fix is None  # mid-path: no mechanical fix


def test_mg210_2_httproute_star_is_warning_with_prefix_fix() -> None:
    text = route("""\
  rules:
  - matches: [{path: {value: "/v1/models/*"}}]
    backendRefs: [{name: sklearn-predictor, port: 80}]
""")
    assert lines_of(text, "MG210") == [(7, "warning")]
    finding = only(text, "MG210")
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert fixed(finding)["spec"]["rules"][0]["matches"][0]["path"] == {"value": "/v1/models"}


def test_mg210_2_root_glob_becomes_slash() -> None:
    text = route("""\
  rules:
  - matches: [{path: {type: PathPrefix, value: "/*"}}]
    backendRefs: [{name: sklearn-predictor, port: 80}]
""")
    assert fixed(only(text, "MG210"))["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/"


def test_mg210_3_vs_star_is_warning() -> None:
    text = vs("""\
  http:
  - match:
    - uri: {prefix: "/v1/models/*"}
    - uri: {exact: "/v2/models/*/infer"}
    - uri: {regex: "/v2/models/.*/infer"}
    route: [{destination: {host: sklearn-predictor}}]
""")
    assert lines_of(text, "MG210") == [(8, "warning"), (9, "warning")]
    prefix, exact = findings_of(text, "MG210")
    assert fixed(prefix)["spec"]["http"][0]["match"][0]["uri"] == {"prefix": "/v1/models/"}
    assert exact.fix is None


def test_mg210_regex_paths_are_not_checked() -> None:
    text = route("""\
  rules:
  - matches: [{path: {type: RegularExpression, value: "/v1/models/.*"}}]
    backendRefs: [{name: sklearn-predictor, port: 80}]
""")
    assert lines_of(text, "MG210") == []


# -- robustness -----------------------------------------------------------------------------------

HOSTILE = [
    vs("  http: oops\n  tcp: 3\n"),
    vs("  http: [null, 1, oops, [], {match: oops, route: oops}]\n"),
    vs(
        "  http:\n"
        "  - match: [null, 1, {headers: oops}, {headers: {x-model-version: oops}}, {uri: oops}]\n"
        "    route: [null, {destination: oops, weight: oops}, {weight: 1.5}]\n"
    ),
    vs(
        "  http:\n"
        "  - match: [{headers: {X-Model-Version: {prefix: 1, regex: [1]}}, uri: {prefix: 5}}]\n"
        "    route: [{destination: {host: 5, subset: [1]}, weight: true}, {weight: 3}]\n"
        "  tcp: [{match: [null, {port: 1}], route: [{weight: -1}, 7]}, {match: oops}]\n"
    ),
    route(
        "  rules: [null, {backendRefs: oops}, {backendRefs: [null, {weight: oops}]},\n"
        "    {matches: [{path: oops}, {path: {type: 5, value: [1]}}, {path: {value: null}}]}]\n"
    ),
    route("  rules: [{backendRefs: [{name: a, weight: 1}, {name: b, weight: true}]}]\n"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_never_crashes(text: str) -> None:
    for rule in ("MG207", "MG208", "MG209", "MG210"):
        findings_of(text, rule)
    internal = [
        f
        for f in findings_of(text, "MG000")
        if any(r in f.message for r in ("MG207", "MG208", "MG209", "MG210"))
    ]
    assert internal == []
