"""Phase 2 on two CPU processes (torchrun, and accelerate.notebook_launcher; gloo) follows
the one-process run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from study.config import load_config
from study.stages import intermediate_training, target_training

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TOLERANCE = 0.5  # two processes vs one, as a share of the seed-to-seed difference


def _launch(params: Path, out: Path, processes: int) -> None:
    prefix = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(29500 + os.getpid() % 1000)] if processes > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*prefix, "-m", "study.launch", "phase2", str(params), "en", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]


def _relative(a: dict, b: dict, start: dict) -> float:
    """|a - b| over |a - start|: how far two trained encoders are apart, relative to how far
    training moved them."""
    diff = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a) ** 0.5
    moved = sum(float(((a[k] - start["roberta." + k]) ** 2).sum()) for k in a if "roberta." + k in start)
    return diff / moved ** 0.5


def test_two_processes_follow_the_one_process_run(tmp_path):
    from conftest import TINY, write_params

    from study.training import save_encoder, train_phase2

    params = write_params(tmp_path, **{**TINY, "conditions": ["none", "en"],
                                       "phase2": {**TINY["phase2"], "epochs": 2}})
    cfg = load_config(params)
    # Dropout draws other masks when a batch is split over processes (like another seed):
    # switched off, the two runs differ only by float reduction order.
    base = Path(target_training.start_encoder(cfg, "none", 0))
    spec = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**spec, "hidden_dropout_prob": 0.0,
                                                  "attention_probs_dropout_prob": 0.0}))
    one, two = tmp_path / "one", tmp_path / "two"
    _launch(params, one, 1)
    _launch(params, two, 2)
    m1 = json.loads((one / "metrics.json").read_text())
    m2 = json.loads((two / "metrics.json").read_text())
    assert (m1["processes"], m2["processes"]) == (1, 2)
    assert m1["steps"] == m2["steps"]  # the same global batches, split over the processes
    # provenance: how each trained (the global batch split over the processes)
    batch = cfg.phase2.batch_size
    setups = [json.loads((d / "provenance.json").read_text())["training"] for d in (one, two)]
    assert [(t["world_size"], t["per_device_batch"], t["effective_batch"]) for t in setups] == \
        [(1, batch, batch), (2, batch // 2, batch)], setups
    assert {t["precision"] for t in setups} == {m1["precision"]} and all(t["device"] for t in setups)

    # The yardstick: the same one-process training with another seed (other head
    # initialisation and batch order). Adam turns float noise in near-zero gradients into
    # full-size steps, so two processes cannot match bit for bit; they must be far closer
    # to the one-process run than another seed is.
    sets = intermediate_training.phase2_sets(cfg, "en")
    other = train_phase2(str(base), sets, cfg.phase2, seed=1, work_dir=tmp_path / "w",
                         run_key={"seed": 1})
    save_encoder(other, tmp_path / "other")
    w0 = load_file(base / "model.safetensors")
    w1, w2 = (load_file(d / "encoder" / "model.safetensors") for d in (one, two))
    w_other = load_file(tmp_path / "other" / "model.safetensors")
    processes, seeds = _relative(w1, w2, w0), _relative(w1, w_other, w0)
    print(f"relative distance: two processes {processes:.3f}, another seed {seeds:.3f}")
    assert processes < TOLERANCE * seeds, (processes, seeds)

    # The same from a notebook kernel: accelerate.notebook_launcher starts the processes.
    nb = tmp_path / "notebook"
    code = ("from study.launch import in_notebook; "
            f"in_notebook('phase2', {str(params)!r}, 'en', {str(nb)!r}, 2)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    m3 = json.loads((nb / "metrics.json").read_text())
    assert (m3["processes"], m3["steps"]) == (2, m1["steps"])
    w3 = load_file(nb / "encoder" / "model.safetensors")
    assert _relative(w1, w3, w0) < TOLERANCE * seeds


def _predictions(run: Path) -> list:
    return [json.loads(line)["pred"] for path in sorted((run / "predictions").rglob("test-*.jsonl"))
            for line in path.read_text().splitlines()]


def test_the_workflow_runs_phase3_on_two_processes_and_they_follow_one(tmp_path):
    """A phase-3 job given two GPUs (`gpu: 2` in a profile, here `--set-resources
    phase3:gpu=2`) runs its notebook's training on two processes (accelerate's launcher,
    gloo on a CPU, each job on a port of its own); one of them evaluates and writes. Its
    predictions follow the one-process run's far more closely than another seed's do."""
    import shutil

    from conftest import TINY, write_params

    from study.pretrained import ensure_base_model

    built = load_config(write_params(tmp_path, "build.yaml", **TINY))
    base = tmp_path / "base"
    shutil.copytree(ensure_base_model(built), base)
    spec = json.loads((base / "config.json").read_text())  # dropout off: see the phase-2 test
    (base / "config.json").write_text(json.dumps({**spec, "hidden_dropout_prob": 0.0,
                                                  "attention_probs_dropout_prob": 0.0}))
    model = {"name_or_path": str(base), "build": None}
    # demo_choice trains without SIQA's step first (that step is tested below): the step
    # chooses its checkpoint on a 90-example dev near chance (0.52-0.62, 3-way), where the
    # float noise of two processes moves the choice as another seed does (measured: step 20
    # vs 40), and demo_choice is near its ceiling here (0.98; seeds disagree on 11-13 of 450
    # test items), so the moved choice alone makes the two runs as far apart as two seeds.
    targets = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())["data"]["targets"]
    choice = {**targets["demo_choice"], "train_before": []}
    data = {**TINY["data"], "targets": {**targets, "demo_choice": choice}}
    runs = {}
    for name, seeds, extra in (("one", [0, 1], []), ("two", [0], ["--set-resources", "phase3:gpu=2"])):
        params = write_params(tmp_path, f"{name}.yaml", **{**TINY, "study": name, "conditions": ["none"],
                                                           "seeds": seeds, "model": model, "data": data})
        done = subprocess.run([sys.executable, "-m", "study.grid", "run", str(params), "--cores", "2",
                               *extra], cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        runs[name] = load_config(params).study_dir / "runs"
    for target in ("demo_nli", "demo_choice"):
        one, two = (json.loads((runs[n] / target / "none" / "seed0" / "metrics.json").read_text())
                    for n in ("one", "two"))
        assert (one["train"]["processes"], two["train"]["processes"]) == (1, 2)
        assert one["train"]["steps"] == two["train"]["steps"]  # the same global batches
        setup = {n: json.loads((runs[n] / target / "none" / "seed0" / "provenance.json").read_text())
                 ["training"] for n in ("one", "two")}
        batch = built.phase3.batch_size
        assert [(t["world_size"], t["per_device_batch"], t["grad_accum"], t["effective_batch"])
                for t in setup.values()] == [(1, batch, 1, batch), (2, batch // 2, 1, batch)], setup
        p1, p2, other = (_predictions(runs[n] / target / "none" / s)
                         for n, s in (("one", "seed0"), ("two", "seed0"), ("one", "seed1")))
        apart = sum(a != b for a, b in zip(p1, p2, strict=True))
        seeds = sum(a != b for a, b in zip(p1, other, strict=True))
        print(f"{target}: test predictions that differ from the one-process run's: two processes "
              f"{apart} of {len(p1)}, another seed {seeds}; test average {one['test_average']:.3f} "
              f"vs {two['test_average']:.3f}")
        assert apart <= TOLERANCE * seeds, (apart, seeds)


def test_a_target_trained_after_another_task_trains_both_on_two_processes(tmp_path):
    """train_before on two processes (demo_social, then demo_choice from its model, as
    XTREME trains SIQA then COPA): each step takes the one-process run's number of global
    batches, rank 0 writes each step's record, and the run is recorded as two processes."""
    from conftest import TINY, write_params

    params = write_params(tmp_path, **{**TINY, "conditions": ["none"]})
    metrics = {}
    for processes in (1, 2):
        prefix = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_port", str(29600 + os.getpid() % 1000)] if processes > 1 else [sys.executable])
        out = tmp_path / f"p{processes}"
        done = subprocess.run([*prefix, "-m", "study.launch", "phase3", str(params), "none", str(out),
                               "--target", "demo_choice", "--seed", "0"], cwd=ROOT, capture_output=True,
                              text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-4000:]
        metrics[processes] = json.loads((out / "metrics.json").read_text())
    one, two = metrics[1], metrics[2]
    assert one["train_sequence"] == two["train_sequence"] == ["demo_social", "demo_choice"]
    assert (one["train"]["processes"], two["train"]["processes"]) == (1, 2)
    assert [s["steps"] for s in one["steps_before"]] == [s["steps"] for s in two["steps_before"]]
    assert one["steps_before"][0]["steps"] > 0 and one["train"]["steps"] == two["train"]["steps"]
    assert two["steps_before"][0]["dev_en_n"] == one["steps_before"][0]["dev_en_n"] == 90
    for m in (one, two):  # each trained and chose a checkpoint: above chance on English dev
        assert m["steps_before"][0]["dev_en_accuracy"] > 1 / 3
