"""Data cards: what each dataset of a study is, and the length of its examples."""

from __future__ import annotations

import pandas as pd

from study.config import StudyConfig
from study.registry import TASKS


def roles(cfg: StudyConfig) -> dict[str, list[str]]:
    d = cfg.data
    out: dict[str, list[str]] = {}
    evaluated = [task for target in d.targets for task, _ in d.evaluated(target)]
    for role, names in (("zero-shot evaluation", evaluated),
                        ("phase 3 (English)", [x for t in d.targets.values()
                                               for x in (*t.train_before, t.train)]),
                        ("phase 2 (English)", [*(d.phase2_en or ()), *(t for f in d.families.values()
                                                                       for t in f.phase2_en)]),
                        ("phase 2 (pool)", [*(d.phase2_pool or ()), *(t for f in d.families.values()
                                                                     for t in f.phase2_pool)]),
                        ("translate-train reference", [d.translate_train] if d.translate_train else [])):
        for name in names:
            out.setdefault(name, []).append(role)
    return out


def task_card(cfg: StudyConfig) -> pd.DataFrame:
    """One row per dataset the study reads: role, source, licence, native or translated, and
    the rows this process's loads repaired (QA answers realigned, or dropped: study.data)."""
    from study.data import REPAIRED

    rows = []
    for name, task_roles in roles(cfg).items():
        t = TASKS[name]
        fixed = [f"{lang} {split}: {c['realigned']} realigned, {c['dropped']} dropped of {c['rows']}"
                 for (task, lang, split), c in sorted(REPAIRED.items()) if task == name]
        rows.append({
            "task": name, "roles": "; ".join(task_roles), "read from": cfg.data.source_of(name),
            "hub id": f"{t.hub_id}" + (f" ({t.config})" if t.config else "") if t.hub_id else "-",
            "task family": t.family, "head": t.head, "origin": t.origin, "license": t.license,
            "languages": len(t.languages), "rows repaired": "; ".join(fixed) or "-",
        })
    return pd.DataFrame(rows).set_index("task")


def length_table(sets: dict) -> pd.DataFrame:
    """Characters per example (all its text fields), one row per example, for plotting.

    `sets`: condition -> task -> Dataset (or condition -> Dataset).
    """
    frames = []
    for name, by_task in sets.items():
        for task, ds in (by_task.items() if isinstance(by_task, dict) else [("", by_task)]):
            frames.append(pd.DataFrame({"condition": name, "task": task, "language": ds["lang"][:],
                                        "characters": [_characters(row) for row in ds.to_list()]}))
    if not frames:  # no condition trains in phase 2 (a study of `none` alone)
        return pd.DataFrame(columns=["condition", "task", "language", "characters"])
    return pd.concat(frames, ignore_index=True)


def _characters(row: dict) -> int:
    text = [row.get(k) or "" for k in ("premise", "hypothesis", "question", "context")]
    return sum(map(len, text)) + sum(len(c) for c in row.get("choices") or [])
