"""Phase-2 multi-task training: one shared encoder, one head per task, a task sampler.

What `transformers.Trainer` does (optimiser, schedule, mixed precision, accumulation,
checkpoints, distributed data parallel) stays with it; this module adds what it lacks:

- `MultiTaskModel`: the encoder (`AutoModel`, with pooler) and per-task heads taken from
  the matching `AutoModelFor*` classes: sequence classification, multiple choice,
  extractive QA and masked LM (whose decoder reuses the encoder's word embeddings, as
  XLM-R ties them). `forward(task=..., **batch)` returns the task's loss and logits.
- `TaskBatchSampler`: every batch holds one task; which task comes next is drawn from
  the sampler's probabilities (proportional to size, size ** (1 / T), or uniform) with
  a generator seeded by (seed, epoch), so a resumed run sees the same batches. Within a
  task, examples are shuffled and grouped by length (less padding), and a task that
  runs out starts a new pass.
- `MultiTaskTrainer`: feeds those batches, logs each task's mean loss, and stops on a
  non-finite loss naming the step, task and examples.

One phase-2 "epoch" is as many batches as the tasks have examples in all, divided by
the batch size, so a single task trains exactly as many steps as a plain Trainer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, sort_checkpoints


def checkpoints(folder: Path) -> list[Path]:
    """The Trainer's checkpoints in `folder`, oldest step first (transformers' own order)."""
    return [Path(c) for c in sort_checkpoints(str(folder))] if folder.is_dir() else []


def complete(checkpoint: Path) -> bool:
    """Whether a checkpoint was written to the end: the Trainer writes trainer_state.json
    last, so a checkpoint without a readable one was cut off."""
    import json

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True

SAMPLERS = ("proportional", "temperature", "uniform")
MLM = "mlm"  # the auxiliary masked-LM task's name


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite; the run stops and is not marked done."""


def task_probabilities(sizes: dict[str, int], kind: str, temperature: float = 1.0) -> dict[str, float]:
    """How often each task is drawn: by size, by size ** (1 / T), or uniformly."""
    if kind not in SAMPLERS:
        raise ValueError(f"task sampler {kind!r}; accepted: {list(SAMPLERS)}")
    power = {"proportional": 1.0, "temperature": 1.0 / temperature, "uniform": 0.0}[kind]
    weights = {t: float(n) ** power for t, n in sizes.items()}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


class TaskBatchSampler(torch.utils.data.Sampler):
    """Batches of indices into the concatenation of the tasks' datasets, one task each."""

    def __init__(self, sizes: dict[str, int], batch_size: int, probabilities: dict[str, float],
                 seed: int, lengths: dict[str, list[int]] | None = None):
        self.tasks = list(sizes)
        self.sizes, self.batch_size, self.seed = sizes, batch_size, seed
        self.p = np.array([probabilities[t] for t in self.tasks])
        self.offsets = dict(zip(self.tasks, np.cumsum([0, *sizes.values()])[:-1].tolist(), strict=True))
        self.lengths = lengths or {}
        self.epoch = 0
        self.drop_last = False
        self.sampler = _EpochRelay(self)  # accelerate sets epochs through `.sampler` when sharding

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(sum(self.sizes.values()) / self.batch_size)

    def _order(self, task: str, rng: np.random.Generator) -> list[int]:
        order = rng.permutation(self.sizes[task])
        lengths = self.lengths.get(task)
        if lengths is None:
            return order.tolist()
        mega = 50 * self.batch_size  # as transformers' LengthGroupedSampler: sort within chunks
        return [int(i) for start in range(0, len(order), mega)
                for i in sorted(order[start:start + mega], key=lambda j: -lengths[j])]

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        choice = rng.choice(len(self.tasks), size=len(self), p=self.p)
        orders = {t: self._order(t, rng) for t in self.tasks}
        position = dict.fromkeys(self.tasks, 0)
        for k in choice:
            task = self.tasks[k]
            if position[task] + self.batch_size > len(orders[task]) and position[task] > 0:
                orders[task], position[task] = self._order(task, rng), 0  # a new pass
            batch = orders[task][position[task]:position[task] + self.batch_size]
            position[task] += len(batch)
            yield [self.offsets[task] + i for i in batch]


class _EpochRelay:
    def __init__(self, owner: TaskBatchSampler):
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class TaggedDataset(torch.utils.data.Dataset):
    """The tasks' tokenized datasets end to end; each item says its task and index."""

    def __init__(self, datasets: dict):
        self.datasets = datasets
        self.tasks = list(datasets)
        self.ends = np.cumsum([len(d) for d in datasets.values()]).tolist()

    def __len__(self) -> int:
        return self.ends[-1]

    def __getitem__(self, index: int) -> dict:
        k = int(np.searchsorted(self.ends, index, side="right"))
        local = index - (self.ends[k - 1] if k else 0)
        return {**self.datasets[self.tasks[k]][local], "task": self.tasks[k], "example_index": local}

    def __getitems__(self, indices: list[int]) -> list[dict]:
        """A batch of one task (what TaskBatchSampler yields) in one read of its dataset:
        the same items as `__getitem__` one by one, without a row-by-row read."""
        ks = np.searchsorted(self.ends, indices, side="right")
        if len(set(ks.tolist())) != 1:
            return [self[int(i)] for i in indices]
        k = int(ks[0])
        task, start = self.tasks[k], (self.ends[k - 1] if k else 0)
        local = [int(i) - start for i in indices]
        columns = self.datasets[task][local]
        return [{**{c: v[j] for c, v in columns.items()}, "task": task, "example_index": i}
                for j, i in enumerate(local)]


class TaskCollator:
    """Pads a one-task batch with that task's collator; keeps the task name and indices."""

    def __init__(self, collators: dict):
        self.collators = collators

    def __call__(self, features: list[dict]) -> dict:
        task = features[0]["task"]
        indices = [f.pop("example_index") for f in features]
        for f in features:
            f.pop("task")
        collate = self.collators[task]
        batch = dict(collate(features, indices) if getattr(collate, "wants_indices", False)
                     else collate(features))
        batch["task"] = task
        batch["example_index"] = torch.tensor(indices)
        return batch


class MultiTaskModel(nn.Module):
    accepts_loss_kwargs = False  # Trainer must not pass num_items_in_batch to forward

    def __init__(self, encoder, heads: dict[str, str], head_modules: nn.ModuleDict):
        super().__init__()
        self.encoder = encoder
        self.head_types = heads  # task -> head type
        self.heads = head_modules
        self.config = encoder.config

    def forward(self, task: str, labels=None, start_positions=None, end_positions=None, **enc):
        head, parts = self.head_types[task], self.heads[task]
        if head == "multiple_choice":
            n_choices = enc["input_ids"].shape[1]
            enc = {k: v.reshape(-1, v.shape[-1]) for k, v in enc.items()}
            pooled = self.encoder(**enc).pooler_output
            logits = parts["classifier"](parts["dropout"](pooled)).view(-1, n_choices)
            return {"loss": F.cross_entropy(logits, labels) if labels is not None else None,
                    "logits": logits}
        hidden = self.encoder(**enc).last_hidden_state
        if head == "pair_classification":
            logits = parts["classifier"](hidden)
            return {"loss": F.cross_entropy(logits, labels) if labels is not None else None,
                    "logits": logits}
        if head == "extractive_qa":
            start, end = parts["qa_outputs"](hidden).split(1, dim=-1)
            start, end = start.squeeze(-1), end.squeeze(-1)
            loss = None
            if start_positions is not None:
                n = start.shape[1]
                loss = (F.cross_entropy(start, start_positions.clamp(0, n - 1))
                        + F.cross_entropy(end, end_positions.clamp(0, n - 1))) / 2
            return {"loss": loss, "start_logits": start, "end_logits": end}
        lm = parts["lm_head"]  # masked LM: decoder tied to the word embeddings
        x = lm.layer_norm(F.gelu(lm.dense(hidden)))
        logits = F.linear(x, self.encoder.get_input_embeddings().weight, lm.bias)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        return {"loss": loss, "logits": logits}


HEAD_CLASSES = {
    "pair_classification": ("AutoModelForSequenceClassification", ("classifier",)),
    "multiple_choice": ("AutoModelForMultipleChoice", ("dropout", "classifier")),
    "extractive_qa": ("AutoModelForQuestionAnswering", ("qa_outputs",)),
    "mlm": ("AutoModelForMaskedLM", ("lm_head",)),
}


def build_model(path: str, heads: dict[str, str], num_labels: dict[str, int]) -> MultiTaskModel:
    """The encoder from `path` and a head per task: fresh, except masked LM, whose head is
    the pretrained one where `path` has it (XLM-R checkpoints do)."""
    import transformers
    from transformers import AutoConfig, AutoModel

    encoder = AutoModel.from_pretrained(path, add_pooling_layer=True)
    modules = nn.ModuleDict()
    for task, head in heads.items():
        cls_name, parts = HEAD_CLASSES[head]
        cls = getattr(transformers, cls_name)
        if head == "mlm":
            full = cls.from_pretrained(path)
        else:
            config = AutoConfig.from_pretrained(path, num_labels=num_labels.get(task, 2))
            full = cls.from_config(config)
        part_modules = {name: getattr(full, name) for name in parts}
        if head == "mlm":
            del part_modules["lm_head"].decoder  # its weight is the encoder's embeddings
        modules[task] = nn.ModuleDict(part_modules)
    return MultiTaskModel(encoder, heads, modules)


class CheckedTrainer(Trainer):
    """Trainer that stops on a non-finite loss, naming the step, task and examples, and on a
    full disk while checkpointing, naming the checkpoint and the last good one it keeps."""

    def _save_checkpoint(self, model, trial):
        import errno

        from study.io import DiskFull

        try:
            return super()._save_checkpoint(model, trial)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or isinstance(exc, DiskFull):
                raise
            out = Path(self.args.output_dir)
            writing = out / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            good = [c for c in checkpoints(out) if c != writing and complete(c)]
            kept = (f"The last complete checkpoint, {good[-1].name}, is kept: run again to resume "
                    "from it (the cut-off one is removed then)" if good else
                    "No earlier checkpoint exists: the run starts again from the beginning")
            raise DiskFull(writing, exc, kept) from None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        task = inputs.get("task", "-")
        indices = inputs.pop("example_index", None)
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = result[0] if return_outputs else result
        if not torch.isfinite(loss).all():
            where = indices.tolist() if indices is not None else "unknown"
            raise NonFiniteLoss(f"non-finite loss ({loss.item()}) at step {self.state.global_step + 1}, "
                                f"task {task!r}, examples {where}; the run stops and is not marked done")
        return result


class MultiTaskTrainer(CheckedTrainer):
    """Batches from `TaskBatchSampler`; each task's mean loss added to every log line."""

    def __init__(self, *args, batch_sampler: TaskBatchSampler, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sampler = batch_sampler
        self._task_loss = defaultdict(float)  # since the last log line
        self._task_steps = defaultdict(int)
        self._run_loss = defaultdict(float)  # since this process started (or resumed)
        self._run_steps = defaultdict(int)

    def get_train_dataloader(self):
        loader = torch.utils.data.DataLoader(self.train_dataset, batch_sampler=self.batch_sampler,
                                             collate_fn=self.data_collator, num_workers=0)
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        task = inputs["task"]
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            loss = result[0] if return_outputs else result
            value = float(loss.detach())
            for total, count in ((self._task_loss, self._task_steps), (self._run_loss, self._run_steps)):
                total[task] += value
                count[task] += 1
        return result

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:
            for task, total in self._task_loss.items():
                logs[f"loss_{task}"] = round(total / self._task_steps[task], 4)
                logs[f"batches_{task}"] = self._task_steps[task]
            self._task_loss.clear()
            self._task_steps.clear()
        if "train_loss" in logs:  # the end of training: each task's mean over the run
            for task, total in self._run_loss.items():
                logs[f"train_loss_{task}"] = round(total / self._run_steps[task], 4)
                logs[f"train_batches_{task}"] = self._run_steps[task]
        super().log(logs, *args, **kwargs)
