"""The study's stages, one function each; the notebooks call these and show the results.

Each stage writes into the directory it is given (the workflow gives a `.partial`
directory and renames it when the notebook succeeded) and records what produced it.
"""

from __future__ import annotations

import io
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study import layout, typology
from study.config import StudyConfig, build_config, load_config
from study.data import load_split
from study.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from study.leakage import evaluation_keys
from study.provenance import dataset_fingerprint, provenance
from study.selection import (
    Phase2Plan,
    build_phase2_set,
    candidate_pool,
    plan_phase2,
)


def configure(params_file: str, params: dict[str, Any] | None = None) -> StudyConfig:
    """The validated config of a notebook run, and a quiet, thread-limited runtime."""
    cfg = build_config(params, params_file) if params is not None else load_config(params_file)
    import datasets
    import torch
    import transformers

    torch.set_num_threads(cfg.threads)
    datasets.disable_progress_bars()  # per-file bars are noise; training keeps its bars
    transformers.logging.set_verbosity_error()
    logging.getLogger("datasets").setLevel(logging.ERROR)
    return cfg


def out_dir_for(cfg: StudyConfig, out_dir: str | None, stage: str) -> Path:
    path = Path(out_dir) if out_dir else layout.interactive_dir(cfg, stage)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_record(cfg: StudyConfig, out: Path, metrics: dict, seed: int | None,
                  data: dict[str, str]) -> None:
    atomic_write_json(out / "params.json", cfg.resolved())
    atomic_write_json(out / "provenance.json", provenance(
        seed=seed, params_fingerprint=cfg.fingerprint(),
        params_file=str(cfg.source_file) if cfg.source_file else None, data=data))
    atomic_write_json(out / "metrics.json", metrics)


# -- 01 data selection ----------------------------------------------------------------
@dataclass
class Selection:
    plan: Phase2Plan
    distances: pd.DataFrame
    summary: pd.DataFrame  # one row per condition id
    per_language: pd.DataFrame  # one row per (condition, language, task)
    target_distances: pd.DataFrame  # per target language and condition (see typology)
    codes: pd.DataFrame  # study code -> URIEL code, name, script, family
    sets: dict  # condition id -> {task: its phase-2 Dataset}


def run_selection(cfg: StudyConfig, out: Path) -> Selection:
    target_langs = list(cfg.data.evaluated_languages())
    pool_langs = list(candidate_pool(cfg)[0])
    langs = sorted(set(["en", *pool_langs, *target_langs]))
    codes = dict(cfg.selection.uriel_codes)
    dist = typology.distance_matrix(langs, cfg.selection.feature_sets, codes)
    plan = plan_phase2(cfg, dist)
    held_out = evaluation_keys(cfg)
    rows, fingerprints, quotas, sets, splits = [], {}, {}, {}, {}
    for condition, chosen in plan.languages.items():
        by_task, quotas[condition] = build_phase2_set(cfg, plan, condition, held_out, cache=splits)
        sets[condition] = by_task
        for task, ds in by_task.items():
            buffer = io.BytesIO()
            ds.to_json(buffer, force_ascii=False)
            atomic_write_bytes(out / "phase2_data" / condition / f"{task}.jsonl", buffer.getvalue())
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
    summary = pd.DataFrame(rows)
    per_language = pd.DataFrame([
        {"condition": condition, "language": lang, "script": typology.script(lang),
         "family": typology.family(lang, codes), "task": task, "available": t["available"],
         "leaked_removed": t["leaked_removed"], "planned": t["planned"], "used": t["used"]}
        for condition, by_lang in quotas.items() for lang, q in by_lang.items()
        for task, t in q["tasks"].items()])
    atomic_write_text(out / "per_language.csv", per_language.to_csv(index=False))
    atomic_write_text(out / "distances.csv", dist.to_csv())
    targets = typology.target_distances(target_langs, plan.languages, dist)
    atomic_write_text(out / "target_distances.csv", targets.to_csv(index=False))
    code_table = typology.code_table(langs, codes)
    atomic_write_text(out / "languages.csv", code_table.to_csv())
    selection = {
        "pool": plan.pool, "excluded_target_languages": list(plan.excluded),
        "languages": {k: list(v) for k, v in plan.languages.items()},
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
    }
    _write_record(cfg, out, selection, cfg.phase2_seed, fingerprints)
    return Selection(plan=plan, distances=dist, summary=summary, per_language=per_language,
                     target_distances=targets, codes=code_table, sets=sets)


# -- 02 intermediate training ------------------------------------------------------------
def run_phase2(cfg: StudyConfig, condition: str, out: Path) -> dict:
    from datasets import load_dataset

    from study.pretrained import ensure_base_model
    from study.training import phase2_tasks, save_encoder, train_phase2

    data_dir = layout.phase2_data_dir(cfg, condition)
    files = sorted(data_dir.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{data_dir}: no phase-2 data for condition {condition!r}; "
                                "run the data-selection notebook (or `make demo`) first")
    sets = {f.stem: load_dataset("json", data_files=str(f), split="train") for f in files}
    work = checkpoint_dir(out)
    start = time.time()
    trainer = train_phase2(ensure_base_model(cfg), sets, cfg.phase2, cfg.phase2_seed, work,
                           run_key={"stage": "phase2", "condition": condition,
                                    "params": cfg.fingerprint()},
                           tensorboard_dir=out / "tensorboard")
    if not trainer.is_world_process_zero():  # distributed: one process writes the outputs
        return {}
    save_encoder(trainer, out / "encoder")
    shutil.rmtree(work, ignore_errors=True)
    metrics = {
        "stage": "phase2", "condition": condition, "processes": trainer.args.world_size,
        "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
        "examples": sum(len(ds) for ds in sets.values()),
        "tasks": phase2_tasks(sets, cfg.phase2.mlm), "task_examples": trainer.task_sizes,
        "task_sampler": {"kind": cfg.phase2.task_sampler, "temperature": cfg.phase2.sampler_temperature
                         if cfg.phase2.task_sampler == "temperature" else None,
                         "probabilities": trainer.task_probabilities},
        "languages": sorted({lang for ds in sets.values() for lang in ds["lang"]}),
        "steps": trainer.state.global_step, "resumed_from": trainer.resumed_from,
        "seconds": round(time.time() - start, 1), "log_history": trainer.state.log_history,
    }
    _write_record(cfg, out, metrics, cfg.phase2_seed,
                  {f"{condition}/{task}": dataset_fingerprint(ds) for task, ds in sets.items()})
    return metrics


def checkpoint_dir(out: Path) -> Path:
    """Checkpoints live beside the run folder (`<run>.checkpoints`): the workflow discards a
    failed run's `.partial` folder, but a restarted run resumes from these."""
    return out.with_name(out.name.removesuffix(".partial") + ".checkpoints")


# -- 03 target training and zero-shot evaluation ---------------------------------------
def start_encoder(cfg: StudyConfig, condition: str) -> str:
    """Phase 3 starts from the condition's phase-2 encoder, or the pretrained model."""
    from study.pretrained import ensure_base_model

    if condition == "none":
        return ensure_base_model(cfg)
    path = layout.encoder_dir(cfg, condition)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no phase-2 encoder for condition {condition!r}; "
                                "run the intermediate-training notebook (or `make demo`) first")
    return str(path)


def run_phase3(cfg: StudyConfig, target: str, condition: str, seed: int, out: Path) -> dict:
    """Train `target` on English from the condition's encoder, select on English dev, and
    evaluate zero-shot on dev and test of every language of the target (and of the tasks
    evaluated with it)."""
    from study.evaluation import evaluate_target, predict
    from study.registry import TASKS
    from study.training import train_target

    if target not in cfg.data.targets:
        raise KeyError(f"target {target!r} is not a target of {cfg.source_file}; "
                       f"accepted: {sorted(cfg.data.targets)}")
    d, train_task = cfg.data, cfg.data.targets[target].train
    train = load_split(train_task, "en", "train", d, limit=d.max_train_examples)
    dev = load_split(train_task, "en", "dev", d, limit=d.max_eval_examples)
    work = checkpoint_dir(out)
    start = time.time()
    task = TASKS[train_task]
    trainer = train_target(start_encoder(cfg, condition), task.head, train, dev, cfg.phase3, seed, work,
                           run_key={"stage": "phase3", "target": target, "condition": condition,
                                    "seed": seed, "params": cfg.fingerprint()},
                           labels=task.label_set, tensorboard_dir=out / "tensorboard")
    train_seconds = time.time() - start
    model, tok = trainer.model, trainer.processing_class
    dev_pred = predict(model, tok, dev, task.head, cfg.phase3.eval_batch_size, cfg.phase3.max_length)
    evaluation = evaluate_target(model, tok, cfg, target, out)
    shutil.rmtree(work, ignore_errors=True)
    test = evaluation[target]["test"]
    metrics = {
        "stage": "phase3", "study": cfg.study, "target": target, "condition": condition, "seed": seed,
        "train_task": train_task, "phase2_family": phase2_family(cfg), "zero_shot": True,
        "dev_en_accuracy": float((dev_pred == np.asarray(dev["label"])).mean()),
        "dev_en_n": len(dev),
        "evaluation": evaluation,
        "test_average": sum(r["accuracy"] for r in test.values()) / len(test),
        "train": {"examples": len(train), "steps": trainer.state.global_step,
                  "resumed_from": trainer.resumed_from, "processes": trainer.args.world_size,
                  "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
                  "seconds": round(train_seconds, 1)},
        "log_history": trainer.state.log_history,
    }
    _write_record(cfg, out, metrics, seed, {f"{train_task} en train": dataset_fingerprint(train),
                                            f"{train_task} en dev": dataset_fingerprint(dev)})
    return metrics


def phase2_family(cfg: StudyConfig) -> str:
    """The study's phase-2 task family (nli, qa, ...), or 'multi-task (a, b)' for a mixture."""
    from study.registry import TASKS

    families = sorted({TASKS[t].family for t in (*cfg.data.phase2_en, *cfg.data.phase2_pool)})
    families += ["mlm"] if cfg.phase2.mlm else []
    return families[0] if len(families) == 1 else f"multi-task ({', '.join(families)})"
