"""Published reference figures (study/references.yaml) and whether a run's baseline
reproduces them.

The field's classic failure is a baseline that silently lands a few points below the
published one (jiant#1327, xtreme#65 and #87 are all "cannot reproduce"). When the study's
model is the one a figure was published for, the report compares its `none` baseline
(English training only, zero-shot) with the figure: it reproduces when the figure lies in
the baseline's 95% interval, or within the stated tolerance of its mean; otherwise the
report names the likely causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

TOLERANCE = 1.0
"""Points: a baseline whose mean is this close to a figure reproduces it, whatever its interval."""

CAUSES = ("the recipe (learning rate, epochs, batch, maximum length: params.phase3 against the "
          "source's)", "the seeds (a published figure is often one run, or the best of several)",
          "the precision (bf16 against the source's fp32 or fp16)",
          "the selection set (which dev set chose the checkpoint: data.targets.<target>.select_on)")


@dataclass(frozen=True)
class Reference:
    task: str  # the registry task evaluated (xnli, xcopa, americas_nli)
    model: str  # the Hub id the figure was published for
    setting: str  # zero-shot (English training only) | translate-train | ...
    value: float  # average test accuracy, percent
    languages: tuple[str, ...]  # the languages it averages over (registry codes)
    source: str  # citation: authors, title, venue, year, table
    url: str
    note: str = ""

    @property
    def zero_shot(self) -> bool:
        return self.setting == "zero-shot"


def load() -> list[Reference]:
    """Every figure of study/references.yaml, checked as it is read."""
    raw = yaml.safe_load(resources.files("study").joinpath("references.yaml").read_text(encoding="utf-8"))
    out = []
    for i, entry in enumerate(raw):
        where = f"study/references.yaml: entry {i + 1}"
        missing = {"task", "model", "setting", "value", "languages", "source", "url"} - set(entry)
        if missing:
            raise ValueError(f"{where}: missing key(s) {sorted(missing)}")
        if not 0 < float(entry["value"]) <= 100:
            raise ValueError(f"{where}: value {entry['value']!r} is not an accuracy in percent")
        out.append(Reference(**{**entry, "value": float(entry["value"]),
                                "languages": tuple(entry["languages"])}))
    return out


def comparisons(model: str, baseline: dict[str, dict]) -> list[dict]:
    """Each published zero-shot figure for `model` beside the baseline: `baseline` maps a task
    to {languages: evaluated languages, accuracy: mean test average (percent), ci_low,
    ci_high, per_language: {lang: percent}}. A figure over the same languages is compared
    with the average and its interval; one over some of them with the baseline's mean over
    those (the tolerance only); one over languages the run did not evaluate is not comparable."""
    out = []
    for ref in load():
        if ref.model != model or not ref.zero_shot or ref.task not in baseline:
            continue
        b = baseline[ref.task]
        same = set(ref.languages) == set(b["languages"])
        comparable = same or set(ref.languages) <= set(b["per_language"])
        scores = [b["per_language"][x] for x in ref.languages] if comparable else []
        mean = b["accuracy"] if same else sum(scores) / len(scores) if scores else float("nan")
        inside = comparable and ((same and b["ci_low"] <= ref.value <= b["ci_high"])
                                 or abs(mean - ref.value) <= TOLERANCE)
        out.append({"reference": ref, "baseline": b, "comparable": comparable, "same_languages": same,
                    "mean": mean, "reproduces": inside, "difference": mean - ref.value})
    return out


def lines(model: str, baseline: dict[str, dict], demo: bool) -> list[str]:
    """The report's words on the published figures: which apply, and whether the baseline
    reproduces each, with the likely causes where it does not."""
    found = comparisons(model, baseline)
    if not found and any(r.model == model for r in load()):
        return [f"No published zero-shot reference for `{model}` covers the tasks evaluated here "
                f"({', '.join(sorted(baseline))})."]
    if not found:
        known = sorted({r.model for r in load()})
        return [f"No published reference applies: the figures in `study/references.yaml` are for "
                f"{', '.join(f'`{m}`' for m in known)}, and this study's model is `{model}`"
                + (" (the demo's own small model: its numbers are not comparable with any paper's)." if demo
                   else ".")]
    out = []
    for c in found:
        ref, b = c["reference"], c["baseline"]
        ours = (f"{b['accuracy']:.1f} [{b['ci_low']:.1f}, {b['ci_high']:.1f}]" if c["same_languages"] else
                f"{c['mean']:.1f} over the same {len(ref.languages)} languages")
        head = (f"- **{ref.task}**: published {ref.value:.1f} ({ref.source}, <{ref.url}>"
                + (f"; {ref.note}" if ref.note else "") + f"); this study's `none` baseline {ours}")
        if not c["comparable"]:
            out.append(f"{head}: not comparable, the figure averages {len(ref.languages)} languages "
                       f"and this study evaluated {len(b['languages'])}.")
        elif c["reproduces"]:
            out.append(f"{head}: **reproduces** (within the baseline's 95% interval, or {TOLERANCE:g} "
                       "point of its mean).")
        else:
            out.append(f"{head}: **does not reproduce** ({c['difference']:+.1f} points). Likely causes: "
                       + "; ".join(CAUSES) + ".")
    return out


def table(model: str) -> list[dict]:
    """Every figure for `model` (all settings), for the report's table."""
    return [{"task": r.task, "setting": r.setting, "published": r.value, "languages": len(r.languages),
             "source": r.source, "url": r.url} for r in load() if r.model == model]
