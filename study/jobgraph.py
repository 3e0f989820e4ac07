"""The study's jobs: every job of the grid, and which job each phase-3 run starts from.

`jobs(cfg)` lists them in the order the stages run; the workflow (workflow/rules/*.smk)
expands its rules from the same functions. Condition ids are study.conditions'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from study import conditions
from study.conditions import ConditionId
from study.config import StudyConfig

PACKAGE = Path(__file__).resolve().parent
NOTEBOOKS = PACKAGE.parent / "notebooks"
STAGES = ("base_model", "select", "phase2", "phase3", "report")
# What each stage runs: a notebook (the workflow executes it with papermill), or a module.
ENTRY = {
    "base_model": "study.pretrained",
    "select": "01_data_selection.ipynb",
    "phase2": "02_intermediate_training.ipynb",
    "phase3": "03_target_training.ipynb",
    "report": "04_analysis.ipynb",
}


def phase2_conditions(cfg: StudyConfig) -> list[str]:
    """Phase-2 condition ids. One family: `en`, `diverse`, `random-0`, ...; several families
    (data.families): `<family>/<condition>` for each, and `translate-train` once (its data
    is the target task's own, whatever the family). See study.conditions."""
    return conditions.ids(cfg.conditions, cfg.selection.random_draws, list(cfg.data.families))


def slice_of(cfg: StudyConfig, condition: str, check: bool = True) -> tuple[StudyConfig, str, str | None]:
    """A phase-2 condition id -> (its family's config, the condition within the family, the
    family name; None for a one-family study). `check`: refuse an id the grid lacks."""
    if check and condition not in phase2_conditions(cfg):
        raise KeyError(f"{cfg.source_file}: no phase-2 condition {condition!r}; its phase-2 conditions "
                       f"are {phase2_conditions(cfg)}")
    cid = ConditionId.parse(condition)
    if not cfg.data.families:
        return cfg, cid.name, None
    home = cid.home(cfg.data.families)  # translate-train: the first family's slice selects its data
    return cfg.phase2_families()[home], cid.name, cid.family


def families(cfg: StudyConfig) -> list[str | None]:
    """The select jobs' families: [None] for a one-family study, else every family name."""
    return list(cfg.data.families) or [None]


def phase2_seeds(cfg: StudyConfig) -> list[int | None]:
    """The phase-2 jobs' seeds per condition: [None] (one encoder for every phase-3 seed,
    trained with phase2_seed) or, with phase2_seed_policy per_seed, each phase-3 seed."""
    return list(cfg.seeds) if cfg.phase2_seed_policy == "per_seed" else [None]


def start_job(cfg: StudyConfig, condition: str, seed: int | None) -> Job:
    """The job whose output a phase-3 run of (condition, seed) starts from."""
    if condition == "none":
        return Job("base_model")
    return Job("phase2", condition=condition, seed=seed if cfg.phase2_seed_policy == "per_seed" else None)


def run_conditions(cfg: StudyConfig) -> list[str]:
    """Conditions that phase 3 runs from: `none` (the pretrained model) and every phase-2 id."""
    return (["none"] if "none" in cfg.conditions else []) + phase2_conditions(cfg)


@dataclass(frozen=True)
class Job:
    stage: str
    target: str | None = None
    condition: str | None = None
    seed: int | None = None
    family: str | None = None  # select jobs of a several-family study

    def __str__(self) -> str:
        parts = [x for x in (self.family, self.target, self.condition) if x] + (
            [f"seed{self.seed}"] if self.seed is not None else [])
        return self.stage + (f" {'/'.join(parts)}" if parts else "")


def jobs(cfg: StudyConfig) -> list[Job]:
    """Every job of the study, in the order the stages run."""
    out = [Job("base_model")] if cfg.model.build else []
    out += [Job("select", family=f) for f in families(cfg)]
    out += [Job("phase2", condition=c, seed=s) for c in phase2_conditions(cfg) for s in phase2_seeds(cfg)]
    out += [Job("phase3", target=t, condition=c, seed=s)
            for t in cfg.data.targets for c in run_conditions(cfg) for s in cfg.seeds]
    out.append(Job("report"))
    return out
