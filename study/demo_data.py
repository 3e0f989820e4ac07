"""Deterministic generator of the demo's multilingual NLI data (`demo_nli`).

The offline demo needs NLI data in many languages and scripts that the project can
ship. This module builds it from the aligned word lists in `demo_lexicon.yaml`:
a premise "S V O place [time]" in each language's basic word order, and a hypothesis
that is entailed (a part of the premise), contradicted (the negated verb) or neutral
(new information: another object or a time the premise does not give).

Dev and test sets are parallel across languages (the same meaning at the same index,
as in XNLI); training sets are drawn independently per language. Files follow the Hub
schema of XNLI/MNLI (premise, hypothesis, label with ids entailment=0, neutral=1,
contradiction=2), so `study.data` reads them exactly as it reads the Hub.

A second task, `demo_choice` (train only), gives the demo a multiple-choice head for
multi-task phase 2: a premise and two statements rendered from the same plan, one
entailed and one contradicted; the label is the entailed one's index. COPA's schema
(premise, question, choice1, choice2, label). Its dev and test sets are parallel across
languages, as XCOPA's are: it is also the demo's multiple-choice target.

A third, `demo_americas` (dev and test only), stands in for AmericasNLI: demo NLI in
three languages of `demo_lexicon_americas.yaml` that no training split has, evaluated
with the NLI target's model and never seen in pretraining.

    python -m study.demo_data data/demo      # regenerate (byte-identical output)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from importlib import resources
from pathlib import Path

import yaml

from study.io import atomic_write_text

TASK = "demo_nli"
CHOICE_TASK = "demo_choice"
CHOICE_TRAIN_SIZE = 300  # per language
CHOICE_ENGLISH_TRAIN_SIZE = 1000  # the English side trains the demo's multiple-choice target
CHOICE_SIZES = {"validation": 100, "test": 200}  # per language, parallel (like XCOPA)
ROBUSTNESS_TASK = "demo_americas"
GENERATOR_VERSION = 2  # 2: demo_choice dev/test and a larger English train; demo_americas
SIZES = {"train": 1500, "validation": 300, "test": 300}
ENGLISH_TRAIN_SIZE = 3000
LABELS = ("entailment", "neutral", "contradiction")
FULL_STOP = {"zh": "。", "ja": "。", "hi": "।", "bn": "।"}


def load_lexicon(name: str = "demo_lexicon.yaml") -> dict[str, dict]:
    text = resources.files("study").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _sentence(lex: dict, lang: str, slots: dict[str, str | None]) -> str:
    order = {
        "SVO": ("S", "V", "O", "P", "T"),
        "SOV": ("S", "T", "P", "O", "V"),
        "VSO": ("V", "S", "O", "P", "T"),
    }[lex["order"]]
    words = [slots[k] for k in order if slots.get(k)]
    return lex["separator"].join(words) + FULL_STOP.get(lang, ".")


def _example(lex: dict, lang: str, plan: dict) -> dict:
    """Render one semantic plan (indices into the aligned word lists) in one language."""
    subject = lex["names"][plan["s"]] + lex.get("subject_suffix", "")
    verb, verb_neg = lex["verbs"][plan["v"]], lex["verbs_neg"][plan["v"]]
    obj, place = lex["objects"][plan["o"]], lex["places"][plan["p"]]
    time = lex["times"][plan["t"]] if plan["t"] is not None else None
    premise = _sentence(lex, lang, {"S": subject, "V": verb, "O": obj, "P": place, "T": time})
    h = {"S": subject, "V": verb, "O": obj, "P": None, "T": None}
    if plan["keep_place"]:
        h["P"] = place
    if plan["label"] == "entailment":
        h["T"] = time if plan["keep_time"] else None
    elif plan["label"] == "contradiction":
        h["V"] = verb_neg
        h["T"] = time if plan["keep_time"] else None
    elif plan["variant"] == "other_object":
        h["O"] = lex["objects"][plan["o2"]]
    else:
        h["T"] = lex["times"][plan["t2"]]
    hypothesis = _sentence(lex, lang, h)
    return {"premise": premise, "hypothesis": hypothesis, "label": LABELS.index(plan["label"])}


def _plan(rng: random.Random, label: str, sizes: dict[str, int]) -> dict:
    o, t = rng.randrange(sizes["objects"]), rng.randrange(sizes["times"])
    return {
        "label": label,
        "s": rng.randrange(sizes["names"]),
        "v": rng.randrange(sizes["verbs"]),
        "o": o,
        "p": rng.randrange(sizes["places"]),
        "t": t if rng.random() < 0.5 else None,
        "keep_place": rng.random() < 0.5,
        "keep_time": rng.random() < 0.5,
        "variant": rng.choice(["other_object", "new_time"]),
        # A different object / a time the premise does not mention (neutral).
        "o2": (o + 1 + rng.randrange(sizes["objects"] - 1)) % sizes["objects"],
        "t2": (t + 1 + rng.randrange(sizes["times"] - 1)) % sizes["times"],
    }


def _balanced_labels(rng: random.Random, n: int) -> list[str]:
    labels = [LABELS[i % 3] for i in range(n)]
    rng.shuffle(labels)
    return labels


def _train_examples(rng: random.Random, n: int, lex: dict, lang: str, sizes: dict[str, int],
                    held_out: set[tuple[str, str]]) -> list[dict]:
    """n balanced training examples, none of whose (premise, hypothesis) is in dev/test."""
    out = []
    for label in _balanced_labels(rng, n):
        while True:
            ex = _example(lex, lang, _plan(rng, label, sizes))
            if (ex["premise"], ex["hypothesis"]) not in held_out:
                break
        out.append(ex)
    return out


def generate(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """All examples, keyed by (language, split). Pure function of lexicon and seed."""
    sizes = {k: len(v) for k, v in lexicon["en"].items() if isinstance(v, list)}
    out = {}
    for split in ("validation", "test"):  # parallel across languages, like XNLI
        rng = random.Random(f"{seed}/{split}")
        plans = [_plan(rng, label, sizes) for label in _balanced_labels(rng, SIZES[split])]
        for lang, lex in lexicon.items():
            out[lang, split] = [_example(lex, lang, p) for p in plans]
    for lang, lex in lexicon.items():  # drawn independently per language
        held_out = {(r["premise"], r["hypothesis"])
                    for split in ("validation", "test") for r in out[lang, split]}
        n = ENGLISH_TRAIN_SIZE if lang == "en" else SIZES["train"]
        out[lang, "train"] = _train_examples(random.Random(f"{seed}/train/{lang}"), n, lex, lang,
                                             sizes, held_out)
    return out


def _choice(lex: dict, lang: str, plan: dict, label: int) -> dict:
    right = _example(lex, lang, plan)
    wrong = _example(lex, lang, {**plan, "label": "contradiction"})
    pair = [wrong["hypothesis"], right["hypothesis"]] if label else [right["hypothesis"],
                                                                      wrong["hypothesis"]]
    return {"premise": right["premise"], "question": "", "choice1": pair[0], "choice2": pair[1],
            "label": label}


def generate_choices(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """demo_choice examples per language (independent of demo_nli's random streams): train
    drawn per language, dev and test parallel across languages."""
    sizes = {k: len(v) for k, v in lexicon["en"].items() if isinstance(v, list)}
    out = {}
    for lang, lex in lexicon.items():
        rng = random.Random(f"{seed}/choice/train/{lang}")
        n = CHOICE_ENGLISH_TRAIN_SIZE if lang == "en" else CHOICE_TRAIN_SIZE
        rows = []
        for _ in range(n):
            plan = _plan(rng, "entailment", sizes)
            rows.append(_choice(lex, lang, plan, rng.randrange(2)))
        out[lang, "train"] = rows
    for split, n in CHOICE_SIZES.items():
        rng = random.Random(f"{seed}/choice/{split}")
        plans = [(_plan(rng, "entailment", sizes), i % 2) for i in range(n)]
        for lang, lex in lexicon.items():
            out[lang, split] = [_choice(lex, lang, plan, label) for plan, label in plans]
    return out


def generate_robustness(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """demo_americas dev and test: demo_nli's dev/test plans rendered in unseen languages."""
    sizes = {k: len(v) for k, v in lexicon[next(iter(lexicon))].items() if isinstance(v, list)}
    out = {}
    for split in ("validation", "test"):
        rng = random.Random(f"{seed}/{split}")  # demo_nli's stream: the same meanings
        plans = [_plan(rng, label, sizes) for label in _balanced_labels(rng, SIZES[split])]
        for lang, lex in lexicon.items():
            out[lang, split] = [_example(lex, lang, p) for p in plans]
    return out


def write(out_dir: Path, seed: int = 0) -> Path:
    """Write {out_dir}/{demo_nli,demo_choice,demo_americas}/{lang}/{split}.jsonl, each with a
    MANIFEST.json of checksums. Returns the demo_nli folder."""
    lexicon = load_lexicon()
    americas = load_lexicon("demo_lexicon_americas.yaml")
    _write_task(Path(out_dir), ROBUSTNESS_TASK, generate_robustness(americas, seed), americas, seed)
    _write_task(Path(out_dir), CHOICE_TASK, generate_choices(lexicon, seed), lexicon, seed)
    return _write_task(Path(out_dir), TASK, generate(lexicon, seed), lexicon, seed)


def _write_task(out_dir: Path, task: str, examples: dict, lexicon: dict, seed: int) -> Path:
    root = out_dir / task
    manifest = {"task": task, "generator_version": GENERATOR_VERSION, "seed": seed, "files": {}}
    for (lang, split), rows in sorted(examples.items()):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        rel = f"{lang}/{split}.jsonl"
        atomic_write_text(root / rel, text)
        manifest["files"][rel] = {
            "rows": len(rows),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    manifest["languages"] = {
        lang: {"name": lex["name"], "script": lex["script"], "order": lex["order"]}
        for lang, lex in lexicon.items()
    }
    atomic_write_text(root / "MANIFEST.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write demo_nli/ into (data/demo)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"wrote {write(args.out_dir, args.seed)}")


if __name__ == "__main__":
    main()
