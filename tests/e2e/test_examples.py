"""End to end on the bundled examples: the findings a user sees on the lesson are pinned, and
the production namespace is clean. Each pinned finding is justified by RULES.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from meshguard.cli import main
from tests.conftest import REPO

EXAMPLES = REPO / "examples"

# (rule, file, line, severity) of every finding on the lesson's configuration.
LESSON = [
    # Gateway API has no GRPC listener protocol; HTTP(S) listeners carry gRPC (MG501(1), §4).
    ("MG501", "gateway.yaml", 21, "error"),
    # ml-serving has the lesson's AuthorizationPolicy, but only with a selector:
    # no default deny (MG104).
    ("MG104", "namespaces.yaml", 12, "warning"),
    # ml-training has no PeerAuthentication at all: Istio's default is PERMISSIVE
    # (MG101, §6 item 6).
    ("MG101", "namespaces.yaml", 20, "error"),
    ("MG104", "namespaces.yaml", 20, "warning"),
    # RULES.md §4: attempts are retries, (3 + 1) × 10s = 40s > 30s (MG204) ...
    ("MG204", "traffic.yaml", 30, "warning"),
    # ... and 5xx/reset replay POST inference that already ran on a GPU (MG205).
    ("MG205", "traffic.yaml", 32, "warning"),
    # The default split to the inference hosts has no retries block (MG202(3), info).
    ("MG202", "traffic.yaml", 35, "info"),
    # Chat: (2 + 1) × 60s = 180s > 120s (MG204), and 5xx,reset on an LLM path (MG205).
    ("MG204", "traffic.yaml", 88, "warning"),
    ("MG205", "traffic.yaml", 90, "warning"),
    # Embeddings: (3 + 1) × 10s = 40s > 30s (MG204).
    ("MG204", "traffic.yaml", 96, "warning"),
]


def _lint_json(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["lint", "--no-config", "--format", "json", path])
    return code, json.loads(capsys.readouterr().out)


def test_lesson_findings_are_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _lint_json(str(EXAMPLES / "lesson"), capsys)
    findings = report["findings"]
    assert isinstance(findings, list)
    got = [(f["rule"], f["file"].rsplit("/", 1)[-1], f["line"], f["severity"]) for f in findings]
    order = [(f["file"], f["line"], f["column"], f["rule"]) for f in findings]
    assert order == sorted(order)  # stable order: file, line, column, rule
    assert sorted(got) == sorted(LESSON)
    assert code == 1  # warnings fail by default


def test_lesson_messages_state_the_values(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = _lint_json(str(EXAMPLES / "lesson"), capsys)
    messages = {(f["rule"], f["line"]): f["message"] for f in report["findings"]}  # type: ignore[index, union-attr]
    assert "40s exceeds route timeout 30s" in messages[("MG204", 30)]
    assert "180s exceeds route timeout 120s" in messages[("MG204", 88)]
    assert "5xx" in messages[("MG205", 90)]


def test_production_example_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _lint_json(str(EXAMPLES / "production"), capsys)
    loud = [f for f in report["findings"] if f["severity"] != "info"]  # type: ignore[union-attr]
    assert loud == []
    assert code == 0


def test_console_script_on_the_lesson() -> None:
    """The README's first command, minus the install: text output, exit 1, a summary line."""
    proc = subprocess.run(
        [sys.executable, "-m", "meshguard", "lint", "--no-config", str(EXAMPLES / "lesson")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 1
    assert "examples/lesson/traffic.yaml" in proc.stdout
    assert "  30:7    warning  MG204  retry budget (3+1) × 10s = 40s" in proc.stdout
    summary = proc.stdout.rstrip().splitlines()[-1]
    assert (
        summary
        == f"{len(LESSON)} problems (2 errors, 7 warnings, 1 info) in 15 resources in 6 files"
    )
    assert proc.stderr == ""
