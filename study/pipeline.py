"""What every stage shares: the notebook's config and runtime, where it writes, and the
record each run leaves (params.json, provenance.json, metrics.json).

The stages themselves live in `study.stages` (one module per notebook). Each writes into
the directory it is given (the workflow gives a `.partial` directory and renames it when
the notebook succeeded) and records what produced it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from study import layout
from study.conditions import ConditionId
from study.config import StudyConfig, build_config, family_name, load_config
from study.fingerprints import fingerprint
from study.io import atomic_write_json
from study.provenance import provenance
from study.registry import TASKS


def configure(params_file: str, params: dict[str, Any] | None = None) -> StudyConfig:
    """The validated config of a notebook run, and a quiet, thread-limited runtime."""
    cfg = build_config(params, params_file) if params is not None else load_config(params_file)
    import datasets
    import torch
    import transformers

    torch.set_num_threads(cfg.threads)
    datasets.disable_progress_bars()  # per-file bars are noise; training keeps its bars
    transformers.logging.set_verbosity_error()
    logging.getLogger("datasets").setLevel(logging.ERROR)
    return cfg


def phase2_seed(cfg: StudyConfig, seed: int | None) -> int | None:
    """The phase-3 seed a phase-2 run is for: the one given or, opened by hand in a study
    where each seed has an encoder of its own (phase2_seed_policy per_seed), its first seed."""
    if seed is None and cfg.phase2_seed_policy == "per_seed":
        return cfg.seeds[0]
    return seed


def out_dir_for(cfg: StudyConfig, out_dir: str | None, stage: str) -> Path:
    path = Path(out_dir) if out_dir else layout.interactive_dir(cfg, stage)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_record(cfg: StudyConfig, out: Path, metrics: dict, seed: int | None,
                 data: dict[str, str], job, training: dict | None = None) -> None:
    """The run's resolved params, provenance (with its job's fingerprint: the report checks
    every output against the current params and code) and metrics, metrics last."""
    atomic_write_json(out / "params.json", cfg.resolved())
    atomic_write_json(out / "provenance.json", provenance(
        seed=seed, params_fingerprint=cfg.fingerprint(),
        params_file=str(cfg.source_file) if cfg.source_file else None, data=data,
        job={**{k: v for k, v in vars(job).items() if v is not None}, "fingerprint": fingerprint(cfg, job)},
        training=training))
    atomic_write_json(out / "metrics.json", metrics)


def checkpoint_dir(out: Path, step: str | None = None) -> Path:
    """Checkpoints live beside the run folder (`<run>.checkpoints`; `<run>.<step>.checkpoints`
    for a step trained before the run's own, phase 3's train_before): the workflow discards a
    failed run's `.partial` folder, but a restarted run resumes from these."""
    return out.with_name(out.name.removesuffix(".partial") + (f".{step}" if step else "") + ".checkpoints")


def phase2_family(cfg: StudyConfig, condition: str | None = None) -> str:
    """The phase-2 task family a run's condition id belongs to (nli, qa, ...): the family
    prefix of a several-family study's id (`qa/diverse`), else the study's one family."""
    cid = None if condition is None else ConditionId.parse(condition)
    if cid is not None and cid.family:
        return cid.family
    if not cfg.data.families:
        return family_name(cfg)
    if cid is not None and "translated" in cid.facts.reads:
        return TASKS[cfg.data.translate_train].family
    return ""  # `none` in a several-family study: no phase 2, no family
