"""Studies of other shapes through the workflow, each its own small grid (the demo's grid is
tests/test_workflow.py): two phase-2 families in one grid, and the baseline alone. Apart
from test_workflow.py's shared study, so the suite's workers run them side by side."""

import json

import nbformat
import pytest
from test_workflow import snakemake

from study.config import load_config

pytestmark = pytest.mark.slow


def test_two_phase2_families_in_one_grid(tmp_path):
    """data.families: every condition once per family, `none` once, one report comparing
    conditions within each family."""
    import pandas as pd
    import yaml
    from conftest import TINY, write_params

    params = write_params(tmp_path, **{**TINY, "conditions": ["none", "en", "diverse"]})
    raw = yaml.safe_load(params.read_text())
    for key in ("phase2_en", "phase2_pool"):
        raw["data"].pop(key)
    raw["data"]["families"] = {"nli": {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
                               "commonsense": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}
    raw["data"]["targets"] = {"demo_nli": raw["data"]["targets"]["demo_nli"]}
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = snakemake(params, tmp_path / "wd")
    assert run.returncode == 0, run.stderr[-4000:]
    cfg = load_config(params)
    study = cfg.study_dir

    for family, task in (("nli", "demo_nli"), ("commonsense", "demo_choice")):
        sel = json.loads((study / "selection" / family / "metrics.json").read_text())
        assert sel["family"] == family and set(sel["languages"]) == {f"{family}/en", f"{family}/diverse"}
        selected = json.loads((study / "selection" / family / "provenance.json").read_text())
        for condition in ("en", "diverse"):
            p2 = json.loads((study / "phase2" / family / condition / "metrics.json").read_text())
            assert p2["condition"] == f"{family}/{condition}" and p2["examples"] == cfg.selection.budget
            assert list(p2["tasks"]) == [task]
            used = json.loads((study / "phase2" / family / condition / "provenance.json").read_text())
            assert used["data_fingerprints"] == {k: v for k, v in selected["data_fingerprints"].items()
                                                 if k.startswith(f"{family}/{condition}/")}
            m = json.loads((study / "runs/demo_nli" / family / condition / "seed0/metrics.json").read_text())
            assert (m["condition"], m["phase2_family"]) == (f"{family}/{condition}", family)
    none = json.loads((study / "runs/demo_nli/none/seed0/metrics.json").read_text())
    assert none["phase2_family"] == ""
    assert not (study / "runs/demo_nli/nli/none").exists()

    tidy = pd.read_parquet(study / "analysis" / "results.parquet")
    assert set(zip(tidy.condition, tidy.family, strict=True)) == {
        ("none", ""), ("nli/en", "nli"), ("nli/diverse", "nli"),
        ("commonsense/en", "commonsense"), ("commonsense/diverse", "commonsense")}
    compared = pd.read_csv(study / "analysis" / "comparisons.csv")
    assert set(compared.comparison) == {"nli/diverse vs nli/en", "commonsense/diverse vs commonsense/en",
                                        "nli/en vs none", "nli/diverse vs none",
                                        "commonsense/en vs none", "commonsense/diverse vs none"}
    html = (study / "report.html").read_text()
    assert "all 11 match the current parameters and code" in html  # 2 selections, 4 encoders, 5 runs
    assert "<code>commonsense/diverse</code> (1 seed)" in html
    assert ">commonsense/diverse vs commonsense/en<" in html


def test_a_study_of_the_baseline_alone_runs_to_a_report(tmp_path):
    """conditions: [none] (no phase 2 at all): data selection shows the pool and distances
    with nothing chosen, every run is trained from the pretrained model, and the report has
    its tables with no comparison to make."""
    import pandas as pd
    from conftest import TINY, write_params

    params = write_params(tmp_path, **{**TINY, "conditions": ["none"]})
    run = snakemake(params, tmp_path / "wd")
    assert run.returncode == 0, run.stderr[-4000:]
    cfg = load_config(params)
    assert not (cfg.study_dir / "phase2").exists() or not any((cfg.study_dir / "phase2").iterdir())
    selection = nbformat.read(cfg.study_dir / "selection" / "01_data_selection.ipynb", as_version=4)
    assert not [o for c in selection.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    tidy = pd.read_parquet(cfg.study_dir / "analysis" / "results.parquet")
    assert set(tidy.condition) == {"none"} and set(tidy.target) == set(cfg.data.targets)
    html = (cfg.study_dir / "report.html").read_text()
    assert ">Main result<" in html and "not a scientific result" in html
