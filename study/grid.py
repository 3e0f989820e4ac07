"""The study grid: its jobs, what each job depends on, and what the grid would cost.

The workflow (workflow/Snakefile) expands its rules from `jobs`, and gives every job its
`fingerprint` as a rule parameter: a hash of the parameters that job reads and of the
code it runs. Snakemake reruns a finished job when that value changes, so a changed
parameter or module reruns exactly the jobs that depend on it, and the rest are kept.

    python -m study.grid plan  params/full.yaml    # jobs per stage and projected compute
    python -m study.grid run   params/demo.yaml    # the grid, locally (or --profile ...)
    python -m study.grid clean params/demo.yaml    # remove this study's outputs, after asking
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from study import conditions
from study.conditions import ConditionId
from study.config import StudyConfig, replicate_seed
from study.registry import TASKS

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


# -- the jobs -----------------------------------------------------------------------------
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


# -- what a job depends on ------------------------------------------------------------------
def _module_file(module: str) -> Path | None:
    """The file of a `study` module (`study.stages.x` -> study/stages/x.py), if it is one."""
    rel = Path(*module.split(".")[1:])
    for path in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


# Code that launches, schedules, checks or times a job cannot change what the job computes:
# a fingerprint neither counts it nor follows its imports, and editing it reruns nothing.
NOT_RESULTS = frozenset({"study.grid", "study.preflight", "study.runner", "study.warm", "study.timing",
                         "study.launch"})
# Code that only shows the reader a figure or a table counts for the report, which is what
# it shows, and for no training or selection job: editing it reruns the report alone (the
# figures in the executed selection and training notebooks may then be stale).
PRESENTATION = frozenset({"study.plots", "study.datacard", "study.design"})


def _study_imports(tree: ast.AST) -> set[str]:
    """`study` modules imported anywhere in a module or cell (function-level imports too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "study" or node.module.startswith("study."):
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("study.")}
    return {m for m in found if m != "study" and _module_file(m)}


@cache
def code_files(stage: str) -> tuple[Path, ...]:
    """The files whose code computes a stage's outputs: its notebook, the `study` modules it
    imports, transitively, except NOT_RESULTS (and PRESENTATION but for the report), and the
    package data files those modules name (the demo lexicons). The task registry counts per
    entry, in the job's parameters (`job_params`: the entries of the tasks it reads)."""
    entry = ENTRY[stage]
    if entry.endswith(".ipynb"):  # read as JSON: nbformat's import costs seconds in every job
        cells = json.loads((NOTEBOOKS / entry).read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                           for c in cells if c["cell_type"] == "code")
        roots, files = _study_imports(ast.parse(source)), {NOTEBOOKS / entry}
    else:
        roots, files = {entry}, set()
    seen: set[str] = set()
    todo = list(roots | {"study.config"})  # every job parses its params
    skip = NOT_RESULTS | (PRESENTATION if stage != "report" else frozenset())
    texts = []
    while todo:
        module = todo.pop()
        if module in seen or module in skip:
            continue
        seen.add(module)
        path = _module_file(module)
        text = path.read_text(encoding="utf-8")
        todo += _study_imports(ast.parse(text))
        files.add(path)
        texts.append(text)
    named = {p for p in PACKAGE.iterdir() if p.suffix in (".yaml", ".yml") and p.name != "tasks.yaml"
             and any(p.name in t for t in texts)}
    return tuple(sorted(files | named))


def code_hash(stage: str) -> str:
    h = hashlib.sha256()
    for path in code_files(stage):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _common(cfg: StudyConfig) -> dict:
    """What every training job reads: where the data comes from and the model."""
    r = cfg.resolved()
    data = r["data"]
    return {"model": r["model"],
            "data": {k: data[k] for k in ("source", "sources", "local_dir", "xtreme_dir")}}


def _evaluated(cfg: StudyConfig) -> list:
    """Every evaluation set of the study (phase-2 data is checked against them for leaks,
    and their languages are held out of same-family phase-2 pools)."""
    return sorted([t, sorted([task, sorted(langs)] for task, langs in cfg.data.evaluated(t))]
                  for t in cfg.data.targets)


def _selection_keys(cfg: StudyConfig, condition: str) -> dict:
    """The data and selection parameters that decide one phase-2 condition's set."""
    r = cfg.resolved()
    d, s = r["data"], r["selection"]
    keys = {"budget": s["budget"], "quota": s["quota"], "task_quota": s["task_quota"],
            "temperature": s["temperature"], "leakage": s["leakage"],
            "max_train_examples": d["max_train_examples"],
            "seed": replicate_seed(condition, cfg.phase2_seed), "evaluated": _evaluated(cfg)}
    kind = conditions.facts(ConditionId.parse(condition).kind)  # a replicate reads what its original reads
    if "en" in kind.reads:
        keys["phase2_en"] = d["phase2_en"]
    if "pool" in kind.reads:  # chosen from the pool
        keys |= {"phase2_pool": d["phase2_pool"], "k": s["k"]}
        if kind.choose == "random":
            keys["draw"] = condition
        else:  # chosen by typological distance
            keys |= {"feature_sets": s["feature_sets"], "uriel_codes": s["uriel_codes"]}
    if "translated" in kind.reads:
        keys["translate_train"] = d["translate_train"]
    return keys


def _phase2_reads(view: StudyConfig, condition: str) -> set[str]:
    """The registry entries of one condition's phase-2 data (its kind's `reads`)."""
    reads = conditions.facts(ConditionId.parse(condition).kind).reads
    d = view.data
    return ({*d.phase2_en} if "en" in reads else set()) | ({*d.phase2_pool} if "pool" in reads else set()) \
        | ({d.translate_train} if "translated" in reads else set())


def tasks_read(cfg: StudyConfig, job: Job) -> list[str]:
    """The registry entries a job reads: the evaluation sets (kept out of phase-2 data) and
    the phase-2 data of every condition (selection) or of its own (phase 2: English tasks,
    pool tasks or the translated set, as `_selection_keys`); its target's train task and
    evaluation sets (phase 3); all of them (the report)."""
    d = cfg.data
    evaluated = {task for t in d.targets for task, _ in d.evaluated(t)}
    if job.stage == "phase3":
        return sorted({d.targets[job.target].train, *(task for task, _ in d.evaluated(job.target))})
    if job.stage == "select":
        view = cfg.phase2_families()[job.family] if job.family else cfg
        return sorted(evaluated | {*view.data.phase2_en, *view.data.phase2_pool}
                      | ({d.translate_train} if d.translate_train else set()))
    if job.stage == "phase2":
        view, _, _ = slice_of(cfg, job.condition, check=False)
        return sorted(evaluated | _phase2_reads(view, job.condition))
    if job.stage == "report":
        return sorted(evaluated | {t.train for t in d.targets.values()} | {
            *(d.phase2_en or ()), *(d.phase2_pool or ()), *([d.translate_train] if d.translate_train else []),
            *(t for f in d.families.values() for t in (*f.phase2_en, *f.phase2_pool))})
    return []


def _entries(cfg: StudyConfig, job: Job) -> dict:
    from dataclasses import asdict

    return {name: asdict(TASKS[name]) for name in tasks_read(cfg, job)}


def job_params(cfg: StudyConfig, job: Job) -> dict:
    """The parameters a job reads (and nothing else: a change elsewhere leaves it alone),
    with the registry entries of the tasks it reads."""
    return {**_job_params(cfg, job), **({"tasks": e} if (e := _entries(cfg, job)) else {})}


def _job_params(cfg: StudyConfig, job: Job) -> dict:
    r = cfg.resolved()
    if job.stage == "base_model":
        return _common(cfg)
    if job.stage == "phase2":
        view, kind, _ = slice_of(cfg, job.condition, check=False)
        return {**_common(cfg), "phase2": r["phase2"], "selection": _selection_keys(view, kind),
                **({"training_seed": job.seed} if job.seed is not None else {})}
    if job.stage == "phase3":
        start = fingerprint(cfg, start_job(cfg, job.condition, job.seed))
        return {**_common(cfg), "phase3": r["phase3"], "seed": job.seed, "start": start,
                "target": [job.target, r["data"]["targets"][job.target],
                           sorted([task, sorted(langs)] for task, langs in cfg.data.evaluated(job.target))],
                "max_train_examples": r["data"]["max_train_examples"],
                "max_eval_examples": r["data"]["max_eval_examples"]}
    if job.stage == "select":  # every condition's data, side by side (no training)
        view = cfg.phase2_families()[job.family] if job.family else cfg
        v = view.resolved()
        return {k: v[k] for k in ("study", "model", "data", "selection", "conditions", "phase2_seed")}
    # the report: all that can change a result (not where outputs go, threads or the plan)
    return {k: v for k, v in r.items() if k not in ("output_root", "threads", "plan")}


def fingerprint(cfg: StudyConfig, job: Job) -> str:
    """Hash of a job's parameters and code: the workflow reruns the job when it changes."""
    blob = json.dumps({"params": job_params(cfg, job), "code": code_hash(job.stage),
                       "condition": job.condition, **({"family": job.family} if job.family else {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# -- what the grid costs -----------------------------------------------------------------
@dataclass
class Cost:
    stage: str
    jobs: int
    train_tokens: float
    eval_tokens: float


def model_parameters(cfg: StudyConfig) -> float:
    """Non-embedding parameters (the N of 6·N FLOPs per trained token): `plan.parameters`,
    or counted from the model's shape (the demo's params; a Hub model's cached config)."""
    if cfg.plan.parameters:
        return cfg.plan.parameters
    m = cfg.model
    if m.build:
        layers, hidden, ffn = m.num_layers, m.hidden_size, m.ffn_size
    else:
        from transformers import AutoConfig

        try:
            c = AutoConfig.from_pretrained(m.name_or_path)
        except OSError as e:
            raise RuntimeError(f"{cfg.source_file}: the plan needs the size of {m.name_or_path!r}; its "
                               "config is not in the local cache and the Hub cannot be reached. Set "
                               "plan.parameters (non-embedding parameters, e.g. 3.0e8 for "
                               "xlm-roberta-large)") from e
        layers, hidden, ffn = c.num_hidden_layers, c.hidden_size, c.intermediate_size
    return float(layers * (4 * hidden * hidden + 2 * hidden * ffn))


def examples(cfg: StudyConfig, task: str, lang: str, split: str, limit: int | None) -> int:
    """Examples in one split: counted in local files; from the registry for the Hub."""
    spec = TASKS[task]
    if cfg.data.source_of(task) == "hub":
        if split not in spec.examples:
            raise KeyError(f"study/tasks.yaml: task {task!r} has no `examples` count for split "
                           f"{split!r}; the plan needs it to estimate the cost of a Hub study")
        n = spec.examples[split]
    else:
        from study.data import load_split

        n = len(load_split(task, lang, split, cfg.data))
    return min(n, limit) if limit else n


def _tokens(cfg: StudyConfig, task: str, max_length: int) -> float:
    """Tokens one example costs: the params' estimate of a sequence (at most max_length),
    once per answer choice for multiple choice."""
    per_sequence = min(cfg.plan.tokens_per_sequence or max_length, max_length)
    spec = TASKS[task]
    return per_sequence * (len(spec.fields["choices"]) if spec.head == "multiple_choice" else 1)


def costs(cfg: StudyConfig) -> list[Cost]:
    """Tokens each stage trains on and evaluates, summed over its jobs."""
    d, p2, p3 = cfg.data, cfg.phase2, cfg.phase3
    out = [Cost("select", 1, 0, 0)]
    n2 = len(phase2_conditions(cfg)) * len(phase2_seeds(cfg))
    # phase 2: the fixed budget, `epochs` times; an NLI-length sequence per example
    tokens2 = cfg.selection.budget * p2.epochs * min(cfg.plan.tokens_per_sequence or p2.max_length,
                                                     p2.max_length)
    out.append(Cost("phase2", n2, n2 * tokens2, 0))
    runs = len(run_conditions(cfg)) * len(cfg.seeds)
    train = evaluate = 0.0
    for target, t in d.targets.items():
        n_train = examples(cfg, t.train, "en", "train", d.max_train_examples)
        n_dev = examples(cfg, t.train, "en", "dev", d.max_eval_examples)
        tok = _tokens(cfg, t.train, p3.max_length)
        train += n_train * p3.epochs * tok
        steps = math.ceil(n_train / p3.batch_size) * p3.epochs
        checks = steps / p3.save_steps if p3.save_steps else p3.epochs  # English dev, model selection
        evaluate += (checks + 1) * n_dev * tok
        for task, langs in d.evaluated(target):
            for lang in langs:
                for split in ("dev", "test"):
                    if split in TASKS[task].splits:
                        evaluate += examples(cfg, task, lang, split, d.max_eval_examples) * tok
    out.append(Cost("phase3", runs * len(d.targets), runs * train, runs * evaluate))
    out.append(Cost("report", 1, 0, 0))
    return out


def plan(cfg: StudyConfig):
    """Jobs per stage and projected compute: FLOPs = 6·N per trained token + 2·N per
    evaluated token; hours = FLOPs / each hardware profile's sustained FLOP/s."""
    import pandas as pd

    n = model_parameters(cfg)
    counts: dict[str, int] = {}
    for job in jobs(cfg):
        counts[job.stage] = counts.get(job.stage, 0) + 1
    by_stage = {c.stage: c for c in costs(cfg)}
    rows = []
    for stage, count in counts.items():
        c = by_stage.get(stage, Cost(stage, count, 0, 0))
        flops = 6 * n * c.train_tokens + 2 * n * c.eval_tokens
        rows.append({"stage": stage, "jobs": count, "train tokens": c.train_tokens,
                     "eval tokens": c.eval_tokens, "PFLOP": flops / 1e15,
                     **{f"hours on {name}": flops / rate / 3600 for name, rate in cfg.plan.hardware.items()}})
    table = pd.DataFrame(rows).set_index("stage")
    table.loc["total"] = table.sum(numeric_only=True)
    table["jobs"] = table["jobs"].astype(int)
    return table, n


# -- running and cleaning a study -------------------------------------------------------
SNAKEFILE = PACKAGE.parent / "workflow" / "Snakefile"


class StudyLocked(RuntimeError):
    pass


@contextmanager
def study_lock(cfg: StudyConfig):
    """Hold the study's lock (`outputs/<study>/.lock`, an OS file lock by `filelock`) for the
    block: a second `run` or a `clean` of the same study stops at once with a message naming
    the holder (`.lock.holder`: pid, host and start). The OS releases the lock when the
    process ends however it ends, so a kill leaves no stale lock."""
    from filelock import FileLock, Timeout

    from study.io import atomic_write_text

    cfg.study_dir.mkdir(parents=True, exist_ok=True)
    lock, holder = FileLock(cfg.study_dir / ".lock", timeout=0), cfg.study_dir / ".lock.holder"
    try:
        lock.acquire()
    except Timeout:
        who = holder.read_text().strip() if holder.is_file() else ""
        raise StudyLocked(f"study {cfg.study!r} ({cfg.study_dir}) is in use by {who or 'another process'}; "
                          "wait for it to finish or stop it, then run again") from None
    try:
        atomic_write_text(holder, f"pid {os.getpid()} on {os.uname().nodename}, since "
                                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


DEFAULT_MEMORY_MB = 2000


def memory_mb(cfg: StudyConfig, stage: str) -> int:
    """Peak host memory of one job of `stage` (params `plan.memory_mb`), the rule's mem_mb."""
    return cfg.plan.memory_mb.get(stage, DEFAULT_MEMORY_MB)


def available_memory_mb() -> int:
    """Memory this machine has free for jobs now (psutil's `available`: MemAvailable on
    Linux), in MB."""
    import psutil

    return psutil.virtual_memory().available // 2**20


def local_parallelism(cfg: StudyConfig, cores: int, memory: int) -> int:
    """How many phase-3 jobs a local run has going at once: cores and memory both bound it."""
    return max(1, min(cores // cfg.threads, memory // memory_mb(cfg, "phase3")))


def snakemake_command(params_file: Path, cores: int, profile: str | None, extra: list[str],
                      memory: int | None = None, workdir: Path | None = None) -> list[str]:
    """The Snakemake call. A local run is bounded by cores and by memory (`--resources
    mem_mb`, against each rule's declared mem_mb); a profile sets its own limits. Snakemake
    keeps its records (which parameters and code made each output: what decides a rerun)
    in `workdir`/.snakemake: the study's folder, so they follow the study, not the
    directory the command was started from."""
    # The study's own lock (study_lock) keeps a second run out; Snakemake's directory lock would
    # outlive a killed run and stop the restart, and a job it saw start but not end is redone.
    # A failed job stops only what depends on it (--keep-going); `run` then names it.
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--config",
               f"params={Path(params_file).resolve()}", "--nolock", "--rerun-incomplete", "--keep-going"]
    if workdir is not None:
        command += ["--directory", str(workdir)]
    if profile:  # a profile folder named relative to where the command was started
        command += ["--profile", str(Path(profile).resolve()) if Path(profile).is_dir() else profile]
    else:
        memory = available_memory_mb() if memory is None else memory
        command += ["--cores", str(cores), "--resources", f"mem_mb={memory}"]
    return command + extra


def run(params_file: Path, cores: int, profile: str | None, extra: list[str]) -> int:
    """Run the study grid through Snakemake, holding the study's lock."""
    import subprocess

    from study.preflight import check

    dry_run = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
    # params, data and Hub: nothing starts, nothing is written if wrong (a dry run downloads
    # nothing: it needs no Hub, e.g. to list a cluster's jobs from a machine without it)
    cfg, _ = check(params_file, hub=not dry_run)
    with study_lock(cfg):
        try:
            table, _ = plan(cfg)
            hours = {c: f"{table.loc['total', c]:.2g} h" for c in table.columns if c.startswith("hours")}
            print(f"study {cfg.study!r}: {table.loc['total', 'jobs']} jobs in the grid, "
                  f"{table.loc['total', 'PFLOP']:.3g} PFLOP projected"
                  + "".join(f", {v} {k.removeprefix('hours ')}" for k, v in hours.items())
                  + f" (python -m study.grid plan {params_file})", flush=True)
        except (KeyError, RuntimeError) as e:  # the projection is information, not a requirement
            print(f"no compute projection: {e}", flush=True)
        memory = available_memory_mb()
        if not profile:
            print(f"local run: up to {local_parallelism(cfg, cores, memory)} phase-3 jobs at once "
                  f"({cores} cores, {cfg.threads} thread(s) a job; {memory} MB available, "
                  f"{memory_mb(cfg, 'phase3')} MB a job)", flush=True)
        from contextlib import nullcontext

        from study import warm

        # local jobs get kernels forked from one process that has imported the stack already
        with warm.server() if not profile else nullcontext():
            status = subprocess.call(snakemake_command(params_file.resolve(), cores, profile, extra,
                                                       memory, workdir=cfg.study_dir))
    if status:
        report_failures(cfg)
    return status


def report_failures(cfg: StudyConfig) -> list[dict]:
    """After a failed workflow: each run whose notebook failed, and where that notebook is."""
    from study.runner import failed_runs

    failed = failed_runs(cfg.study_dir)
    for f in failed:
        print(f"failed: {Path(f['run']).relative_to(cfg.study_dir)} ({f['error']}); its executed "
              f"notebook with the error: {f['notebook']}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} run(s) failed; fix the cause and run again: finished jobs are kept, "
              "failed ones are redone", file=sys.stderr)
    return failed


def clean(params_file: Path, yes: bool = False, ask=input) -> bool:
    """Remove one study's outputs (`output_root/<study>`), after asking; never anything else."""
    import shutil

    from study.config import load_config

    cfg = load_config(params_file)
    target = cfg.study_dir.resolve()
    root = cfg.output_root.resolve()
    if target.parent != root or target.name != cfg.study:
        raise RuntimeError(f"{params_file}: {target} is not output_root/<study>; refusing to remove it")
    if not target.exists():
        print(f"nothing to clean: {target} does not exist")
        return False
    files = [p for p in target.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 1e6
    with study_lock(cfg):
        if not yes:
            answer = ask(f"Remove study {cfg.study!r}: {target} ({len(files)} files, {size:.1f} MB)? "
                         "[y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("kept")
                return False
        shutil.rmtree(target)
    print(f"removed {target}")
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    import pandas as pd

    from study.config import ConfigError, load_config
    from study.data import DataError
    from study.typology import TypologyError  # the design check computes distances

    parser = argparse.ArgumentParser(prog="python -m study.grid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan", help="jobs per stage and projected compute, runs nothing")
    p_run = sub.add_parser("run", help="run the grid (Snakemake), skipping finished jobs")
    p_clean = sub.add_parser("clean", help="remove this study's outputs, after asking")
    p_check = sub.add_parser("check", help="check the params, data and Hub needs, runs nothing")
    for p in (p_plan, p_run, p_clean, p_check):
        p.add_argument("params", type=Path, help="params YAML file")
    p_run.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                       help="local cores (default: all); each job takes `threads` of them")
    p_run.add_argument("--profile", help="a Snakemake profile, e.g. workflow/profiles/slurm")
    p_clean.add_argument("--yes", action="store_true", help="do not ask")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command == "plan":
            cfg = load_config(args.params)
            table, n = plan(cfg)
            counts = ", ".join(f"{k} {v}" for k, v in table["jobs"].items() if k != "total")
            print(f"study {cfg.study!r} ({args.params}): {table.loc['total', 'jobs']} jobs ({counts})")
            print(f"model: {cfg.model.name_or_path}, {n / 1e6:.1f}M non-embedding parameters; "
                  f"tokens per sequence: {cfg.plan.tokens_per_sequence or 'max_length (upper bound)'}")
            with pd.option_context("display.float_format", "{:,.3g}".format, "display.width", 160):
                print(table.to_string())
            if not cfg.plan.hardware:
                print("(no hardware profile in plan.hardware: no time projection)")
            from study import design

            diagnosis = design.diagnose(cfg)
            print(design.summary(diagnosis, cfg))
            for line in design.enforce(cfg, diagnosis):  # design.weak_contrast: error raises
                print(f"warning: {line}", file=sys.stderr)
            return 0
        if args.command in ("run", "check"):  # before anything else: a weak design warns, or stops
            from study import design  # (design.weak_contrast: error)

            for line in design.enforce(load_config(args.params)):
                print(f"warning: {line}", file=sys.stderr, flush=True)
        if args.command == "run":
            return run(args.params, args.cores, args.profile, extra)
        if args.command == "check":
            from study.preflight import check, hub_needs, offline

            cfg, splits = check(args.params)
            needs = hub_needs(cfg)
            offline = " (the Hub is unreachable: the jobs run offline from the cache)" \
                if needs and offline() else ""
            print(f"{args.params}: study {cfg.study!r} is ready: params valid, {splits} local data "
                  f"split(s) readable, {len(needs)} Hub model(s)/dataset(s) available{offline}")
            return 0
        if extra:
            parser.error(f"unrecognised arguments: {' '.join(extra)}")
        clean(args.params, args.yes, ask=input if sys.stdin.isatty() or args.yes else _no_tty)
        return 0
    except (ConfigError, DataError, TypologyError, StudyLocked, RuntimeError, KeyError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _no_tty(prompt: str) -> str:
    raise RuntimeError("clean asks before removing anything; no terminal to ask on. Pass --yes to "
                       "remove without asking")


if __name__ == "__main__":
    sys.exit(main())
