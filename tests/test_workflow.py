"""The whole demo grid through Snakemake and papermill, on tiny parameters.

Executes every notebook (01-04) through the workflow and asserts on what the notebooks
wrote: metrics, predictions, XTREME exports, provenance and the HTML report.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from study.config import load_config
from study.registry import NLI_LABELS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def snakemake(params: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    workdir.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"),
         "--cores", "2", "--config", f"params={params}", *extra],
        cwd=workdir, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from conftest import TINY, write_params

    tmp = tmp_path_factory.mktemp("wf")
    params = write_params(tmp, **TINY)
    first = snakemake(params, tmp / "wd")
    assert first.returncode == 0, first.stderr[-4000:]
    return load_config(params), params, tmp


def test_report_has_the_table_figures_and_demo_warning(study):
    cfg, _, _ = study
    html = (cfg.study_dir / "report.html").read_text()
    assert "Zero-shot test accuracy per language and condition" in html
    assert "not a scientific result" in html
    assert "pipeline.configure" not in html  # no code cells
    assert html.count("<img") >= 3  # accuracy bars, CI bars and gain heatmap
    assert "Paired comparisons" in html and "p (Holm)" in html and "diverse vs en" in html
    compared = (cfg.study_dir / "analysis" / "comparisons.csv").read_text()
    assert "diverse vs similar" in compared and "en vs none" in compared
    assert "greedy max-min" in html and "macrolanguage" in html  # the typology is stated
    for condition in cfg.conditions:
        assert f">{condition}<" in html


def test_every_run_wrote_metrics_for_every_language(study):
    cfg, _, _ = study
    langs = cfg.data.eval_languages()
    for condition in cfg.conditions:
        run = cfg.study_dir / "runs" / condition / "seed0"
        m = json.loads((run / "metrics.json").read_text())
        assert set(m["test"]) == set(langs)
        assert all(r["n"] == cfg.data.max_eval_examples for r in m["test"].values())
        assert all(0 <= r["accuracy"] <= 1 for r in m["test"].values())
        # Trained on English: well above chance (1/3) on English dev and test.
        assert m["dev_en_accuracy"] > 0.6, (condition, m["dev_en_accuracy"])
        assert m["test"]["en"]["accuracy"] > 0.6
        prov = json.loads((run / "provenance.json").read_text())
        assert prov["seed"] == 0 and prov["packages"]["transformers"]
        assert "commit" in prov["git"] and prov["data_fingerprints"]["train_en"]
        nb = nbformat.read(run / "03_target_training.ipynb", as_version=4)
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_xtreme_export_rescored_independently_matches_metrics(study):
    cfg, _, _ = study
    run = cfg.study_dir / "runs" / "diverse" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    for lang in ("de", "zh", "en"):
        predicted = (run / "xtreme" / "xnli" / f"test-{lang}.tsv").read_text().splitlines()
        gold_rows = [json.loads(x) for x in
                     (cfg.data.local_dir / "demo_nli" / lang / "test.jsonl").open()]
        gold = [NLI_LABELS[r["label"]] for r in gold_rows][: len(predicted)]
        assert len(predicted) == cfg.data.max_eval_examples
        assert set(predicted) <= set(NLI_LABELS)
        accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
        assert accuracy == pytest.approx(metrics["test"][lang]["accuracy"])


def test_selection_is_budget_matched_and_zero_shot(study):
    cfg, _, _ = study
    sel = json.loads((cfg.study_dir / "selection" / "metrics.json").read_text())
    target_langs = set(cfg.data.eval_languages())
    assert not set(sel["pool"]) & target_langs
    assert set(sel["excluded_target_languages"]) == target_langs - {"en"}
    for condition in ("en", "diverse", "similar"):
        rows = "".join(f.read_text() for f in (cfg.study_dir / "selection" / "phase2_data" / condition
                                                ).glob("*.jsonl"))
        assert len(rows.splitlines()) == cfg.selection.budget
        p2 = json.loads((cfg.study_dir / "phase2" / condition / "metrics.json").read_text())
        assert p2["examples"] == cfg.selection.budget
        assert (cfg.study_dir / "phase2" / condition / "encoder" / "config.json").is_file()
    summary = {r["condition"]: r for r in sel["summary"]}
    assert summary["diverse"]["min_pairwise"] >= summary["similar"]["min_pairwise"]
    assert sel["languages"]["en"] == ["en"]
    # The demo data is built without dev/test pairs in train: nothing leaks, nothing removed.
    assert sel["leakage_rule"] == "drop"
    assert sel["sampler"]["languages"] == "equal" and sel["sampler"]["temperature"] is None
    assert sel["sampler"]["tasks_within_a_language"] == "equal" and sel["sampler"]["seed"] == 0
    assert sel["quotas"]["en"]["en"]["leaked_removed"] == 0
    for condition, quota in sel["quotas"].items():
        assert sum(q["used"] for q in quota.values()) == cfg.selection.budget, condition


def test_tidy_results_table(study):
    import pandas as pd

    cfg, _, _ = study
    df = pd.read_parquet(cfg.study_dir / "analysis" / "results.parquet")
    assert {"study", "condition", "language", "split", "seed", "metric", "value", "n",
            "run_dir"} <= set(df.columns)
    assert set(df.condition) == set(cfg.conditions)
    assert len(df[df.split == "test"]) == len(cfg.conditions) * len(cfg.data.eval_languages())


def test_second_run_does_nothing(study):
    cfg, params, tmp = study
    before = (cfg.study_dir / "report.html").stat().st_mtime_ns
    again = snakemake(params, tmp / "wd")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert (cfg.study_dir / "report.html").stat().st_mtime_ns == before


def test_failed_notebook_keeps_its_error_and_no_finished_dir(study):
    cfg, params, tmp = study
    out = tmp / "failed-run"
    result = subprocess.run(
        [sys.executable, "-m", "study.runner", str(ROOT / "notebooks" / "02_intermediate_training.ipynb"),
         str(out), "--params", str(params), "-p", "condition", "no-such-condition"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "no phase-2 data for condition 'no-such-condition'" in result.stderr
    assert not out.exists()
    executed = out.with_name("failed-run.partial") / "02_intermediate_training.ipynb"
    assert str(executed) in result.stderr
    nb = nbformat.read(executed, as_version=4)
    assert any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))


def test_selection_notebook_shows_sets_scores_distances_and_both_figures(study):
    import pandas as pd

    cfg, _, _ = study
    sel_dir = cfg.study_dir / "selection"
    nb = nbformat.read(sel_dir / "01_data_selection.ipynb", as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # distance heatmap, MDS map, lengths
    noise = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.get("name") == "stderr"]
    assert not noise, noise  # urielplus / datasets logging kept out of the notebook
    text = "\n".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)
    assert "n_families" in text and "uriel_code" in text and "to_english" in text
    targets = pd.read_csv(sel_dir / "target_distances.csv")
    assert set(targets.target_language) == set(cfg.data.eval_languages())
    assert set(targets.condition) == {"en", "diverse", "similar"}
    en_rows = targets[targets.condition == "en"]
    assert (en_rows.to_nearest_phase2 == en_rows.to_english).all()
    sel = json.loads((sel_dir / "metrics.json").read_text())
    assert sel["uriel_codes"]["zh"] == "zho" and "typology_gaps" in sel
