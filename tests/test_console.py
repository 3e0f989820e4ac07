"""What `python -m study.grid run` shows on the terminal (study/console.py): a progress line,
a line per finished job and a summary, with kernel warnings, progress bars and Trainer logs
in the log files; a rerun with nothing to do says so in one line; a stopped run says what
finished and leaves no process or folder behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from study import console, warm
from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]

SMALL = dict(
    study="console",
    conditions=["none", "en"],
    seeds=[0],
    phase2_seed_policy="shared",
    model={"vocab_size": 800, "mlm_epochs": 0.25},
    data={"max_train_examples": 640, "max_eval_examples": 60,
          "targets": {"demo_nli": {"train": "demo_nli", "languages": ["en", "de", "sw"]}}},
    selection={"k": 2, "budget": 320},
    phase2={"epochs": 2},
    phase3={"epochs": 2},
)
NOISE = ("IPKernelApp", "Kernel is running over TCP", "To connect another client", "Traceback",
         "it/s]", "train_runtime", "Select jobs to execute")


def _params(tmp: Path, name: str, **changes) -> Path:
    from conftest import write_params

    return write_params(tmp / name, **{**SMALL, "study": name, **changes})


def _run(params: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.grid", "run", str(params), "--cores", "2", *extra],
                          cwd=params.parent, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    params = _params(tmp, "console")
    return params, _run(params)


@pytest.mark.slow
def test_a_run_shows_progress_a_line_per_job_and_a_summary(finished):
    params, done = finished
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    print(out)  # what a user sees (pytest -s)
    assert not [n for n in NOISE if n in out], out[-3000:]
    lines = out.splitlines()
    assert len(lines) <= 30, len(lines)  # 6 jobs; the demo's 107 stay near 60 on a terminal
    for job in ("base model", "select", "phase2 en", "phase3 demo_nli none seed 0",
                "phase3 demo_nli en seed 0", "report"):
        assert any(line.startswith(f"done {job}") for line in lines), (job, out)
    phase3 = next(line for line in lines if line.startswith("done phase3 demo_nli en seed 0"))
    assert " s: English dev " in phase3 and "test average" in phase3
    cfg = load_config(params)
    report = (cfg.study_dir / "report.html").resolve()
    assert f"report: {report.as_uri()}" in lines
    assert any(line.split()[:1] == ["en"] and "[" in line for line in lines)  # the result table
    assert f"logs: {(cfg.study_dir / 'logs').resolve()}" in lines
    # what the terminal did not show is in the logs
    log = (cfg.study_dir / "logs" / "snakemake.log").read_text()
    assert "Job stats" in log and "Finished jobid" in log
    job_log = (cfg.study_dir / "logs" / "phase3" / "demo_nli-en-seed0.log").read_text()
    assert job_log.strip()  # the job's own console output
    # the jobs' kernels were forked warm (torch, transformers imported before the notebook
    # ran): a cold kernel spends seconds on those imports
    from study.timing import kernel_phases

    for run in ("runs/demo_nli/en/seed0", "runs/demo_nli/none/seed0", "phase2/en"):
        assert kernel_phases(cfg.study_dir / run).get("imports", 99) < 1.0, run
    # and so were the jobs themselves: the runners (no papermill import each) and the base
    # model's build (no torch import)
    for run in ("selection", "runs/demo_nli/en/seed0", "phase2/en", "analysis"):
        assert json.loads((cfg.study_dir / run / "timing.json").read_text())["forked"], run
    build = json.loads((cfg.study_dir / "pretrained" / "build.json").read_text())["timing"]
    assert build["forked"] and build["imports"] < 1.0


@pytest.mark.slow
def test_a_rerun_with_nothing_to_do_says_so_in_one_line(finished):
    params, _ = finished
    again = _run(params)
    assert again.returncode == 0, again.stderr[-2000:]
    lines = [line for line in again.stdout.splitlines() if line.strip()]
    assert lines[-1].startswith("nothing to do: every job of study 'console' is finished"), lines
    assert len(lines) <= 3 and not again.stderr.strip(), (lines, again.stderr)


@pytest.mark.slow
def test_open_shows_the_report_in_the_browser_only_where_a_desktop_exists(finished, tmp_path):
    """`make report`'s `--open`: with no display (a cluster node, SSH) the path is printed and
    nothing is started; with one, the browser (webbrowser: $BROWSER, here a script that notes
    what it was given) gets the report's URL."""
    params, _ = finished
    seen, browser = tmp_path / "seen", tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {seen}\n')
    browser.chmod(0o755)
    uri = (load_config(params).study_dir / "report.html").resolve().as_uri()
    outputs = {}
    for display in ("", ":0"):
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        command = [sys.executable, "-m", "study.grid", "run", str(params), "--cores", "2", "--open"]
        done = subprocess.run(command, cwd=params.parent, capture_output=True, text=True, timeout=300,
                              env={**env, "DISPLAY": display, "BROWSER": str(browser)})
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[display] = done.stdout
        assert uri in done.stdout  # the path, always
    assert "opened in the browser" not in outputs[""]
    assert f"opened in the browser: {uri}" in outputs[":0"]
    assert seen.read_text().split() == [uri]  # started once: with the display


@pytest.mark.slow
def test_verbose_shows_what_the_logs_hold(finished):
    params, _ = finished
    again = _run(params, "-v")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr  # Snakemake's own words


def test_the_summary_gives_the_result_table_and_each_controls_verdict(tmp_path):
    import pandas as pd
    from conftest import write_params

    cfg = load_config(write_params(tmp_path, study="s"))
    analysis = cfg.study_dir / "analysis"
    analysis.mkdir(parents=True)
    pd.DataFrame([{"condition": c, "language": "avg", "accuracy": a, "ci_low": a - 2, "ci_high": a + 2,
                   "seeds": 4, "n": 900, "task": "demo_nli"} for c, a in (("en", 70.0), ("none", 60.0))]
                 ).to_csv(analysis / "accuracy_ci.csv", index=False)
    rows = [("translate-train vs en", "positive", 15.0, 10.0, 20.0, 0.001, 0.005),
            ("en-replicate vs en", "negative", 0.5, -3.0, 4.0, 0.7, 1.0)]
    pd.DataFrame([{"comparison": c, "control": k, "language": "zero-shot", "difference": d, "ci_low": lo,
                   "ci_high": hi, "p": p, "p_holm": ph, "mde": 3.0, "n": 900, "seeds": 4, "task": "demo_nli"}
                  for c, k, d, lo, hi, p, ph in rows]).to_csv(analysis / "comparisons.csv", index=False)
    text = console.summary(cfg)
    lines = text.splitlines()
    assert lines[0] == f"report: {cfg.study_dir.resolve().as_uri()}/report.html"
    table = [line.split() for line in lines if line.split()[:1] in (["none"], ["en"])]
    assert table == [["none", "60.0", "[58.0,", "62.0]"], ["en", "70.0", "[68.0,", "72.0]"]]
    assert ("positive control, demo_nli (translate-train vs en): +15.0 points [+10.0, +20.0], "
            "Holm p 0.005: as expected") in lines
    assert ("negative control, demo_nli (en-replicate vs en): +0.5 points [-3.0, +4.0], "
            "Holm p 1: as expected") in lines
    # a failed positive control is said so
    pd.DataFrame([{"comparison": "translate-train vs en", "control": "positive", "language": "zero-shot",
                   "difference": 1.0, "ci_low": -2.0, "ci_high": 4.0, "p": 0.4, "p_holm": 0.8, "mde": 3.0,
                   "n": 900, "seeds": 4, "task": "demo_nli"}]
                 ).to_csv(analysis / "comparisons.csv", index=False)
    assert "Holm p 0.8: NOT as expected" in console.summary(cfg)


# ---------------------------------------------------------------- stopping a run

def _descendants(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _line(p: psutil.Process) -> str:
    """A process's command line; "" for one gone (or a zombie) since it was listed."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _kernel_at_work(pid: int) -> bool:
    lines = [_line(p) for p in _descendants(pid)]
    kernel = any("study.warm kernel" in line or "ipykernel_launcher" in line for line in lines)
    return kernel and any("02_intermediate" in line or "03_target" in line for line in lines)


def _warm_folders(tmp: str) -> set[str]:
    return {os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith(warm.PREFIX)}


@pytest.mark.slow
@pytest.mark.faults
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)
def test_a_signalled_run_stops_in_one_line_and_leaves_nothing_behind(tmp_path, short_tmpdir, sig):
    params = _params(tmp_path, "stopped")
    tmp = short_tmpdir  # what is counted: no other run on the machine adds to it or takes from it
    before = _warm_folders(tmp)
    # its own process group, as a terminal's foreground job or a batch system's job is
    proc = subprocess.Popen([sys.executable, "-m", "study.grid", "run", str(params), "--cores", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": tmp})
    deadline = time.time() + 300
    while not _kernel_at_work(proc.pid):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    tree = _descendants(proc.pid)
    assert any("study.warm kernel" in " ".join(p.cmdline()) for p in tree if p.is_running())
    os.killpg(proc.pid, sig)  # every process of the group, as Ctrl-C, `kill -TERM -pgid` or a node do
    out, err = proc.communicate(timeout=180)  # grid run kills a Snakemake that has not stopped in 60 s
    gone, alive = psutil.wait_procs(tree, timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [
        (p.pid, p.cmdline()) for p in alive]
    left = _warm_folders(tmp) - before
    if sig == signal.SIGKILL:  # nothing could clean up: the next start sweeps it
        assert proc.returncode == -signal.SIGKILL
        warm.sweep(tmp)
        assert not (_warm_folders(tmp) - before)
        return
    assert not left, left
    assert proc.returncode == 130, (out, err)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, (out + err)[-3000:]
    assert lines[-1].startswith("stopped: ") and lines[-1].endswith(
        "run the same command again to resume (finished jobs are kept)"), lines[-3:]
    if sig != signal.SIGTERM:
        return
    # and the same command resumes: it finishes the study
    done = _run(params)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (load_config(params).study_dir / "report.html").is_file()


def test_the_base_models_build_counts_as_running_while_it_trains(tmp_path, monkeypatch):
    """The demo's longest first job, building its model, shows as running in the progress
    line while its masked LM trains, not only while it writes (its `.partial` folder)."""
    from conftest import TINY, write_params

    from study import pretrained

    cfg = load_config(write_params(tmp_path, **TINY))
    seen = []
    train = pretrained._pretrain_mlm

    def watching(*args, **kwargs):
        seen.append([console.describe(w.job) for w in console.Progress(cfg).running()])
        return train(*args, **kwargs)

    monkeypatch.setattr(pretrained, "_pretrain_mlm", watching)
    pretrained.ensure_base_model(cfg)
    assert seen == [["base model"]]
    assert [console.describe(w.job) for w in console.Progress(cfg).running()] == []  # built
