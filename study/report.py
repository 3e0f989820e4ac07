"""What the analysis notebook (the HTML report) shows, computed from finished runs only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import layout, results, stats
from study.conditions import CONDITIONS, CONTROLS, REFERENCE_CONDITIONS, ConditionId
from study.conditions import label as condition_label
from study.config import StudyConfig
from study.fingerprints import fingerprint
from study.io import atomic_write_bytes, atomic_write_text, read_json
from study.jobgraph import Job
from study.registry import TASKS


@dataclass
class TaskAnalysis:
    """Everything the report shows for one evaluated task (xnli, xcopa, americas_nli)."""

    task: str
    target: str  # the target whose model was evaluated (americas_nli: xnli)
    table: pd.DataFrame  # language x condition "mean ± std" (percent)
    gains: pd.DataFrame | None  # language x condition, points over 'none'
    intervals: pd.DataFrame  # accuracy with 95% bootstrap CI per condition x language (percent)
    comparisons: pd.DataFrame  # paired comparisons: difference, CI, p, Holm p, MDE (points)
    gain_points: pd.DataFrame  # gain per (condition, seed, language) with its distances
    regression: pd.DataFrame  # mixed-effects slopes of gain on the distances
    chance: float  # accuracy of a uniform guess: 1 / classes (or choices)


@dataclass
class Analysis:
    tidy: pd.DataFrame  # every number, one per row (also written as results.parquet/csv)
    accuracy: pd.DataFrame  # test accuracy rows incl. per-run average ('avg')
    summary: pd.DataFrame  # mean/std over seeds per task x condition x language
    conditions: list[str]  # in the study's order
    tasks: dict[str, TaskAnalysis]  # per evaluated task, targets first
    main_table: pd.DataFrame  # condition x task: average accuracy with 95% CI
    curves: pd.DataFrame  # training logs: stage, target, condition, seed, step, metric, value
    provenance: pd.DataFrame
    oracle: pd.DataFrame  # task x condition: English dev choice vs target-language dev choice


def condition_order(present, families=()) -> list[str]:
    """The study's conditions in STUDY.md's order (random draws after `random`): `none`
    first, then each phase-2 family's in turn (`nli/en`, `nli/diverse`, ..., `qa/en`, ...),
    references last."""
    def key(c: str):
        cid = ConditionId.parse(c)
        family = cid.family or ""
        group = 0 if c == "none" else 2 if cid.facts.reference else 1
        rank = list(families).index(family) if family in families else len(families)
        return (group, rank, family, CONDITIONS.index(cid.kind), c)
    return sorted(set(present), key=key)


label = condition_label  # a condition's name in the report's tables and figures


def analyse(cfg: StudyConfig, out: Path) -> Analysis:
    tidy = results.collect(cfg)
    atomic_write_text(out / "results.csv", tidy.to_csv(index=False))
    atomic_write_bytes(out / "results.parquet", tidy.to_parquet(index=False))
    order = condition_order(tidy.condition, cfg.data.families)
    zero_shot = [c for c in order if c not in REFERENCE_CONDITIONS]
    summary = results.seed_summary(tidy, order)
    accuracy = results.test_accuracy(tidy)
    distances = _target_distances(cfg)
    tasks, ci_tables, compared_all, regressions = {}, [], [], []
    for target in cfg.data.targets:
        runs = results.run_dirs(cfg, target)
        for task, langs in cfg.data.evaluated(target):
            if not (accuracy.task == task).any():
                continue
            correct = stats.correctness(runs, task, "test")
            intervals = stats.accuracy_intervals(correct, order).assign(task=task)
            # references are not zero-shot: compared only as the positive control
            compared = stats.comparisons(correct, zero_shot, positive_languages(cfg, task)).assign(task=task)
            points = stats.gain_table(accuracy[accuracy.task == task], distances,
                                      exclude=REFERENCE_CONDITIONS) if "none" in order else None
            regression = (stats.gain_regression(points) if points is not None and len(points)
                          else pd.DataFrame()).assign(task=task)
            tasks[task] = TaskAnalysis(
                task=task, target=target,
                table=results.accuracy_table(summary, task, list(langs))[order].rename(columns=label),
                gains=_gains(summary, task, list(langs), order),
                intervals=intervals, comparisons=compared,
                gain_points=points if points is not None else pd.DataFrame(), regression=regression,
                chance=chance_level(tidy, task))
            ci_tables.append(intervals)
            compared_all.append(compared)
            regressions.append(regression)
    atomic_write_text(out / "accuracy_ci.csv", pd.concat(ci_tables).to_csv(index=False))
    atomic_write_text(out / "comparisons.csv", pd.concat(compared_all).to_csv(index=False))
    atomic_write_text(out / "gain_regression.csv", pd.concat(regressions).to_csv(index=False))
    oracle = results.oracle_rows(cfg)
    atomic_write_text(out / "oracle.csv", oracle.to_csv(index=False))
    return Analysis(
        tidy=tidy, accuracy=accuracy, summary=summary, conditions=order, tasks=tasks,
        main_table=main_table(tasks, stats.with_pooled_random(order)), curves=training_curves(cfg),
        provenance=provenance_table(cfg), oracle=oracle_table(oracle, order),
    )


def positive_languages(cfg: StudyConfig, task: str) -> tuple[str, ...]:
    """Where the positive control is known to be positive: the languages translate-train
    trains on, for a task of its own family (NLI); none elsewhere (a multiple-choice task,
    or AmericasNLI, whose languages no translated data has)."""
    tt = cfg.data.translate_train
    if tt is None or TASKS[task].family != TASKS[tt].family:
        return ()
    return tuple(cfg.data.translate_train_languages())


def _target_distances(cfg: StudyConfig) -> pd.DataFrame:
    """Each target language's distances per condition, from every data-selection folder."""
    tables = []
    for folder in layout.selection_dirs(cfg):
        path = folder / "target_distances.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no selection output; run the data-selection notebook first")
        tables.append(pd.read_csv(path))
    return pd.concat(tables, ignore_index=True).drop_duplicates(["target_language", "condition"])


def _gains(summary: pd.DataFrame, task: str, langs: list[str], order: list[str]) -> pd.DataFrame | None:
    """Language x condition gain over `none` (labelled columns); None where there is no
    baseline or nothing to compare with it."""
    if "none" not in order or len(order) < 2:
        return None
    return results.gains(summary, task, languages=langs).rename(columns=label)


def chance_level(tidy: pd.DataFrame, task: str) -> float:
    """1 / the number of classes of a classification task (its label set), or of choices
    of a multiple-choice task (the choice indices its runs counted)."""
    labels = TASKS[task].label_set
    if not labels:
        metrics = tidy.loc[tidy.task == task, "metric"]
        labels = set(metrics[metrics.str.contains(":")].str.partition(":")[2])
    return 1 / len(labels)


def main_table(tasks: dict[str, TaskAnalysis], order: list[str]) -> pd.DataFrame:
    """Condition x evaluated task: average zero-shot test accuracy (percent) with its 95%
    two-level bootstrap interval."""
    cells = {}
    for task, t in tasks.items():
        avg = t.intervals[t.intervals.language == "avg"].set_index("condition")
        cells[task] = {label(c): f"{avg.loc[c, 'accuracy']:.1f} [{avg.loc[c, 'ci_low']:.1f}, "
                                 f"{avg.loc[c, 'ci_high']:.1f}]" for c in order if c in avg.index}
    table = pd.DataFrame(cells).reindex([label(c) for c in order])
    table.index.name = "condition"
    return table


def reference_section(cfg: StudyConfig, analysis: Analysis) -> str:
    """Words on the published reference figures (study/references.yaml) for the study's model:
    whether its `none` baseline reproduces each zero-shot figure, and the figures themselves;
    for a model none was published for, a line that none applies."""
    from study import references

    baseline = {}
    for task, t in analysis.tasks.items():
        none = t.intervals[t.intervals.condition == "none"].set_index("language")
        if "avg" not in none.index:
            continue
        baseline[task] = {"languages": [x for x in none.index if x != "avg"],
                          "accuracy": none.loc["avg", "accuracy"], "ci_low": none.loc["avg", "ci_low"],
                          "ci_high": none.loc["avg", "ci_high"],
                          "per_language": none.accuracy.drop("avg").to_dict()}
    demo = cfg.data.source == "local" and cfg.model.build is not None
    lines = references.lines(cfg.model.name_or_path, baseline, demo)
    figures = references.table(cfg.model.name_or_path)
    if figures:
        lines += ["", "| task | setting | published | languages | source |", "|---|---|---|---|---|",
                  *(f"| {f['task']} | {f['setting']} | {f['published']:.1f} | {f['languages']} | "
                    f"[{f['source']}]({f['url']}) |" for f in figures)]
    return "\n".join(lines)


def oracle_table(oracle: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Task x condition: mean test accuracy (percent, over languages and seeds) of the English
    dev choice and of each language's own dev choice, the gap in points, and how often the
    language's dev chose another checkpoint. An upper bound, not zero-shot."""
    if oracle.empty:
        return pd.DataFrame()
    oracle = oracle.assign(other=oracle.oracle_step != oracle.english_choice_step)
    table = (oracle.groupby(["task", "condition"], sort=False)
             .agg(languages=("language", "nunique"), english_dev_choice=("english_choice_test", "mean"),
                  target_dev_choice=("oracle_test", "mean"), gap=("gap", "mean"), gap_max=("gap", "max"),
                  other_checkpoint=("other", "mean")))
    table = table.reset_index()
    table["condition"] = pd.Categorical(table.condition, [c for c in order if c in set(table.condition)])
    table["task"] = pd.Categorical(table.task, list(dict.fromkeys(oracle.task)))
    table = table.sort_values(["task", "condition"])
    table["condition"] = table.condition.astype(str).map(label)
    table["task"] = table.task.astype(str)
    table = table.set_index(["task", "condition"])
    table.columns = ["languages", "English dev choice (%)", "target dev choice (%)", "gap (points)",
                     "largest gap", "another checkpoint"]
    return table.round({"English dev choice (%)": 1, "target dev choice (%)": 1, "gap (points)": 2,
                        "largest gap": 1}).assign(**{"another checkpoint": lambda t: (
                            100 * t["another checkpoint"]).round(0).astype(int).astype(str) + "%"})


def regression_table(tasks: dict[str, TaskAnalysis]) -> pd.DataFrame:
    """Slopes of the gain (points) per unit of distance, per task, formatted for the report."""
    rows = []
    for task, t in tasks.items():
        for r in t.regression[t.regression.term != "Intercept"].itertuples() if len(t.regression) else []:
            rows.append({"task": task, "distance": r.term, "slope (points per unit)": f"{r.slope:+.1f}",
                         "95% CI": f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}]", "p": f"{r.p:.3f}",
                         "languages": r.languages, "observations": r.observations,
                         "converged": "yes" if r.converged else "no (read with care)"})
    return pd.DataFrame(rows).set_index(["task", "distance"]) if rows else pd.DataFrame()


def training_curves(cfg: StudyConfig) -> pd.DataFrame:
    """Every logged training loss and dev accuracy of phase 2 and phase 3, one row each."""
    rows = []
    for folder in layout.phase2_dirs(cfg):
        path = folder / "metrics.json"
        if not path.is_file():
            continue
        m = read_json(path)
        rows += [{"stage": "phase 2", "target": "-", "condition": m["condition"],
                  "seed": m.get("seed", cfg.phase2_seed),
                  "step": r["step"], "metric": "training loss", "value": r["loss"]}
                 for r in m["log_history"] if "loss" in r]
    for run in results.run_dirs(cfg):
        m = read_json(run / "metrics.json")
        for r in m["log_history"]:
            for key, metric in (("loss", "training loss"), ("eval_accuracy", "English dev accuracy")):
                if key in r:
                    rows.append({"stage": "phase 3", "target": m["target"], "condition": m["condition"],
                                 "seed": m["seed"], "step": r["step"], "metric": metric, "value": r[key]})
    return pd.DataFrame(rows, columns=["stage", "target", "condition", "seed", "step", "metric", "value"])


def _p_value(p: float) -> str:
    """A p-value as the report prints it: three decimals, '<0.001' below."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def significance_table(tasks: dict[str, TaskAnalysis], language: str = "avg") -> pd.DataFrame:
    """Every task's comparisons on one language (default: the average), for the report."""
    compared = pd.concat([t.comparisons for t in tasks.values()])
    rows = compared[compared.language == language]
    return pd.DataFrame({
        "difference (points)": rows["difference"].map("{:+.1f}".format).to_numpy(),
        "95% CI": [f"[{lo:+.1f}, {hi:+.1f}]" for lo, hi in zip(rows.ci_low, rows.ci_high, strict=True)],
        "p": rows["p"].map(_p_value).to_numpy(),
        "p (Holm)": rows["p_holm"].map(_p_value).to_numpy(),
        "detectable (points)": rows["mde"].map("{:.1f}".format).to_numpy(),
    }, index=pd.MultiIndex.from_arrays([rows["task"], rows["comparison"]], names=["task", "comparison"]))


def mde_table(cfg: StudyConfig, analysis: Analysis) -> pd.DataFrame:
    """The design's predicted minimum detectable effect of each target (study/design.py, from
    `design.seed_sd`) beside what the runs showed: the observed MDE of the study's comparisons
    on the average (median, and their range) and the observed spread over seeds of the
    conditions' average accuracy (median over conditions): the assumption, checked."""
    from study import design

    predicted = design.predicted_mde(cfg).set_index("target")
    rows = []
    for target, p in predicted.iterrows():
        if target not in analysis.tasks:
            continue
        compared = analysis.tasks[target].comparisons
        observed = compared[(compared.language == "avg") & (compared.control == "")]["mde"]
        spread = analysis.summary[(analysis.summary.task == target) & (analysis.summary.language == "avg")
                                  & ~analysis.summary.condition.astype(str).isin(REFERENCE_CONDITIONS)]["std"]
        rows.append({
            "target": target, "seeds": int(p.seeds), "test examples": int(p.test_examples),
            "assumed seed sd (points)": _points(p.seed_sd),
            "observed seed sd (points, median)": _points(100 * spread.median()),
            "predicted MDE (points)": _points(p.mde),
            "observed MDE (points, median)": _points(observed.median()),
            "observed MDE (range)": (f"{observed.min():.1f} to {observed.max():.1f}" if len(observed)
                                     else "-")})
    return pd.DataFrame(rows).set_index("target") if rows else pd.DataFrame()


def _points(x: float) -> str:
    return "-" if x != x else f"{x:.1f}"


def controls_section(tasks: dict[str, TaskAnalysis]) -> str:
    """'Does this study detect effects?': each control of each task, its interval and, in
    words, whether it came out as expected; what a failed control means for the rest."""
    lines, failed, missing, negative_seeds = [], [], [], []
    for task, t in tasks.items():
        verdicts = stats.control_verdicts(t.comparisons)
        for kind in CONTROLS:
            if kind not in set(verdicts.control):
                missing.append(f"the {kind} control on {task}")
        for v in verdicts.itertuples():
            outcome = "came out as expected" if v.as_expected else "**did not come out as expected**"
            if v.control == "negative":
                negative_seeds.append(int(v.seeds))
            if v.control == "negative" and v.significant_in:
                rows = t.comparisons[(t.comparisons.control == "negative")
                                     & t.comparisons.language.isin(v.significant_in)]
                outcome += " (significant: " + "; ".join(
                    f"{'pooled' if r.language == stats.ZERO_SHOT else r.language} {r.difference:+.1f} "
                    f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}], Holm p = {_p_value(r.p_holm)}"
                    for r in rows.itertuples()) + ")"
            lines.append(
                f"- **{task}, {v.control} control** (`{v.comparison}`, non-English test languages "
                f"pooled): {v.difference:+.1f} points, 95% interval [{v.ci_low:+.1f}, {v.ci_high:+.1f}], "
                f"p = {_p_value(v.p)}, Holm p = {_p_value(v.p_holm)}. Expected: {v.expected}. It {outcome}.")
            if not v.as_expected:
                failed.append((task, v.control))
    if not lines:
        return ("This study includes no control (conditions `translate-train` and `en-replicate` with "
                "`en`), so this report cannot show that its statistics find a known effect or refuse "
                "an invented one. Add them to `conditions` to check.")
    out = ["Two comparisons have known answers. Training phase 2 on the test languages themselves "
           "(`translate-train`) must beat English phase-2 data (positive control: can the study "
           "detect a real effect?). A replicate of `en`, the same recipe with another data draw and "
           "training seed (`en-replicate`), must not differ from `en` (negative control: does the "
           "study refuse an effect that is not there?).", "", *lines, ""]
    if failed:
        why = []
        if any(kind == "positive" for _, kind in failed):
            why.append("a failed positive control means the design cannot detect an effect it should: "
                       "a null result elsewhere says nothing")
        if any(kind == "negative" for _, kind in failed):
            why.append("a failed negative control means the study finds differences that are not "
                       "there: its significant results may be artefacts of the data draw or the "
                       f"training seed. With {min(negative_seeds)} seeds the t test learns the spread "
                       "over runs from that many values; it keeps false discoveries at 5% only if the "
                       "runs are independent: phase2_seed_policy per_seed (each seed its own phase-2 run "
                       "and data draw) makes them so, and more seeds narrow what is left")
        which = ", ".join(f"{kind} on {task}" for task, kind in failed)
        out.append(f"**Not every control came out as expected ({which}). The other comparisons of "
                   f"this study cannot be trusted:** " + "; ".join(why) + ".")
    else:
        out.append("Every control came out as expected: the study detects the known effect and "
                   "refuses the invented one, at these seeds and test sizes.")
    if missing:
        out.append(f"Not made: {', '.join(missing)} (its conditions are not in the study, or, for "
                   "the positive control, translate-train does not train on the task's languages "
                   "in the task's own family).")
    return "\n".join(out)


def provenance_table(cfg: StudyConfig) -> pd.DataFrame:
    """Code version, key packages and data fingerprints across every stage's outputs
    (distinct values; more than one means the outputs were not produced by one setup)."""
    stage_dirs = [*layout.selection_dirs(cfg), *layout.phase2_dirs(cfg), *results.run_dirs(cfg)]
    records = [read_json(d / "provenance.json") for d in stage_dirs if (d / "provenance.json").is_file()]
    rows = {
        "outputs": f"{len(records)} (selection, phase-2 encoders, phase-3 runs)",
        "current": _currency(cfg, records),
        "git commit": _distinct(f"{r['git']['commit'] or 'unknown'}"
                                f"{' (uncommitted changes)' if r['git']['dirty'] else ''}"
                                for r in records),
        "params fingerprint": _distinct(r["params_fingerprint"] for r in records),
        "python": _distinct(r["python"] for r in records),
        "platform": _distinct(r["platform"] for r in records),
    }
    for pkg in ("torch", "transformers", "datasets", "urielplus", "statsmodels"):
        rows[pkg] = _distinct(str(r["packages"].get(pkg)) for r in records)
    data: dict[str, set[str]] = {}
    for r in records:
        for name, fp in r["data_fingerprints"].items():
            data.setdefault(name, set()).add(fp)
    for name in sorted(data):
        rows[f"data: {name}"] = ", ".join(sorted(data[name]))
    return pd.DataFrame({"value": rows})


def _currency(cfg: StudyConfig, records: list[dict]) -> str:
    """Whether each output was produced by the current parameters and code: its recorded
    job fingerprint against the one the workflow computes now (study.fingerprints)."""
    stale = []
    for r in records:
        job = dict(r.get("job") or {})
        recorded = job.pop("fingerprint", None)
        if recorded is None or recorded != fingerprint(cfg, Job(**job)):
            stale.append(str(Job(**job)) if job else "an output without a job record")
    if not stale:
        return f"all {len(records)} match the current parameters and code"
    return f"{len(stale)} of {len(records)} do NOT match the current parameters or code: {', '.join(stale)}"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _distinct(values) -> str:
    return ", ".join(sorted(set(values)))


def introduction(cfg: StudyConfig, analysis: Analysis) -> str:
    seeds = analysis.tidy.groupby("condition").seed.nunique()
    demo = cfg.data.source == "local" and cfg.model.build is not None
    targets = []
    for name, t in cfg.data.targets.items():
        also = "".join(f"; its model is also evaluated, without further training, on `{a}` "
                       f"({len(TASKS[a].languages)} languages)" for a in t.also_evaluate)
        chosen = cfg.data.selection_task(name)
        how = ("its own English dev, as XTREME's scripts choose" if chosen == name else
               f"`{chosen}`'s English dev" + (f" (data.targets.{name}.select_on: train; XTREME chooses on "
                                             "the target's own)" if t.select_on == "train" else
                                             f" (`{name}` has no English dev)"))
        trained = ", then ".join(f"`{x}`" for x in (*t.train_before, t.train)) + (
            ", each from the last one's model" if t.train_before else "")
        targets.append(f"`{name}` (trained on English {trained}, the checkpoint chosen on {how}; "
                       f"evaluated on {len(cfg.data.eval_languages(name))} languages{also})")
    lines = [
        f"# Study report: {cfg.study}",
        "",
        "**Question.** Does intermediate-task training on typologically diverse non-English "
        "data beat English-only intermediate training for zero-shot cross-lingual transfer on "
        "the NLI tasks of XTREME-R?",
        "",
        f"**Design.** Pretrained encoder `{cfg.model.name_or_path}` → phase 2 (intermediate "
        f"training, the same {cfg.selection.budget} examples and hyperparameters for every "
        "condition; only the data differs) → phase 3 (training on English only with a fresh "
        "head, model selection on English dev only) → zero-shot evaluation on the dev and test "
        "sets of every language. "
        + ("Each phase-3 seed starts from a phase-2 encoder of its own, trained with that seed on "
           "examples drawn with it, so the spread over seeds includes phase 2's training and data "
           "draw. " if cfg.phase2_seed_policy == "per_seed" else
           f"One phase-2 encoder per condition (seed {cfg.phase2_seed}) serves every phase-3 seed, so "
           "the spread over seeds is phase 3's only. ")
        + ("Phase-2 task families, each a slice of the grid with its own English data and pool: "
           + "; ".join(f"`{name}` (English `{', '.join(f.phase2_en)}`, pool `{', '.join(f.phase2_pool)}`)"
                       for name, f in cfg.data.families.items())
           + "; conditions are named `<family>/<condition>` and compared within their family. "
           if cfg.data.families else "")
        + "Targets: " + "; ".join(targets) + ". Conditions: "
        + ", ".join(f"`{label(c)}` ({_seeds(seeds.get(c, 0))})" for c in analysis.conditions) + ". "
        "Accuracy intervals are 95% two-level bootstraps over seeds and test examples; "
        "comparisons are paired on the same test examples, with a 95% t interval and p-value over "
        "seeds (training runs) and test examples with the runs' degrees of freedom (seeds - 1), "
        "and Holm's correction over each task's comparisons"
        + ("; `random` pools its draws (each draw's seeds are its replicates) and is compared "
           "as one condition" if any(ConditionId.parse(c).is_draw for c in analysis.conditions) else "")
        + ".",
    ]
    if any(c in REFERENCE_CONDITIONS for c in analysis.conditions):
        lines += ["", "> **`translate-train` is a reference, not zero-shot:** its phase 2 trains on "
                  f"machine-translated data (`{cfg.data.translate_train}`) in the target languages. "
                  "It shows what target-language data buys; it is left out of the paired "
                  "comparisons and the typology regression."]
    lines += ["", *typology_lines(cfg)]
    if demo:
        lines += ["", "> **Demo run.** These numbers come from a tiny model built locally and "
                  "synthetic data shipped with the project. They check that the pipeline works "
                  "end to end; they are **not a scientific result** and say nothing about the "
                  "research question."]
    return "\n".join(lines)


def typology_lines(cfg: StudyConfig) -> list[str]:
    """How 'typologically diverse' was measured, and the sets each condition trained on."""
    found = [read_json(d / "metrics.json") for d in layout.selection_dirs(cfg)
             if (d / "metrics.json").is_file()]
    if not found:
        return ["**Typology.** (no selection output found)"]
    sel = found[0]
    lines = [
        f"**Typology.** Distance between two languages: {sel['distance']}, over the URIEL "
        f"feature sets {', '.join(sel['feature_sets'])} (urielplus; ISO 639-3 codes, macrolanguage "
        "where one exists). `diverse` takes the k pool languages that are farthest apart (greedy "
        "max-min, starting from the one farthest from English), `similar` the k nearest to "
        "English, `random` seeded draws. "
        + (f"{len(sel['typology_gaps'])} language pair(s) lacked a feature set and used the "
           "others." if sel.get("typology_gaps") else "No pair lacked data."),
        "",
        "| condition | phase-2 languages | mean pairwise | min pairwise | to English | language families "
        "| scripts |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in (row for one in found for row in one["summary"]):
        cells = ([_number(row.get(k)) for k in ("mean_pairwise", "min_pairwise", "mean_to_english")]
                 + [_count(row.get(k)) for k in ("n_families", "n_scripts")])
        lines.append(f"| `{row['condition']}` | {row['languages']} | " + " | ".join(cells) + " |")
    return lines


def _number(value) -> str:
    if value is None or value != value:  # missing or NaN (English only: no set to score)
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _count(value) -> str:
    """A count that may have been read as a float (NaN elsewhere in its column)."""
    return "–" if value is None or value != value else str(int(value))
