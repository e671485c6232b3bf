"""meshguard over the whole shared corpus, and against `istioctl analyze`'s own test expectations.

1. Every .yaml/.yml file of the corpus (dot folders such as kyverno's `.chainsaw-test/` included:
   `meshguard lint DIR` skips them, this test does not) is linted in one run, once with the default
   parameters and once with every namespace of the corpus as an ML namespace, so that the ML-only
   code paths also meet real input. No check may crash (MG000 "internal error"), and MG000 parse
   errors must agree with PyYAML.
2. `istio-analyzers/expected.tsv` (generated from istio's analyzers_test.go; see its README) lists
   the messages istioctl's analyzers must emit on their testdata. For every IST code that a rule
   claims as its peer (a `peers` entry of rules/*.yaml that starts with the code), the recall is
   the share of those expected messages for which a claiming rule reports a finding on the same
   resource. Two columns: `resource` (any finding of a claiming rule on that resource, the plain
   definition) and `same` (the finding is also about the same thing, by its pointer: see SHAPES).
"""

from __future__ import annotations

import csv
import functools
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from meshguard.config import Config, with_parameters
from meshguard.engine import Result, run
from meshguard.loader import LoadedFile, load_file, load_files
from meshguard.model import Finding
from tests.lintkit import RULES

YAML_SUFFIXES = (".yaml", ".yml")


def _claims() -> dict[str, frozenset[str]]:
    """IST code → rules whose `peers` claim it (an entry that starts with the code; entries
    such as MG602's "— (IST0113 … removed)" or MG604's "— offline (… IST0171 …)" disclaim it)."""
    out: dict[str, set[str]] = defaultdict(set)
    for meta in RULES.values():
        for peer in meta.peers:
            match = re.match(r"IST\d{4}\b", peer)
            if match:
                out[match.group()].add(meta.id)
    return {code: frozenset(ids) for code, ids in sorted(out.items())}


CLAIMS = _claims()

# Recall measured on 2026-11-30 (istio 86c9f01 testdata) as matched counts (resource, same);
# a change that lowers one fails here, a change that raises one should raise the floor.
# Misses examined:
# IST0101 22 rows, 12 of them outside MG601's claim (VirtualService destinations): Gateway
#   credentialName / missing gateway workload (gateway.SecretAnalyzer, IngressGatewayPortAnalyzer),
#   Sidecar and Telemetry selectors that match no pod, AuthorizationPolicy namespaces that do not
#   exist. In scope, 8 of 10 found; missed: VirtualService httpbin-bogus names a missing Gateway in
#   `gateways:` (virtualservice.GatewayAnalyzer; MG601 checks destinations only), and
#   reviews-bogushost's second message, for `route: [{}]`: a route entry without `destination`,
#   which the CRD already rejects (`required: [destination]`; the analyzer tests skip the schema).
# IST0107 the Pod grafana-test and the Namespace staging carry annotations that belong to other
#   kinds (kubernetes.io/ingress.class, gateway.istio.io/controller-version); MG405 covers only the
#   opposite direction, pod annotations on controllers (Deployment fortio-deploy: found).
# IST0118 the Services of service-no-port-name.yaml select no inference workload; MG408 is limited
#   to model-server Services by design (RULES.md MG408 "Applies to").
# IST0123 all found since MG401(4) follows injection.go: Namespace multi-ns-3 has `istio.io/rev`
#   + `istio.io/dataplane-mode: ambient` and no `istio-injection`.
# IST0125 readiness.status.sidecar.istio.io/initialDelaySeconds: bar (not an int); MG404 parses
#   only the proxy resource annotations.
# IST0130/IST0131 duplicate-match and duplicate-tcp-match: Istio reports the rule (every match
#   is a duplicate, IST0130) and the match (IST0131); meshguard reports the match once, counted
#   for IST0131 (tls-routing and tls-routing-almostmatch too, since MG208 covers `tls` as
#   validation.go analyzeUnreachableTLSRules does). IST0131 non-method-get,
#   overlapping-in-single-match: a later match entry of the *same* rule shadowed by an earlier
#   entry (harmless: same route). Found since
#   MG208 follows validation.go coveredValidation (the shadowing entry's other conditions, such
#   as `method: {exact: GET}`, repeated by the later one): overlapping-in-two-matches,
#   overlapping-mathes-with-different-methods.
# IST0135 the deprecated annotation on fortio-deploy is sidecar.istio.io/statsInclusionPrefixes;
#   MG402's claim is "(for 2)", the deprecated sidecar.istio.io/inject annotation only.
# IST0173 reported on the DestinationRule (its subset selects no pod); MG601(4) reports it on a
#   VirtualService that routes to the subset and these files have none; MG609's claim is
#   "related" (conflicting DestinationRules), not this condition.
FLOORS: dict[str, tuple[int, int]] = {
    "IST0101": (8, 8),
    "IST0102": (1, 1),
    "IST0107": (1, 1),
    "IST0112": (1, 1),
    "IST0118": (0, 0),
    "IST0123": (8, 8),
    "IST0125": (0, 0),
    "IST0130": (2, 2),
    "IST0131": (8, 8),
    "IST0135": (0, 0),
    "IST0173": (0, 0),
}

# What a finding must point at to be about the same thing as the IST message (`same` column).
SHAPES: dict[tuple[str, str], re.Pattern[str]] = {
    # (code, analyzer_name) → pointer pattern; analyzer "" applies to any analyzer
    ("IST0101", "virtualservice.DestinationHostAnalyzer"): re.compile(r"/(host|port|number)$"),
    ("IST0101", "virtualservice.DestinationRuleAnalyzer"): re.compile(r"/subset$"),
    ("IST0101", "virtualservice.GatewayAnalyzer"): re.compile(r"^/spec/gateways(/|$)"),
    ("IST0112", ""): re.compile(r"/destination(/port)?$"),
    ("IST0102", ""): re.compile(r"^/metadata(/name)?$"),
    ("IST0123", ""): re.compile(r"^/metadata/labels/"),
    ("IST0130", ""): re.compile(r"^/spec/(http|tcp|tls)/\d+$"),
    ("IST0131", ""): re.compile(r"/match/\d+$"),
    ("IST0135", ""): re.compile(r"/annotations/sidecar\.istio\.io~1inject$"),
    ("IST0173", ""): re.compile(r"/subsets?(/\d+)?$"),
}
# MG401(4) and MG401(5) share the label pointer; (4) is the one that names both labels
SAME_MESSAGE: dict[str, re.Pattern[str]] = {"IST0123": re.compile(r"\bboth\b")}


def corpus_yaml_paths(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


@dataclass
class CorpusRun:
    files: list[LoadedFile]
    results: dict[str, Result]
    seconds: dict[str, float] = field(default_factory=dict)


@functools.cache
def _lint_corpus(corpus: Path) -> CorpusRun:
    start = time.perf_counter()
    files = load_files(corpus_yaml_paths(corpus))
    loaded = time.perf_counter()
    namespaces = sorted({r.namespace for f in files for r in f.resources if r.namespace})
    configs = {
        "default": Config(),
        "all-ml": with_parameters(Config(), {"ml_namespaces": namespaces}),
    }
    out = CorpusRun(files, {}, {"load": loaded - start})
    logging.disable(logging.ERROR)  # the engine logs each crash's traceback; the finding is enough
    try:
        for name, config in configs.items():
            began = time.perf_counter()
            out.results[name] = run(files, config, RULES)
            out.seconds[name] = time.perf_counter() - began
    finally:
        logging.disable(logging.NOTSET)
    return out


def _internal_errors(result: Result) -> list[Finding]:
    return [
        f for f in result.findings if f.rule == "MG000" and f.message.startswith("internal error")
    ]


def test_corpus_lints_without_a_crash(corpus: Path) -> None:
    linted = _lint_corpus(corpus)
    resources = sum(len(f.resources) for f in linted.files)
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in linted.seconds.items())
    print(f"\ncorpus: {len(linted.files)} files, {resources} resources; {timing}")
    assert len(linted.files) > 1000 and resources > 2000, "the corpus looks truncated"
    crashes = [
        f"{name}: {f.file}:{f.position.line}: {f.message}"
        for name, result in linted.results.items()
        for f in _internal_errors(result)
    ]
    assert crashes == []


@functools.cache
def _pyyaml_fails(path: str) -> bool:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            list(yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (yaml.YAMLError, UnicodeDecodeError):
        return True
    return False


def test_parse_errors_agree_with_pyyaml(corpus: Path) -> None:
    linted = _lint_corpus(corpus)
    reported = {
        f.file
        for f in linted.results["default"].findings
        if f.rule == "MG000" and not f.message.startswith("internal error")
    }
    assert sorted(p for p in reported if not _pyyaml_fails(p)) == [], (
        "MG000 on YAML that PyYAML reads"
    )
    unparsable = {f.path for f in linted.files if _pyyaml_fails(f.path)}
    assert sorted(unparsable - reported) == [], "YAML that PyYAML rejects must be MG000"


# --- istioctl analyze expectations -------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    testcase: str
    inputs: tuple[str, ...]
    analyzer: str
    code: str
    kind: str
    namespace: str  # "" when the test names no namespace
    name: str


def _expected_rows(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "istio-analyzers" / "expected.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _parse_resource(text: str) -> tuple[str, str, str]:
    kind, _, ref = text.partition(" ")
    namespace, _, name = ref.rpartition("/")
    return kind, namespace, name


def _cases(corpus: Path) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    """Rows of the single-cluster test table by (testcase, input_files, extra): names repeat."""
    cases: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in _expected_rows(corpus):
        # multicluster_analyzers_test.go loads two fake clusters; one meshguard run is one cluster
        if row["test_file"] == "analyzers_test.go":
            cases[(row["testcase"], row["input_files"], row["extra"])].append(row)
    return cases


def _lint_case(corpus: Path, inputs: str) -> Result:
    """One test case's input files as one run, like istioctl's: the input is the whole cluster
    (so `strict_refs`: an unresolved reference is an error, as the analyzers see it) and every
    namespace is an ML namespace (the analyzers look at all namespaces)."""
    base = corpus / "istio-analyzers"
    files = [load_file(str(base / p)) for p in inputs.split(",")]
    namespaces = {r.namespace for f in files for r in f.resources if r.namespace}
    namespaces |= {r.name for f in files for r in f.resources if r.kind == "Namespace"}
    params = {"ml_namespaces": sorted(namespaces), "strict_refs": True}
    return run(files, with_parameters(Config(), params), RULES)


def _on(finding: Finding, want: Expected) -> bool:
    res = finding.resource
    if res is None or res.kind != want.kind or res.name != want.name:
        return False
    return res.namespace == want.namespace if want.namespace else res.namespace in ("", "default")


def _same(finding: Finding, want: Expected) -> bool:
    shape = SHAPES.get((want.code, want.analyzer)) or SHAPES.get((want.code, ""))
    if shape is not None and not shape.search(finding.pointer):
        return False
    message = SAME_MESSAGE.get(want.code)
    return message is None or bool(message.search(finding.message))


def _allocate(pool: list[Finding], wants: list[Expected], same_only: bool) -> Counter[str]:
    """Match expected messages to distinct findings (multiplicity counts, as in the Go test);
    `same` matches are taken first, so a finding is not spent on the wrong message."""
    matched: Counter[str] = Counter()
    free = list(pool)
    todo = list(wants)
    for strict in (True, False) if not same_only else (True,):
        left = []
        for want in todo:
            for i, finding in enumerate(free):
                if (
                    finding.rule in CLAIMS[want.code]
                    and _on(finding, want)
                    and (not strict or _same(finding, want))
                ):
                    del free[i]
                    matched[want.code] += 1
                    break
            else:
                left.append(want)
        todo = left
    return matched


@dataclass
class Recall:
    expected: Counter[str] = field(default_factory=Counter)
    on_resource: Counter[str] = field(default_factory=Counter)
    same: Counter[str] = field(default_factory=Counter)
    quiet_cases: Counter[str] = field(default_factory=Counter)  # "(none)" cases of those analyzers
    loud_cases: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


@functools.cache
def _recall(corpus: Path) -> Recall:
    out = Recall()
    cases = _cases(corpus)
    analyzer_codes: dict[str, set[str]] = defaultdict(set)
    for rows in cases.values():
        for row in rows:
            if row["message_code"] in CLAIMS:
                analyzer_codes[row["analyzer_name"]].add(row["message_code"])
    for (testcase, inputs, _extra), rows in cases.items():
        wants = [
            Expected(
                testcase,
                tuple(inputs.split(",")),
                r["analyzer_name"],
                r["message_code"],
                *_parse_resource(r["resource"]),
            )
            for r in rows
            if r["message_code"] in CLAIMS
        ]
        quiet = [
            r
            for r in rows
            if r["message_type"] == "(none)" and r["analyzer_name"] in analyzer_codes
        ]
        if not wants and not quiet:
            continue
        result = _lint_case(corpus, inputs)
        out.expected.update(w.code for w in wants)
        out.on_resource.update(_allocate(result.findings, wants, same_only=False))
        out.same.update(_allocate(result.findings, wants, same_only=True))
        for row in quiet:
            # the analyzer must stay silent here; do meshguard's claiming rules agree?
            for code in sorted(analyzer_codes[row["analyzer_name"]]):
                out.quiet_cases[code] += 1
                loud = sorted({f.rule for f in result.findings if f.rule in CLAIMS[code]})
                if loud:
                    out.loud_cases[code].append(f"{testcase} ({inputs}): {', '.join(loud)}")
    return out


def test_every_claimed_code_has_a_floor() -> None:
    assert sorted(CLAIMS) == sorted(FLOORS), "a new IST peer claim needs a measured floor"


def _cell(matched: int, expected: int) -> str:
    return f"{matched}/{expected}" if expected else "-"


def test_istio_analyzer_recall_table(corpus: Path) -> None:
    recall = _recall(corpus)
    lines = [f"{'code':8} {'rules':12} {'expected':>8} {'resource':>9} {'same':>9}  quiet cases"]
    for code, rules in CLAIMS.items():
        n = recall.expected[code]
        loud = recall.loud_cases.get(code, [])
        quiet = f"{recall.quiet_cases[code] - len(loud)}/{recall.quiet_cases[code]} silent"
        lines.append(
            f"{code:8} {','.join(sorted(rules)):12} {n:>8} {_cell(recall.on_resource[code], n):>9}"
            f" {_cell(recall.same[code], n):>9}  {quiet if recall.quiet_cases[code] else '-'}"
        )
        lines.extend(f"{'':10}loud: {case}" for case in loud)
    print("\nistioctl analyze expectations vs meshguard peers\n" + "\n".join(lines))
    assert sum(recall.expected.values()) > 40, "expected.tsv lost rows for the claimed codes"


@pytest.mark.parametrize("code", sorted(FLOORS))
def test_istio_analyzer_recall_floor(corpus: Path, code: str) -> None:
    recall = _recall(corpus)
    on_resource, same = FLOORS[code]
    got = (recall.on_resource[code], recall.same[code])
    assert got[0] >= on_resource and got[1] >= same, (
        f"{code}: (resource, same) recall {got} of {recall.expected[code]} fell below the floor"
        f" ({on_resource}, {same})"
    )
