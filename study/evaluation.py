"""Zero-shot evaluation on every language of a target, and prediction exports.

A target's phase-3 model is evaluated on the dev and test sets of every language of the
target and of the tasks evaluated with it (AmericasNLI with the XNLI model). Predictions
are written per task, split and language (`predictions/{task}/{split}-{lang}.jsonl`:
index, gold and predicted label, a label name or a choice index) and, for test, in the
XTREME submission layout: `xtreme/xnli/test-{lang}.tsv` (one label string per line) and
`xtreme/xcopa/test-{lang}.jsonl` (one {"label": 0|1} per line), in test-set order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from study.config import StudyConfig
from study.data import load_split
from study.io import atomic_write_text
from study.registry import TASKS, TaskSpec
from study.timing import timed


def predict(model, tokenizer, ds, head: str, batch_size: int, max_length: int,
            precision: str = "fp32") -> np.ndarray:
    """Predicted label (or choice) ids in the dataset's order: batches of similar length,
    padded per batch, no gradient; with `precision` bf16, under bf16 autocast (as the
    model was trained)."""
    import contextlib

    import torch

    from study.features import collator, tokenize
    from study.training import precision as usable

    features = tokenize(ds, tokenizer, head, max_length, train=False)
    columns = {k: features[k][:] for k in features.column_names}  # lists, read once
    ids = columns["input_ids"]
    lengths = [max(map(len, x)) if head == "multiple_choice" else len(x) for x in ids]
    order = np.argsort(lengths, kind="stable")
    collate = collator(head, tokenizer)
    preds = np.empty(len(ids), dtype=np.int64)
    model.eval()
    autocast = torch.autocast(model.device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[
        usable(precision)]) if usable(precision) != "fp32" else contextlib.nullcontext()
    with timed("evaluate"), torch.inference_mode(), autocast:
        for start in tqdm(range(0, len(order), batch_size), desc="predict", leave=False):
            idx = order[start:start + batch_size]
            batch = collate([{k: v[i] for k, v in columns.items()} for i in idx])
            batch = {k: v.to(model.device) for k, v in batch.items() if k != "labels"}
            preds[idx] = model(**batch).logits.argmax(-1).cpu().numpy()
    return preds


def label_names(task: TaskSpec, ds) -> list[str]:
    """What a prediction file writes for label id i: the label name, or the choice index."""
    if task.head == "multiple_choice":
        return [str(i) for i in range(max(map(len, ds["choices"][:]), default=0))]
    return list(task.label_set)


def evaluate_target(model, tokenizer, cfg: StudyConfig, target: str, run_dir: Path) -> dict:
    """{task: {split: {lang: accuracy, n, gold and predicted counts per class}}} for the
    target and the tasks evaluated with its model; predictions written to run_dir."""
    results: dict = {}
    jobs = [(name, split, lang) for name, langs in cfg.data.evaluated(target)
            for split in ("dev", "test") if split in TASKS[name].splits for lang in langs]
    for name, split, lang in tqdm(jobs, desc=f"evaluate ({target} model)"):
        task = TASKS[name]
        ds = load_split(task, lang, split, cfg.data, limit=cfg.data.max_eval_examples)
        pred = predict(model, tokenizer, ds, task.head, cfg.phase3.eval_batch_size,
                       cfg.phase3.max_length, cfg.phase3.precision)
        gold = np.asarray(ds["label"][:])
        names = label_names(task, ds)
        results.setdefault(name, {}).setdefault(split, {})[lang] = {
            "accuracy": float((pred == gold).mean()), "n": int(len(gold)),
            "predicted_counts": _counts(pred, names), "gold_counts": _counts(gold, names)}
        write_predictions(run_dir, name, split, lang, gold, pred, names)
        if split == "test" and task.xtreme_name:
            export_xtreme(run_dir, task, lang, pred, names)
    return results


def _counts(ids: np.ndarray, names: list[str]) -> dict[str, int]:
    return {name: int((ids == i).sum()) for i, name in enumerate(names)}


def prediction_file(run_dir: Path, task: str, split: str, lang: str) -> Path:
    return Path(run_dir) / "predictions" / task / f"{split}-{lang}.jsonl"


def write_predictions(run_dir: Path, task: str, split: str, lang: str, gold, pred,
                      names: list[str]) -> Path:
    lines = (json.dumps({"index": i, "gold": names[g], "pred": names[p]}) + "\n"
             for i, (g, p) in enumerate(zip(gold, pred, strict=True)))
    return atomic_write_text(prediction_file(run_dir, task, split, lang), "".join(lines))


def export_xtreme(run_dir: Path, task: TaskSpec, lang: str, pred, names: list[str]) -> Path:
    """XTREME submission file, in test-set order: xnli/test-{lang}.tsv holds one label string
    per line, xcopa/test-{lang}.jsonl one {"label": i} per line."""
    folder = Path(run_dir) / "xtreme" / task.xtreme_name
    if task.head == "multiple_choice":
        text = "".join(json.dumps({"label": int(p)}) + "\n" for p in pred)
        return atomic_write_text(folder / f"test-{lang}.jsonl", text)
    return atomic_write_text(folder / f"test-{lang}.tsv", "".join(names[p] + "\n" for p in pred))


def qa_answers(features, start_logits: np.ndarray, end_logits: np.ndarray, contexts: dict[str, str],
               max_answer_length: int = 30, n_best: int = 20) -> dict[str, str]:
    """Extractive-QA post-processing: the best span per example over all its windows.

    `features` are the evaluation windows of `study.features.tokenize(..., train=False)`
    (example_id, offset_mapping with None outside the context). For each window the
    `n_best` start and end tokens are paired; spans inside the context, in order and at
    most `max_answer_length` tokens long are scored by start + end logit, and the best
    over the example's windows gives the answer text (empty if none is valid).
    """
    best: dict[str, tuple[float, str]] = {}
    for i, feature in enumerate(features):
        qid, offsets = feature["example_id"], feature["offset_mapping"]
        context = contexts[qid]
        starts = np.argsort(start_logits[i])[::-1][:n_best]
        ends = np.argsort(end_logits[i])[::-1][:n_best]
        for s in starts:
            for e in ends:
                if (s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None
                        or e < s or e - s + 1 > max_answer_length):
                    continue
                score = float(start_logits[i][s] + end_logits[i][e])
                if qid not in best or score > best[qid][0]:
                    best[qid] = (score, context[offsets[s][0]:offsets[e][1]])
    return {qid: best.get(qid, (0.0, ""))[1] for qid in contexts}


def squad_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """Exact match and token F1 (percent) as the official SQuAD v1.1 script computes them:
    lower case, no punctuation, no articles (a, an, the), whitespace collapsed; the best
    over each question's reference answers."""
    import collections
    import re
    import string

    def norm(text: str) -> str:
        text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())

    def f1(pred: str, gold: str) -> float:
        p, g = norm(pred).split(), norm(gold).split()
        common = sum((collections.Counter(p) & collections.Counter(g)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    em = [max(float(norm(predictions[q]) == norm(g)) for g in golds) for q, golds in references.items()]
    f = [max(f1(predictions[q], g) for g in golds) for q, golds in references.items()]
    return {"exact_match": 100 * float(np.mean(em)), "f1": 100 * float(np.mean(f)), "n": len(references)}
