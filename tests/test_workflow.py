"""The whole demo grid through Snakemake and papermill, on tiny parameters.

Executes every notebook (01-04) through the workflow and asserts on what the notebooks
wrote: metrics, predictions, XTREME exports, provenance and the HTML report.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from study import jobgraph, stats
from study.config import load_config
from study.registry import TASKS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


# as `study.grid run` passes them: a job reruns for its fingerprint, not its shell command's text
RERUN_TRIGGERS = ("mtime", "params", "input", "software-env")


def snakemake(params: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    workdir.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"),
         "--cores", "2", "--config", f"params={params}", "--rerun-triggers", *RERUN_TRIGGERS, *extra],
        cwd=workdir, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from conftest import TINY, write_params

    tmp = tmp_path_factory.mktemp("wf")
    # phase2_seed_policy per_seed: encoders in phase2/<condition>/seed0 (the demo's `shared`
    # runs in the other workflow tests)
    params = write_params(tmp, **{**TINY, "conditions": [*TINY["conditions"], "random", "en+diverse",
                                                                "translate-train", "en-replicate"],
                                  "phase2_seed_policy": "per_seed",
                                  # phase 2 as the demo's (1,500 examples, 4 epochs): with
                                  # TINY's 10 steps translate-train learns nothing
                                  "selection": {**TINY["selection"], "random_draws": 1, "budget": 1500},
                                  "phase2": {**TINY["phase2"], "epochs": 4, "logging_steps": 20}})
    first = snakemake(params, tmp / "wd")
    assert first.returncode == 0, first.stderr[-4000:]
    return load_config(params), params, tmp


def test_report_has_every_section_with_real_numbers(study):
    import pandas as pd

    cfg, _, _ = study
    html = (cfg.study_dir / "report.html").read_text()
    for heading in ("Does this study detect effects?", "Main result", "Paired comparisons", "Per language",
                    "Gain and typological distance", "Training curves", "Provenance",
                    "Oracle: target-language dev (an upper bound, not zero-shot)",
                    "Published reference figures"):
        assert f">{heading}<" in html, heading
    assert "not a scientific result" in html  # the demo warning
    assert "No published reference applies" in html and "small model: its numbers are not comparable" in html
    assert "translate-train (reference, not zero-shot)" in html and "is a reference, not zero-shot" in html
    assert "pipeline.configure" not in html  # no code cells
    # 1 CI figure, per task bars + heatmap (3 tasks), 3 regression figures, training curves
    assert html.count("<img") >= 11
    assert "p (Holm)" in html and "diverse vs en" in html and "slope (points per unit)" in html
    assert "greedy max-min" in html and "macrolanguage" in html  # the typology is stated
    assert "<strong>Question.</strong>" in html and "<strong>Design.</strong>" in html
    assert "zero-shot cross-lingual transfer" in html and "English dev only" in html
    assert "a phase-2 encoder of its own, trained with that seed" in html  # the seed policy
    selection = json.loads((cfg.study_dir / "selection" / "metrics.json").read_text())
    for condition, langs in selection["languages"].items():  # the chosen languages, as chosen
        assert f"<code>{condition}</code></td>\n<td>{', '.join(langs)}</td>" in html, condition
    # provenance: the code version, package versions and data fingerprints of the outputs
    run = cfg.study_dir / "runs" / "demo_nli" / "none" / "seed0"
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["packages"]["torch"] in html and prov["packages"]["transformers"] in html
    for name, fp in prov["data_fingerprints"].items():
        assert f"data: {name}" in html and fp in html, name
    assert (prov["git"]["commit"] or "unknown") in html
    from study.report import label

    for condition in cfg.conditions:  # `random`: its draws pooled
        assert f">{label(condition)}<" in html, condition
    # The main table's numbers are those of the analysis files, not made up.
    ci = pd.read_csv(cfg.study_dir / "analysis" / "accuracy_ci.csv")
    row = ci[(ci.task == "demo_choice") & (ci.condition == "diverse") & (ci.language == "avg")].iloc[0]
    assert f"{row.accuracy:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]" in html
    regression = pd.read_csv(cfg.study_dir / "analysis" / "gain_regression.csv")
    assert set(regression.task) == {"demo_nli", "demo_americas", "demo_choice"}
    assert set(regression.term) == {"Intercept", "to_english", "to_nearest_phase2"}
    # the oracle: each language's own dev choice beside English dev's, per run in oracle.csv
    oracle = pd.read_csv(cfg.study_dir / "analysis" / "oracle.csv")
    assert set(oracle.task) == {"demo_nli", "demo_americas", "demo_choice"}
    assert "en" not in set(oracle.language)
    assert (oracle.gap - (oracle.oracle_test - oracle.english_choice_test)).abs().max() < 1e-9
    row = oracle[(oracle.task == "demo_nli") & (oracle.condition == "none")]
    assert f"{row.oracle_test.mean():.1f}" in html and "not zero-shot" in html
    compared = pd.read_csv(cfg.study_dir / "analysis" / "comparisons.csv")
    assert {"diverse vs en", "diverse vs similar", "en+diverse vs en", "en vs none", "diverse vs random",
            "random vs none", "en+diverse vs none"} <= set(compared.comparison)  # the draws pooled
    # translate-train (not zero-shot) and the replicate are compared only as the controls,
    # first, on the pooled non-English languages and each of them
    controls = compared[compared.control.notna()]
    assert dict(zip(controls.comparison, controls.control, strict=True)) == {
        "translate-train vs en": "positive", "en-replicate vs en": "negative"}
    assert not compared[compared.control.isna()].comparison.str.contains("translate-train|replicate").any()
    assert set(controls[controls.task == "demo_nli"].language) == {"zero-shot", *cfg.data.targets[
        "demo_nli"].languages} - {"en"}
    # in words: both controls on demo_nli; the negative one only where translate-train has no
    # language of the task in its own family (demo_americas, demo_choice)
    assert html.count("Expected: ") == 4 and "Not made: the positive control on demo_americas" in html
    verdicts = stats.control_verdicts(controls[controls.task == "demo_nli"])
    for v in verdicts.itertuples():  # the report's words follow the numbers
        assert ("It came out as expected" if v.as_expected else "did not come out as expected") in html
    failed = any(not stats.control_verdicts(c).as_expected.all() for _, c in controls.groupby("task"))
    assert ("cannot be trusted" in html) == failed


def test_report_is_self_contained_and_renders_in_chromium(study, tmp_path, short_tmpdir):
    """Headless Chromium, no network: the figures are drawn (coloured regions in separate
    places of the page) and the main table is in the rendered DOM."""
    import re

    import numpy as np
    from PIL import Image

    cfg, _, _ = study
    report = cfg.study_dir / "report.html"
    html = report.read_text()
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)  # nothing to fetch
    assert html.count('src="data:image/png;base64,') == html.count("<img")
    from conftest import chromium

    browser = chromium()  # found, installed where root and apt are, or skipped (failed in CI)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--proxy-server=127.0.0.1:9", "--window-size=1400,14000"]  # a dead proxy: no network
    shot = tmp_path / "report.png"
    env = {**os.environ, "TMPDIR": short_tmpdir}  # its profile and lock folders, not /tmp's
    subprocess.run([*flags, f"--screenshot={shot}", report.as_uri()], check=True, capture_output=True,
                   timeout=120, env=env)
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], check=True, capture_output=True,
                         text=True, timeout=120, env=env).stdout
    import pandas as pd

    ci = pd.read_csv(cfg.study_dir / "analysis" / "accuracy_ci.csv")
    row = ci[(ci.task == "demo_nli") & (ci.condition == "en") & (ci.language == "avg")].iloc[0]
    cell = f"{row.accuracy:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]"
    assert ">Main result<" in dom and f">{cell}<" in dom  # a main-table cell, as rendered
    assert "translate-train (reference, not zero-shot)" in dom
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 60  # text and tables are grey; plots are not
    rows = coloured.sum(axis=1) > 20
    bands = np.flatnonzero(np.diff(rows.astype(int)) == 1).size + int(rows[0])
    assert bands >= 8, f"only {bands} coloured regions in the screenshot: figures did not render"


def test_the_reduced_grid_detects_zero_shot_transfer_and_the_positive_control(study):
    """What this one-seed grid can honestly detect: zero-shot transfer itself (the `none`
    model, trained on English only, is well above chance on the non-English test languages:
    the demo's languages share a vocabulary space, not a grammar), and the positive control's
    sign with its interval (over test examples: one seed has no spread over seeds). Its
    figures are printed (pytest -s); the negative control is printed, not asserted: one seed
    cannot tell a data draw from an effect."""
    import pandas as pd

    cfg, _, _ = study
    compared = pd.read_csv(cfg.study_dir / "analysis" / "comparisons.csv")
    ci = pd.read_csv(cfg.study_dir / "analysis" / "accuracy_ci.csv")
    nli = ci[(ci.task == "demo_nli") & (ci.condition == "none") & ~ci.language.isin(["en", "avg"])]
    print("reduced grid, none on demo_nli:", nli.set_index("language").accuracy.round(1).to_dict())
    for r in compared[compared.control.notna() & (compared.language == "zero-shot")].itertuples():
        print(f"reduced grid, {r.task} {r.control} control {r.comparison}: {r.difference:+.1f} "
              f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}], p {r.p:.3f}, Holm p {r.p_holm:.3f}")
    chance = 100 / 3
    assert nli.accuracy.mean() > chance + 15  # the old demo world: 35-39% in every condition
    assert (nli.ci_low > chance).sum() >= len(nli) - 1  # every language but at most one
    positive = compared[(compared.control == "positive") & (compared.language == "zero-shot")].iloc[0]
    assert positive.task == "demo_nli" and positive.difference > 0 and positive.ci_low > 0


def test_every_run_wrote_metrics_for_every_task_split_and_language(study):
    cfg, _, _ = study
    for target in cfg.data.targets:
        for condition in jobgraph.run_conditions(cfg):  # random-0 for `random`
            run = cfg.study_dir / "runs" / target / condition / "seed0"
            m = json.loads((run / "metrics.json").read_text())
            assert m["target"] == target and m["phase2_family"] == "nli"
            evaluated = dict(cfg.data.evaluated(target))
            assert set(m["evaluation"]) == set(evaluated)
            for task, langs in evaluated.items():
                for split in ("dev", "test"):
                    results = m["evaluation"][task][split]
                    assert set(results) == set(langs)
                    for r in results.values():
                        assert r["n"] == cfg.data.max_eval_examples and 0 <= r["accuracy"] <= 1
                        assert sum(r["gold_counts"].values()) == sum(r["predicted_counts"].values()) == r["n"]
            # Trained on English: well above chance on English dev.
            assert m["dev_en_accuracy"] > 0.6, (target, condition, m["dev_en_accuracy"])
            prov = json.loads((run / "provenance.json").read_text())
            assert prov["seed"] == 0 and prov["packages"]["transformers"]
            assert "commit" in prov["git"] and prov["data_fingerprints"][f"{target} en train"]
            nb = nbformat.read(run / "03_target_training.ipynb", as_version=4)
            assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    m = json.loads((cfg.study_dir / "runs/demo_nli/none/seed0/metrics.json").read_text())
    assert m["evaluation"]["demo_nli"]["test"]["en"]["accuracy"] > 0.6
    assert set(m["evaluation"]["demo_americas"]["test"]) == {"quy", "gn", "aym"}


def test_phase2_data_has_one_fingerprint_from_selection_to_phase2(study):
    """The report's provenance shows one value per data set only if every stage hashes the
    content, not `datasets`' processing history (selection builds the set, phase 2 reads
    it back from jsonl)."""
    cfg, _, _ = study
    selected = json.loads((cfg.study_dir / "selection/provenance.json").read_text())["data_fingerprints"]
    for condition in ("en", "diverse", "similar"):
        used = json.loads((_phase2(cfg, condition) / "provenance.json").read_text())
        for name, fp in used["data_fingerprints"].items():
            assert selected[name] == fp, (condition, name)


def _phase2(cfg, condition: str, seed: int = 0) -> Path:
    """The folder of the encoder that phase-3 seed `seed` of `condition` starts from."""
    from study import layout

    return layout.encoder_dir(cfg, condition, seed).parent


def test_each_run_starts_from_its_own_seeds_encoder(study):
    from study.config import phase2_training_seed, replicate_seed

    cfg, _, _ = study
    assert cfg.phase2_seed_policy == "per_seed"
    for condition in jobgraph.phase2_conditions(cfg):
        p2 = json.loads((cfg.study_dir / "phase2" / condition / "seed0" / "metrics.json").read_text())
        # seed 0's encoder; the negative control's replicate trains with its own seed
        assert p2["seed"] == replicate_seed(condition, 0) and p2["seed_policy"] == "per_seed"
        assert p2["training_seed"] == phase2_training_seed(condition, 0) != 0
        for target in cfg.data.targets:
            run = cfg.study_dir / "runs" / target / condition / "seed0"
            m = json.loads((run / "metrics.json").read_text())
            assert m["started_from"] == f"phase2/{condition}/seed0/encoder"
    m = json.loads((cfg.study_dir / "runs" / "demo_nli" / "none" / "seed0" / "metrics.json").read_text())
    assert m["started_from"] == "pretrained"


def test_xtreme_exports_rescored_independently_match_metrics(study):
    cfg, _, _ = study
    labels = ["entailment", "neutral", "contradiction"]  # XNLI's label ids, written out here
    run = cfg.study_dir / "runs" / "demo_nli" / "diverse" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())["evaluation"]["demo_nli"]["test"]
    for lang in ("de", "zh", "en"):
        predicted = (run / "xtreme" / "xnli" / f"test-{lang}.tsv").read_text().splitlines()
        gold = [labels[json.loads(x)["label"]]
                for x in (cfg.data.local_dir / "demo_nli" / lang / "test.jsonl").open()]
        assert len(predicted) == cfg.data.max_eval_examples and set(predicted) <= set(labels)
        accuracy = sum(p == g for p, g in zip(predicted, gold, strict=False)) / len(predicted)
        assert accuracy == pytest.approx(metrics[lang]["accuracy"])
    run = cfg.study_dir / "runs" / "demo_choice" / "en" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())["evaluation"]["demo_choice"]["test"]
    for lang in cfg.data.eval_languages("demo_choice"):
        predicted = [json.loads(x) for x in (run / "xtreme" / "xcopa" / f"test-{lang}.jsonl").open()]
        gold = [json.loads(x)["label"]
                for x in (cfg.data.local_dir / "demo_choice" / lang / "test.jsonl").open()]
        assert len(predicted) == cfg.data.max_eval_examples
        assert all(set(p) == {"label"} and p["label"] in (0, 1) for p in predicted)
        accuracy = sum(p["label"] == g for p, g in zip(predicted, gold, strict=False)) / len(predicted)
        assert accuracy == pytest.approx(metrics[lang]["accuracy"])
    assert not (cfg.study_dir / "runs/demo_nli/en/seed0/xtreme/demo_americas").exists()  # not XTREME


def test_selection_is_budget_matched_and_zero_shot(study):
    cfg, _, _ = study
    sel = json.loads((cfg.study_dir / "selection" / "metrics.json").read_text())
    nli_tested = cfg.data.zero_shot_languages("nli")
    assert nli_tested >= {"de", "zh", "quy"} and "id" not in nli_tested  # id: only the MC target's
    assert not set(sel["pool"]) & nli_tested
    assert set(sel["excluded_target_languages"]) == (nli_tested & set(TASKS["demo_nli"].languages)) - {"en"}
    assert sel["languages"]["translate-train"] == ["de", "ru", "ar", "hi", "sw", "zh"]
    for condition in ("en", "diverse", "similar", "translate-train"):
        rows = "".join(f.read_text() for f in (cfg.study_dir / "selection" / "phase2_data" / condition
                                                ).glob("*.jsonl"))
        assert len(rows.splitlines()) == cfg.selection.budget
        p2 = json.loads((_phase2(cfg, condition) / "metrics.json").read_text())
        assert p2["examples"] == cfg.selection.budget
        assert (_phase2(cfg, condition) / "encoder" / "config.json").is_file()
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
    assert list(df.columns) == ["study", "condition", "family", "task", "target", "language", "split",
                                "seed", "metric", "value", "n", "run_dir"]
    assert set(df.condition) == set(jobgraph.run_conditions(cfg)) and set(df.family) == {"nli"}
    acc = df[(df.split == "test") & (df.metric == "accuracy")]
    expected = sum(len(langs) for target in cfg.data.targets for _, langs in cfg.data.evaluated(target))
    assert len(acc) == len(cfg.conditions) * expected
    americas = acc[acc.task == "demo_americas"]
    assert set(americas.target) == {"demo_nli"} and set(americas.language) == {"quy", "gn", "aym"}
    counts = df[(df.metric.str.startswith("gold:")) & (df.task == "demo_choice")]
    assert set(counts.metric) == {"gold:0", "gold:1"}
    # The CSV holds the same rows.
    assert len(pd.read_csv(cfg.study_dir / "analysis" / "results.csv")) == len(df)


def test_the_analysis_notebook_runs_from_its_defaults_on_the_finished_study(study):
    """Notebook 04 opened by hand beside the finished study (its params as ../params/demo.yaml,
    the default): nothing injected, no error, and the analysis of the workflow's runs, written
    under interactive/ and equal to the report's."""
    import pandas as pd
    from test_lab import _by_hand, _figures

    cfg, params, tmp = study
    (tmp / "notebooks").mkdir(exist_ok=True)
    shutil.copy(ROOT / "notebooks" / "04_analysis.ipynb", tmp / "notebooks")
    shutil.copy(params, tmp / "params" / "demo.yaml")
    nb = _by_hand(tmp, "04_analysis.ipynb")
    text = "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/markdown", ""))
                   for c in nb.cells for o in c.get("outputs", []))
    assert "positive control" in text.lower() and _figures(nb) >= 11
    mine = pd.read_csv(cfg.study_dir / "interactive" / "analysis" / "accuracy_ci.csv")
    pd.testing.assert_frame_equal(mine, pd.read_csv(cfg.study_dir / "analysis" / "accuracy_ci.csv"))


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
    assert "no phase-2 condition 'no-such-condition'" in result.stderr
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
    assert set(targets.target_language) == set(cfg.data.evaluated_languages())
    assert set(targets.condition) == {"en", "diverse", "similar", "random-0", "en+diverse", "translate-train",
                                      "en-replicate"}
    en_rows = targets[targets.condition == "en"]
    assert (en_rows.to_nearest_phase2 == en_rows.to_english).all()
    sel = json.loads((sel_dir / "metrics.json").read_text())
    assert sel["uriel_codes"]["zh"] == "zho" and "typology_gaps" in sel


def _dry_run_jobs(params: Path, workdir: Path) -> dict[str, int]:
    return _job_stats(snakemake(params, workdir, "--dry-run"))


def _job_stats(result: subprocess.CompletedProcess) -> dict[str, int]:
    """A Snakemake dry run's job counts per rule ({} when there is nothing to do)."""
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {name: int(n) for name, n in (line.split() for line in table if line.strip())}


def test_editing_one_parameter_reruns_only_the_jobs_that_read_it(study):
    import yaml

    cfg, params, tmp = study
    original = params.read_text()
    raw = yaml.safe_load(original)
    try:  # edited in place, as a user edits their params file
        # selection.k decides diverse, similar, random and en+diverse only: not en, none or
        # translate-train.
        params.write_text(yaml.safe_dump({**raw, "selection": {**raw["selection"], "k": 1}}, sort_keys=False))
        jobs = _dry_run_jobs(params, tmp / "wd")
        runs = 4 * len(cfg.data.targets) * len(cfg.seeds)  # (diverse, similar, random-0, en+diverse) x ...
        assert jobs == {"select": 1, "phase2": 4, "phase3": runs, "report": 1, "all": 1,
                        "total": 7 + runs}
        # A phase-3 setting reruns phase 3 and the report, no data selection or phase 2.
        params.write_text(yaml.safe_dump({**raw, "phase3": {**raw["phase3"], "lr": 5e-4}}, sort_keys=False))
        runs = len(cfg.conditions) * len(cfg.data.targets) * len(cfg.seeds)
        assert _dry_run_jobs(params, tmp / "wd") == {"phase3": runs, "report": 1, "all": 1,
                                                     "total": runs + 2}
    finally:
        params.write_text(original)
    assert _dry_run_jobs(params, tmp / "wd") == {}  # as it was: nothing to do


def test_editing_code_reruns_only_the_jobs_whose_results_it_can_change(study, tmp_path):
    """Real Snakemake dry runs over a copy of the code (first on the PYTHONPATH) after the
    finished study: a figure or the report reruns the report; the CLI, the fork server,
    preflight, the runner or an unread registry entry rerun nothing; training reruns phases
    2 and 3."""
    import shutil

    cfg, params, tmp = study
    code = tmp_path / "code"
    for folder in ("study", "workflow", "notebooks"):
        shutil.copytree(ROOT / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__"))

    def dry_run() -> dict[str, int]:
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(code / "workflow" / "Snakefile"), "--cores", "2",
             "--config", f"params={params}", "--dry-run"], cwd=tmp / "wd", capture_output=True, text=True,
            timeout=300, env={**os.environ, "PYTHONPATH": str(code)})
        return _job_stats(result)

    def edit(*paths: str) -> None:
        for path in paths:
            with open(code / path, "a", encoding="utf-8") as f:
                f.write("\n# edited\n" if path.endswith(".py") else "\n")

    assert dry_run() == {}  # the copy is the code that ran
    tasks = (code / "study" / "tasks.yaml").read_text()
    # hellaswag's entry, a task the study never reads
    (code / "study" / "tasks.yaml").write_text(tasks.replace("license: MIT", "license: MIT (edited)"))
    edit("study/grid.py", "study/warm.py", "study/preflight.py", "study/runner.py", "study/timing.py")
    assert dry_run() == {}
    edit("study/plots.py", "study/report.py", "notebooks/04_analysis.ipynb")
    assert dry_run() == {"report": 1, "all": 1, "total": 2}
    edit("study/training.py")
    encoders = len(jobgraph.phase2_conditions(cfg)) * len(cfg.seeds)
    runs = len(jobgraph.run_conditions(cfg)) * len(cfg.data.targets) * len(cfg.seeds)
    assert dry_run() == {"phase2": encoders, "phase3": runs, "report": 1, "all": 1,
                         "total": encoders + runs + 2}


def test_report_checks_every_output_against_the_current_params_and_code(study):
    cfg, _, _ = study
    html = (cfg.study_dir / "report.html").read_text()
    encoders = len(jobgraph.phase2_conditions(cfg)) * len(cfg.seeds)
    total = 1 + encoders + len(cfg.conditions) * len(cfg.data.targets) * len(cfg.seeds)
    assert f"all {total} match the current parameters and code" in html


def test_every_job_records_where_its_time_goes(study):
    """Each notebook job leaves timing.json (the runner's clock, papermill's cell times, the
    kernel's start-up) and its kernel's phases; the benchmark splits the study's job time
    into parts that add up to it."""
    import importlib.util

    from study.timing import JOB_FILE, kernel_phases

    cfg, _, _ = study
    records = sorted(cfg.study_dir.rglob(JOB_FILE))
    notebooks = sorted(p.parent for p in cfg.study_dir.rglob("*.ipynb")
                       if not any(s.endswith(".partial") for s in p.parts))
    assert sorted(r.parent for r in records) == notebooks
    for record in records:
        t = json.loads(record.read_text())
        assert t["job"] >= t["notebook"] >= t["cells"] > 0, record
    run = next(cfg.study_dir.glob("runs/*/en/seed0"))
    phases = kernel_phases(run)
    assert {"imports", "tokenize", "train", "evaluate"} <= set(phases) and phases["train"] > 0
    assert json.loads((cfg.study_dir / "pretrained" / "build.json").read_text())["timing"]["train"] > 0

    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    split = bench.demo_split(cfg.study_dir)
    assert split["jobs"] == len(records) + 1  # and the base model's build
    parts = split["categories"]
    assert all(v["seconds"] >= 0 for v in parts.values())
    assert sum(v["seconds"] for v in parts.values()) == pytest.approx(split["job_seconds"], abs=0.5)
    assert parts["report rendering"]["seconds"] > 0 and parts["training"]["seconds"] > 0


def test_two_cores_run_two_jobs_at_once(study):
    """--cores 2 with one thread a job: phase-3 jobs ran side by side (their runners' clocks
    overlap), never more than two at a time."""
    from study.timing import JOB_FILE

    cfg, _, _ = study
    # Both ends on the wall clock (the process's creation time, from the boot clock, was off
    # by seconds on a CI machine); a little slack for the clock's resolution.
    slack = 0.05
    spans = sorted((t["runner_started"] + slack, t["finished"] - slack) for t in
                   (json.loads(p.read_text()) for p in cfg.study_dir.glob(f"runs/*/*/seed*/{JOB_FILE}")))
    events = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda e: (e[0], e[1]))
    running, most = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most == 2, spans
