"""The demo's phase 2 as multi-task and multi-task + MLM, from params alone (single-task is
the default, run end to end by test_workflow)."""

import json

import pytest
from test_resume import _runner

from study.config import load_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("mode", "data", "phase2", "tasks"), [
    # single-task: the demo default, run by test_workflow
    ("multi", {"phase2_en": ["demo_nli", "demo_choice"], "phase2_pool": ["demo_nli", "demo_choice"]},
     {"task_sampler": "uniform"}, {"demo_nli", "demo_choice"}),
    ("multi+mlm", {"phase2_en": ["demo_nli", "demo_choice"], "phase2_pool": ["demo_nli", "demo_choice"]},
     {"mlm": True, "task_sampler": "temperature"}, {"demo_nli", "demo_choice", "mlm"}),
])
def test_phase2_mode_from_params(tmp_path, mode, data, phase2, tasks):
    from conftest import TINY, write_params

    params = write_params(tmp_path, **{**TINY, "conditions": ["none", "diverse"],
                                       "data": {**TINY["data"], **data},
                                       # 3 epochs (57 steps): in TINY's 19, demo_nli, drawn
                                       # 21% of the time, got no batch at one seed
                                       "phase2": {**TINY["phase2"], "epochs": 3, **phase2}})
    cfg = load_config(params)
    _runner(params, "01_data_selection.ipynb", cfg.study_dir / "selection")
    out = cfg.study_dir / "phase2" / "diverse"
    _runner(params, "02_intermediate_training.ipynb", out, "-p", "condition", "diverse")
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["tasks"]) == tasks
    assert m["examples"] == cfg.selection.budget  # the budget holds whatever the mixture
    logged = {k for r in m["log_history"] for k in r}
    assert {f"train_loss_{t}" for t in tasks} <= logged, (m["task_sampler"], m["log_history"][-1])
    assert sum(m["task_sampler"]["probabilities"].values()) == pytest.approx(1.0)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "encoder" / "model.safetensors").is_file()
