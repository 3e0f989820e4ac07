"""The oracle beside model selection: the checkpoint each target language's own dev set
would have chosen, and its test accuracy.

Zero-shot transfer chooses phase 3's checkpoint on English dev. Keung et al. (2020, "Don't
Use English Dev: On the Zero-Shot Cross-Lingual Evaluation of Contextual Embeddings")
found English dev accuracy often uncorrelated with target-language accuracy, and
recommend reporting beside it the score of the checkpoint chosen on the target language's
dev: an upper bound of what model selection could give, and not zero-shot (it uses
target-language labels).

During training, at every `oracle_every`-th English-dev check (`OracleCallback`), the
model predicts every non-English dev set of the target and of the tasks evaluated with
it; where a language's dev accuracy is the best so far, its test set too. The checks go
into the Trainer's log history, so a resumed run keeps those before its checkpoint. After
training, the English choice itself is one more candidate (`choose`), so the oracle's
target-language dev accuracy is never below the English choice's.
"""

from __future__ import annotations

import numpy as np

from study.registry import TASKS


def oracle_sets(cfg, target: str) -> list[tuple[str, str]]:
    """(task, language) pairs the oracle covers: every non-English language with a dev and
    a test split among the target's and its also_evaluate tasks' (not extractive QA)."""
    return [(task, lang) for task, langs in cfg.data.evaluated(target) for lang in langs
            if lang != "en" and {"dev", "test"} <= set(TASKS[task].splits)
            and TASKS[task].head != "extractive_qa"]


def make_callback(cfg, target: str):
    """The Trainer callback that runs the oracle's checks of a phase-3 run of `target`, or
    None (phase3.oracle_every 0, or nothing to cover)."""
    from transformers import TrainerCallback

    from study.data import load_split
    from study.evaluation import predict

    every, p3 = cfg.phase3.oracle_every, cfg.phase3
    pairs = oracle_sets(cfg, target)
    if not every or not pairs:
        return None
    limit = cfg.data.max_eval_examples
    sets = {(task, lang): {split: load_split(task, lang, split, cfg.data, limit=limit)
                           for split in ("dev", "test")} for task, lang in pairs}

    def accuracy(model, tokenizer, task: str, ds) -> float:
        pred = predict(model, tokenizer, ds, TASKS[task].head, p3.eval_batch_size, p3.max_length,
                       p3.precision)
        return float((pred == np.asarray(ds["label"][:])).mean())

    class OracleCallback(TrainerCallback):
        def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
            checks = sum("eval_accuracy" in r for r in state.log_history)
            if checks % every or not state.is_world_process_zero:
                return
            best = best_so_far(state.log_history)
            was_training = model.training
            found: dict = {}
            for (task, lang), splits in sets.items():
                dev = accuracy(model, processing_class, task, splits["dev"])
                entry = {"dev": dev}
                if dev > best.get((task, lang), {}).get("dev", -1.0):  # only then can it be chosen
                    entry["test"] = accuracy(model, processing_class, task, splits["test"])
                found.setdefault(task, {})[lang] = entry
            model.train(was_training)
            state.log_history.append({"step": state.global_step, "oracle": found})

    return OracleCallback()


def best_so_far(log_history: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (task, language), the check with the best dev accuracy so far (the earliest of
    equals), with its step and test accuracy."""
    best: dict[tuple[str, str], dict] = {}
    for record in log_history:
        for task, langs in record.get("oracle", {}).items():
            for lang, entry in langs.items():
                if entry["dev"] > best.get((task, lang), {}).get("dev", -1.0):
                    best[task, lang] = {**entry, "step": record["step"]}
    return best


def choose(log_history: list[dict], evaluation: dict, chosen_step: int | None) -> dict:
    """{task: {lang: ...}}: the checkpoint the language's dev chooses among the oracle's
    checks and the English choice (which wins ties), its test accuracy, the English
    choice's, and the gap in points (oracle - English choice)."""
    best = best_so_far(log_history)
    out: dict = {}
    for (task, lang), check in sorted(best.items()):
        english = {split: evaluation[task][split][lang]["accuracy"] for split in ("dev", "test")}
        pick = check if check["dev"] > english["dev"] else {**english, "step": chosen_step}
        out.setdefault(task, {})[lang] = {
            "step": pick["step"], "dev": pick["dev"], "test": pick["test"],
            "english_choice_step": chosen_step, "english_choice_dev": english["dev"],
            "english_choice_test": english["test"], "gap": 100 * (pick["test"] - english["test"])}
    return out
