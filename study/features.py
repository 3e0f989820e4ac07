"""Canonical examples to model inputs, per head: `datasets.map`, batched, cached on disk.

    pair_classification  (premise, hypothesis), truncated longest-first to max_length
    multiple_choice      one (premise [+ question], choice) pair per choice, longest-first;
                         input_ids is a list of `n_choices` sequences per example
    extractive_qa        (question, context) in windows of max_length tokens that overlap
                         by `doc_stride`; the context alone is truncated. Training windows
                         carry start/end token positions (0, the <s> token, when the answer
                         is not inside the window); evaluation windows keep the example id
                         and each token's character offsets in the context (None elsewhere)

Sequences are not padded here: `collator` pads each batch to its longest sequence.

A second run does not re-tokenize: the result is cached by a fingerprint of the input
dataset, the tokenizer's content (not the Python object, whose truncation state changes
as it is used) and the settings, so a tokenizer loaded again from disk hits the cache.
"""

from __future__ import annotations

import hashlib
import json

from study.registry import Head
from study.timing import timed


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of what the tokenizer does: vocabulary, normalisation, templates, special tokens."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)  # set and reset by each call: not part of its identity
    state.pop("padding", None)
    blob = json.dumps([type(tokenizer).__name__, state, tokenizer.padding_side,
                       tokenizer.model_max_length], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def tokenize(ds, tokenizer, head: Head, max_length: int, doc_stride: int = 128,
             train: bool = True):
    """Model inputs for `ds` (canonical columns of `head`); `labels` kept where there are any."""
    settings = json.dumps({"head": head, "max_length": max_length, "doc_stride": doc_stride,
                           "train": train, "version": 1})
    fingerprint = hashlib.sha256(
        f"{ds._fingerprint}|{tokenizer_fingerprint(tokenizer)}|{settings}".encode()).hexdigest()[:32]
    if head == "pair_classification":
        def fn(b):
            return tokenizer(b["premise"], b["hypothesis"], truncation="longest_first",
                             max_length=max_length)
        keep = ["label"]
    elif head == "multiple_choice":
        def fn(b):
            return _choices(b, tokenizer, max_length)
        keep = ["label"]
    elif head == "mlm":
        def fn(b):
            return tokenizer(b["text"], truncation=True, max_length=max_length,
                             return_special_tokens_mask=True)
        keep = []
    elif head == "extractive_qa":
        def fn(b):
            return _qa_windows(b, tokenizer, max_length, doc_stride, train)
        keep = []
    else:
        raise ValueError(f"head {head!r}; accepted: pair_classification, multiple_choice, extractive_qa")
    with timed("tokenize"):
        out = ds.map(fn, batched=True, remove_columns=[c for c in ds.column_names if c not in keep],
                     new_fingerprint=fingerprint, desc=f"tokenize ({head})")
    return out.rename_column("label", "labels") if "label" in out.column_names else out


def _choices(b, tokenizer, max_length: int) -> dict:
    firsts, seconds, sizes = [], [], []
    for premise, question, choices in zip(b["premise"], b["question"], b["choices"], strict=True):
        first = f"{premise} {question}".strip()
        firsts += [first] * len(choices)
        seconds += list(choices)
        sizes.append(len(choices))
    enc = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)
    out: dict[str, list] = {key: [] for key in enc}
    start = 0
    for n in sizes:
        for key, values in enc.items():
            out[key].append(values[start:start + n])
        start += n
    return out


def _qa_windows(b, tokenizer, max_length: int, doc_stride: int, train: bool) -> dict:
    if tokenizer.padding_side != "right":
        raise ValueError("extractive QA windows assume a right-padding tokenizer (question first)")
    questions = [q.lstrip() for q in b["question"]]  # leading spaces waste the window
    longest = max(len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"])
    room = max_length - longest - tokenizer.num_special_tokens_to_add(pair=True)
    if doc_stride >= room:
        raise ValueError(f"QA windows of max_length {max_length} leave {room} context tokens beside a "
                         f"question of {longest} tokens, not more than doc_stride {doc_stride}; raise "
                         "max_length or lower doc_stride")
    enc = tokenizer(questions, b["context"], truncation="only_second", max_length=max_length,
                    stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    example_of = enc.pop("overflow_to_sample_mapping")
    offsets = enc.pop("offset_mapping")
    if not train:
        enc["example_id"] = [b["id"][i] for i in example_of]
        enc["offset_mapping"] = [
            [off if seq == 1 else None for off, seq in zip(window, enc.sequence_ids(w), strict=True)]
            for w, window in enumerate(offsets)]
        return dict(enc)
    starts, ends = [], []
    for w, window in enumerate(offsets):
        answers = b["answers"][example_of[w]]
        first = answers["answer_start"][0]
        last = first + len(answers["text"][0])  # character just after the answer
        seq = enc.sequence_ids(w)
        ctx = [i for i, s in enumerate(seq) if s == 1]
        if not ctx or window[ctx[0]][0] > first or window[ctx[-1]][1] < last:
            starts.append(0)  # the answer is not (wholly) in this window: point at <s>
            ends.append(0)
            continue
        starts.append(next(i for i in ctx if window[i][1] > first))
        ends.append(next(i for i in reversed(ctx) if window[i][0] < last))
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    return dict(enc)


def collator(head: str, tokenizer, seed: int = 0, mlm_probability: float = 0.15):
    """Pads each batch to its longest sequence (dynamic padding); masks for masked LM."""
    from transformers import DataCollatorForMultipleChoice, DataCollatorWithPadding

    if head == "multiple_choice":
        return DataCollatorForMultipleChoice(tokenizer)
    if head == "mlm":
        return SeededMaskCollator(tokenizer, mlm_probability, seed)
    return DataCollatorWithPadding(tokenizer)


class SeededMaskCollator:
    """transformers' masked-LM collator with masks drawn from (seed, the batch's example
    indices): the same batch gets the same masks in a resumed run or on another process.
    (An example keeps its masks across passes, as in BERT's static masking.)"""

    wants_indices = True

    def __init__(self, tokenizer, mlm_probability: float, seed: int):
        from transformers import DataCollatorForLanguageModeling

        self.inner = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
        self.seed = seed

    def __call__(self, features: list[dict], indices: list[int]) -> dict:
        import torch

        digest = hashlib.sha256(json.dumps([self.seed, list(map(int, indices))]).encode()).digest()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int.from_bytes(digest[:8], "little"))
            return self.inner(features)
