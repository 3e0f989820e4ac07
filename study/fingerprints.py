"""Job fingerprints: a hash of what can change a job's results.

That is the parameters the job reads, the registry entries of the tasks it reads, and the
code that computes its outputs (a stage's notebook and the `study` modules it imports,
transitively), not the code that launches, schedules, checks or displays. The workflow
gives each job its fingerprint as a rule parameter; Snakemake reruns a finished job when
it changes, so an edit reruns exactly the jobs whose results it can change.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict
from functools import cache
from pathlib import Path

from study import conditions
from study.config import StudyConfig, replicate_seed
from study.jobgraph import ENTRY, NOTEBOOKS, PACKAGE, Job, slice_of, start_job
from study.registry import TASKS


def _module_file(module: str) -> Path | None:
    """The file of a `study` module (`study.stages.x` -> study/stages/x.py), if it is one."""
    rel = Path(*module.split(".")[1:])
    for path in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


# Code that launches, schedules, checks or times a job cannot change what the job computes:
# a fingerprint neither counts it nor follows its imports, and editing it reruns nothing.
NOT_RESULTS = frozenset({"study.grid", "study.fingerprints", "study.costs", "study.preflight", "study.runner",
                         "study.warm", "study.timing", "study.launch", "study.console"})
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
    kind = conditions.facts(condition)  # a replicate reads what its original reads
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
    reads = conditions.facts(condition).reads
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
        t = d.targets[job.target]
        return sorted({*t.train_before, t.train, *(task for task, _ in d.evaluated(job.target))})
    if job.stage == "select":
        view = cfg.phase2_families()[job.family] if job.family else cfg
        return sorted(evaluated | {*view.data.phase2_en, *view.data.phase2_pool}
                      | ({d.translate_train} if d.translate_train else set()))
    if job.stage == "phase2":
        view, _, _ = slice_of(cfg, job.condition, check=False)
        return sorted(evaluated | _phase2_reads(view, job.condition))
    if job.stage == "report":
        return sorted(evaluated | {x for t in d.targets.values() for x in (*t.train_before, t.train)} | {
            *(d.phase2_en or ()), *(d.phase2_pool or ()), *([d.translate_train] if d.translate_train else []),
            *(t for f in d.families.values() for t in (*f.phase2_en, *f.phase2_pool))})
    return []


def _entries(cfg: StudyConfig, job: Job) -> dict:
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
