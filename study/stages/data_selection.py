"""Stage 01: choose each condition's phase-2 languages and build its data (shown side by
side for the reader; each phase-2 job builds its own set the same way)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import typology
from study.config import StudyConfig
from study.data import repairs
from study.io import atomic_write_bytes, atomic_write_text
from study.jobgraph import Job
from study.leakage import evaluation_keys
from study.pipeline import write_record
from study.provenance import dataset_fingerprint
from study.selection import Phase2Plan, build_phase2_set, candidate_pool, plan_phase2


@dataclass
class Selection:
    plan: Phase2Plan
    distances: pd.DataFrame
    summary: pd.DataFrame  # one row per condition id
    per_language: pd.DataFrame  # one row per (condition, language, task)
    target_distances: pd.DataFrame  # per target language and condition (see typology)
    codes: pd.DataFrame  # study code -> URIEL code, name, script, family
    sets: dict  # condition id -> {task: its phase-2 Dataset}
    cfg: StudyConfig  # the study's config, or its family's slice of a several-family study


def run_selection(cfg: StudyConfig, out: Path, family: str | None = None) -> Selection:
    """Choose and build every condition's phase-2 data (of one family, in a several-family
    study: its conditions are named `<family>/<condition>` in every output)."""
    job, study = Job("select", family=family), cfg
    if family is not None:
        if family not in cfg.data.families:
            raise KeyError(f"{cfg.source_file}: no phase-2 family {family!r}; its families are "
                           f"{list(cfg.data.families) or 'none (one family: leave family unset)'}")
        cfg = cfg.phase2_families()[family]
    elif cfg.data.families:
        raise KeyError(f"{cfg.source_file}: the study has several phase-2 families "
                       f"{list(cfg.data.families)}; set family to one of them")
    prefix = f"{family}/" if family else ""
    target_langs = list(cfg.data.evaluated_languages())
    pool_langs = list(candidate_pool(cfg)[0])
    langs = sorted(set(["en", *pool_langs, *target_langs]))
    codes = dict(cfg.selection.uriel_codes)
    dist = typology.distance_matrix(langs, cfg.selection.feature_sets, codes)
    plan = plan_phase2(cfg, dist)
    held_out = evaluation_keys(cfg)
    rows, fingerprints, quotas, sets, splits = [], {}, {}, {}, {}
    for kind, chosen in plan.languages.items():
        condition = prefix + kind
        by_task, quotas[condition] = build_phase2_set(cfg, plan, kind, held_out, cache=splits)
        sets[condition] = by_task
        for task, ds in by_task.items():
            buffer = io.BytesIO()
            ds.to_json(buffer, force_ascii=False)
            atomic_write_bytes(out / "phase2_data" / kind / f"{task}.jsonl", buffer.getvalue())
            fingerprints[f"{condition}/{task}"] = dataset_fingerprint(ds)
        non_en = [x for x in chosen if x != "en"]
        rows.append({
            "condition": condition, "languages": ", ".join(chosen),
            "scripts": ", ".join(sorted({typology.script(x) for x in chosen})),
            "examples": sum(len(ds) for ds in by_task.values()), "tasks": ", ".join(by_task),
            "per_language": {lang: q["used"] for lang, q in quotas[condition].items()},
            "short_languages": [lang for lang, q in quotas[condition].items()
                                if q["used"] < q["planned"]],
            "leaked_removed": sum(q["leaked_removed"] for q in quotas[condition].values()),
            **(typology.set_scores(non_en, dist) if non_en else {}),
        })
    summary = pd.DataFrame(rows, columns=None if rows else ["condition", "languages", "examples"])
    per_language = pd.DataFrame([
        {"condition": condition, "language": lang, "script": typology.script(lang),
         "family": typology.family(lang, codes), "task": task, "available": t["available"],
         "leaked_removed": t["leaked_removed"], "planned": t["planned"], "used": t["used"]}
        for condition, by_lang in quotas.items() for lang, q in by_lang.items()
        for task, t in q["tasks"].items()],
        columns=["condition", "language", "script", "family", "task", "available", "leaked_removed",
                 "planned", "used"])
    atomic_write_text(out / "per_language.csv", per_language.to_csv(index=False))
    atomic_write_text(out / "distances.csv", dist.to_csv())
    languages = {prefix + kind: chosen for kind, chosen in plan.languages.items()}
    targets = typology.target_distances(target_langs, languages, dist)
    atomic_write_text(out / "target_distances.csv", targets.to_csv(index=False))
    code_table = typology.code_table(langs, codes)
    atomic_write_text(out / "languages.csv", code_table.to_csv())
    selection = {
        "pool": plan.pool, "excluded_target_languages": list(plan.excluded),
        "family": family, "languages": {k: list(v) for k, v in languages.items()},
        "feature_sets": list(cfg.selection.feature_sets),
        "distance": "mean over the feature sets of urielplus's angular distance (features both "
                    "languages have)",
        "uriel_codes": code_table["uriel_code"].to_dict(), "typology_gaps": dist.attrs["gaps"],
        "summary": summary.to_dict(orient="records"),
        "leakage_rule": cfg.selection.leakage,
        "sampler": {"languages": cfg.selection.quota, "tasks_within_a_language": cfg.selection.task_quota,
                    "temperature": cfg.selection.temperature
                    if "temperature" in (cfg.selection.quota, cfg.selection.task_quota) else None,
                    "seed": cfg.phase2_seed, "draw": "seeded shuffle of each (language, task) split, "
                    "first n; the condition's set shuffled with the same seed"},
        "phase2_tasks": {"en": list(cfg.data.phase2_en), **{lang: list(t) for lang, t in plan.pool.items()}},
        "quotas": quotas,
        "data_repairs": repairs(),  # QA rows whose answer_start was realigned, or dropped
    }
    write_record(study, out, selection, cfg.phase2_seed, fingerprints, job)
    return Selection(plan=plan, distances=dist, summary=summary, per_language=per_language,
                     target_distances=targets, codes=code_table, sets=sets, cfg=cfg)


