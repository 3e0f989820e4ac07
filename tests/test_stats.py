"""Statistics against hand-computed cases and known-answer simulations."""

import json

import numpy as np
import pytest
from scipy.stats import kstest

from study.stats import bootstrap_ci, holm, minimum_detectable_effect, paired_test


def test_bootstrap_interval_matches_the_normal_approximation():
    assert bootstrap_ci(np.ones((3, 50))) == (1.0, 1.0, 1.0)
    correct = np.zeros((1, 400))
    correct[0, :300] = 1  # accuracy 0.75 on 400 examples, one seed
    mean, low, high = bootstrap_ci(correct)
    half = 1.96 * np.sqrt(0.75 * 0.25 / 400)  # 0.0424
    assert mean == 0.75
    assert low == pytest.approx(0.75 - half, abs=0.01) and high == pytest.approx(0.75 + half, abs=0.01)


def test_crossed_variance_by_hand():
    # 2 runs x 4 examples: run means .75 and .25, example means 1, .5, .5, 0
    x = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=float)
    result = paired_test(x, np.zeros_like(x))
    runs = np.var([0.75, 0.25], ddof=1) / 2                       # 0.0625
    examples = np.var([1, 0.5, 0.5, 0], ddof=1) / 4               # 0.04167
    # residual x - run mean - example mean + grand mean: -.25, .25, .25, -.25 (run 0), the
    # opposite (run 1); its mean square over (2 - 1)(4 - 1) df: 8 * .0625 / 3 = .1667
    noise = 8 * 0.0625 / 3
    se = np.sqrt(runs + examples - noise / 8)                     # sqrt(.0625 + .0208) = .2887
    assert result["difference"] == 0.5 and result["df"] == 1
    assert result["se"] == pytest.approx(se)
    assert result["ci_high"] == pytest.approx(0.5 + 12.7062 * se, rel=1e-4)


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(0)
    same = (rng.random((1, 300)) < 0.7).astype(float).repeat(3, axis=0)  # three identical seeds
    spread = same.copy()
    spread[1] = (rng.random(300) < 0.5)  # a seed that behaves differently
    width = [bootstrap_ci(m)[2] - bootstrap_ci(m)[1] for m in (same, spread)]
    assert width[1] > width[0]


def test_identical_conditions_differ_by_nothing():
    a = (np.random.default_rng(1).random((2, 100)) < 0.6).astype(float)
    result = paired_test(a, a.copy())
    assert result["difference"] == 0 and result["p"] == 1.0
    assert result["ci_low"] == result["ci_high"] == 0


def test_holm_hand_case():
    # sorted 0.01, 0.03, 0.04 -> 0.01*3, 0.03*2, max(0.04*1, 0.06): in the given order
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def _simulate(rng, n, seeds, effect, seed_sd=0.0, example_sd=0.0):
    """Two conditions on the same n examples; each trained model (seed) shifts its accuracy
    by a normal amount of sd `seed_sd`, as fine-tuning seeds do, and each condition finds
    each example easier or harder by its own amount of sd `example_sd`, the same for all
    its seeds (models of one recipe fail on the same examples)."""
    difficulty = rng.random(n)  # examples differ in how hard they are, for both conditions
    base = 0.3 + 0.5 * difficulty
    a = (rng.random((seeds, n)) < base + rng.normal(0, example_sd, n) + effect
         + rng.normal(0, seed_sd, (seeds, 1))).astype(float)
    b = (rng.random((seeds, n)) < base + rng.normal(0, example_sd, n)
         + rng.normal(0, seed_sd, (seeds, 1))).astype(float)
    return a, b


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_a_null_difference_is_significant_in_at_most_about_5_percent_of_studies(seeds):
    # Runs of one recipe that differ by 5 points (as zero-shot transfer does, run to run) on
    # 1800 pooled examples: the runs dominate the error. A bootstrap over 2 seeds called this
    # significant in 29% of studies; the t test over runs must stay near its 5%.
    rng = np.random.default_rng(seeds)
    ps = np.array([paired_test(*_simulate(rng, 1800, seeds, 0.0, 0.05, example_sd=0.15))["p"]
                   for _ in range(400)])
    assert np.mean(ps < 0.05) <= 0.075
    if seeds == 5:  # p roughly uniform once there are a few degrees of freedom
        assert kstest(ps, "uniform").pvalue > 0.01


def test_unpaired_runs_pooled_draws_against_one_condition_are_calibrated_too():
    # the pooled random draws (4 runs) against en (2 runs): no seed pairing, Welch over runs
    rng = np.random.default_rng(7)
    ps = []
    for _ in range(300):
        a, b = _simulate(rng, 1800, 4, 0.0, 0.05, example_sd=0.15)
        ps.append(paired_test(a, b[:2])["p"])
    assert np.mean(np.array(ps) < 0.05) <= 0.075
    a, b = _simulate(rng, 1800, 4, 0.2, 0.05, example_sd=0.15)
    result = paired_test(a, b[:2])
    assert result["seeds"] == 2 and 1 <= result["df"] <= 4
    assert result["ci_low"] < 0.2 < result["ci_high"]


def test_runs_that_differ_by_example_noise_only_are_not_called_different():
    rng = np.random.default_rng(2)
    ps = [paired_test(*_simulate(rng, 200, 3, 0.0, example_sd=0.15))["p"] for _ in range(300)]
    assert np.mean(np.array(ps) < 0.05) <= 0.05


def test_a_planted_effect_is_found():
    a, b = _simulate(np.random.default_rng(3), 500, 5, 0.10)
    result = paired_test(a, b)
    assert result["p"] < 0.01
    assert result["ci_low"] > 0 and result["ci_low"] < 0.10 < result["ci_high"] + 0.02


def test_minimum_detectable_effect_formula_and_power():
    assert minimum_detectable_effect(0.025) == pytest.approx((1.959964 + 0.841621) * 0.025, rel=1e-5)
    assert minimum_detectable_effect(0.025, df=4) == pytest.approx((2.776445 + 0.940965) * 0.025, rel=1e-5)
    # One seed: the standard error is the textbook sd / sqrt(n) of the per-example
    # differences, so the MDE is the familiar paired-test formula.
    rng = np.random.default_rng(4)
    a, b = _simulate(rng, 400, 1, 0.0)
    sd = np.std(a[0] - b[0], ddof=1)
    assert paired_test(a, b)["se"] == pytest.approx(sd / 20, rel=0.1)
    # Planting exactly the MDE, the test finds it about 80% of the time.
    n, found = 300, 0
    mde = minimum_detectable_effect(np.mean([paired_test(*_simulate(rng, n, 1, 0.0))["se"]
                                             for _ in range(10)]))
    for _ in range(60):
        found += paired_test(*_simulate(rng, n, 1, mde))["p"] < 0.05
    assert 0.55 < found / 60 < 0.97


def test_minimum_detectable_effect_counts_the_seeds():
    # Seeds that differ (5 points sd each, as fine-tuning seeds do) raise the MDE well
    # above what the test examples alone allow; more seeds bring it down.
    rng = np.random.default_rng(6)

    def mde(seeds, seed_sd):
        return minimum_detectable_effect(np.mean([
            paired_test(*_simulate(rng, 1000, seeds, 0.0, seed_sd))["se"] for _ in range(10)]), df=seeds - 1)

    examples_only, spread3, spread8 = mde(3, 0.0), mde(3, 0.05), mde(8, 0.05)
    assert spread3 > 1.5 * examples_only
    assert spread8 < 0.5 * spread3
    # and it is the design's real power: a planted effect of that size is found about 80%
    # of the time
    found = sum(paired_test(*_simulate(rng, 1000, 3, spread3, 0.05))["p"] < 0.05
                for i in range(100))
    assert 0.6 < found / 100 < 0.97


def _fake_run(root, condition, seed, correct_by_lang):
    import json

    run = root / condition / f"seed{seed}"
    (run / "predictions" / "xnli").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"condition": condition, "seed": seed}))
    for lang, correct in correct_by_lang.items():
        (run / "predictions" / "xnli" / f"test-{lang}.jsonl").write_text("".join(
            json.dumps({"index": i, "gold": "entailment", "pred": "entailment" if c else "neutral"}) + "\n"
            for i, c in enumerate(correct)))
    return run


def test_study_comparisons_from_prediction_files(tmp_path):
    from study.stats import accuracy_intervals, comparisons, correctness

    rng = np.random.default_rng(5)
    runs = []
    for seed in (0, 1, 2, 3):  # 3 degrees of freedom over runs
        for condition, p in (("none", 0.5), ("en", 0.5), ("diverse", 0.75)):
            runs.append(_fake_run(tmp_path, condition, seed,
                                  {lang: rng.random(300) < p for lang in ("de", "sw")}))
    correct = correctness(runs, "xnli")
    assert correctness(runs, "xcopa") == {}  # another task's files are not read
    assert correct["diverse", "de"].shape == (4, 300) and correct["diverse", "avg"].shape == (4, 600)
    table = accuracy_intervals(correct, ["none", "en", "diverse"])
    avg = table[table.language == "avg"].set_index("condition")
    assert avg.loc["diverse", "ci_low"] < avg.loc["diverse", "accuracy"] < avg.loc["diverse", "ci_high"]
    compared = comparisons(correct, ["none", "en", "diverse"])
    assert set(compared.comparison) == {"diverse vs en", "en vs none", "diverse vs none"}
    rows = compared.set_index(["comparison", "language"])
    assert rows.loc[("diverse vs en", "avg"), "p_holm"] < 0.01  # the planted 25 points
    assert rows.loc[("en vs none", "avg"), "p"] > 0.01  # no effect there
    assert (compared.p_holm >= compared.p).all() and len(compared) == 9  # 3 comparisons x (2 + avg)


def test_gain_table_by_hand():
    import pandas as pd

    from study.stats import gain_table

    acc = pd.DataFrame({
        "condition": ["none", "none", "en", "diverse", "diverse", "translate-train", "none"],
        "seed": [0, 1, 0, 0, 0, 0, 0], "language": ["de", "de", "de", "de", "sw", "de", "avg"],
        "split": "test", "value": [0.50, 0.60, 0.58, 0.65, 0.40, 0.9, 0.5]})
    dist = pd.DataFrame({"target_language": ["de", "de", "sw"], "condition": ["en", "diverse", "diverse"],
                         "to_english": [0.2, 0.2, 0.6], "nearest_phase2_language": ["en", "fi", "fi"],
                         "to_nearest_phase2": [0.2, 0.1, 0.5]})
    gains = gain_table(acc, dist, exclude=("translate-train",)).set_index(["condition", "language"])
    # none's mean on de is 0.55; sw has no baseline, translate-train is excluded
    assert gains.loc[("en", "de"), "gain"] == pytest.approx(3.0)
    assert gains.loc[("diverse", "de"), "gain"] == pytest.approx(10.0)
    assert len(gains) == 2 and gains.loc[("diverse", "de"), "to_nearest_phase2"] == 0.1


def _gain_study(rng, slope, languages=12, seeds=3):
    import pandas as pd

    rows = []
    for i in range(languages):
        to_en, effect = rng.uniform(0.2, 0.8), rng.normal(0, 1.0)
        for condition, to_near in (("en", to_en), ("diverse", rng.uniform(0.1, 0.5)),
                                   ("similar", rng.uniform(0.1, 0.5))):
            for seed in range(seeds):
                rows.append({"condition": condition, "seed": seed, "language": f"l{i}",
                             "to_english": to_en, "to_nearest_phase2": to_near,
                             "gain": 1 + slope * to_en + effect + rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


def test_gain_regression_finds_a_planted_slope_and_no_slope_where_none_is():
    from study.stats import gain_regression

    rng = np.random.default_rng(11)
    fit = gain_regression(_gain_study(rng, slope=20)).set_index("term")
    assert fit.loc["to_english", "ci_low"] < 20 < fit.loc["to_english", "ci_high"]
    assert fit.loc["to_english", "ci_low"] > 0 and fit.loc["to_english", "p"] < 0.01
    assert abs(fit.loc["to_nearest_phase2", "slope"]) < 2  # no planted effect: near 0, not 20
    assert fit.loc["to_english", "languages"] == 12 and fit.loc["to_english", "observations"] == 108
    null_p = [gain_regression(_gain_study(rng, slope=0)).set_index("term").loc["to_english", "p"]
              for _ in range(40)]
    assert np.mean(np.array(null_p) < 0.05) <= 0.2  # about 5% expected; roughly uniform
    assert 0.3 < np.median(null_p) < 0.7
    assert gain_regression(_gain_study(rng, slope=1, languages=2)).empty  # too few languages
    # distances that move together (only `en` in phase 2: its nearest phase-2 language is
    # English) are not identified: no table, where the report used to crash (singular matrix)
    collinear = _gain_study(rng, slope=1, languages=3)
    collinear = collinear[collinear.condition == "en"].assign(to_nearest_phase2=lambda d: d.to_english)
    assert gain_regression(collinear).empty


def test_per_language_tables_follow_the_task_language_order_with_the_average_last():
    import pandas as pd

    from study.results import accuracy_table, gains

    rows = [{"task": "t", "condition": c, "language": lang, "mean": m, "std": 0.01, "seeds": 2}
            for c, base in (("none", 0.40), ("en", 0.50))
            for lang, m in (("sw", base), ("ar", base + 0.1), ("avg", base + 0.05), ("de", base + 0.2))]
    summary = pd.DataFrame(rows)
    table = accuracy_table(summary, "t", ["de", "sw"])
    assert list(table.index) == ["de", "sw", "ar", "avg"]  # given order, the rest sorted, avg last
    assert table.loc["ar", "en"] == "60.0 ± 1.0"
    gain = gains(summary, "t", languages=["de", "sw"])
    assert list(gain.index) == ["de", "sw", "ar", "avg"] and list(gain.columns) == ["en"]
    assert gain["en"].round(6).tolist() == [10.0] * 4


def test_the_p_value_agrees_with_the_interval_when_seeds_disagree():
    """One lucky seed: the examples alone would call the difference certain, but over seeds
    it is not; the p-value must say what the interval says."""
    rng = np.random.default_rng(5)
    b = (rng.random((2, 400)) < 0.5).astype(float)
    a = b.copy()
    a[0] = np.maximum(a[0], rng.random(400) < 0.4)  # seed 0: +20 points; seed 1: no change
    result = paired_test(a, b)
    assert result["ci_low"] <= 0 < result["ci_high"]
    assert result["p"] > 0.05


def test_random_draws_are_pooled_into_one_condition(tmp_path):
    from study.stats import accuracy_intervals, comparisons, correctness

    rng = np.random.default_rng(6)
    runs = []
    for condition in ("none", "diverse", "random-0", "random-1"):
        for seed in (0, 1):
            runs.append(_fake_run(tmp_path, condition, seed, {"de": rng.random(100) < 0.6,
                                                              "fr": rng.random(100) < 0.6}))
    correct = correctness(runs, "xnli")
    assert correct["random", "de"].shape == (4, 100)  # two draws x two seeds
    assert (correct["random", "de"][2:] == correct["random-1", "de"]).all()
    order = ["none", "diverse", "random-0", "random-1"]
    ci = accuracy_intervals(correct, order)
    assert list(ci.condition.cat.categories) == ["none", "diverse", "random", "random-0", "random-1"]
    compared = comparisons(correct, order)
    assert set(compared.comparison) == {"diverse vs random", "diverse vs none", "random vs none"}
    row = compared[(compared.comparison == "random vs none") & (compared.language == "avg")].iloc[0]
    assert row.seeds == 2 and row.n == 200
    pooled = correct["random", "avg"].mean() - correct["none", "avg"].mean()
    assert row.difference == pytest.approx(100 * pooled)


def test_every_study_comparison_is_made_and_holm_covers_the_whole_family(tmp_path):
    from study.stats import comparisons, correctness, holm

    rng = np.random.default_rng(7)
    conditions = ["none", "en", "diverse", "similar", "random-0", "en+diverse", "translate-train"]
    runs = [_fake_run(tmp_path, c, seed, {"de": rng.random(200) < 0.6})
            for c in conditions for seed in (0, 1)]
    compared = comparisons(correctness(runs, "xnli"), conditions)
    expected = {"diverse vs en", "diverse vs similar", "diverse vs random", "en+diverse vs en",
                *(f"{c} vs none" for c in ["en", "diverse", "similar", "random", "random-0",
                                           "en+diverse", "translate-train"])}
    # the draw random-0 is compared only as the pooled `random`
    expected.discard("random-0 vs none")
    study = compared[compared.control == ""]
    assert set(study.comparison) == expected
    assert len(study) == 2 * len(expected)  # de and the average
    # Holm over all of them at once, not comparison by comparison
    assert study.p_holm.to_numpy() == pytest.approx(holm(study.p.to_numpy()))
    # translate-train with en present: the positive control, in a Holm family of its own
    control = compared[compared.control == "positive"]
    assert set(control.comparison) == {"translate-train vs en"}
    assert list(control.language) == ["zero-shot", "de"]
    assert control.p_holm.to_numpy() == pytest.approx(holm(control.p.to_numpy()))


def _control_study(tmp_path, positive: float, replicate: float, seeds=(0, 1, 2)):
    """Prediction files of en, translate-train and en-replicate on three languages: each
    example right with the condition's probability, English the same for all."""
    rng = np.random.default_rng(11)
    base = {"de": 0.6, "sw": 0.55, "zh": 0.5}
    runs = []
    for seed in seeds:
        for condition, shift in (("en", 0.0), ("translate-train", positive), ("en-replicate", replicate)):
            langs = {lang: rng.random(300) < p + shift for lang, p in base.items()}
            langs["en"] = rng.random(300) < 0.9
            runs.append(_fake_run(tmp_path, condition, seed, langs))
    return runs


@pytest.mark.parametrize("positive, replicate, verdicts", [
    (0.15, 0.0, {"positive": True, "negative": True}),     # a real effect, no invented one
    (0.0, 0.0, {"positive": False, "negative": True}),     # the design misses the known effect
    (0.15, 0.12, {"positive": True, "negative": False}),   # the A/A pair differs: not to be trusted
])
def test_controls_are_judged_on_the_zero_shot_languages(tmp_path, positive, replicate, verdicts):
    from study import report
    from study.stats import comparisons, control_verdicts, correctness

    correct = correctness(_control_study(tmp_path, positive, replicate), "xnli")
    compared = comparisons(correct, ["en", "en-replicate"])
    # the replicate is a control only: no `en-replicate vs ...` in the study's own family
    assert set(compared[compared.control == ""].comparison) == set()
    rows = compared[compared.control != ""].set_index(["control", "language"])
    pooled = sum(correct["translate-train", lang].mean() - correct["en", lang].mean()
                 for lang in ("de", "sw", "zh"))
    assert rows.loc[("positive", "zero-shot"), "difference"] == pytest.approx(100 * pooled / 3)
    assert rows.loc[("positive", "zero-shot"), "n"] == 900  # English is not part of it
    verdict = control_verdicts(compared).set_index("control")["as_expected"].to_dict()
    assert verdict == verdicts
    analysis = report.TaskAnalysis(task="xnli", target="xnli", table=None, gains=None, intervals=None,
                                   comparisons=compared, gain_points=None, regression=None, chance=1 / 3)
    text = report.controls_section({"xnli": analysis})
    assert text.count("It came out as expected") == sum(verdicts.values())
    assert text.count("did not come out as expected") == len(verdicts) - sum(verdicts.values())
    assert ("cannot be trusted" in text) == (not all(verdicts.values()))
    if not verdicts["negative"]:
        assert "differences that are not there" in text


def test_a_study_without_controls_says_so():
    import pandas as pd

    from study import report

    analysis = report.TaskAnalysis(task="xnli", target="xnli", table=None, gains=None, intervals=None,
                                   comparisons=pd.DataFrame(columns=["control", "language"]),
                                   gain_points=None, regression=None, chance=1 / 3)
    assert "includes no control" in report.controls_section({"xnli": analysis})


def test_mean_and_sd_over_seeds_by_hand():
    import pandas as pd

    from study.results import accuracy_table, seed_summary

    rows = [{"study": "s", "condition": c, "family": "nli", "task": "xnli", "target": "xnli",
             "language": lang, "split": split, "seed": seed, "metric": metric, "value": v,
             "n": 100, "run_dir": f"{c}/{seed}"}
            for c, by_seed in (("en", {0: (0.50, 0.70), 1: (0.60, 0.80), 2: (0.70, 0.90)}),
                               ("none", {0: (0.40, 0.40)}))
            for seed, (de, sw) in by_seed.items()
            for lang, v in (("de", de), ("sw", sw))
            for split, metric in (("test", "accuracy"), ("dev", "accuracy"), ("test", "gold:entailment"))]
    summary = seed_summary(pd.DataFrame(rows), ["none", "en"]).set_index(["condition", "language"])
    # en on de: 0.5, 0.6, 0.7 -> mean 0.6, sample sd 0.1; the average over languages per
    # seed is 0.6, 0.7, 0.8 -> mean 0.7, sd 0.1; dev and count rows are not test accuracy
    assert summary.loc[("en", "de"), "mean"] == pytest.approx(0.6)
    assert summary.loc[("en", "de"), "std"] == pytest.approx(0.1)
    assert summary.loc[("en", "avg"), ["mean", "std", "seeds"]].tolist() == pytest.approx([0.7, 0.1, 3])
    assert summary.loc[("none", "sw"), "seeds"] == 1 and np.isnan(summary.loc[("none", "sw"), "std"])
    table = accuracy_table(summary.reset_index().assign(task="xnli"), "xnli")
    assert table.loc["de", "en"] == "60.0 ± 10.0" and table.loc["de", "none"] == "40.0"  # one seed: no ±


def test_the_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    # Known answer: models whose true accuracy is 0.7 on average (seeds spread 3 points),
    # tested on 300 examples of varying difficulty; the interval should cover 0.7 in about
    # 95% of studies (the bootstrap over 3 seeds is a little narrow, so somewhat less).
    rng = np.random.default_rng(8)
    covered = 0
    for i in range(200):
        difficulty = rng.random(300)
        p = np.clip(0.7 + 0.4 * (difficulty - 0.5) + rng.normal(0, 0.03, (3, 1)), 0, 1)
        _, low, high = bootstrap_ci((rng.random((3, 300)) < p).astype(float), resamples=400, seed=i)
        covered += low <= 0.7 <= high
    assert 0.85 <= covered / 200 <= 0.99


def test_positive_control_where_translate_train_trains_and_one_language_can_fail_the_negative(tmp_path):
    from study.stats import comparisons, control_verdicts, correctness

    runs = _control_study(tmp_path, positive=0.15, replicate=0.0)
    correct = correctness(runs, "xnli")
    compared = comparisons(correct, ["en"], positive_languages=("de", "sw"))
    positive = compared[compared.control == "positive"]
    assert list(positive.language) == ["zero-shot", "de", "sw"] and positive.iloc[0].n == 600
    assert set(compared[compared.control == "negative"].language) == {"zero-shot", "de", "sw", "zh"}
    nowhere = comparisons(correct, ["en"], positive_languages=())
    assert "positive" not in set(control_verdicts(nowhere).control)
    # the replicate differs in one language only: the pooled row may hide it, that row does not
    rng = np.random.default_rng(3)
    for run in runs:
        if run.parent.name == "en-replicate":
            right = rng.random(300) < 0.9
            (run / "predictions" / "xnli" / "test-zh.jsonl").write_text("".join(
                json.dumps({"index": i, "gold": "entailment", "pred": "entailment" if c else "neutral"})
                + "\n" for i, c in enumerate(right)))
    compared = comparisons(correctness(runs, "xnli"), ["en"])
    verdicts = control_verdicts(compared).set_index("control")
    assert not verdicts.loc["negative", "as_expected"]
    assert "zh" in verdicts.loc["negative", "significant_in"]
    # the report names the language where the replicate differed, and the seed count
    from study import report

    analysis = report.TaskAnalysis(task="xnli", target="xnli", table=None, gains=None, intervals=None,
                                   comparisons=compared, gain_points=None, regression=None, chance=1 / 3)
    text = report.controls_section({"xnli": analysis})
    assert "(significant: " in text and " zh +" in text.split("(significant: ")[1]
    assert f"With {int(verdicts.loc['negative', 'seeds'])} seeds the t test" in text
