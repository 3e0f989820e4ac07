"""Where a study's outputs live, under outputs/<study>/ (see README, "Outputs")."""

from __future__ import annotations

from pathlib import Path

from study.config import StudyConfig


def selection_dir(cfg: StudyConfig) -> Path:
    return cfg.study_dir / "selection"


def phase2_data_dir(cfg: StudyConfig, condition: str) -> Path:
    """One `{task}.jsonl` per phase-2 task of the condition."""
    return selection_dir(cfg) / "phase2_data" / condition


def phase2_dir(cfg: StudyConfig, condition: str) -> Path:
    return cfg.study_dir / "phase2" / condition


def encoder_dir(cfg: StudyConfig, condition: str) -> Path:
    return phase2_dir(cfg, condition) / "encoder"


def run_dir(cfg: StudyConfig, target: str, condition: str, seed: int | str) -> Path:
    return cfg.study_dir / "runs" / target / condition / f"seed{seed}"


def analysis_dir(cfg: StudyConfig) -> Path:
    return cfg.study_dir / "analysis"


def report_file(cfg: StudyConfig) -> Path:
    return cfg.study_dir / "report.html"


def interactive_dir(cfg: StudyConfig, stage: str) -> Path:
    """Where a notebook opened by hand writes, apart from the workflow's outputs."""
    return cfg.study_dir / "interactive" / stage
