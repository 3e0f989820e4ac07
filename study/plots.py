"""Figures of the study (seaborn); each returns its matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from study.conditions import REFERENCE_CONDITIONS
from study.conditions import label as condition_label


def _nothing(fig, ax, message: str):
    """A figure that says why there is nothing to draw (rather than failing or staying blank)."""
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="grey")
    return fig


def distance_heatmap(dist: pd.DataFrame, title: str = "URIEL distance (mean angular)"):
    fig, ax = plt.subplots(figsize=(0.45 * len(dist) + 2, 0.4 * len(dist) + 1.5))
    sns.heatmap(dist, annot=len(dist) <= 16, fmt=".2f", cmap="viridis", square=True, ax=ax,
                annot_kws={"size": 7}, cbar_kws={"label": "distance"})
    ax.set_title(title)
    fig.tight_layout()
    return fig


def loss_curve(log_history: list[dict], title: str = "training loss"):
    """The logged training loss; with several phase-2 tasks, each task's loss as well."""
    rows = [r for r in log_history if "loss" in r]
    tasks = sorted({k.removeprefix("loss_") for r in rows for k in r if k.startswith("loss_")})
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker=".", color="black", label="all")
    for task in tasks if len(tasks) > 1 else []:
        pts = [(r["step"], r[f"loss_{task}"]) for r in rows if f"loss_{task}" in r]
        ax.plot(*zip(*pts, strict=True), marker=".", lw=1, label=task)
    ax.set(xlabel="step", ylabel="loss", title=title)
    if len(tasks) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_by_language(acc: pd.DataFrame, order: list[str] | None = None,
                         languages: list[str] | None = None, chance: float | None = None):
    """Bars of test accuracy per language (in `languages` order) and condition (in `order`,
    references labelled as such); error bars: sd over seeds; a dashed line at `chance`."""

    acc = acc.assign(condition=acc.condition.map(condition_label))
    order = [condition_label(c) for c in order] if order else None
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * acc.language.nunique()), 3.5))
    sns.barplot(data=acc, x="language", y="value", hue="condition", hue_order=order, order=languages,
                errorbar="sd", ax=ax)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set(ylabel="accuracy", ylim=(0, 1), title="Zero-shot test accuracy (mean ± sd over seeds)")
    ax.legend(ncols=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    return fig


def gain_heatmap(gains: pd.DataFrame, baseline: str = "none"):
    fig, ax = plt.subplots(figsize=(0.8 * len(gains) + 2, 0.5 * gains.shape[1] + 1.5))
    sns.heatmap(gains.T, annot=True, fmt=".1f", cmap="RdBu", center=0, ax=ax,
                cbar_kws={"label": f"points vs {baseline}"})
    ax.set(xlabel="language", ylabel="condition", title=f"Accuracy gain over {baseline!r}")
    fig.tight_layout()
    return fig


def length_distribution(lengths: pd.DataFrame):
    """Characters per phase-2 example by language, one box per condition."""
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * lengths.language.nunique()), 3.2))
    if lengths.empty:
        return _nothing(fig, ax, "No phase-2 data: no condition of this study trains in phase 2")
    sns.boxplot(data=lengths, x="language", y="characters", hue="condition", fliersize=1, ax=ax)
    ax.set(title="Phase-2 example length (premise + hypothesis)")
    ax.legend(fontsize=8, ncols=4)
    fig.tight_layout()
    return fig


def language_map(coords: pd.DataFrame, kept: float, sets: dict[str, tuple[str, ...]],
                 targets: list[str]):
    """The languages in 2-D (classical MDS of the URIEL distances), one panel per condition
    with its phase-2 languages marked; target test languages as triangles."""
    names = [c for c in sets if c != "en"] or list(sets) or ["no phase-2 condition"]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False,
                             sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names, strict=False):
        chosen = set(sets.get(name, ()))
        for lang, (x, y) in coords.iterrows():
            is_target = lang in targets
            colour = "crimson" if lang in chosen else ("black" if lang == "en" else "lightgrey")
            ax.scatter(x, y, s=60 if lang in chosen else 25, c=colour,
                       marker="*" if lang == "en" else ("^" if is_target else "o"), zorder=3)
            ax.annotate(lang, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7,
                        color="black" if lang in chosen or lang == "en" else "grey")
        ax.set_title(f"{name}: {', '.join(sets[name])}" if name in sets else name, fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Languages by URIEL distance (classical MDS; two axes keep {kept:.0%} of it)\n"
                 "red: the condition's phase-2 languages; star: English; triangles: target test "
                 "languages", fontsize=9)
    fig.tight_layout()
    return fig


def accuracy_intervals(intervals: pd.DataFrame, language: str = "avg"):
    """Accuracy by condition on one language (default: the average) with 95% CI bars, one
    panel per evaluated task; reference conditions (not zero-shot) in grey."""

    tasks = list(dict.fromkeys(intervals.task)) if "task" in intervals else [None]
    width = max(4.0, 0.7 * intervals.condition.nunique() + 1.5)
    fig, axes = plt.subplots(1, len(tasks), figsize=(width * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = intervals[(intervals.language == language)
                         & ((intervals.task == task) if task else True)].reset_index(drop=True)
        for i, r in rows.iterrows():
            color = "grey" if r.condition in REFERENCE_CONDITIONS else "black"
            ax.errorbar([i], [r.accuracy], yerr=[[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]],
                        fmt="o", capsize=4, color=color)
        ax.set_xticks(list(range(len(rows))), [condition_label(str(c)) for c in rows.condition],
                      rotation=30, ha="right")
        ax.set(ylabel="accuracy (%)", title=f"{task or ''} ({language}), 95% bootstrap CI")
    fig.tight_layout()
    return fig


def gain_vs_distance(points: pd.DataFrame, regression: pd.DataFrame, title: str = ""):
    """Gain over `none` per (condition, seed, target language) against the language's
    distance to English and to the nearest phase-2 language, with the mixed-effects fit
    (each panel's line holds the other distance at its mean)."""
    predictors = [c for c in ("to_english", "to_nearest_phase2") if c in points.columns]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    slopes = regression.set_index("term") if len(regression) else None
    for ax, term in zip(axes, predictors, strict=True):
        sns.scatterplot(data=points, x=term, y="gain", hue="condition", style="condition", ax=ax,
                        legend=ax is axes[-1], alpha=0.8)
        if slopes is not None:
            other = next(p for p in predictors if p != term)
            xs = np.linspace(points[term].min(), points[term].max(), 20)
            ys = (slopes.loc["Intercept", "slope"] + slopes.loc[term, "slope"] * xs
                  + slopes.loc[other, "slope"] * points[other].mean())
            r = slopes.loc[term]
            ax.plot(xs, ys, color="black", lw=1.5,
                    label=f"fit: {r.slope:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}] per unit")
            ax.legend(loc="lower left", fontsize=8) if ax is not axes[-1] else None
            ax.set_title(f"slope {r.slope:+.1f} points per unit, 95% CI [{r.ci_low:+.1f}, "
                         f"{r.ci_high:+.1f}]", fontsize=9)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set(xlabel=term.replace("_", " ") + " (URIEL)", ylabel="gain over none (points)")
    if axes[-1].get_legend():
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(curves: pd.DataFrame):
    """Phase-2 training loss per condition; per phase-3 target, training loss and English
    dev accuracy per condition (mean over seeds, band: range)."""

    curves = curves.assign(condition=curves.condition.map(condition_label))
    panels = [("phase 2", "-", "training loss")]
    for target in sorted(set(curves.target) - {"-"}):
        panels += [("phase 3", target, "training loss"), ("phase 3", target, "English dev accuracy")]
    panels = [p for p in panels if len(curves[(curves.stage == p[0]) & (curves.target == p[1])
                                              & (curves.metric == p[2])])]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (stage, target, metric) in zip(axes[0], panels, strict=True):
        rows = curves[(curves.stage == stage) & (curves.target == target) & (curves.metric == metric)]
        sns.lineplot(data=rows, x="step", y="value", hue="condition", errorbar=("pi", 100), ax=ax,
                     legend=ax is axes[0][-1])
        ax.set(title=f"{stage}{'' if target == '-' else ' ' + target}", ylabel=metric)
    if axes[0][-1].get_legend():
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.tight_layout()
    return fig
