"""Atomic writes: a reader never sees a half-written file or run directory.

Files are written to a temporary sibling and renamed into place (rename is atomic on
one filesystem). Run directories are built under `<name>.partial` and renamed when
complete, so a directory without that suffix is always a finished one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask sets
    one to read it, which a thread creating a file at that moment would see)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `path` whole or not at all, with the permissions an ordinary `open` gives it
    (0666 less the umask: a report others may read), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(path, exc) from None
        raise
    return path


class DiskFull(OSError):
    """No space (or quota) left while writing a file; the previous version is untouched."""

    def __init__(self, path: Path, cause: OSError,
                 kept: str = "Nothing was replaced: the previous version, if any, is kept"):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MB free"
        except OSError:
            free = "free space unknown"
        super().__init__(cause.errno, f"{path}: disk full while writing it ({cause.strerror}; {free} "
                         f"on {path.parent}). {kept}. Free some space (or move output_root) and run again")

    def __str__(self) -> str:
        return self.strerror


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield `<final>.partial` to fill; rename it to `final` only if the block succeeds.

    A stale `.partial` from an interrupted run is removed first: partial work is
    never trusted, it is redone.
    """
    final = Path(final)
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    yield partial
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
