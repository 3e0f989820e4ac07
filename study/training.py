"""Phase 2 and phase 3 with `transformers.Trainer`.

Phase 2 trains the condition's tasks (one or several, each with its own head, plus
masked LM with `phase2.mlm`) for a fixed budget, without model selection, and keeps only
the encoder (`study.multitask`). Phase 3 loads that encoder with a fresh head of the
target's type, trains on English and keeps the checkpoint best on the English dev set
only (strict zero-shot).

Both phases checkpoint every `save_steps` optimiser steps (null: once per epoch) into a
work folder that survives a failed or killed run; started again with the same
parameters, the run resumes from the last checkpoint and ends as an uninterrupted run
would (data order, learning-rate schedule and random states are restored). A work
folder left by other parameters is discarded, never resumed. TensorBoard event files
go to the run's `tensorboard/` folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np

from study.config import TrainConfig
from study.registry import NLI_LABELS, TASKS
from study.timing import timed

log = logging.getLogger(__name__)

TARGET_HEADS = ("pair_classification", "multiple_choice")


def load_target_model(path: str, head: str, labels: tuple[str, ...] | None = None):
    """Model with a head of `head` (fresh unless `path` holds one) and tokenizer."""
    from transformers import AutoModelForMultipleChoice, AutoModelForSequenceClassification, AutoTokenizer

    from study.pretrained import ModelUnavailable

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        if head == "pair_classification":
            labels = labels or NLI_LABELS
            model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={n: i for i, n in enumerate(labels)})
        elif head == "multiple_choice":
            model = AutoModelForMultipleChoice.from_pretrained(path)
        else:
            raise ValueError(f"phase 3 trains heads {list(TARGET_HEADS)}, not {head!r}")
    except OSError as exc:
        from huggingface_hub import is_offline_mode

        offline = is_offline_mode()
        raise ModelUnavailable(
            f"model {path!r} could not be loaded ({str(exc).splitlines()[0]}). "
            + ("HF_HUB_OFFLINE=1 is set and it is not in the local cache: " if offline else "")
            + "download it where the Hub is reachable (`hf download <id>`) and copy "
            "~/.cache/huggingface, or set model.name_or_path to a local folder") from None
    return model, tokenizer


def load_classifier(path: str):
    """An NLI pair classifier (fresh head unless `path` holds one) and its tokenizer."""
    return load_target_model(path, "pair_classification", NLI_LABELS)


def accuracy(eval_pred) -> dict[str, float]:
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


TRAINING_ARGUMENTS = {
    "lr": "learning_rate",
    "epochs": "num_train_epochs",
    "warmup_ratio": "warmup_steps",  # transformers 5: a float in [0, 1) is a ratio of all steps
    "weight_decay": "weight_decay",
    "eval_batch_size": "per_device_eval_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "gradient_checkpointing": "activation_checkpointing",
    "logging_steps": "logging_steps",
}
"""The one place a phase's setting (params `phase2.*` / `phase3.*`, config.TrainConfig) is
renamed: its TrainingArguments name. The params keep the short names researchers write;
`batch_size` (the global batch, whatever the number of processes), `precision`,
`group_by_length` and `save_steps` are translated by `training_arguments` itself, as
their meaning differs from any one TrainingArguments field."""


def training_arguments(t: TrainConfig, work_dir: Path, seed: int, steps_per_epoch: int,
                       select_on_dev: bool, multitask: bool = False):
    from transformers import TrainingArguments

    every = t.save_steps or steps_per_epoch
    world = _world_size()
    if not multitask and t.batch_size % world:
        raise ValueError(f"batch_size {t.batch_size} must divide by the {world} processes (the "
                         "global batch stays batch_size)")
    return TrainingArguments(
        **{name: getattr(t, setting) for setting, name in TRAINING_ARGUMENTS.items()},
        output_dir=str(work_dir), seed=seed, data_seed=seed, lr_scheduler_type="linear",
        optim="adamw_torch_fused",  # one kernel per step, not one per tensor: -26% step time, tiny model
        # The global batch is batch_size with any number of processes: phase 3 divides it,
        # phase 2's task sampler yields global batches that accelerate splits.
        per_device_train_batch_size=t.batch_size if multitask else t.batch_size // world,
        accelerator_config={"split_batches": multitask},
        bf16=precision(t.precision) == "bf16", fp16=precision(t.precision) == "fp16",
        use_cpu=not _cuda(),  # transformers refuses bf16 autocast on a CPU without it
        # similar lengths per batch (less padding), unless length gives the label away
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        save_strategy="steps", save_steps=every, save_total_limit=2,
        eval_strategy="steps" if select_on_dev else "no", eval_steps=every if select_on_dev else None,
        load_best_model_at_end=select_on_dev, metric_for_best_model="accuracy",
        report_to="none",
        disable_tqdm=os.environ.get("TQDM_DISABLE") == "1",
        dataloader_num_workers=0, dataloader_pin_memory=_cuda(),
        ddp_backend="gloo" if _world_size() > 1 and not _cuda() else None,
        ddp_find_unused_parameters=multitask,  # a batch trains one task's head only
        # Each head's loss is its batch's mean. With this on (transformers' default), the
        # Trainer multiplies the loss by the number of processes for any model whose forward
        # takes **kwargs, expecting a loss summed over the global batch: the gradients of a
        # 2-process run came out doubled (more clipping: demo_choice zero-shot 0.98 -> 0.79)
        average_tokens_across_devices=False,
        remove_unused_columns=not multitask,
    )


def precision(requested: str) -> str:
    """The precision a run can use here: fp16 needs a GPU, bf16 a GPU or CPU with bf16
    arithmetic (a CPU without it emulates bf16 tens of times slower than fp32); otherwise
    fp32, with a warning."""
    import torch

    cuda = torch.cuda.is_available()
    no_bf16 = not torch.cuda.is_bf16_supported() if cuda else not cpu_has_bf16()
    if (requested == "fp16" and not cuda) or (requested == "bf16" and no_bf16):
        log.warning("precision %s is not supported on this hardware; training in fp32", requested)
        return "fp32"
    return requested


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AVX512-BF16 or AMX), as oneDNN sees it."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def training_setup(trainer) -> dict:
    """How a run trained, for its provenance: the processes (world size), the batch each
    process takes a step and the accumulation, the effective batch of one optimizer step,
    the precision, and the devices. Multi-GPU runs can differ from one GPU's
    (transformers#6210), so a run records them."""
    import torch

    args = trainer.args
    world = args.world_size
    # phase 2 (split_batches): each step's batch is global, and accelerate splits it
    split = bool(getattr(args.accelerator_config, "split_batches", False))
    per_device = args.per_device_train_batch_size // world if split else args.per_device_train_batch_size
    cuda = torch.cuda.is_available() and not args.use_cpu
    return {"world_size": world, "per_device_batch": per_device,
            "grad_accum": args.gradient_accumulation_steps,
            "effective_batch": per_device * world * args.gradient_accumulation_steps,
            "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
            "device": torch.cuda.get_device_name() if cuda else cpu_name(),
            "device_count": torch.cuda.device_count() if cuda else 1}


def cpu_name() -> str:
    """This machine's CPU model (/proc/cpuinfo's model name; platform's elsewhere)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def run_key_digest(run_key: dict) -> str:
    """What a work folder's RUN_KEY file holds: the hash of the parameters it trains with."""
    return hashlib.sha256(json.dumps(run_key, sort_keys=True, default=str).encode()).hexdigest()


def resume_point(work_dir: Path, run_key: dict) -> str | None:
    """The last checkpoint in `work_dir` if it was written for the same `run_key`, else None.

    A work folder of other parameters is emptied: resuming it would mix two runs.
    """
    key = run_key_digest(run_key)
    marker = work_dir / "RUN_KEY"
    if work_dir.is_dir() and (not marker.is_file() or marker.read_text() != key):
        log.warning("%s holds checkpoints of other parameters; starting afresh", work_dir)
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(key)
    from study.multitask import checkpoints, complete

    for ckpt in reversed(checkpoints(work_dir)):  # the last one written to the end
        if not complete(ckpt):
            log.warning("%s is incomplete (the run was stopped while saving it); removed", ckpt)
            shutil.rmtree(ckpt)
            continue
        log.warning("resuming from %s", ckpt)
        return str(ckpt)
    return None


def _callbacks(t: TrainConfig, tensorboard_dir: Path | None, select_on_dev: bool) -> list:
    from transformers import EarlyStoppingCallback

    callbacks = []
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        callbacks.append(TensorBoardCallback(SummaryWriter(log_dir=str(tensorboard_dir))))
    if select_on_dev and t.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    return callbacks


def train_target(model_path: str, head: str, train_ds, dev_ds, t: TrainConfig, seed: int,
                 work_dir: Path, run_key: dict, labels: tuple[str, ...] | None = None,
                 tensorboard_dir: Path | None = None, callbacks: tuple = ()):
    """Phase 3: fine-tune from `model_path` with a fresh `head`; with `dev_ds`, keep the
    checkpoint best on it. Returns the Trainer (its model is the kept one)."""
    from transformers import set_seed

    from study.features import collator, tokenize
    from study.multitask import CheckedTrainer

    set_seed(seed)  # the fresh head's initialisation depends on it
    model, tokenizer = load_target_model(model_path, head, labels)
    if t.freeze_embeddings:
        freeze_word_embeddings(model)
    train = tokenize(train_ds, tokenizer, head, t.max_length, t.stride)
    steps = math.ceil(len(train) / (t.batch_size * t.grad_accum))
    args = training_arguments(t, work_dir, seed, steps, select_on_dev=dev_ds is not None)
    with args.main_process_first(local=False):  # the main process cleans the folder first
        resume = resume_point(work_dir, run_key)
    trainer = CheckedTrainer(
        model=model, args=args,
        train_dataset=train,
        eval_dataset=tokenize(dev_ds, tokenizer, head, t.max_length, t.stride, train=False)
        if dev_ds is not None else None,
        data_collator=collator(head, tokenizer), processing_class=tokenizer,
        compute_metrics=accuracy, callbacks=[*_callbacks(t, tensorboard_dir, dev_ds is not None), *callbacks],
    )
    with timed("train"):
        trainer.train(resume_from_checkpoint=resume)
    trainer.resumed_from = Path(resume).name if resume else None
    return trainer


def freeze_word_embeddings(model) -> None:
    """Keep the encoder's word embeddings as they are (every other weight trains): the
    vocabulary of languages the phase does not see stays where its translations are.
    A masked-LM head tied to them is frozen with them."""
    found = [m for name, m in model.named_modules() if name.endswith("embeddings.word_embeddings")]
    if not found:
        raise ValueError(f"{type(model).__name__} has no embeddings.word_embeddings to freeze")
    for module in found:
        module.weight.requires_grad_(False)


def phase2_tasks(sets: dict, mlm: bool) -> dict[str, str]:
    """Task -> head for a condition's phase-2 sets (masked LM added with `mlm`)."""
    from study.multitask import MLM

    heads = {task: TASKS[task].head for task in sets}
    return {**heads, MLM: "mlm"} if mlm else heads


def mlm_texts(sets: dict):
    """One text per phase-2 example (all its text fields): the masked-LM task's data, so
    it adds as many examples as the budget, whatever the condition."""
    from datasets import concatenate_datasets

    def texts(ds):
        cols = [c for c in ("premise", "hypothesis", "question", "context") if c in ds.column_names]
        return ds.map(lambda b: {"text": [" ".join(x for x in parts if x) for parts in
                                          zip(*(b[c] for c in cols), strict=True)]},
                      batched=True, remove_columns=ds.column_names, desc="mlm text")

    return concatenate_datasets([texts(ds) for ds in sets.values()])


def train_phase2(model_path: str, sets: dict, t: TrainConfig, seed: int, work_dir: Path,
                 run_key: dict, tensorboard_dir: Path | None = None):
    """Phase 2 on a condition's sets (task -> canonical Dataset): shared encoder, a head per
    task, batches drawn by `t.task_sampler`. Returns the Trainer; save with `save_encoder`."""
    from transformers import AutoTokenizer, set_seed

    from study.features import collator, tokenize
    from study.multitask import (
        MLM,
        MultiTaskTrainer,
        TaggedDataset,
        TaskBatchSampler,
        TaskCollator,
        build_model,
        task_probabilities,
    )

    set_seed(seed)
    heads = phase2_tasks(sets, t.mlm)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    data = {task: sets[task] for task in sets}
    if t.mlm:
        data[MLM] = mlm_texts(sets)
    tokenized = {task: tokenize(ds, tokenizer, heads[task], t.max_length, t.stride)
                 for task, ds in data.items()}
    num_labels = {task: len(TASKS[task].label_set) for task in sets if TASKS[task].label_set}
    model = build_model(model_path, heads, num_labels)
    if t.freeze_embeddings:
        freeze_word_embeddings(model)
    sizes = {task: len(ds) for task, ds in tokenized.items()}
    probabilities = task_probabilities(sizes, t.task_sampler, t.sampler_temperature)
    sampler = TaskBatchSampler(
        sizes, t.batch_size, probabilities, seed,
        lengths={task: [_length(x) for x in ds["input_ids"][:]] for task, ds in tokenized.items()}
        if t.group_by_length else None)
    steps = math.ceil(len(sampler) / t.grad_accum)
    args = training_arguments(t, work_dir, seed, steps, False, multitask=True)
    with args.main_process_first(local=False):  # the main process cleans the folder first
        resume = resume_point(work_dir, run_key)
    trainer = MultiTaskTrainer(
        model=model, args=args,
        train_dataset=TaggedDataset(tokenized), batch_sampler=sampler,
        data_collator=TaskCollator({task: collator(heads[task], tokenizer, seed=seed,
                                                   mlm_probability=t.mlm_probability)
                                    for task in tokenized}),
        processing_class=tokenizer, callbacks=_callbacks(t, tensorboard_dir, False),
    )
    with timed("train"):
        trainer.train(resume_from_checkpoint=resume)
    trainer.resumed_from = Path(resume).name if resume else None
    trainer.task_sizes = sizes
    trainer.task_probabilities = probabilities
    return trainer


def _length(ids) -> int:
    return sum(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids)


def save_encoder(trainer, out_dir: Path) -> Path:
    """Keep the phase-2 encoder and tokenizer; every head is thrown away."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    encoder = model.encoder if hasattr(model, "encoder") and hasattr(model, "heads") else model.base_model
    encoder.save_pretrained(out_dir)
    trainer.processing_class.save_pretrained(out_dir)
    return out_dir
