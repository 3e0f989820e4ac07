"""What the analysis notebook (the HTML report) shows, computed from finished runs only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import results, stats
from study.config import CONDITIONS, StudyConfig
from study.io import atomic_write_bytes, atomic_write_text, read_json
from study.registry import TASKS


@dataclass
class Analysis:
    tidy: pd.DataFrame  # every number, one per row (also written as results.parquet/csv)
    accuracy: pd.DataFrame  # test accuracy rows incl. per-run average ('avg')
    summary: pd.DataFrame  # mean/std over seeds per condition x language
    table: pd.DataFrame  # language x condition "mean ± std" (percent)
    gains: pd.DataFrame | None  # language x condition, points over 'none'
    conditions: list[str]  # in the study's order
    provenance: pd.DataFrame
    intervals: pd.DataFrame  # accuracy with 95% bootstrap CI per condition x language (percent)
    comparisons: pd.DataFrame  # paired comparisons: difference, CI, p, Holm p, MDE (points)


def analyse(cfg: StudyConfig, out: Path) -> Analysis:
    tidy = results.collect(cfg)
    atomic_write_text(out / "results.csv", tidy.to_csv(index=False))
    atomic_write_bytes(out / "results.parquet", tidy.to_parquet(index=False))
    present = set(tidy.condition)
    order = sorted(present, key=lambda c: (CONDITIONS.index(c.split("-")[0])
                                           if c.split("-")[0] in CONDITIONS else 99, c))
    summary = results.seed_summary(tidy, order)
    correct = stats.correctness(results.run_dirs(cfg), "test")
    intervals = stats.accuracy_intervals(correct, order)
    compared = stats.comparisons(correct, order)
    atomic_write_text(out / "accuracy_ci.csv", intervals.to_csv(index=False))
    atomic_write_text(out / "comparisons.csv", compared.to_csv(index=False))
    return Analysis(
        tidy=tidy, accuracy=results.test_accuracy(tidy), summary=summary,
        table=results.accuracy_table(summary)[order],
        gains=results.gains(summary) if "none" in present else None,
        conditions=order, provenance=provenance_table(results.run_dirs(cfg)),
        intervals=intervals, comparisons=compared,
    )


def significance_table(compared: pd.DataFrame, language: str = "avg") -> pd.DataFrame:
    """The comparisons on one language (default: the average), formatted for the report."""
    rows = compared[compared.language == language]
    return pd.DataFrame({
        "difference (points)": rows["difference"].map("{:+.1f}".format).to_numpy(),
        "95% CI": [f"[{lo:+.1f}, {hi:+.1f}]" for lo, hi in zip(rows.ci_low, rows.ci_high, strict=True)],
        "p": rows["p"].map("{:.3f}".format).to_numpy(),
        "p (Holm)": rows["p_holm"].map("{:.3f}".format).to_numpy(),
        "detectable (points)": rows["mde"].map("{:.1f}".format).to_numpy(),
    }, index=pd.Index(rows["comparison"], name="comparison"))


def provenance_table(runs: list[Path]) -> pd.DataFrame:
    """Code version, key packages and data fingerprints across all runs (distinct values)."""
    records = [read_json(r / "provenance.json") for r in runs]
    rows = {
        "runs": str(len(records)),
        "git commit": _distinct(f"{r['git']['commit'] or 'unknown'}"
                                f"{' (uncommitted changes)' if r['git']['dirty'] else ''}"
                                for r in records),
        "params fingerprint": _distinct(r["params_fingerprint"] for r in records),
        "python": _distinct(r["python"] for r in records),
        "platform": _distinct(r["platform"] for r in records),
    }
    for pkg in ("torch", "transformers", "datasets", "urielplus"):
        rows[pkg] = _distinct(str(r["packages"].get(pkg)) for r in records)
    rows["English train data"] = _distinct(r["data_fingerprints"].get("train_en", "?") for r in records)
    return pd.DataFrame({"value": rows})


def _distinct(values) -> str:
    return ", ".join(sorted(set(values)))


def introduction(cfg: StudyConfig, analysis: Analysis) -> str:
    target = TASKS[cfg.data.target]
    seeds = analysis.tidy.groupby("condition").seed.nunique()
    demo = cfg.data.source == "local" and cfg.model.build is not None
    lines = [
        f"# Study report: {cfg.study}",
        "",
        "**Question.** Does intermediate-task training on typologically diverse non-English "
        "data beat English-only intermediate training for zero-shot cross-lingual transfer on "
        "NLI?",
        "",
        f"**Design.** Pretrained encoder `{cfg.model.name_or_path}` → phase 2 (intermediate "
        f"training, {cfg.selection.budget} examples for every condition) → phase 3 (training "
        f"on English `{cfg.data.target_train}` with a fresh head, model selection on English "
        f"dev only) → zero-shot evaluation on the test sets of `{target.name}` in "
        f"{len(cfg.data.eval_languages())} languages. Conditions: "
        + ", ".join(f"`{c}` ({seeds.get(c, 0)} seeds)" for c in analysis.conditions) + ".",
    ]
    lines += ["", *typology_lines(cfg)]
    if demo:
        lines += ["", "> **Demo run.** These numbers come from a tiny model built locally and "
                  "synthetic data shipped with the project. They check that the pipeline works "
                  "end to end; they are **not a scientific result** and say nothing about the "
                  "research question."]
    return "\n".join(lines)


def typology_lines(cfg: StudyConfig) -> list[str]:
    """How 'typologically diverse' was measured, and the sets each condition trained on."""
    path = cfg.study_dir / "selection" / "metrics.json"
    if not path.is_file():
        return ["**Typology.** (no selection output found)"]
    sel = read_json(path)
    lines = [
        f"**Typology.** Distance between two languages: {sel['distance']}, over the URIEL "
        f"feature sets {', '.join(sel['feature_sets'])} (urielplus; ISO 639-3 codes, macrolanguage "
        "where one exists). `diverse` takes the k pool languages that are farthest apart (greedy "
        "max-min, starting from the one farthest from English), `similar` the k nearest to "
        "English, `random` seeded draws. "
        + (f"{len(sel['typology_gaps'])} language pair(s) lacked a feature set and used the "
           "others." if sel.get("typology_gaps") else "No pair lacked data."),
        "",
        "| condition | phase-2 languages | mean pairwise | min pairwise | to English | families | scripts |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sel["summary"]:
        cells = [_number(row.get(k)) for k in ("mean_pairwise", "min_pairwise", "mean_to_english",
                                               "n_families", "n_scripts")]
        lines.append(f"| `{row['condition']}` | {row['languages']} | " + " | ".join(cells) + " |")
    return lines


def _number(value) -> str:
    if value is None or value != value:  # missing or NaN (English only: no set to score)
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
