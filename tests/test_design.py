"""The design check: what each comparison's language sets differ in, before anything trains."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student

from study import design
from study.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "params/full.yaml"
# the full study's pool before the wider NLI pool: ko, id, ja (zh is an XNLI test language)
OLD_POOL = {"data.phase2_pool": ["klue_nli", "indonli", "jnli", "ocnli"], "selection.k": 2}


def test_the_three_language_pool_warns_and_the_new_full_study_does_not():
    old = load_config(FULL, OLD_POOL)
    found = design.warnings(design.diagnose(old), old)
    assert len(found) == 3, found
    overlap, gap, draws = found
    assert overlap.startswith("diverse vs similar: the sets share id (50% of a set")
    assert "mean pairwise distance by 0.048" in gap and "mean distance to English by 0.029" in gap
    assert "widen data.phase2_pool" in gap and "selection.k" in gap
    assert draws.startswith("random: 3 draws from 3 possible sets give 1 distinct")

    new = load_config(FULL)
    diagnosis = design.diagnose(new)
    assert design.warnings(diagnosis, new) == []
    main = diagnosis.table.set_index("comparison").loc["diverse vs similar"]
    assert main.overlap == 0 and main.shared == ""
    assert main.a_pairwise - main.b_pairwise > 0.2 and main.a_to_english - main.b_to_english > 0.1
    assert diagnosis.random_sets.loc[0, "distinct_draws"] == diagnosis.random_sets.loc[0, "draws"]


def test_weak_contrast_error_stops_check_naming_the_setting():
    cfg = load_config(FULL, {**OLD_POOL, "design.weak_contrast": "error"})
    with pytest.raises(ConfigError, match=r"full.yaml: the design cannot answer its question \(design."
                                          r"weak_contrast: error\): diverse vs similar: the sets share id"):
        design.enforce(cfg)
    assert design.enforce(load_config(FULL, {"design.weak_contrast": "error"})) == []


def test_thresholds_are_the_params():
    cfg = load_config(FULL, {**OLD_POOL, "design.max_overlap": 0.5, "design.min_distance_gap": 0.02,
                             "selection.random_draws": 1})
    assert design.warnings(design.diagnose(cfg), cfg) == []


def test_design_table_describes_each_side_from_the_distances():
    cfg = load_config(FULL, OLD_POOL)
    chosen = design.condition_sets(cfg)
    sets, dist = chosen["nli"]
    assert sets["diverse"] == ("ja", "id") and sets["similar"] == ("id", "ko")
    row = design.design_table(cfg, chosen).set_index("comparison").loc["diverse vs similar"]
    assert row.a_pairwise == pytest.approx(dist.loc["ja", "id"])
    assert row.b_to_english == pytest.approx((dist.loc["en", "id"] + dist.loc["en", "ko"]) / 2)
    assert row.a_families == "Austronesian, Japonic" and row.b_scripts == "Kore, Latn"
    controls = design.design_table(cfg, chosen).set_index("comparison")
    assert controls.loc["translate-train vs en", "control"] == "positive"
    assert controls.loc["translate-train vs en", "a_languages"].split(",") == list(
        cfg.data.translate_train_languages())


def test_confound_is_the_correlation_of_distance_with_a_script_difference():
    cfg = load_config(FULL, OLD_POOL)
    chosen = design.condition_sets(cfg)
    row = design.confound(chosen).iloc[0]
    _, dist = chosen["nli"]
    langs = ["en", "id", "ja", "ko"]  # scripts Latn, Latn, Jpan, Kore
    pairs = [(a, b) for i, a in enumerate(langs) for b in langs[i + 1:]]
    d = [dist.loc[a, b] for a, b in pairs]
    other = [float(not {a, b} <= {"en", "id"}) for a, b in pairs]
    assert row.pairs == 6 and row.r_script == pytest.approx(float(np.corrcoef(d, other)[0, 1]))
    assert math.isnan(row.r_family)  # all four are of different families: no contrast to correlate


def test_predicted_mde_by_hand():
    cfg = load_config(FULL, {"design.seed_sd": {"xnli": 0.8}, "seeds": [0, 1, 2, 3, 4]})
    row = design.predicted_mde(cfg).set_index("target").loc["xnli"]
    n = 15 * 5010  # XNLI's test languages (English included, as the report's average)
    se = math.sqrt(2 * 0.8 ** 2 / 5 + 0.5 / n * 100 ** 2)
    assert row.test_examples == n and row.df == 4
    assert row.mde == pytest.approx((student.ppf(0.975, 4) + student.ppf(0.8, 4)) * se)
    assert design.predicted_mde(cfg, seeds=10).set_index("target").loc["xnli", "mde"] < row.mde
    assert math.isnan(design.predicted_mde(cfg).set_index("target").loc["xcopa", "mde"])  # none assumed


def test_plan_prints_the_design_and_its_warnings():
    result = subprocess.run([sys.executable, "-m", "study.grid", "plan", str(FULL)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "diverse vs similar" in out and "confound (nli pool and English" in out
    assert "predicted MDE (xnli, test average, 75,150 examples, 5 seeds, df 4)" in out
    assert "predicted MDE (xcopa): none" in out
    assert "warning" not in result.stderr


def test_report_sets_the_prediction_beside_the_observed_mde_and_seed_spread():
    from types import SimpleNamespace

    import pandas as pd

    from study import report

    cfg = load_config(ROOT / "params/demo.yaml")
    compared = pd.DataFrame({"language": ["avg", "avg", "avg", "de"], "control": ["positive", "", "", ""],
                             "mde": [1.0, 4.0, 8.0, 30.0]})
    summary = pd.DataFrame({"task": "demo_nli", "language": "avg",
                            "condition": ["en", "diverse", "translate-train"], "std": [0.02, 0.04, 0.5]})
    analysis = SimpleNamespace(tasks={"demo_nli": SimpleNamespace(comparisons=compared)}, summary=summary)
    row = report.mde_table(cfg, analysis).loc["demo_nli"]
    predicted = design.predicted_mde(cfg).set_index("target").loc["demo_nli", "mde"]
    assert row["predicted MDE (points)"] == f"{predicted:.1f}" and row["assumed seed sd (points)"] == "3.5"
    # the study's comparisons on the average only (not the controls, not a language), and the
    # spread of the zero-shot conditions (not the translate-train reference)
    assert row["observed MDE (points, median)"] == "6.0" and row["observed MDE (range)"] == "4.0 to 8.0"
    assert row["observed seed sd (points, median)"] == "3.0"
