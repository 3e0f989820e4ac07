# What every stage's rules share: the study's config, its paths and the input functions.
import re
import sys
from pathlib import Path

from study import costs, grid, jobgraph, layout
from study.config import load_config
from study.fingerprints import fingerprint as job_fingerprint
from study.jobgraph import Job


PARAMS = Path(config.get("params", "params/demo.yaml")).resolve()
# every job reads the params file; `ancient`: its edits rerun a job only through the job's
# fingerprint (the settings that job reads), not by the file's modification time
STUDY_PARAMS = ancient(str(PARAMS))
cfg = load_config(PARAMS)
PER_SEED = cfg.phase2_seed_policy == "per_seed"  # an encoder per (condition, phase-3 seed)
TARGETS = list(cfg.data.targets)
FAMILIES = list(cfg.data.families)  # empty: a one-family study
RUN_CONDITIONS = jobgraph.run_conditions(cfg)
BASE = [str(cfg.study_dir / "pretrained")] if cfg.model.build else []
LOGS = cfg.study_dir / "logs"  # each job's console output (the executed notebook has the rest)
# each job's time limit (SLURM --time): its projected hours on the plan's hardware, with the
# params' safety factor and cap (study.costs.runtime_minutes)
RUNTIME = {"phase2": costs.runtime_minutes(cfg, "phase2"),
           **{f"phase3 {t}": costs.runtime_minutes(cfg, "phase3", t) for t in TARGETS}}


wildcard_constraints:
    target="|".join(map(re.escape, TARGETS)),
    condition="|".join(map(re.escape, RUN_CONDITIONS)),
    seed=r"\d+",
    family="|".join(map(re.escape, FAMILIES)) or "-",


def report_file():
    return str(layout.report_file(cfg))


def phase2_output():
    return str(layout.phase2_dir(cfg, "{condition}", "{seed}" if PER_SEED else None))


def phase2_log():
    return str(LOGS / "phase2" / ("{condition}-seed{seed}.log" if PER_SEED else "{condition}.log"))


def phase2_job(wildcards):
    return Job("phase2", condition=wildcards.condition, seed=int(wildcards.seed) if PER_SEED else None)


def phase3_job(wildcards):
    return Job("phase3", target=wildcards.target, condition=wildcards.condition, seed=int(wildcards.seed))


def fingerprint(job):
    """A rule's `fp` parameter: the job's fingerprint (study.fingerprints)."""
    return lambda wildcards: job_fingerprint(cfg, job(wildcards))


def phase2_seed_option(wildcards):
    return f" -p seed {wildcards.seed}" if PER_SEED else ""


def phase3_start(wildcards):
    """The folder a phase-3 run starts from: the base model, or its phase-2 encoder."""
    start = jobgraph.start_job(cfg, wildcards.condition, int(wildcards.seed))
    if start.stage == "base_model":
        return BASE
    return [str(layout.phase2_dir(cfg, start.condition, start.seed))]


def report_inputs():
    return {
        "selection": [str(p) for p in layout.selection_dirs(cfg)],
        "phase2": [str(p) for p in layout.phase2_dirs(cfg)],
        "runs": expand(str(layout.run_dir(cfg, "{target}", "{condition}", "{seed}")),
                       target=TARGETS, condition=RUN_CONDITIONS, seed=cfg.seeds),
    }
