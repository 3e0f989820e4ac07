"""Stage 02: intermediate-task training (phase 2) of one condition."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from study import typology
from study.conditions import ConditionId
from study.config import StudyConfig, phase2_training_seed, replicate_seed
from study.data import repairs
from study.fingerprints import fingerprint
from study.io import atomic_write_bytes
from study.jobgraph import Job, slice_of
from study.leakage import evaluation_keys
from study.pipeline import checkpoint_dir, write_record
from study.provenance import dataset_fingerprint
from study.selection import build_phase2_set, candidate_pool, plan_phase2


def phase2_sets(cfg: StudyConfig, condition: str, seed: int | None = None) -> dict:
    """The condition's phase-2 sets (task -> Dataset), built as the data-selection stage
    builds them: same parameters, same examples (the report checks their fingerprints),
    drawn with `seed` where each encoder draws its own (phase2_seed_policy per_seed).
    Only this condition's inputs are read, so the job depends on nothing else."""
    view, kind, _ = slice_of(cfg, condition)  # its family's slice of a several-family study
    cid = ConditionId.parse(kind)
    one = view.model_copy(update={"conditions": (cid.kind,)})
    dist = None
    if cid.facts.choose in ("diverse", "similar"):
        pool = list(candidate_pool(view)[0])
        dist = typology.distance_matrix(sorted({"en", *pool}), view.selection.feature_sets,
                                        dict(view.selection.uriel_codes))
    plan = plan_phase2(one, dist)
    sets, _ = build_phase2_set(view, plan, kind, evaluation_keys(view), seed=seed)
    return sets


def run_phase2(cfg: StudyConfig, condition: str, out: Path, seed: int | None = None) -> dict:
    """Train the condition's encoder: with `seed` (phase2_seed_policy per_seed) the one for
    phase-3 seed `seed`, trained with a seed derived from it (`phase2_training_seed`); else
    the one every phase-3 seed shares."""
    import io

    from study.timing import import_frameworks

    import_frameworks()
    from study.pretrained import ensure_base_model
    from study.training import phase2_tasks, save_encoder, train_phase2, training_setup

    sets = phase2_sets(cfg, condition, seed)
    for task, ds in sets.items():  # the data this encoder saw, next to it
        buffer = io.BytesIO()
        ds.to_json(buffer, force_ascii=False)
        atomic_write_bytes(out / "data" / f"{task}.jsonl", buffer.getvalue())
    if (seed is not None) != (cfg.phase2_seed_policy == "per_seed"):
        raise ValueError(f"{cfg.source_file}: phase2_seed_policy is {cfg.phase2_seed_policy!r}: "
                         + ("give the phase-3 seed this encoder is for" if seed is None else
                            f"one encoder serves every seed; run it without seed (got {seed})"))
    job = Job("phase2", condition=condition, seed=seed)
    # a replicate (negative control) trains with its own seed as it draws its own data;
    # no phase-3 run is seeded like this training
    study_seed = cfg.phase2_seed if seed is None else seed
    training_seed = phase2_training_seed(condition, study_seed)
    work = checkpoint_dir(out)
    start = time.time()
    trainer = train_phase2(ensure_base_model(cfg), sets, cfg.phase2, training_seed, work,
                           run_key={"stage": "phase2", "condition": condition, "seed": training_seed,
                                    "params": fingerprint(cfg, job)},
                           tensorboard_dir=out / "tensorboard")
    if not trainer.is_world_process_zero():  # distributed: one process writes the outputs
        return {}
    save_encoder(trainer, out / "encoder")
    shutil.rmtree(work, ignore_errors=True)
    setup = training_setup(trainer)
    metrics = {
        "stage": "phase2", "condition": condition, "seed": replicate_seed(condition, study_seed),
        "training_seed": training_seed,
        "seed_policy": cfg.phase2_seed_policy, "processes": trainer.args.world_size,
        "precision": setup["precision"],
        "examples": sum(len(ds) for ds in sets.values()),
        "tasks": phase2_tasks(sets, cfg.phase2.mlm), "task_examples": trainer.task_sizes,
        "task_sampler": {"kind": cfg.phase2.task_sampler, "temperature": cfg.phase2.sampler_temperature
                         if cfg.phase2.task_sampler == "temperature" else None,
                         "probabilities": trainer.task_probabilities},
        "languages": sorted({lang for ds in sets.values() for lang in ds["lang"][:]}),
        "steps": trainer.state.global_step, "resumed_from": trainer.resumed_from,
        "data_repairs": repairs(sets), "seconds": round(time.time() - start, 1),
        "log_history": trainer.state.log_history,
    }
    write_record(cfg, out, metrics, training_seed,
                 {f"{condition}/{task}": dataset_fingerprint(ds) for task, ds in sets.items()}, job,
                 training=setup)
    return metrics


