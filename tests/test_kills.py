"""Fault injection inside the workflow (the `faults` suite: `make test-faults`).

- Ten SIGKILLs of a study run (`python -m study.grid run`, the command users run) at
  random points in every stage, each followed by a restart: the restarted study ends with
  the results of an uninterrupted run, and no output is ever half-written. One kill of each
  training stage lands after a checkpoint was written, and the restart resumes from it.
- A notebook that fails inside the workflow keeps its error visible in the executed
  notebook, is marked failed, and the run names it and where its notebook is.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.faults]

# A small grid with every stage: base model, selection, phase 2 (en), phase 3 (none, en)
# and the report; checkpoints every 5 steps so that killed training resumes.
KILL_STUDY = dict(
    study="kills",
    conditions=["none", "en"],
    seeds=[0],
    phase2_seed_policy="shared",  # one encoder in phase2/en (the demo trains one per seed)
    model={"vocab_size": 800, "mlm_epochs": 0.25},
    data={"max_train_examples": 640, "max_eval_examples": 60,
          "targets": {"demo_nli": {"train": "demo_nli", "languages": ["en", "de", "sw"]}}},
    selection={"k": 2, "budget": 320},
    phase2={"epochs": 2, "save_steps": 5},
    phase3={"epochs": 2, "save_steps": 5},
)
# What each stage's job runs (in its command line), as study.jobgraph.ENTRY has it
STAGE_ENTRY = {
    "base_model": "study.pretrained",
    "select": "01_data_selection.ipynb",
    "phase2": "02_intermediate_training.ipynb",
    "phase3": "03_target_training.ipynb",
    "report": "04_analysis.ipynb",
}


def _params(tmp: Path, name: str, **changes) -> Path:
    from conftest import write_params

    return write_params(tmp / name, **{**KILL_STUDY, **changes})


def _start(params: Path, cores: int = 2) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "study.grid", "run", str(params), "--cores", str(cores)],
                            cwd=params.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _run(params: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "study.grid", "run", str(params), "--cores", "2"],
                          cwd=params.parent, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})
    return done


def _tree(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _at_work(proc: subprocess.Popen) -> set[str]:
    """Stages with a job at work now: its process runs and, for a notebook, its kernel too."""
    at_work, kernel = set(), False
    for p in _tree(proc):
        try:
            line = " ".join(p.cmdline())
        except psutil.Error:
            continue
        kernel |= "ipykernel_launcher" in line or "study.warm kernel" in line  # cold or warm
        at_work |= {stage for stage, entry in STAGE_ENTRY.items() if entry in line and "runner" in line
                    or stage == "base_model" and entry in line}
    return {s for s in at_work if s == "base_model" or kernel}


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the run and everything it started (Snakemake, runners and their kernels,
    which Jupyter puts in sessions of their own), at once, as a node failure would."""
    tree = _tree(proc)
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, alive


def _assert_nothing_half_written(study: Path) -> None:
    """Outside `.partial` work folders, every file is whole: each JSON parses, each finished
    run holds its executed notebook and metrics, and no temporary file is left."""
    for path in study.rglob("*"):
        if any(part.endswith((".partial", ".checkpoints")) for part in path.relative_to(study).parts):
            continue
        if path.name.endswith(".tmp"):
            raise AssertionError(f"a temporary file outside a work folder: {path}")
        if path.suffix == ".json" and path.is_file():
            json.loads(path.read_text())
        if path.suffix == ".parquet":
            pd.read_parquet(path)
    for run in [*study.glob("runs/*/*/seed*"), *study.glob("phase2/*")]:
        if run.name.endswith((".partial", ".checkpoints")):
            continue
        assert list(run.glob("*.ipynb")) and json.loads((run / "metrics.json").read_text()), run


def _checkpoints(study: Path, stage: str) -> list[Path]:
    """Complete checkpoints of a running job of `stage` (beside its `.partial` folder)."""
    pattern = {"phase2": "phase2/*.checkpoints/checkpoint-*",
               "phase3": "runs/*/*/*.checkpoints/checkpoint-*"}[stage]
    return [c for c in study.glob(pattern) if (c / "trainer_state.json").is_file()]


def _results(study: Path) -> pd.DataFrame:
    tidy = pd.read_parquet(study / "analysis" / "results.parquet")
    tidy["run_dir"] = [str(Path(p).relative_to(study)) for p in tidy.run_dir]
    return tidy.sort_values(list(tidy.columns)).reset_index(drop=True)


def _weights(study: Path) -> dict[str, bytes]:
    return {str(p.relative_to(study)): p.read_bytes() for p in sorted(study.rglob("model.safetensors"))
            if not any(part.endswith((".partial", ".checkpoints")) for part in p.parts)}


def test_ten_kills_at_random_points_then_restarts_end_as_an_uninterrupted_run(tmp_path):
    reference = _params(tmp_path, "reference")
    # the uninterrupted run, beside the killed one (a study of its own, with its own lock)
    ref_log = tmp_path / "reference.log"
    with ref_log.open("w") as log:
        command = [sys.executable, "-m", "study.grid", "run", str(reference), "--cores", "1"]
        uninterrupted = subprocess.Popen(command, cwd=reference.parent, stdout=log, stderr=subprocess.STDOUT)
    ref_study = load_config(reference).study_dir

    params = _params(tmp_path, "killed")
    study = load_config(params).study_dir
    rng = random.Random(8)
    # One job at a time (--cores 1), so that each kill lands in one job: two kills in each
    # stage, each at a random moment after that stage's job has begun (its kernel runs).
    hits = dict.fromkeys(STAGE_ENTRY, 0)
    kills = []
    while len(kills) < 10:
        proc = _start(params, cores=1)
        deadline = time.time() + 300
        while not (wanted := [s for s in _at_work(proc) if hits[s] < 2]):
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"run ended (exit {proc.poll()}) or stalled after kills {kills}: "
                                     f"{proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")
            time.sleep(0.05)
        stage = wanted[0]
        if stage in ("phase2", "phase3") and hits[stage] == 1:
            # the second kill of a training stage lands after a checkpoint is on disk: the
            # restarted job must resume from it (asserted at the end), not start over
            while not _checkpoints(study, stage):
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"no {stage} checkpoint appeared (exit {proc.poll()}), "
                                         f"kills {kills}")
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.2))
        else:  # jobs take seconds since #9 (warm kernels): a later kill would find the stage done
            time.sleep(rng.uniform(0.2, 1.5))
        at_work = _at_work(proc)
        _kill_tree(proc)
        kills.append((wanted[0], sorted(at_work)))
        for stage in at_work:
            hits[stage] += 1
        _assert_nothing_half_written(study)
    print("kills (stage aimed at, stages at work when killed):", *kills, sep="\n  ")
    assert all(stage in at_work for stage, at_work in kills), kills  # each landed inside a job
    assert hits == dict.fromkeys(STAGE_ENTRY, 2), kills  # two in every stage

    done = _run(params)
    assert done.returncode == 0, done.stderr[-3000:]
    assert uninterrupted.wait(600) == 0, ref_log.read_text()[-3000:]
    _assert_nothing_half_written(study)
    assert not list(study.rglob("*.partial")) and not list(study.rglob("*.checkpoints"))
    # the same results, encoders and predictions as the run that was never interrupted
    pd.testing.assert_frame_equal(_results(study), _results(ref_study))
    assert _weights(study) == _weights(ref_study)
    # and the same oracle: its checks before a checkpoint come back with the run that resumes
    oracle = "analysis/oracle.csv"
    assert (study / oracle).read_text() == (ref_study / oracle).read_text()
    for pred in sorted(ref_study.glob("runs/**/predictions/**/*.jsonl")):
        assert (study / pred.relative_to(ref_study)).read_bytes() == pred.read_bytes(), pred
    # the jobs killed after a checkpoint resumed from one (and still ended identical)
    phase2 = [json.loads(m.read_text()) for m in study.glob("phase2/*/metrics.json")]
    assert any(m["resumed_from"] for m in phase2), [m["resumed_from"] for m in phase2]
    phase3 = [json.loads(m.read_text()) for m in study.glob("runs/*/*/seed*/metrics.json")]
    assert any(m["train"]["resumed_from"] for m in phase3), [m["train"] for m in phase3]
    # and a second run finds nothing to do
    again = _run(params)
    assert again.returncode == 0 and "nothing to do: every job" in again.stdout, again.stdout + again.stderr


SITE = """
import os
if os.environ.get("STUDY_TEST_FAULT"):  # fault injection for tests/test_kills.py
    from study.stages import target_training
    condition = os.environ["STUDY_TEST_FAULT"]
    real = target_training.run_phase3

    def run_phase3(cfg, target, cond, seed, out):
        if cond == condition:
            raise RuntimeError(f"injected fault in phase 3 of {cond!r}")
        return real(cfg, target, cond, seed, out)

    target_training.run_phase3 = run_phase3
"""


def test_a_failing_notebook_is_named_with_its_notebook_and_the_rest_is_kept(tmp_path):
    import nbformat

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    params = _params(tmp_path, "failing", phase2={"epochs": 1}, phase3={"epochs": 1})
    cfg = load_config(params)
    env = {"STUDY_TEST_FAULT": "none", "PYTHONPATH": os.pathsep.join(
        [str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    failed = _run(params, env)
    assert failed.returncode != 0
    run = cfg.study_dir / "runs" / "demo_nli" / "none" / "seed0"
    notebook = run.with_name("seed0.partial") / "03_target_training.ipynb"
    assert (f"failed: runs/demo_nli/none/seed0 (RuntimeError: injected fault in phase 3 of 'none'); "
            f"its executed notebook with the error: {notebook}") in failed.stderr, failed.stderr[-3000:]
    assert not run.exists() and not (cfg.study_dir / "report.html").exists()
    marker = json.loads((run.with_name("seed0.partial") / "FAILED.json").read_text())
    assert marker["notebook"] == str(notebook) and "injected fault" in marker["error"]
    nb = nbformat.read(notebook, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "RuntimeError" and "injected fault" in errors[0].evalue
    # the jobs that do not depend on the failed one still ran (--keep-going)
    kept = [cfg.study_dir / "pretrained" / "config.json",
            cfg.study_dir / "selection" / "01_data_selection.ipynb"]
    before = [p.stat().st_mtime_ns for p in kept]

    fixed = _run(params)  # the cause removed: only the failed job and what follows it run
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert [p.stat().st_mtime_ns for p in kept] == before  # finished work is kept, not redone
    assert (run / "metrics.json").is_file() and (cfg.study_dir / "report.html").is_file()
    assert not run.with_name("seed0.partial").exists()
