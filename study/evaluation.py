"""Zero-shot evaluation on every language of the target, and prediction exports.

Predictions are written per language (`predictions/{split}-{lang}.jsonl`: index, gold,
predicted label names) and, for test, in the XTREME submission layout
(`xtreme/xnli/test-{lang}.tsv`: one label string per line, in test-set order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from study.config import StudyConfig
from study.data import load_split
from study.io import atomic_write_text
from study.registry import NLI_LABELS, TASKS


def predict(model, tokenizer, ds, batch_size: int, max_length: int) -> np.ndarray:
    """Predicted label ids in the dataset's order; batches of similar length, no gradient."""
    import torch

    from study.features import tokenize

    ids = tokenize(ds, tokenizer, "pair_classification", max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    preds = np.empty(len(ids), dtype=np.int64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(model.device) for k, v in batch.items()}
            preds[idx] = model(**batch).logits.argmax(-1).cpu().numpy()
    return preds


def evaluate_target(model, tokenizer, cfg: StudyConfig, split: str, run_dir: Path) -> dict:
    """Accuracy per language of the target task's `split`; predictions written to run_dir."""
    task = TASKS[cfg.data.target]
    results = {}
    for lang in tqdm(cfg.data.eval_languages(), desc=f"evaluate {task.name} {split}"):
        ds = load_split(task, lang, split, cfg.data, limit=cfg.data.max_eval_examples)
        pred = predict(model, tokenizer, ds, cfg.phase3.eval_batch_size, cfg.phase3.max_length)
        gold = np.asarray(ds["label"])
        results[lang] = {"accuracy": float((pred == gold).mean()), "n": int(len(gold)),
                         "predicted_counts": _counts(pred), "gold_counts": _counts(gold)}
        write_predictions(run_dir, split, lang, gold, pred)
        if split == "test" and task.xtreme_name:
            export_xtreme(run_dir, task.xtreme_name, lang, pred)
    return results


def _counts(ids: np.ndarray) -> dict[str, int]:
    return {name: int((ids == i).sum()) for i, name in enumerate(NLI_LABELS)}


def write_predictions(run_dir: Path, split: str, lang: str, gold, pred) -> Path:
    lines = (f'{{"index": {i}, "gold": "{NLI_LABELS[g]}", "pred": "{NLI_LABELS[p]}"}}\n'
             for i, (g, p) in enumerate(zip(gold, pred, strict=True)))
    return atomic_write_text(Path(run_dir) / "predictions" / f"{split}-{lang}.jsonl", "".join(lines))


def export_xtreme(run_dir: Path, xtreme_task: str, lang: str, pred) -> Path:
    """XTREME submission file: one label string per line, in test-set order."""
    text = "".join(NLI_LABELS[p] + "\n" for p in pred)
    return atomic_write_text(Path(run_dir) / "xtreme" / xtreme_task / f"test-{lang}.tsv", text)


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
