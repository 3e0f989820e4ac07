"""Where a job's time goes: named phases (imports, tokenize, train, evaluate), recorded
for the benchmark's split of the demo's wall time (`benchmarks/bench.py`).

The runner points `STUDY_TIMING_FILE` at a file in the job's output folder before the
kernel starts; each `timed` block inside the kernel appends one line to it
({"phase": ..., "seconds": ...}). Without the variable nothing is written.

    with timed("train"):
        trainer.train()
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "STUDY_TIMING_FILE"
KERNEL_FILE = "timing-kernel.jsonl"  # the kernel's phases, a line each
JOB_FILE = "timing.json"  # the runner's: job, notebook and kernel start-up seconds


def forked() -> bool:
    """Whether this job's process was forked by the warm server (study.warm) rather than
    started afresh."""
    return bool(os.environ.get("STUDY_JOB_STARTED"))


def process_started() -> float:
    """When this job's process started, on the wall clock: its launcher's start for a job
    forked by the warm server (study.warm), else the process's own (its interpreter start-up
    and imports count in the job)."""
    launched = os.environ.get("STUDY_JOB_STARTED")
    if launched:
        return float(launched)
    import psutil  # ipykernel's own dependency

    return psutil.Process().create_time()


@contextmanager
def timed(phase: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        record(phase, time.perf_counter() - start)


TOTALS: dict[str, float] = {}  # this process's seconds per phase


def record(phase: str, seconds: float) -> None:
    TOTALS[phase] = TOTALS.get(phase, 0.0) + seconds
    path = os.environ.get(ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"phase": phase, "seconds": round(seconds, 4)}) + "\n")
        except OSError:  # a record of time is never worth failing a job for
            pass


def import_frameworks() -> None:
    """Import the heavy libraries up front, timed as `imports` (the stages import them
    lazily, which would bill them to whatever first needs them)."""
    with timed("imports"):
        import datasets  # noqa: F401
        import torch  # noqa: F401
        from transformers import Trainer  # noqa: F401


def kernel_phases(folder: Path) -> dict[str, float]:
    """Seconds per phase recorded by a job's kernel (empty where none were)."""
    path = Path(folder) / KERNEL_FILE
    totals: dict[str, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            totals[entry["phase"]] = totals.get(entry["phase"], 0.0) + entry["seconds"]
    return totals


def notebook_timing(executed: Path) -> dict[str, float]:
    """From papermill's metadata: the notebook's seconds, its cells' seconds, and the
    kernel's start-up (the notebook's start to its first cell's start)."""
    from datetime import datetime

    nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    meta = nb["metadata"].get("papermill", {})
    cells = [c["metadata"].get("papermill", {}) for c in nb["cells"] if c["cell_type"] == "code"]
    starts = [c["start_time"] for c in cells if c.get("start_time")]
    startup = 0.0
    if meta.get("start_time") and starts:
        first, begun = datetime.fromisoformat(min(starts)), datetime.fromisoformat(meta["start_time"])
        startup = (first - begun).total_seconds()
    return {"notebook": float(meta.get("duration") or 0.0),
            "cells": float(sum(c.get("duration") or 0.0 for c in cells)),
            "kernel_startup": max(startup, 0.0)}
