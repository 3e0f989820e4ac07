"""The study on a real SLURM cluster: a one-node cluster started on this machine
(tests/slurm_cluster.py), and a reduced demo grid through it with the README's command,
`make study PARAMS=... PROFILE=<profile>`, the profile being the shipped
workflow/profiles/slurm with what a user changes for their cluster changed; and, in the
fault-injection suite (`make test-faults`), a phase-2 job ended with `scancel` and resumed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from study import costs
from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """munged, slurmctld and slurmd on this machine (root; the Debian packages installed with
    apt where missing), stopped by their pid files afterwards."""
    import slurm_cluster
    from conftest import needs_service

    folder = Path(tempfile.mkdtemp(prefix="xlt-slurm-"))
    try:
        env = slurm_cluster.start(folder, install=True)
    except slurm_cluster.Unavailable as e:
        needs_service(f"no SLURM cluster: {e}")
    try:
        yield {**os.environ, **env}
    finally:
        slurm_cluster.stop(folder)


def cluster_profile(folder: Path, memory_mb: int) -> Path:
    """The shipped profile as a user adapts it to this cluster: its partition (`debug`), no
    account (this cluster has none), job status from `squeue` (no accounting, so no `sacct`),
    no GPUs; each rule keeps its own run time, and asks for one CPU and `memory_mb`."""
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    profile.update({"slurm-no-account": True, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 2, "slurm-keep-successful-logs": True,
                    "latency-wait": 5, "retries": 0})
    profile["default-resources"] = {**{k: v for k, v in profile["default-resources"].items()
                                       if k != "slurm_account"},
                                    "slurm_partition": "debug", "cpus_per_task": 1, "mem_mb": memory_mb}
    profile["set-resources"] = {rule: {**{k: v for k, v in r.items() if k not in ("gpu", "cpus_per_gpu")},
                                       "cpus_per_task": 1, "mem_mb": memory_mb}
                                for rule, r in profile["set-resources"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def _make_study(params: Path, env: dict, profile: Path) -> subprocess.CompletedProcess:
    from conftest import make_study

    return subprocess.run(make_study(params, "CORES=2", f"PROFILE={profile}"), env=env, capture_output=True,
                          text=True, timeout=900)


def _scontrol(job: str, env: dict) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True,
                         check=True).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def test_a_reduced_demo_grid_runs_as_slurm_jobs_and_equals_a_local_run(cluster, tmp_path):
    from conftest import make_study, write_params
    from test_kills import KILL_STUDY, _results, _weights

    grid = {**KILL_STUDY, "study": "on-slurm"}
    on_slurm = write_params(tmp_path / "slurm", **grid)
    local = write_params(tmp_path / "local", **grid)
    cfg = load_config(on_slurm)
    memory = cfg.plan.memory_mb["phase3"]
    profile = cluster_profile(tmp_path / "profile", memory)
    here = subprocess.Popen(make_study(local, "CORES=1"), env=cluster, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # the local run, beside it
    done = _make_study(on_slurm, cluster, profile)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    log = (cfg.study_dir / "logs" / "snakemake.log").read_text()
    ids = re.findall(r"SLURM jobid (\d+)", log)
    jobs = {i: _scontrol(i, cluster) for i in ids}
    by_rule: dict[str, list[str]] = {}
    for i, j in jobs.items():  # the plugin comments each job with its rule and wildcards
        rule = re.match(r"rule_(.+?)(?:_wildcards_|$)", j.get("Comment", "?"))
        by_rule.setdefault(rule.group(1) if rule else "?", []).append(i)
    print(f"SLURM job ids by rule: {by_rule}")
    # every job of the grid ran as a SLURM job, and finished there
    assert {r: len(v) for r, v in by_rule.items()} == {"base_model": 1, "select": 1, "phase2": 1, "phase3": 2,
                                                       "report": 1}, by_rule
    states = {i: j["JobState"] for i, j in jobs.items()}
    assert set(states.values()) == {"COMPLETED"}, states
    # a phase-3 job's sbatch options: the run time its projection gives it (study.costs), the
    # rule's memory and cpus
    job = jobs[by_rule["phase3"][0]]
    print("a phase-3 job:", {k: job.get(k) for k in ("JobId", "Partition", "TimeLimit", "MinMemoryNode",
                                                     "NumCPUs", "Comment", "StdOut")})
    limits = {(f"{m // 1440}-" if m >= 1440 else "") + f"{m % 1440 // 60:02d}:{m % 60:02d}:00"  # SLURM's
              for m in (costs.runtime_minutes(cfg, "phase3", t) for t in cfg.data.targets)}
    assert job["TimeLimit"] in limits, (job["TimeLimit"], limits)
    assert job["MinMemoryNode"] == f"{memory}M" and job["NumCPUs"] == "1" and job["Partition"] == "debug"
    # the same results and models as the local run
    assert here.wait(600) == 0
    pd.testing.assert_frame_equal(_results(cfg.study_dir), _results(load_config(local).study_dir))
    assert _weights(cfg.study_dir) == _weights(load_config(local).study_dir)
    # and a second run submits nothing
    again = _make_study(on_slurm, cluster, profile)
    assert again.returncode == 0 and "nothing to do: every job" in again.stdout, again.stdout + again.stderr
    assert "SLURM jobid" not in (cfg.study_dir / "logs" / "snakemake.log").read_text()


@pytest.mark.faults
def test_a_phase2_job_cancelled_with_scancel_resumes_from_its_checkpoint(cluster, tmp_path):
    """`scancel` a running phase-2 job once it has written a checkpoint: the study names the
    job the cluster ended and its logs; the same command again resumes the job from that
    checkpoint (metrics.json's resumed_from), and the study ends as an uninterrupted run."""
    from conftest import make_study, write_params
    from test_kills import KILL_STUDY, _assert_nothing_half_written, _checkpoints, _results, _weights

    grid = {**KILL_STUDY, "study": "scancel"}
    on_slurm = write_params(tmp_path / "slurm", **grid)
    local = write_params(tmp_path / "local", **grid)
    cfg = load_config(on_slurm)
    profile = cluster_profile(tmp_path / "profile", cfg.plan.memory_mb["phase3"])
    here = subprocess.Popen(make_study(local, "CORES=1"), env=cluster, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # the uninterrupted run, beside it
    run = subprocess.Popen(make_study(on_slurm, "CORES=2", f"PROFILE={profile}"), env=cluster,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not (checkpoints := _checkpoints(cfg.study_dir, "phase2")):
        assert run.poll() is None and time.time() < deadline, "the run ended or stalled before phase 2 " \
            f"wrote a checkpoint: {run.communicate()[1][-3000:] if run.poll() is not None else ''}"
        time.sleep(0.02)
    running = subprocess.run(["squeue", "--noheader", "--states=RUNNING", "--format=%i %k"], env=cluster,
                             capture_output=True, text=True, check=True).stdout
    job = next(line.split()[0] for line in running.splitlines() if "rule_phase2_" in line)
    subprocess.run(["scancel", job], env=cluster, check=True)
    out, err = run.communicate(timeout=600)
    print(f"cancelled SLURM job {job} after {checkpoints[0].name}; the study said:\n{err[-1500:]}")
    assert run.returncode != 0, out + err
    assert _scontrol(job, cluster)["JobState"] == "CANCELLED"
    assert f"cancelled: phase2 phase2/en (SLURM job {job}) was cancelled" in err, err[-3000:]
    assert f"its logs: {cfg.study_dir}/logs/phase2/en.log" in err
    _assert_nothing_half_written(cfg.study_dir)
    assert not (cfg.study_dir / "phase2" / "en").exists()

    again = _make_study(on_slurm, cluster, profile)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    resubmitted = re.findall(r"SLURM jobid (\d+)", (cfg.study_dir / "logs" / "snakemake.log").read_text())
    assert job not in resubmitted and resubmitted, resubmitted
    metrics = json.loads((cfg.study_dir / "phase2" / "en" / "metrics.json").read_text())
    print(f"resubmitted as SLURM jobs {resubmitted}; phase 2 resumed from {metrics['resumed_from']}")
    assert (metrics["resumed_from"] or "").startswith("checkpoint-"), metrics["resumed_from"]
    assert here.wait(600) == 0
    pd.testing.assert_frame_equal(_results(cfg.study_dir), _results(load_config(local).study_dir))
    assert _weights(cfg.study_dir) == _weights(load_config(local).study_dir)


@pytest.mark.faults
def test_a_phase3_job_past_its_time_limit_is_named_as_a_time_limit_failure(cluster, tmp_path):
    """A phase-3 job that runs past its time limit (here plan.max_runtime_minutes: 1, and
    far more epochs than a minute allows) is ended by SLURM as TIMEOUT; the study names the
    job, the limit it had, the settings behind it and its log, and leaves no half-written run."""
    from conftest import write_params
    from test_kills import KILL_STUDY, _assert_nothing_half_written

    raw = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    params = write_params(tmp_path, **{**KILL_STUDY, "study": "timeout", "conditions": ["none"],
                                       "phase3": {**KILL_STUDY["phase3"], "epochs": 150},
                                       "plan": {**raw["plan"], "max_runtime_minutes": 1}})
    cfg = load_config(params)
    assert costs.runtime_minutes(cfg, "phase3", "demo_nli") == 1
    done = _make_study(params, cluster, cluster_profile(tmp_path / "profile", cfg.plan.memory_mb["phase3"]))
    assert done.returncode != 0, (done.stdout + done.stderr)[-3000:]
    job = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: 'TIMEOUT'",
                    (cfg.study_dir / "logs" / "snakemake.log").read_text())
    assert job, done.stderr[-3000:]
    job = job.group(1)
    assert _scontrol(job, cluster)["JobState"] == "TIMEOUT"
    assert _scontrol(job, cluster)["TimeLimit"] == "00:01:00"
    print(f"SLURM job {job} ran past its limit; the study said:\n{done.stderr[-1500:]}")
    assert (f"time limit: phase3 runs/demo_nli/none/seed0 (SLURM job {job}) was stopped at its time limit "
            f"of 1 min; its logs: {cfg.study_dir}/logs/phase3/demo_nli-none-seed0.log") in done.stderr
    assert "plan.max_runtime_minutes (1)" in done.stderr
    _assert_nothing_half_written(cfg.study_dir)
    assert not (cfg.study_dir / "runs" / "demo_nli" / "none" / "seed0").exists()
