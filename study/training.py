"""Phase 2 and phase 3 training with `transformers.Trainer`.

Both phases fine-tune a sentence-pair classifier. Phase 2 trains for its fixed budget
(no model selection: every condition gets the same steps) and keeps only the encoder;
phase 3 loads that encoder with a fresh classification head, trains on English and
selects the best epoch on the English dev set only (strict zero-shot).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from study.config import TrainConfig
from study.registry import NLI_LABELS

HEAD = "pair_classification"  # the head this core trains so far (issue #5 adds the others)


def load_classifier(path: str):
    """Model (fresh head unless `path` holds one) and tokenizer from a folder or Hub id."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from study.pretrained import ModelUnavailable

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(NLI_LABELS),
            id2label=dict(enumerate(NLI_LABELS)), label2id={n: i for i, n in enumerate(NLI_LABELS)},
        )
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ModelUnavailable(
            f"model {path!r} could not be loaded ({str(exc).splitlines()[0]}). "
            + ("HF_HUB_OFFLINE=1 is set and it is not in the local cache: " if offline else "")
            + "download it where the Hub is reachable (`hf download <id>`) and copy "
            "~/.cache/huggingface, or set model.name_or_path to a local folder") from None
    return model, tokenizer


def accuracy(eval_pred) -> dict[str, float]:
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def training_arguments(t: TrainConfig, work_dir: Path, seed: int, select_on_dev: bool):
    from transformers import TrainingArguments

    per_epoch = "epoch" if select_on_dev else "no"
    return TrainingArguments(
        output_dir=str(work_dir), seed=seed, data_seed=seed,
        learning_rate=t.lr, num_train_epochs=t.epochs,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of all steps
        weight_decay=t.weight_decay, lr_scheduler_type="linear",
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.eval_batch_size,
        bf16=t.precision == "bf16", fp16=t.precision == "fp16",
        train_sampling_strategy="group_by_length",  # similar lengths per batch: less padding
        eval_strategy=per_epoch, save_strategy=per_epoch, save_total_limit=1,
        load_best_model_at_end=select_on_dev, metric_for_best_model="accuracy",
        logging_steps=t.logging_steps, report_to="none",
        disable_tqdm=os.environ.get("TQDM_DISABLE") == "1",
        dataloader_num_workers=0, dataloader_pin_memory=_cuda(),
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def train_pair_classifier(model_path: str, train_ds, dev_ds, t: TrainConfig, seed: int,
                          work_dir: Path):
    """Fine-tune from `model_path`; with `dev_ds`, keep the epoch best on it. Returns the Trainer."""
    from transformers import Trainer, set_seed

    from study.features import collator, tokenize

    set_seed(seed)  # the fresh head's initialisation depends on it
    model, tokenizer = load_classifier(model_path)
    trainer = Trainer(
        model=model,
        args=training_arguments(t, work_dir, seed, select_on_dev=dev_ds is not None),
        train_dataset=tokenize(train_ds, tokenizer, HEAD, t.max_length, t.stride),
        eval_dataset=tokenize(dev_ds, tokenizer, HEAD, t.max_length, t.stride, train=False)
        if dev_ds is not None else None,
        data_collator=collator(HEAD, tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy,
    )
    trainer.train()
    return trainer


def save_encoder(trainer, out_dir: Path) -> Path:
    """Keep the phase-2 encoder and tokenizer; the classification head is thrown away."""
    trainer.model.base_model.save_pretrained(out_dir)
    trainer.processing_class.save_pretrained(out_dir)
    return out_dir
