"""The study's tidy results table, read only from what finished runs wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study import layout
from study.config import StudyConfig
from study.io import read_json
from study.jobgraph import run_conditions

COLUMNS = ["study", "condition", "family", "task", "target", "language", "split", "seed", "metric",
           "value", "n", "run_dir"]
"""family: the phase-2 task family; task: what was evaluated; target: the task whose English
training made the model (AmericasNLI rows have target xnli). Metrics: accuracy, and per class
`gold:<label>` / `predicted:<label>` counts (a choice index for multiple choice)."""


def run_dirs(cfg: StudyConfig, target: str | None = None) -> list[Path]:
    """The grid's finished phase-3 run directories, of one target or all (a `.partial` one
    is never read, nor a run of a condition or seed the params no longer list)."""
    runs = [layout.run_dir(cfg, t, c, s) for t in ([target] if target else cfg.data.targets)
            for c in run_conditions(cfg) for s in cfg.seeds]
    return sorted(r for r in runs if (r / "metrics.json").is_file())


def collect(cfg: StudyConfig) -> pd.DataFrame:
    """One row per (run, task, language, split, metric), as COLUMNS."""
    rows = []
    for run in run_dirs(cfg):
        m = read_json(run / "metrics.json")
        base = {"study": m["study"], "condition": m["condition"], "family": m["phase2_family"],
                "target": m["target"], "seed": m["seed"], "run_dir": str(run)}
        seen = set()
        for task, splits in m["evaluation"].items():
            for split, langs in splits.items():
                for lang, r in langs.items():
                    key = {**base, "task": task, "language": lang, "split": split, "n": r["n"]}
                    seen.add((task, split, lang))
                    rows.append({**key, "metric": "accuracy", "value": r["accuracy"]})
                    rows += [{**key, "metric": f"{kind}:{label}", "value": count}
                             for kind in ("gold", "predicted")
                             for label, count in r[f"{kind}_counts"].items()]
        chosen_on = m["selection"]["task"]
        if (chosen_on, "dev", "en") not in seen:  # model selection on another task's dev (MNLI's)
            rows.append({**base, "task": chosen_on, "language": "en", "split": "dev",
                         "metric": "accuracy", "value": m["dev_en_accuracy"], "n": m["dev_en_n"]})
    if not rows:
        raise FileNotFoundError(f"no finished runs under {cfg.study_dir / 'runs'}")
    return pd.DataFrame(rows, columns=COLUMNS)


def test_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy rows plus, per run and task, the average over languages (language 'avg')."""
    test = df[(df.split == "test") & (df.metric == "accuracy")]
    avg = (test.groupby(["study", "condition", "family", "task", "target", "seed", "run_dir"],
                        as_index=False)
               .agg(value=("value", "mean"), n=("n", "sum")))
    avg = avg.assign(language="avg", split="test", metric="accuracy")
    return pd.concat([test, avg[test.columns]], ignore_index=True)


def seed_summary(df: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per task, condition and language."""
    acc = test_accuracy(df)
    out = (acc.groupby(["task", "condition", "language"])["value"]
              .agg(mean="mean", std="std", seeds="count").reset_index())
    if order:
        out["condition"] = pd.Categorical(out["condition"], [c for c in order if c in set(out.condition)])
    return out.sort_values(["task", "condition", "language"]).reset_index(drop=True)


def _by_language(table: pd.DataFrame, languages: list[str] | None) -> pd.DataFrame:
    """Rows in the given language order (the rest alphabetically), the average last."""
    first = [x for x in languages or [] if x in table.index]
    rest = sorted(x for x in table.index if x not in first and x != "avg")
    return table.loc[first + rest + (["avg"] if "avg" in table.index else [])]


def accuracy_table(summary: pd.DataFrame, task: str, languages: list[str] | None = None) -> pd.DataFrame:
    """Language x condition table of `task`'s 'mean ± std' accuracy (percent), average last;
    a condition with one seed has no spread to show: its mean alone."""
    summary = summary[summary.task == task]
    cell = summary.assign(text=lambda s: (100 * s["mean"]).map("{:.1f}".format)
                          + (100 * s["std"]).map(lambda sd: "" if sd != sd else f" ± {sd:.1f}"))
    return _by_language(cell.pivot(index="language", columns="condition", values="text"), languages)


def gains(summary: pd.DataFrame, task: str, baseline: str = "none",
          languages: list[str] | None = None) -> pd.DataFrame:
    """`task`'s mean accuracy minus the baseline condition's, language x condition (points),
    rows in the order of `languages`, the average last."""
    summary = summary[summary.task == task]
    mean = summary.pivot(index="language", columns="condition", values="mean")
    if baseline not in mean.columns:
        raise KeyError(f"baseline condition {baseline!r} has no runs; conditions: {list(mean.columns)}")
    return _by_language(100 * mean.drop(columns=baseline).sub(mean[baseline], axis=0), languages)


ORACLE_COLUMNS = ["condition", "family", "target", "task", "language", "seed", "english_choice_step",
                  "english_choice_test", "oracle_step", "oracle_test", "gap"]


def oracle_rows(cfg: StudyConfig) -> pd.DataFrame:
    """One row per run, task and language: the test accuracy (percent) of the checkpoint
    English dev chose and of the one the language's own dev chooses (study/oracle.py: an
    upper bound, not zero-shot), and the gap in points."""
    rows = []
    for run in run_dirs(cfg):
        m = read_json(run / "metrics.json")
        for task, langs in m["oracle"].items():
            for lang, o in langs.items():
                # percent, rounded past float noise (0.11 * 100 is 11.000000000000002)
                english, oracle = round(100 * o["english_choice_test"], 9), round(100 * o["test"], 9)
                rows.append({"condition": m["condition"], "family": m["phase2_family"], "target": m["target"],
                             "task": task, "language": lang, "seed": m["seed"],
                             "english_choice_step": o["english_choice_step"], "english_choice_test": english,
                             "oracle_step": o["step"], "oracle_test": oracle,
                             "gap": round(oracle - english, 9)})
    return pd.DataFrame(rows, columns=ORACLE_COLUMNS)
