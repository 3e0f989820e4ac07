"""Figures of the study (seaborn); each returns its matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


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


def accuracy_by_language(acc: pd.DataFrame, order: list[str] | None = None):
    """Bars of test accuracy per language and condition; error bars: sd over seeds."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * acc.language.nunique()), 3.5))
    sns.barplot(data=acc, x="language", y="value", hue="condition", hue_order=order,
                errorbar="sd", ax=ax)
    ax.axhline(1 / 3, color="grey", ls="--", lw=1, label="chance")
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
    sns.boxplot(data=lengths, x="language", y="characters", hue="condition", fliersize=1, ax=ax)
    ax.set(title="Phase-2 example length (premise + hypothesis)")
    ax.legend(fontsize=8, ncols=4)
    fig.tight_layout()
    return fig


def language_map(coords: pd.DataFrame, kept: float, sets: dict[str, tuple[str, ...]],
                 targets: list[str]):
    """The languages in 2-D (classical MDS of the URIEL distances), one panel per condition
    with its phase-2 languages marked; target test languages as triangles."""
    names = [c for c in sets if c != "en"] or list(sets)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False,
                             sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names, strict=False):
        chosen = set(sets[name])
        for lang, (x, y) in coords.iterrows():
            is_target = lang in targets
            colour = "crimson" if lang in chosen else ("black" if lang == "en" else "lightgrey")
            ax.scatter(x, y, s=60 if lang in chosen else 25, c=colour,
                       marker="*" if lang == "en" else ("^" if is_target else "o"), zorder=3)
            ax.annotate(lang, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7,
                        color="black" if lang in chosen or lang == "en" else "grey")
        ax.set_title(f"{name}: {', '.join(sets[name])}", fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Languages by URIEL distance (classical MDS; two axes keep {kept:.0%} of it)\n"
                 "red: the condition's phase-2 languages; star: English; triangles: target test "
                 "languages", fontsize=9)
    fig.tight_layout()
    return fig


def accuracy_intervals(intervals: pd.DataFrame, language: str = "avg"):
    """Accuracy by condition on one language (default: the average) with 95% CI bars."""
    rows = intervals[intervals.language == language]
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(rows) + 1), 3))
    x = range(len(rows))
    ax.errorbar(x, rows.accuracy, yerr=[rows.accuracy - rows.ci_low, rows.ci_high - rows.accuracy],
                fmt="o", capsize=4, color="black")
    ax.set_xticks(list(x), [str(c) for c in rows.condition])
    ax.set(ylabel="accuracy (%)", title=f"Zero-shot accuracy ({language}), 95% bootstrap CI")
    fig.tight_layout()
    return fig
