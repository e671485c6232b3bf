"""Parsing and checking in forked workers gives exactly the serial result (same order too)."""

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
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(engine, "PARALLEL_MIN_RESOURCES", 2)
    serial_files = loader.load_files(paths, 1)
    parallel_files = loader.load_files(paths, 2)
    assert [f.path for f in parallel_files] == [f.path for f in serial_files]
    assert [len(f.resources) for f in parallel_files] == [len(f.resources) for f in serial_files]
    serial = _snapshot(serial_files, 1)
    assert serial, (
        "the generated repository has findings (MG204 on some routes, MG000 on broken.yaml)"
    )
    assert _snapshot(parallel_files, 2) == serial
