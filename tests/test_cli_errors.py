"""Mistakes a user makes get one clear line and exit 2, never a silent pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meshguard.cli import main

VS = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {}\n"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("parameters: {llm_min_timeout: 2 minutes}", "'2 minutes' is not a duration like 30s"),
        ("parameters: {istio_version: 1.3}", "1.3 is not a string (quote it)"),
        ("rules: {MG204: {severity: critical}}", "severity 'critical' is not one of error"),
        ("parameters: {httproute_inferencepool_timeout: 1.5s}", "not a Gateway API duration"),
    ],
)
def test_config_values_are_checked(
    config: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text(config + "\n")
    (tmp_path / "vs.yaml").write_text(VS)
    code, _, err = _run(["lint", "-c", str(tmp_path / "c.yaml"), str(tmp_path / "vs.yaml")], capsys)
    assert code == 2
    assert err.startswith(f"meshguard: error: {tmp_path / 'c.yaml'}:1: ") and message in err
    assert err.count("\n") == 1


def test_empty_select_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    code, _, err = _run(["lint", "--no-config", "--select", "", str(tmp_path)], capsys)
    assert code == 2 and "--select: give at least one rule id" in err


def test_unreadable_context_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    (tmp_path / "ctx.yaml").write_text("a: [\n")
    argv = [
        "lint",
        "--no-config",
        "--context",
        str(tmp_path / "ctx.yaml"),
        str(tmp_path / "vs.yaml"),
    ]
    code, _, err = _run(argv, capsys)
    assert code == 2 and f"--context {tmp_path / 'ctx.yaml'}:2: YAML does not parse" in err


def test_istio_values_must_be_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    argv = ["lint", "--no-config", "--istio-values", str(tmp_path / "vs.yaml"), str(tmp_path)]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "a manifest, not Helm values" in err


def test_config_directory_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["lint", "-c", str(tmp_path), str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err


def test_broken_pyproject_meant_for_meshguard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    (tmp_path / "pyproject.toml").write_text("[tool.meshguard\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["lint", "vs.yaml"], capsys)
    assert code == 2 and "pyproject.toml" in err
    (tmp_path / "pyproject.toml").write_text("[tool.other\n")  # not ours: ignored
    code, _, err = _run(["lint", "vs.yaml"], capsys)
    assert code in (0, 1) and err == ""


def test_a_folder_without_yaml_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["lint", "--no-config", str(tmp_path)], capsys)
    assert code == 0 and "no *.yaml or *.yml files under" in err


def test_control_character_is_one_line_at_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "n.yaml").write_bytes(b"apiVersion: v1\x00\nkind: Service\n")
    code, out, _ = _run(["lint", "--no-config", "-f", "parsable", str(tmp_path / "n.yaml")], capsys)
    assert code == 1
    assert (
        out == f"{tmp_path / 'n.yaml'}:1:15: MG000 error: YAML does not parse: "
        "unacceptable character #x0000: control characters are not allowed\n"
    )


def test_a_huge_value_does_not_make_a_huge_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = ",".join(["5xx"] * 3000)
    (tmp_path / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: chat, namespace: ml-serving}\n"
        "spec:\n  hosts: [chat]\n  http:\n"
        "  - match: [{uri: {prefix: /v1/chat/completions}}]\n"
        "    route: [{destination: {host: chat}}]\n"
        f"    retries: {{attempts: 1, perTryTimeout: 60s, retryOn: '{tokens}'}}\n"
    )
    code, out, _ = _run(["lint", "--no-config", "-f", "parsable", str(tmp_path)], capsys)
    assert code == 1 and out
    assert all(len(line) < 300 + len(str(tmp_path)) + 40 for line in out.splitlines())


_CRASHING_RUN = """
import sys
from meshguard import registry
from meshguard.cli import main
from meshguard.checks import register_all

register_all()

def crash(res, ctx):
    raise RuntimeError("boom")

registry.CHECKS["MG201"] = crash
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_a_crashing_check_is_a_finding_and_a_traceback_only_with_verbose(
    tmp_path: Path, verbose: bool
) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    argv = ["lint", "--no-config", "--select", "MG201", str(tmp_path / "vs.yaml")]
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN, *argv, *(["-v"] if verbose else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "MG000" in proc.stdout
    assert "internal error in MG201 on VirtualService default/a" in proc.stdout
    assert "--verbose" in proc.stdout
    assert ("Traceback" in proc.stderr) is verbose
    assert ("RuntimeError: boom" in proc.stderr) is verbose
