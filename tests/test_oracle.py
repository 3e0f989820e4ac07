"""The oracle beside model selection (study/oracle.py): the checkpoint each target language's
own dev chooses, and its test accuracy, next to the English dev's choice."""

from __future__ import annotations

import pytest

from study import oracle
from study.config import load_config


def _evaluation(dev: float, test: float) -> dict:
    return {"xnli": {"dev": {"de": {"accuracy": dev}}, "test": {"de": {"accuracy": test}}}}


def test_each_language_takes_the_check_its_own_dev_prefers_and_english_wins_ties():
    history = [{"step": 100, "eval_accuracy": 0.8},
               {"step": 100, "oracle": {"xnli": {"de": {"dev": 0.70, "test": 0.71}}}},
               {"step": 200, "oracle": {"xnli": {"de": {"dev": 0.74, "test": 0.69}}}},
               {"step": 300, "oracle": {"xnli": {"de": {"dev": 0.74}}}}]  # not better: no test asked for
    assert oracle.best_so_far(history) == {("xnli", "de"): {"dev": 0.74, "test": 0.69, "step": 200}}
    # English dev chose step 300 (dev 0.72 in German): German dev prefers 200
    chosen = oracle.choose(history, _evaluation(0.72, 0.73), chosen_step=300)["xnli"]["de"]
    assert (chosen["step"], chosen["test"], chosen["english_choice_test"]) == (200, 0.69, 0.73)
    assert chosen["gap"] == pytest.approx(-4.0)  # an oracle on dev can lose on test
    # equal dev: the English choice stands, gap 0
    tie = oracle.choose(history, _evaluation(0.74, 0.73), chosen_step=300)["xnli"]["de"]
    assert (tie["step"], tie["gap"]) == (300, 0.0)


def test_the_oracle_covers_every_non_english_language_with_dev_and_test(tiny_params):
    cfg = load_config(tiny_params)
    pairs = oracle.oracle_sets(cfg, "demo_nli")
    assert ("demo_nli", "en") not in pairs and ("demo_nli", "sw") in pairs
    assert {t for t, _ in pairs} == {"demo_nli", "demo_americas"}  # its also_evaluate task too
    assert oracle.make_callback(load_config(tiny_params, {"phase3.oracle_every": 0}), "demo_nli") is None


@pytest.mark.slow
def test_a_phase3_run_records_the_oracle_without_changing_its_training(tiny_params, tmp_path):
    """Every non-English language gets the oracle's choice: its dev never below the English
    choice's, its test the one measured at that check; the checks change nothing the run
    trains (the same test accuracies as a run without them)."""
    from study.stages import target_training

    cfg = load_config(tiny_params)
    with_oracle = target_training.run_phase3(cfg, "demo_nli", "none", 0, tmp_path / "with")
    without = target_training.run_phase3(load_config(tiny_params, {"phase3.oracle_every": 0}),
                                         "demo_nli", "none", 0, tmp_path / "without")
    assert without["oracle"] == {} and with_oracle["evaluation"] == without["evaluation"]
    checks = {r["step"]: r["oracle"] for r in with_oracle["log_history"] if "oracle" in r}
    assert len(checks) == cfg.phase3.epochs  # one English-dev check per epoch, each an oracle check
    covered = {f"{t}/{lang}" for t, lang in oracle.oracle_sets(cfg, "demo_nli")}
    assert {f"{t}/{lang}" for t, langs in with_oracle["oracle"].items() for lang in langs} == covered
    for task, langs in with_oracle["oracle"].items():
        for lang, o in langs.items():
            assert o["dev"] >= o["english_choice_dev"]
            assert o["english_choice_test"] == with_oracle["evaluation"][task]["test"][lang]["accuracy"]
            if o["step"] != o["english_choice_step"]:
                assert o["test"] == checks[o["step"]][task][lang]["test"]
            assert o["gap"] == pytest.approx(100 * (o["test"] - o["english_choice_test"]))
    print({f"{t}/{lang}": round(o["gap"], 1) for t, langs in with_oracle["oracle"].items()
           for lang, o in langs.items()})
