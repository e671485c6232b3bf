"""Checking in forked workers gives exactly the serial result (same order too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.generate import generate
from meshguard import engine, loader
from meshguard.config import Config
from meshguard.registry import load_rules


def _snapshot(files: list[loader.LoadedFile], jobs: int) -> list[tuple[object, ...]]:
    result = engine.run(files, Config(), load_rules(), jobs=jobs)
    return [
        (
            f.rule,
            f.severity,
            f.message,
            f.file,
            f.position,
            f.pointer,
            f.resource.ref if f.resource else None,
        )
        for f in result.findings
    ]


def test_parallel_run_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(tmp_path, 600)
    (tmp_path / "broken.yaml").write_text("a: [\n", encoding="utf-8")
    paths = list(loader.iter_yaml_paths([str(tmp_path)]))
    monkeypatch.setattr(engine, "PARALLEL_MIN_RESOURCES", 2)
    files = loader.load_files(paths)
    serial = _snapshot(files, 1)
    assert serial, "the generated repository has findings (MG204 on routes, MG000 on broken.yaml)"
    assert _snapshot(files, 2) == serial
