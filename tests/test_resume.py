"""A phase-2 run killed mid-training resumes from its last checkpoint and ends as an
uninterrupted run does. The process is killed (SIGKILL to its process group: the runner
and its notebook kernel), not a function interrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.faults]


def _runner(params: Path, notebook: str, out: Path, *extra: str, background: bool = False):
    cmd = [sys.executable, "-m", "study.runner", str(ROOT / "notebooks" / notebook), str(out),
           "--params", str(params), *extra]
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _study(tmp_path: Path, name: str) -> tuple[Path, object]:
    from conftest import TINY, write_params

    params = write_params(tmp_path / name, **{**TINY, "study": name, "conditions": ["none", "en"],
                                              "phase2": {"epochs": 10, "save_steps": 5}})
    cfg = load_config(params)
    _runner(params, "01_data_selection.ipynb", cfg.study_dir / "selection")
    return params, cfg


def test_killed_phase2_resumes_and_matches_an_uninterrupted_run(tmp_path):
    ref_params, ref = _study(tmp_path, "ref")
    _runner(ref_params, "02_intermediate_training.ipynb", ref.study_dir / "phase2" / "en",
            "-p", "condition", "en")

    params, cfg = _study(tmp_path, "killed")
    out = cfg.study_dir / "phase2" / "en"
    work = out.with_name("en.checkpoints")
    proc = _runner(params, "02_intermediate_training.ipynb", out, "-p", "condition", "en",
                   background=True)
    deadline = time.time() + 300
    while not list(work.glob("checkpoint-5/trainer_state.json")):  # the first checkpoint written
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # never marked done
    assert list(work.glob("checkpoint-*"))

    _runner(params, "02_intermediate_training.ipynb", out, "-p", "condition", "en")
    got = json.loads((out / "metrics.json").read_text())
    assert got["resumed_from"] and int(got["resumed_from"].split("-")[1]) >= 5, got["resumed_from"]
    assert not work.exists()  # removed once the run is done
    a = (ref.study_dir / "phase2" / "en" / "encoder" / "model.safetensors").read_bytes()
    b = (out / "encoder" / "model.safetensors").read_bytes()
    assert a == b  # the resumed encoder is the uninterrupted one, bit for bit
    ref_m = json.loads((ref.study_dir / "phase2" / "en" / "metrics.json").read_text())
    assert got["steps"] == ref_m["steps"]
    # The last logging window lies wholly after the resume point: its mean loss is the same.
    # (The window that spans the kill averages only the steps run since the resume.)
    assert [r["loss"] for r in got["log_history"] if "loss" in r][-1] == \
        [r["loss"] for r in ref_m["log_history"] if "loss" in r][-1]
