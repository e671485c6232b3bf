"""The command line in-process: exit statuses, input handling, configuration, hostile YAML."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from meshguard import __version__
from meshguard.cli import main
from meshguard.loader import load_text
from meshguard.registry import CHECKS

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
BROKEN = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n"  # MG000 at line 4
ML_NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving}\n"  # MG101 at line 3


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder (no configuration above it), outside GitHub Actions, no NO_COLOR."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def lint_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc, out, err = cli(capsys, "lint", "--format", "json", *argv)
    assert err == ""
    return rc, json.loads(out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rules_of(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(f["rule"], Path(f["file"]).name, f["line"]) for f in doc["findings"]]


def needs(rule_id: str) -> None:
    from meshguard.checks import register_all

    register_all()  # fills CHECKS

    if rule_id not in CHECKS:
        pytest.skip(f"{rule_id} has no check yet")


# --- commands, help and version -------------------------------------------------------------------


def test_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("lint", "fix", "rules", "explain"):
        assert command in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys)
    assert rc == 2
    assert "usage: meshguard" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"meshguard {__version__}"


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lint", "--no-such-option"])
    assert exc.value.code == 2


def test_rules_lists_mg000(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "rules")
    assert rc == 0 and err == ""
    line = next(line for line in out.splitlines() if line.startswith("MG000"))
    assert "error" in line and "Manifest does not parse" in line


def test_rules_check_validates_the_rule_files(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "rules", "--check")
    assert rc == 0
    assert re.search(r"^\d+ rule files valid$", out, re.M)


def test_explain_prints_title_why_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "explain", "mg000")
    assert rc == 0 and err == ""
    assert out.startswith("MG000: Manifest does not parse\n")
    for heading in ("What it flags", "Why it matters", "Fix (none)", "References"):
        assert heading in out
    assert "kubectl, Argo CD and Flux reject the whole file" in out
    assert "Correct the YAML at the reported line" in out


def test_explain_unknown_rule_exits_2_with_a_pointer_to_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, err = cli(capsys, "explain", "MG999")
    assert rc == 2 and out == ""
    assert err == "meshguard: error: unknown rule id 'MG999'; `meshguard rules` lists them\n"


# --- inputs ---------------------------------------------------------------------------------------


def test_missing_path_is_one_error_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "lint", "nope.yaml")
    assert rc == 2 and out == ""
    assert err == "meshguard: error: nope.yaml: no such file or directory\n"


def test_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "ns.yaml", NAMESPACE)
    rc, out, err = cli(capsys, "lint", "ns.yaml")
    assert (rc, err) == (0, "")
    assert out == "no problems in 1 resource in 1 file\n"


def test_default_path_is_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a" / "bad.yml", BROKEN)
    write(tmp_path / ".hidden" / "bad.yaml", BROKEN)  # hidden folders are not read
    write(tmp_path / "notes.txt", BROKEN)  # nor other suffixes
    rc, doc = lint_json(capsys)
    assert rc == 1
    assert rules_of(doc) == [("MG000", "bad.yml", 4)]
    assert Path(doc["findings"][0]["file"]) == Path("a", "bad.yml")


def test_stdin_is_reported_as_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
    rc, out, err = cli(capsys, "lint", "--format", "parsable", "-")
    assert rc == 1 and err == ""
    assert out.startswith("<stdin>:4:1: MG000 error: YAML does not parse")


def test_clean_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(NAMESPACE.encode())))
    rc, doc = lint_json(capsys, "-")
    assert rc == 0
    assert doc["findings"] == [] and doc["summary"]["resources"] == 1


def test_stdin_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "lint", "-", "-")
    assert rc == 2 and err.startswith("meshguard: error: ")


def test_broken_file_is_mg000_at_its_line_and_the_others_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.yaml", NAMESPACE)
    write(tmp_path / "b.yaml", BROKEN)
    write(tmp_path / "c.yaml", NAMESPACE.replace("web", "api"))
    rc, doc = lint_json(capsys, ".")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "b.yaml", 4)]
    finding = doc["findings"][0]
    assert finding["severity"] == "error" and finding["message"].startswith("YAML does not parse")
    assert doc["summary"]["files"] == 3 and doc["summary"]["resources"] == 2


def test_broken_later_document_skips_the_whole_file_and_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "multi.yaml",
        NAMESPACE + "---\n" + "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1\n",
    )
    rc, doc = lint_json(capsys, "multi.yaml")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "multi.yaml", 9)]
    assert doc["summary"]["resources"] == 0


def test_tab_indentation_is_mg000(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "tab.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: web\n")
    rc, doc = lint_json(capsys, "tab.yaml")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "tab.yaml", 4)]


def test_python_tags_are_refused_not_executed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "tag.yaml", NAMESPACE + "data: !!python/object/apply:os.system ['echo pwned']\n"
    )
    rc, doc = lint_json(capsys, "tag.yaml")
    # the C composer keeps unknown tags as plain nodes; nothing is constructed, nothing runs
    assert rc in (0, 1)
    assert all(f["rule"] == "MG000" for f in doc["findings"])


def test_non_utf8_file_is_mg000(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "latin1.yaml").write_bytes(NAMESPACE.encode() + b"# caf\xe9\n")
    rc, doc = lint_json(capsys, "latin1.yaml")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "latin1.yaml", 1)]
    assert "not UTF-8" in doc["findings"][0]["message"]


@pytest.mark.parametrize(
    "text",
    [
        "replicaCount: 2\nimage: {repository: vllm/vllm-openai, tag: latest}\n",  # Helm values
        "just a string\n",  # a bare scalar
        "- 1\n- two\n",  # a bare list
        "kind: Namespace\nmetadata: {name: web}\n",  # no apiVersion
        "",  # empty
        "---\n---\n",  # empty documents
    ],
    ids=["helm-values", "scalar", "list", "no-apiVersion", "empty", "empty-documents"],
)
def test_non_kubernetes_yaml_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    write(tmp_path / "values.yaml", text)
    rc, doc = lint_json(capsys, "values.yaml")
    assert rc == 0
    assert doc["findings"] == []
    assert doc["summary"]["files"] == 1 and doc["summary"]["resources"] == 0


# --- exit status and --fail-on --------------------------------------------------------------------


def _mg000_as_warning(tmp_path: Path) -> None:
    write(tmp_path / ".meshguard.yaml", "rules:\n  MG000: {severity: warning}\n")
    write(tmp_path / "bad.yaml", BROKEN)


def test_fail_on_error_ignores_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mg000_as_warning(tmp_path)
    rc, doc = lint_json(capsys, "--fail-on", "error", "bad.yaml")
    assert rc == 0
    assert [f["severity"] for f in doc["findings"]] == ["warning"]


def test_warnings_fail_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mg000_as_warning(tmp_path)
    rc, _ = lint_json(capsys, "bad.yaml")
    assert rc == 1


def test_fail_on_never(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "--fail-on", "never", "bad.yaml")
    assert rc == 0 and len(doc["findings"]) == 1


def test_fail_on_from_config_and_the_flag_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "fail_on: never\n")
    write(tmp_path / "bad.yaml", BROKEN)
    assert lint_json(capsys, "bad.yaml")[0] == 0
    assert lint_json(capsys, "--fail-on", "error", "bad.yaml")[0] == 1


def test_info_never_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "rules:\n  MG000: {severity: info}\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 0 and doc["summary"]["infos"] == 1


# --- configuration --------------------------------------------------------------------------------


def test_unknown_config_key_names_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "fail_on: error\nexclude: []\nfail_onn: warning\n")
    write(tmp_path / "ns.yaml", NAMESPACE)
    rc, out, err = cli(capsys, "lint", "ns.yaml")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert re.fullmatch(
        r"meshguard: error: .*\.meshguard\.yaml:3: unknown key 'fail_onn'\n", err
    ), err


def test_unknown_nested_parameter_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / ".meshguard.yaml",
        "parameters:\n  mesh:\n    root_namespace: istio-system\n    rootNamespace: x\n",
    )
    rc, _, err = cli(capsys, "lint", "--format", "json", ".")
    assert rc == 2
    assert re.fullmatch(
        r"meshguard: error: .*\.meshguard\.yaml:4: unknown key 'parameters\.mesh\.rootNamespace'\n",
        err,
    ), err


def test_bad_config_value_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "exclude: []\nfail_on: sometimes\n")
    rc, _, err = cli(capsys, "lint", ".")
    assert rc == 2
    assert re.match(r"meshguard: error: .*\.meshguard\.yaml:2: fail_on: ", err), err


def test_unknown_rule_id_in_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "ignore: [MG999]\n")
    rc, _, err = cli(capsys, "lint", ".")
    assert rc == 2
    assert "unknown rule id 'MG999'" in err and ".meshguard.yaml:1" in err


def test_unparsable_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "rules: {MG000: false\n")
    rc, out, err = cli(capsys, "lint", ".")
    assert rc == 2 and out == ""
    assert re.match(r"meshguard: error: .*\.meshguard\.yaml:2: YAML does not parse", err), err


def test_pyproject_tool_table_is_found_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.meshguard]\nignore = ["MG000"]\n',
    )
    # a nearer pyproject without [tool.meshguard] does not stop the walk
    write(tmp_path / "deploy" / "pyproject.toml", '[project]\nname = "y"\n')
    write(tmp_path / "deploy" / "k8s" / "bad.yaml", BROKEN)
    monkeypatch.chdir(tmp_path / "deploy" / "k8s")
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 0 and doc["findings"] == []


def test_bad_pyproject_tool_table_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", '[tool.meshguard]\nfail-on = "error"\n')
    rc, _, err = cli(capsys, "lint", ".")
    assert rc == 2
    assert "pyproject.toml" in err and "unknown key 'fail-on'" in err


def test_nearest_meshguard_yaml_wins_over_a_pyproject_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", '[tool.meshguard]\nignore = ["MG000"]\n')
    write(tmp_path / "sub" / ".meshguard.yaml", "fail_on: error\n")
    write(tmp_path / "sub" / "bad.yaml", BROKEN)
    monkeypatch.chdir(tmp_path / "sub")
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 1 and rules_of(doc) == [("MG000", "bad.yaml", 4)]


def test_config_flag_disables_a_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "conf" / "meshguard.yaml", "rules: {MG000: false}\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "--config", "conf/meshguard.yaml", "bad.yaml")
    assert rc == 0 and doc["findings"] == []


def test_rule_enabled_false_disables_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "rules:\n  MG000: {enabled: false}\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 0 and doc["findings"] == []


def test_missing_config_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "lint", "--config", "nope.yaml", ".")
    assert rc == 2
    assert err == "meshguard: error: nope.yaml: configuration file not found\n"


def test_no_config_ignores_a_broken_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "bogus: true\n")
    write(tmp_path / "ns.yaml", NAMESPACE)
    rc, doc = lint_json(capsys, "--no-config", "ns.yaml")
    assert rc == 0 and doc["summary"]["resources"] == 1


def test_ignore_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "--ignore", "mg000", "bad.yaml")
    assert rc == 0 and doc["findings"] == []


def test_ignore_in_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "ignore: [MG000]\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 0 and doc["findings"] == []


def test_select_keeps_parse_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "--select", "MG000", "bad.yaml")
    assert rc == 1 and rules_of(doc) == [("MG000", "bad.yaml", 4)]


def test_select_in_config_keeps_parse_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "select: [MG101]\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "bad.yaml")
    assert rc == 1 and rules_of(doc) == [("MG000", "bad.yaml", 4)]


def test_select_runs_only_the_selected_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(tmp_path / "ml.yaml", ML_NAMESPACE)
    rc, doc = lint_json(capsys, "--select", "MG101", "ml.yaml")
    assert rc == 1 and {f["rule"] for f in doc["findings"]} == {"MG101"}
    rc, doc = lint_json(capsys, "--select", "MG000", "ml.yaml")
    assert rc == 0 and doc["findings"] == []


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
def test_unknown_rule_id_on_the_command_line(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "lint", flag, "MG000,MG999", ".")
    assert rc == 2
    assert err == f"meshguard: error: {flag}: unknown rule id 'MG999'; see `meshguard rules`\n"


def test_severity_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / ".meshguard.yaml", "rules:\n  MG000: {severity: warning}\n")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, out, _ = cli(capsys, "lint", "--format", "text", "bad.yaml")
    assert rc == 1
    assert "  4:1     warning  MG000  YAML does not parse" in out
    assert "(0 errors, 1 warning, 0 info)" in out


@pytest.mark.parametrize(
    ("pattern", "target"),
    [
        ("vendor", "vendor/x.yaml"),  # a folder name, anywhere in the path
        ("vendor/*", "vendor/x.yaml"),  # matched against ./vendor/x.yaml too
        ("*.broken.yaml", "k8s/bad.broken.yaml"),
        ("**/bad*", "k8s/bad.yaml"),
    ],
)
def test_exclude_globs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, target: str
) -> None:
    write(tmp_path / ".meshguard.yaml", f"exclude: [{json.dumps(pattern)}]\n")
    write(tmp_path / target, BROKEN)
    write(tmp_path / "k8s" / "ns.yaml", NAMESPACE)
    rc, doc = lint_json(capsys, ".")
    assert rc == 0 and doc["findings"] == []
    assert doc["summary"]["resources"] == 1
    rc, doc = lint_json(capsys, "k8s", str(Path(target).parent))
    assert rc == 0 and doc["summary"]["files"] == 1


def test_exclude_is_relative_to_the_configuration_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "exclude: ['k8s/generated/*']\n")
    write(tmp_path / "k8s" / "generated" / "bad.yaml", BROKEN)
    write(tmp_path / "k8s" / "ns.yaml", NAMESPACE)
    monkeypatch.chdir(tmp_path / "k8s")
    rc, doc = lint_json(capsys, ".")
    assert rc == 0 and doc["findings"] == [] and doc["summary"]["files"] == 1


def test_exclude_applies_to_files_named_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "exclude: ['generated']\n")
    write(tmp_path / "generated" / "bad.yaml", BROKEN)
    rc, doc = lint_json(capsys, "generated/bad.yaml")
    assert rc == 0 and doc["summary"]["files"] == 0


# --- suppression ----------------------------------------------------------------------------------


def test_comment_suppresses_a_finding_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(
        tmp_path / "ml.yaml",
        ML_NAMESPACE.replace("}\n", "}  # meshguard: ignore[MG101]\n"),
    )
    rc, doc = lint_json(capsys, "--select", "MG101", "ml.yaml")
    assert rc == 0 and doc["findings"] == []
    assert doc["summary"]["suppressed"] == 1
    assert "suppressed" not in doc


def test_comment_line_suppresses_the_next_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(
        tmp_path / "ml.yaml",
        "apiVersion: v1\nkind: Namespace\n"
        "# meshguard: ignore[MG999, MG101]\n"
        "metadata: {name: ml-serving}\n",
    )
    rc, doc = lint_json(capsys, "--select", "MG101", "ml.yaml")
    assert rc == 0 and doc["summary"]["suppressed"] == 1


def test_comment_for_another_rule_does_not_suppress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(tmp_path / "ml.yaml", ML_NAMESPACE.replace("}\n", "}  # meshguard: ignore[MG102]\n"))
    rc, doc = lint_json(capsys, "--select", "MG101", "ml.yaml")
    assert rc == 1 and [f["rule"] for f in doc["findings"]] == ["MG101"]


def test_annotation_suppresses_and_show_suppressed_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(
        tmp_path / "ml.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ml-serving\n"
        "  annotations: {meshguard.io/ignore: 'MG104, mg101'}\n",
    )
    rc, out, _ = cli(capsys, "lint", "--format", "text", "--select", "MG101", "ml.yaml")
    assert rc == 0
    assert out == "no problems in 1 resource in 1 file; 1 suppressed (--show-suppressed)\n"

    rc, out, _ = cli(
        capsys, "lint", "--format", "text", "--select", "MG101", "--show-suppressed", "ml.yaml"
    )
    assert rc == 0
    assert "suppressed\n  ml.yaml:4:3  MG101  " in out
    assert "(annotation meshguard.io/ignore on Namespace ml-serving)" in out

    rc, doc = lint_json(capsys, "--select", "MG101", "--show-suppressed", "ml.yaml")
    assert [(f["rule"], f["line"]) for f in doc["suppressed"]] == [("MG101", 4)]
    assert doc["suppressed"][0]["suppressed_by"].startswith("annotation meshguard.io/ignore")


# --- hostile and unusual YAML ---------------------------------------------------------------------

LAUGHS = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
    "  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
    + "".join(
        f"  {c}: &{c} [{','.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def _timed_lint(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    start = time.monotonic()
    result = lint_json(capsys, *argv)
    assert time.monotonic() - start < 20, "bounded work, not a hang"
    return result


def test_billion_laughs_is_mg000_not_a_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "lol.yaml", LAUGHS)
    write(tmp_path / "ok.yaml", NAMESPACE)
    rc, doc = _timed_lint(capsys, ".")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "lol.yaml", 1)]
    assert "alias bomb" in doc["findings"][0]["message"]
    assert doc["summary"]["resources"] == 1


def test_alias_bomb_through_nested_lists_is_mg000(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "apiVersion: v1\nkind: List\n"
    text += "l0: &l0 {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Namespace}]}\n"
    for i in range(9):  # l(i+1) is a List of ten l(i): 10^9 Namespaces in all
        items = ", ".join([f"*l{i}"] * 10)
        text += f"l{i + 1}: &l{i + 1} {{apiVersion: v1, kind: List, items: [{items}]}}\n"
    write(tmp_path / "lists.yaml", text + "items: [*l9]\n")
    rc, doc = _timed_lint(capsys, "lists.yaml")
    assert rc == 1 and [f["rule"] for f in doc["findings"]] == ["MG000"]
    assert "alias bomb" in doc["findings"][0]["message"]


def test_recursive_alias_is_mg000(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path / "rec.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\ndata:\n  a: &x [*x]\n",
    )
    rc, doc = _timed_lint(capsys, "rec.yaml")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "rec.yaml", 5)]
    assert "recursive alias" in doc["findings"][0]["message"]


def test_list_that_contains_itself_is_mg000(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "rec.yaml",
        "apiVersion: v1\nkind: List\nitems: &x [{apiVersion: v1, kind: List, items: *x}]\n",
    )
    rc, doc = _timed_lint(capsys, "rec.yaml")
    assert rc == 1
    assert [f["rule"] for f in doc["findings"]] == ["MG000"]
    assert "List that contains itself" in doc["findings"][0]["message"]


def _nested(depth: int) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  x: "
        + "[" * depth
        + "]" * depth
        + "\n"
    )


def test_200_deep_nesting_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "deep.yaml", _nested(197))  # + data + x + the document: 200 levels
    rc, doc = lint_json(capsys, "deep.yaml")
    assert rc == 0 and doc["summary"]["resources"] == 1


def test_deeper_nesting_is_mg000(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "deep.yaml", _nested(250))
    rc, doc = lint_json(capsys, "deep.yaml")
    assert rc == 1 and rules_of(doc) == [("MG000", "deep.yaml", 5)]
    assert "nested deeper than 200 levels" in doc["findings"][0]["message"]


@pytest.mark.parametrize(
    "text",
    ["- " * 40_000 + "x\n", "a: " + "[" * 40_000 + "]" * 40_000 + "\n"],
    ids=["block", "flow"],
)
def test_nesting_that_would_overflow_the_c_stack_is_mg000(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """PyYAML's C composer recurses per level: 30,000 levels crashed the interpreter (SIGSEGV)
    with libyaml 0.2.5; libyaml 0.2.6 (PyYAML 6.0.4 wheels) refuses 1,000 levels itself."""
    write(tmp_path / "deep.yaml", text)
    write(tmp_path / "ok.yaml", NAMESPACE)
    rc, doc = _timed_lint(capsys, ".")
    assert rc == 1 and rules_of(doc) == [("MG000", "deep.yaml", 1)]
    assert re.search(DEEP, doc["findings"][0]["message"])
    assert doc["summary"]["resources"] == 1


DEEP = r"nested deeper than 200 levels|exceeded maximum nesting depth"  # meshguard's or libyaml's


def test_deep_configuration_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / ".meshguard.yaml", "exclude: " + "[" * 40_000 + "]" * 40_000 + "\n")
    rc, _, err = cli(capsys, "lint", ".")
    assert rc == 2 and re.search(DEEP, err) and err.count("\n") == 1


def test_kind_list_is_unwrapped_with_the_lines_of_its_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "apiVersion: v1\n"  # 1
        "kind: List\n"  # 2
        "items:\n"  # 3
        "- apiVersion: v1\n"  # 4
        "  kind: Namespace\n"  # 5
        "  metadata: {name: web}\n"  # 6
        "- apiVersion: v1\n"  # 7
        "  kind: ConfigMap\n"  # 8
        "  metadata:\n"  # 9
        "    name: settings\n"  # 10
        "    namespace: ml\n"  # 11
        "- not-an-object\n"  # 12
    )
    loaded = load_text(text, "list.yaml")
    assert [(r.kind, r.namespace, r.name) for r in loaded.resources] == [
        ("Namespace", "", "web"),
        ("ConfigMap", "ml", "settings"),
    ]
    web, settings = loaded.resources
    assert web.origin.position_of("/metadata/name").line == 6
    assert settings.origin.position_of("/metadata/name").line == 10
    assert settings.origin.position_of("/metadata/namespace").line == 11
    assert settings.origin.position_of("/data/missing").line == 7  # nearest ancestor: the item

    write(tmp_path / "list.yaml", text)
    rc, doc = lint_json(capsys, "list.yaml")
    assert rc == 0 and doc["summary"]["resources"] == 2


def test_kind_list_item_reports_at_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    write(
        tmp_path / "list.yaml",
        "apiVersion: v1\nkind: NamespaceList\nitems:\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: web}}\n"
        "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ml-serving\n",
    )
    rc, doc = lint_json(capsys, "--select", "MG101", "list.yaml")
    assert rc == 1 and rules_of(doc) == [("MG101", "list.yaml", 8)]


def test_crlf_line_endings_keep_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crlf = "apiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: web\r\n  labels: {a: b\r\n"
    (tmp_path / "crlf.yaml").write_bytes(crlf.encode())
    rc, doc = lint_json(capsys, "crlf.yaml")
    assert rc == 1 and rules_of(doc) == [("MG000", "crlf.yaml", 6)]

    good = "apiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: web\r\n  labels: {a: b}\r\n"
    loaded = load_text(good, "crlf.yaml")
    assert loaded.resources[0].origin.position_of("/metadata/labels/a").line == 5
    assert loaded.resources[0].body["metadata"]["name"] == "web"


def test_crlf_finding_from_a_rule_keeps_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs("MG101")
    (tmp_path / "ml.yaml").write_bytes(
        b"# header\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: ml-serving\r\n"
    )
    rc, doc = lint_json(capsys, "--select", "MG101", "ml.yaml")
    assert rules_of(doc) == [("MG101", "ml.yaml", 5)] and doc["findings"][0]["column"] == 3


def test_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + NAMESPACE.encode())
    (tmp_path / "bom-bad.yaml").write_bytes(b"\xef\xbb\xbf" + BROKEN.encode())
    rc, doc = lint_json(capsys, ".")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "bom-bad.yaml", 4)]
    assert doc["summary"]["resources"] == 1
    loaded = load_text((tmp_path / "bom.yaml").read_text(encoding="utf-8-sig"), "bom.yaml")
    assert loaded.resources[0].origin.position_of("/metadata/name").line == 3


def test_byte_order_mark_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + NAMESPACE.encode()))
    )
    rc, doc = lint_json(capsys, "-")
    assert rc == 0 and doc["summary"]["resources"] == 1


# --- output destination ---------------------------------------------------------------------------


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bad.yaml", BROKEN)
    rc, out, err = cli(capsys, "lint", "--format", "json", "-o", "report.json", "bad.yaml")
    assert (rc, out, err) == (1, "", "")
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert rules_of(doc) == [("MG000", "bad.yaml", 4)]


def test_unwritable_output_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "ns.yaml", NAMESPACE)
    rc, _, err = cli(capsys, "lint", "-o", "missing-dir/report.txt", "ns.yaml")
    assert rc == 2
    assert err.startswith("meshguard: error: missing-dir/report.txt: cannot write the report")


def test_github_format_is_the_default_under_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write(tmp_path / "bad.yaml", BROKEN)
    rc, out, _ = cli(capsys, "lint", "bad.yaml")
    assert rc == 1 and out.startswith("::error file=bad.yaml,line=4,col=1,title=MG000::MG000 ")


def test_a_file_named_twice_is_read_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "k8s" / "bad.yaml", BROKEN)
    write(tmp_path / "k8s" / "ns.yaml", NAMESPACE)
    rc, doc = lint_json(capsys, "k8s", "k8s/bad.yaml", "./k8s")
    assert rc == 1
    assert rules_of(doc) == [("MG000", "bad.yaml", 4)]
    assert doc["summary"]["files"] == 2 and doc["summary"]["resources"] == 1
