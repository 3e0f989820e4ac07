"""Stage 03: target-task training on English (phase 3) and zero-shot evaluation."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from study import layout
from study.config import StudyConfig
from study.data import load_split, repairs
from study.fingerprints import fingerprint
from study.jobgraph import Job
from study.pipeline import checkpoint_dir, phase2_family, write_record
from study.provenance import dataset_fingerprint


def start_encoder(cfg: StudyConfig, condition: str, seed: int) -> str:
    """Phase 3 (seed `seed`) starts from the condition's phase-2 encoder (the one of its
    seed, with phase2_seed_policy per_seed), or the pretrained model."""
    from study.pretrained import ensure_base_model

    if condition == "none":
        return ensure_base_model(cfg)
    path = layout.encoder_dir(cfg, condition, seed)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no phase-2 encoder for condition {condition!r}; "
                                "run the intermediate-training notebook (or `make demo`) first")
    return str(path)


def run_phase3(cfg: StudyConfig, target: str, condition: str, seed: int, out: Path) -> dict:
    """Train `target` on English from the condition's encoder, select on English dev (the
    target's own, as XTREME does, or the train task's: select_on), and
    evaluate zero-shot on dev and test of every language of the target (and of the tasks
    evaluated with it)."""
    from study.timing import import_frameworks

    import_frameworks()
    from study import oracle
    from study.evaluation import evaluate_target, predict
    from study.registry import TASKS
    from study.training import train_target, training_setup

    if target not in cfg.data.targets:
        raise KeyError(f"target {target!r} is not a target of {cfg.source_file}; "
                       f"accepted: {sorted(cfg.data.targets)}")
    d, train_task = cfg.data, cfg.data.targets[target].train
    train = load_split(train_task, "en", "train", d, limit=d.max_train_examples)
    select_task = d.selection_task(target)  # XTREME: the target's English dev (XNLI en dev)
    dev = load_split(select_task, "en", "dev", d, limit=d.max_eval_examples)
    job = Job("phase3", target=target, condition=condition, seed=seed)
    work = checkpoint_dir(out)
    start = time.time()
    task = TASKS[train_task]
    encoder = start_encoder(cfg, condition, seed)
    # XTREME's XCOPA recipe: SIQA first, then COPA from the SIQA model (data.targets.<t>.train_before)
    start_from, steps_before = train_steps_before(cfg, target, condition, seed, encoder, out, job)
    oracle_check = oracle.make_callback(cfg, target)  # target-language dev: the oracle's checks
    trainer = train_target(start_from, task.head, train, dev, cfg.phase3, seed, work,
                           run_key={"stage": "phase3", "target": target, "condition": condition,
                                    "seed": seed, "params": fingerprint(cfg, job)},
                           labels=task.label_set, tensorboard_dir=out / "tensorboard",
                           callbacks=(oracle_check,) if oracle_check else ())
    train_seconds = time.time() - start
    if not trainer.is_world_process_zero():  # distributed: one process evaluates and writes
        return {}
    model, tok = trainer.model, trainer.processing_class
    setup = training_setup(trainer)
    dev_pred = predict(model, tok, dev, task.head, cfg.phase3.eval_batch_size, cfg.phase3.max_length,
                       cfg.phase3.precision)
    evaluation = evaluate_target(model, tok, cfg, target, out)
    best = trainer.state.best_model_checkpoint
    chosen_step = int(Path(best).name.rsplit("-", 1)[1]) if best else trainer.state.global_step
    shutil.rmtree(work, ignore_errors=True)
    for name in d.targets[target].train_before:
        shutil.rmtree(checkpoint_dir(out, name), ignore_errors=True)
    test = evaluation[target]["test"]
    metrics = {
        "stage": "phase3", "study": cfg.study, "target": target, "condition": condition, "seed": seed,
        "train_task": train_task, "phase2_family": phase2_family(cfg, condition), "zero_shot": True,
        "started_from": str(Path(encoder).relative_to(cfg.study_dir))
        if Path(encoder).is_relative_to(cfg.study_dir) else str(encoder),
        "dev_en_accuracy": float((dev_pred == np.asarray(dev["label"][:])).mean()),
        "dev_en_n": len(dev), "selection": {"task": select_task, "language": "en", "split": "dev",
                                            "select_on": d.targets[target].select_on},
        "evaluation": evaluation,
        "test_average": sum(r["accuracy"] for r in test.values()) / len(test),
        "data_repairs": repairs({train_task, select_task, *evaluation}),
        "chosen_step": chosen_step,  # the English dev's choice
        # not zero-shot: the checkpoint each target language's dev chooses (study/oracle.py)
        "oracle": oracle.choose(trainer.state.log_history, evaluation, chosen_step) if oracle_check else {},
        "oracle_every": cfg.phase3.oracle_every,
        # every English task trained, in order: the train_before steps, then train_task
        "train_sequence": [*(r["task"] for r in steps_before), train_task], "steps_before": steps_before,
        "train": {"examples": len(train), "steps": trainer.state.global_step,
                  "resumed_from": trainer.resumed_from, "processes": trainer.args.world_size,
                  "precision": setup["precision"],
                  "seconds": round(train_seconds, 1)},
        "log_history": trainer.state.log_history,
    }
    write_record(cfg, out, metrics, seed, {**{k: v for r in steps_before for k, v in r["data"].items()},
                                           f"{train_task} en train": dataset_fingerprint(train),
                                           f"{select_task} en dev": dataset_fingerprint(dev)}, job,
                 training=setup)
    return metrics




def train_steps_before(cfg: StudyConfig, target: str, condition: str, seed: int, start_from: str,
                       out: Path, job: Job) -> tuple[str, list[dict]]:
    """Train the target's train_before tasks in order, each from the last one's model, head
    included, choosing its checkpoint on its own English dev (XTREME's train_xcopa.sh: SIQA,
    then COPA from the SIQA model). Each step's model is kept beside the run
    (`<run>.<task>.checkpoints/model`), so a run stopped later does not train it again.
    Returns the model the target's own training starts from, and a record per step."""
    import json

    from study.io import atomic_dir, atomic_write_json
    from study.registry import TASKS
    from study.training import run_key_digest, train_target

    d, records = cfg.data, []
    for name in d.targets[target].train_before:
        task, work = TASKS[name], checkpoint_dir(out, name)
        key = {"stage": "phase3", "step": name, "target": target, "condition": condition, "seed": seed,
               "params": fingerprint(cfg, job), "from": start_from}
        model, record = work / "model", work / "step.json"
        marker = work / "RUN_KEY"
        if record.is_file() and marker.is_file() and marker.read_text() == run_key_digest(key):
            records.append(json.loads(record.read_text()))  # trained before this run was stopped
            start_from = str(model)
            continue
        train = load_split(name, "en", "train", d, limit=d.max_train_examples)
        dev = load_split(name, "en", "dev", d, limit=d.max_eval_examples)
        start = time.time()
        trainer = train_target(start_from, task.head, train, dev, cfg.phase3, seed, work, run_key=key,
                               labels=task.label_set)
        if trainer.is_world_process_zero():
            with atomic_dir(model) as partial:
                trainer.save_model(str(partial))
            best = trainer.state.best_model_checkpoint
            atomic_write_json(record, {
                "task": name, "examples": len(train), "steps": trainer.state.global_step,
                "chosen_step": int(Path(best).name.rsplit("-", 1)[1]) if best else trainer.state.global_step,
                "dev_en_accuracy": trainer.state.best_metric, "dev_en_n": len(dev),
                "resumed_from": trainer.resumed_from, "seconds": round(time.time() - start, 1),
                "data": {f"{name} en train": dataset_fingerprint(train),
                         f"{name} en dev": dataset_fingerprint(dev)}})
        trainer.accelerator.wait_for_everyone()  # the other processes load the saved model next
        records.append(json.loads(record.read_text()))
        start_from = str(model)
    return start_from, records
