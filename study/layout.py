"""Where a study's outputs live, under outputs/<study>/ (see README, "Outputs")."""

from __future__ import annotations

from pathlib import Path

from study.conditions import ConditionId
from study.config import StudyConfig
from study.jobgraph import phase2_conditions, phase2_seeds, start_job


def selection_dir(cfg: StudyConfig, family: str | None = None) -> Path:
    """Data selection's outputs; one folder per family in a several-family study."""
    return cfg.study_dir / "selection" / (family or "")


def selection_dirs(cfg: StudyConfig) -> list[Path]:
    """Every data-selection folder of the study (one, or one per family)."""
    return [selection_dir(cfg, f) for f in (list(cfg.data.families) or [None])]


def phase2_data_dir(cfg: StudyConfig, condition: str) -> Path:
    """One `{task}.jsonl` per phase-2 task of the condition (id: `diverse`, `qa/diverse`)."""
    cid = ConditionId.parse(condition)  # translate-train: selected with the first family
    return selection_dir(cfg, cid.home(cfg.data.families)) / "phase2_data" / cid.name


def phase2_dir(cfg: StudyConfig, condition: str, seed: int | None = None) -> Path:
    """A phase-2 job's folder: `phase2/<condition>`, or `phase2/<condition>/seed<N>` for the
    encoder of phase-3 seed N (phase2_seed_policy per_seed)."""
    folder = cfg.study_dir / "phase2" / condition
    return folder / f"seed{seed}" if seed is not None else folder


def phase2_dirs(cfg: StudyConfig) -> list[Path]:
    """Every phase-2 job's folder of the study."""
    return [phase2_dir(cfg, c, s) for c in phase2_conditions(cfg) for s in phase2_seeds(cfg)]


def encoder_dir(cfg: StudyConfig, condition: str, seed: int | None = None) -> Path:
    """The phase-2 encoder that phase-3 seed `seed` of `condition` starts from (the grid's
    start_job decides which, by the study's phase2_seed_policy)."""
    start = start_job(cfg, condition, seed)
    return phase2_dir(cfg, start.condition, start.seed) / "encoder"


def run_dir(cfg: StudyConfig, target: str, condition: str, seed: int | str) -> Path:
    return cfg.study_dir / "runs" / target / condition / f"seed{seed}"


def analysis_dir(cfg: StudyConfig) -> Path:
    return cfg.study_dir / "analysis"


def report_file(cfg: StudyConfig) -> Path:
    return cfg.study_dir / "report.html"


def interactive_dir(cfg: StudyConfig, stage: str) -> Path:
    """Where a notebook opened by hand writes, apart from the workflow's outputs."""
    return cfg.study_dir / "interactive" / stage
