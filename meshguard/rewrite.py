"""Writing fixed files safely, and showing them as diffs.

Users run `meshguard fix` on GitOps repositories, so a write must never leave a half-written
file: each file is written to a temporary file beside it and renamed over it (`os.replace` is
atomic on POSIX), keeping its mode and following symlinks, as formatters should (pyupgrade and
the pre-commit-hooks fixers open the file in place instead).
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence

from meshguard.errors import WriteError
from meshguard.fix import FileFix

log = logging.getLogger(__name__)


def unified_diff(outcome: FileFix) -> str:
    """A unified diff of one file, `\\ No newline at end of file` included, as git prints it."""
    lines = difflib.unified_diff(
        outcome.original.splitlines(keepends=True),
        outcome.text.splitlines(keepends=True),
        fromfile=outcome.path if outcome.exists else "/dev/null",
        tofile=outcome.path,
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def write_files(outcomes: Sequence[FileFix]) -> None:
    """Write changed files atomically: all temporary files first, then one `os.replace` each.

    Each file is fully old or fully new whatever happens: a failure while staging changes
    nothing, a failure while renaming leaves the files renamed so far new and the rest old.
    Symlinks are followed (the target is rewritten, the link stays); the mode is kept.
    """
    staged: list[tuple[FileFix, str, str]] = []
    try:
        for outcome in outcomes:
            real = os.path.realpath(outcome.path)
            staged.append((outcome, real, _stage(real, outcome)))
    except OSError as exc:
        _discard(tmp for _, _, tmp in staged)
        raise WriteError(
            f"{outcome.path}: cannot write: {exc.strerror or exc}; no file was changed"
        ) from exc
    for done, (outcome, real, tmp) in enumerate(staged):
        log.info("Rewriting %s", outcome.path)
        try:
            os.replace(tmp, real)
        except OSError as exc:
            _discard(t for _, _, t in staged[done:])
            raise WriteError(
                f"{outcome.path}: cannot write: {exc.strerror or exc}; {done} of {len(staged)} "
                "files rewritten, the others unchanged"
            ) from exc


def _stage(real: str, outcome: FileFix) -> str:
    if outcome.exists:
        mode = os.stat(real).st_mode & 0o7777
        with open(real, "rb") as handle:
            bom = handle.read(3) == codecs.BOM_UTF8
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode, bom = 0o666 & ~umask, False
    directory, name = os.path.split(real)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".meshguard", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write((codecs.BOM_UTF8 if bom else b"") + outcome.text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def _discard(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
