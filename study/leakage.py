"""Leakage between phase-2 data and the target's evaluation sets.

A phase-2 example leaks when its (premise, hypothesis) pair, normalised, is also a pair
of a target evaluation set (dev or test, in any evaluated language); other heads use
their own keys (`example_keys`). Normalisation:
Unicode NFKC, case folding, punctuation removed, whitespace collapsed. Leaked examples
are counted and removed before the phase-2 quota is drawn (so the budget stays exact),
or the run stops (`selection.leakage: fail`).
"""

from __future__ import annotations

import re
import unicodedata

from study.config import StudyConfig
from study.data import load_split
from study.registry import TASKS

_SPACE = re.compile(r"\s+")


class LeakageError(ValueError):
    """Phase-2 data contains target evaluation examples and the params say fail."""


_PUNCTUATION: dict[int, None] = {}  # str.translate's table: every punctuation character seen so far
_CLASSIFIED: set[str] = set()


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    new = set(text) - _CLASSIFIED  # each character's Unicode category is looked up once
    if new:
        _CLASSIFIED.update(new)
        _PUNCTUATION.update({ord(ch): None for ch in new if unicodedata.category(ch).startswith("P")})
    return _SPACE.sub(" ", text.translate(_PUNCTUATION)).strip()


def example_keys(ds) -> list[tuple[str, str]]:
    """Normalised identity of each example, by the head its columns belong to: (premise,
    hypothesis) for pairs, (premise, question + choices) for multiple choice, (question,
    context) for QA. Examples of different heads never share a key."""
    cols = ds.column_names
    if "hypothesis" in cols:
        firsts, seconds = ds["premise"][:], ds["hypothesis"][:]
    elif "choices" in cols:
        firsts = ds["premise"][:]
        seconds = [" | ".join([q, *c]) for q, c in zip(ds["question"][:], ds["choices"][:], strict=True)]
    else:
        firsts, seconds = ds["question"][:], ds["context"][:]
    return [(normalise(a), normalise(b)) for a, b in zip(firsts, seconds, strict=True)]


def evaluation_keys(cfg: StudyConfig) -> set[tuple[str, str]]:
    """Normalised pairs of every dev/test set the study evaluates on (every target and the
    tasks evaluated with its model)."""
    keys: set[tuple[str, str]] = set()
    for target in cfg.data.targets:
        for name, langs in cfg.data.evaluated(target):
            task = TASKS[name]
            for lang in langs:
                for split in ("dev", "test"):
                    if split in task.splits:
                        keys.update(example_keys(load_split(task, lang, split, cfg.data)))
    return keys


def drop_leaked(ds, held_out: set[tuple[str, str]]):
    """The dataset without leaked examples, and how many were removed."""
    keep = [i for i, key in enumerate(example_keys(ds)) if key not in held_out]
    return (ds if len(keep) == len(ds) else ds.select(keep)), len(ds) - len(keep)
