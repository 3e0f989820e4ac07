"""The study's tidy results table, read only from what finished runs wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study.config import StudyConfig
from study.io import read_json

COLUMNS = ["study", "condition", "task", "target", "language", "split", "seed", "metric",
           "value", "n", "run_dir"]


def run_dirs(cfg: StudyConfig) -> list[Path]:
    """Finished phase-3 run directories (a `.partial` one is never read)."""
    return sorted(p.parent for p in (cfg.study_dir / "runs").glob("*/seed*/metrics.json"))


def collect(cfg: StudyConfig) -> pd.DataFrame:
    """One row per (run, language, split, metric): study, condition, ..., value, n."""
    rows = []
    for run in run_dirs(cfg):
        m = read_json(run / "metrics.json")
        base = {"study": m["study"], "condition": m["condition"], "task": m["target"],
                "target": m["target"], "seed": m["seed"], "run_dir": str(run)}
        for lang, r in m["test"].items():
            rows.append({**base, "language": lang, "split": "test", "metric": "accuracy",
                         "value": r["accuracy"], "n": r["n"]})
        rows.append({**base, "language": "en", "split": "dev", "metric": "accuracy",
                     "value": m["dev_en_accuracy"], "n": m["dev_en_n"]})
    if not rows:
        raise FileNotFoundError(f"no finished runs under {cfg.study_dir / 'runs'}")
    return pd.DataFrame(rows, columns=COLUMNS)


def test_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy rows plus, per run, the average over languages (language 'avg')."""
    test = df[(df.split == "test") & (df.metric == "accuracy")]
    avg = (test.groupby(["study", "condition", "task", "target", "seed", "run_dir"], as_index=False)
               .agg(value=("value", "mean"), n=("n", "sum")))
    avg = avg.assign(language="avg", split="test", metric="accuracy")
    return pd.concat([test, avg[test.columns]], ignore_index=True)


def seed_summary(df: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per condition and language."""
    acc = test_accuracy(df)
    out = (acc.groupby(["condition", "language"])["value"]
              .agg(mean="mean", std="std", seeds="count").reset_index())
    if order:
        out["condition"] = pd.Categorical(out["condition"], [c for c in order if c in set(out.condition)])
    return out.sort_values(["condition", "language"]).reset_index(drop=True)


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Language x condition table of 'mean ± std' accuracy (percent), average last."""
    cell = summary.assign(text=lambda s: (100 * s["mean"]).map("{:.1f}".format) + " ± "
                          + (100 * s["std"].fillna(0)).map("{:.1f}".format))
    table = cell.pivot(index="language", columns="condition", values="text")
    langs = [x for x in table.index if x != "avg"] + ["avg"]
    return table.loc[langs]


def gains(summary: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """Mean accuracy minus the baseline condition's, language x condition (points)."""
    mean = summary.pivot(index="language", columns="condition", values="mean")
    if baseline not in mean.columns:
        raise KeyError(f"baseline condition {baseline!r} has no runs; conditions: {list(mean.columns)}")
    return 100 * mean.drop(columns=baseline).sub(mean[baseline], axis=0)
