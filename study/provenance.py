"""What produced an output: code version, packages, machine, seed, data fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("study", "torch", "transformers", "tokenizers", "datasets", "accelerate",
            "numpy", "pandas", "scipy", "statsmodels", "urielplus", "papermill", "snakemake")


def git_state(repo: Path | None = None) -> dict[str, object]:
    repo = repo or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                 text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(*, seed: int | None, params_fingerprint: str, params_file: str | None,
               data: dict[str, str] | None = None, job: dict | None = None,
               training: dict | None = None) -> dict:
    """The record every run writes as provenance.json; a training run's adds how it trained
    (study.training.training_setup: processes, batches, precision, devices)."""
    import torch

    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "seed": seed,
        "params_file": params_file,
        "params_fingerprint": params_fingerprint,
        "data_fingerprints": data or {},
        "job": job,
        **({"training": training} if training else {}),
    }


def dataset_fingerprint(ds) -> str:
    """A hash of the rows' content (column names and values, in order).

    Not `datasets`' own `_fingerprint`, which follows the processing history: the same
    phase-2 set, as built in selection and as read back from its jsonl in phase 2, would
    get two different values and the report could not show that they match."""
    h = hashlib.sha256(json.dumps(sorted(ds.column_names)).encode())
    for batch in ds.with_format(None).iter(batch_size=1024):
        h.update(json.dumps(batch, sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()[:16]
