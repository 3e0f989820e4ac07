"""Phase 3 as XTREME's recipes run it: a target trained after other English tasks
(train_xcopa.sh: SIQA, then COPA from the SIQA model), each choosing its checkpoint on its
own English dev; the demo mirrors it with demo_social before demo_choice."""

from __future__ import annotations

import json

import pytest

from study.config import ConfigError, load_config


def test_the_full_study_trains_siqa_before_copa_and_the_sequence_is_checked():
    cfg = load_config("params/full.yaml")
    assert cfg.data.targets["xcopa"].train_before == ("siqa",)
    assert cfg.data.targets["xnli"].train_before == ()
    alone = load_config("params/full.yaml", {"data.targets.xcopa.train_before": []})  # COPA alone
    from study import costs, preflight

    assert ("siqa", "en", "train") in preflight.reads(cfg)
    assert ("siqa", "en", "train") not in preflight.reads(alone)
    (with_siqa, _), (copa, _) = (costs._phase3_tokens(c, "xcopa") for c in (cfg, alone))
    assert with_siqa > 50 * copa  # SIQA's 33,410 examples against COPA's 400
    for before, message in ((["mnli"], r"train_before: task 'mnli' has head pair_classification, but "
                                       r"'copa' trains multiple_choice"),
                            (["xcopa"], r"task 'xcopa' needs English train and dev splits"),
                            (["copa"], r"a task at most once, and not `train` \('copa'\) itself")):
        with pytest.raises(ConfigError, match=message):
            load_config("params/full.yaml", {"data.targets.xcopa.train_before": before})


@pytest.mark.slow
def test_a_target_trained_after_another_task_starts_from_its_model_and_a_stopped_run_keeps_it(tiny_params,
                                                                                               tmp_path):
    """demo_social first, then demo_choice from the demo_social model, its head included (one
    score per choice, whatever the number of choices); the sequence and each step are
    recorded; a run stopped after the first step does not train it again."""
    from study.jobgraph import Job
    from study.pipeline import checkpoint_dir
    from study.stages import target_training

    cfg = load_config(tiny_params)
    assert cfg.data.targets["demo_choice"].train_before == ("demo_social",)  # as the demo trains it
    out = tmp_path / "run"
    start = target_training.start_encoder(cfg, "none", 0)
    job = Job("phase3", target="demo_choice", condition="none", seed=0)
    # the first step alone, as in a run stopped before the target's own training ended
    model, steps = target_training.train_steps_before(cfg, "demo_choice", "none", 0, start, out, job)
    step = steps[0]
    assert model == str(checkpoint_dir(out, "demo_social") / "model") and step["task"] == "demo_social"
    assert step["examples"] == 300 and step["steps"] > 0 and step["dev_en_accuracy"] > 1 / 3
    metrics = target_training.run_phase3(cfg, "demo_choice", "none", 0, out)
    assert metrics["train_sequence"] == ["demo_social", "demo_choice"]
    assert metrics["steps_before"] == [step]  # the step kept (its time, its numbers), not trained again
    assert metrics["started_from"] == "pretrained"  # the sequence's start: `none`'s encoder
    assert not checkpoint_dir(out, "demo_social").exists()  # removed with the run's checkpoints
    prov = json.loads((out / "provenance.json").read_text())
    assert {"demo_social en train", "demo_social en dev"} <= set(prov["data_fingerprints"])
    # the target's training started from the step's model, head included: a run without the
    # step (a fresh head) ends elsewhere
    copa_alone = load_config(tiny_params, {"data.targets.demo_choice.train_before": []})
    alone = target_training.run_phase3(copa_alone, "demo_choice", "none", 0, tmp_path / "alone")
    assert alone["train_sequence"] == ["demo_choice"] and alone["steps_before"] == []
    assert alone["evaluation"] != metrics["evaluation"]
