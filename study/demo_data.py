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

`demo_social` (English train and dev only) stands in for Social IQa, the first step of
XTREME's XCOPA recipe (SIQA, then COPA): a premise and three statements, the entailed one,
its negation, and the same said of someone else; Social IQa's schema (context, question,
answerA-C, label "1".."3").

A fourth, `demo_americas` (dev and test only), stands in for AmericasNLI: demo NLI in
three languages of `demo_lexicon_americas.yaml` that no training split has, evaluated
with the NLI target's model and never seen in pretraining.

    python -m study.demo_data data/demo      # regenerate (byte-identical output)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import unicodedata
from importlib import resources
from pathlib import Path

import yaml

from study import demo_grammar
from study.io import atomic_write_text

TASK = "demo_nli"
CHOICE_TASK = "demo_choice"
CHOICE_TRAIN_SIZE = 300  # per language
CHOICE_ENGLISH_TRAIN_SIZE = 1000  # the English side trains the demo's multiple-choice target
CHOICE_SIZES = {"validation": 100, "test": 200}  # per language, parallel (like XCOPA)
SOCIAL_TASK = "demo_social"
SOCIAL_SIZES = {"train": 300, "validation": 100}  # English only (each demo_choice run trains it)
ROBUSTNESS_TASK = "demo_americas"
GENERATOR_VERSION = 3  # 3: grammar from URIEL, adjectives, the pretraining corpus with code-switching
PRETRAIN_DIR = "demo_pretrain"
PRETRAIN_MONOLINGUAL = 500     # plain sentences per language
PRETRAIN_CODE_SWITCHED = 2000  # code-switched sentences per language
PRETRAIN_PAIRS = 1500          # sentence pairs per language (tab-separated): two clauses of one event
PRETRAIN_SAME_LANGUAGE = 0.3   # share of the pairs whose two clauses share a language
CODE_SWITCH_RATE = 0.5         # chance that a word class comes from another language
CODE_SWITCHED = ("names", "verbs", "objects", "adjectives", "places", "times", "adposition",
                 "negation")
DICTIONARY_CLASSES = CODE_SWITCHED  # the word classes the dictionary aligns
SIZES = {"train": 1500, "validation": 300, "test": 300}
ENGLISH_TRAIN_SIZE = 3000
LABELS = ("entailment", "neutral", "contradiction")
SIDES = ("premise", "hypothesis")
FULL_STOP = {"zh": "。", "ja": "。", "hi": "।", "bn": "।"}
NEUTRAL_SLOTS = {"new_adjective": "adj", "new_time": "t"}  # what a neutral hypothesis adds


def load_lexicon(name: str = "demo_lexicon.yaml") -> dict[str, dict]:
    text = resources.files("study").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def grammars(lexicon: dict[str, dict]) -> dict[str, dict]:
    """Each language's grammar from URIEL (study.demo_grammar), with its sources."""
    return {lang: demo_grammar.grammar(lang, lex) for lang, lex in lexicon.items()}


def _verb(lex: dict, rule: str, verb: str, negated: bool) -> list[str]:
    if not negated:
        return [verb]
    neg = lex["negation"]
    return {"before": [neg, verb], "after": [verb, neg], "prefix": [neg + verb],
            "suffix": [verb + neg]}[rule]


def _modified(head: str, modifier: str | None, position: str) -> list[str]:
    if not modifier:
        return [head]
    return [modifier, head] if position == "before" else [head, modifier]


def _clause(lex: dict, g: dict, lang: str, words: dict) -> str:
    """One sentence from its words (S, V, neg, O, adj, P, T; None where absent), arranged by
    the language's grammar: basic order of S, V, O; the adjective and the adposition on
    their side of the noun; the negator where the language puts it. Adjuncts (place,
    time) come before the verb in verb-final orders and at the end otherwise."""
    rule = {k: v["value"] for k, v in g.items()}
    slots = {
        "S": [words["S"] + lex.get("subject_suffix", "")],
        "V": _verb(lex, rule["negation"], words["V"], words["neg"]),
        "O": _modified(words["O"], words.get("adj"), rule["adjective"]),
    }
    place = _modified(words["P"], lex["adposition"], rule["adposition"]) if words.get("P") else []
    time = [words["T"]] if words.get("T") else []
    order = list(rule["order"])
    if order[-1] == "V":  # S O T P V
        parts = [w for k in order[:-1] for w in slots[k]] + time + place + slots["V"]
    else:  # S V O P T
        parts = [w for k in order for w in slots[k]] + place + time
    return _join(parts, lex["separator"]) + FULL_STOP.get(lang, ".")


def _join(words: list[str], separator: str) -> str:
    """Words joined by the language's separator; in a language written without spaces a
    word of another script (code-switched text) is set off by spaces, as in mixed text."""
    if separator:
        return separator.join(words)
    out = words[0]
    for prev, word in zip(words, words[1:], strict=False):
        out += "" if _is_cjk(prev) and _is_cjk(word) else " "
        out += word
    return out


def _is_cjk(word: str) -> bool:
    return all(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in word)


def _words(lex: dict, plan: dict, side: str) -> dict:
    """The words of the premise or the hypothesis of a plan, in one language."""
    p = plan[side]
    pick = lambda key, i: lex[key][i] if i is not None else None  # noqa: E731
    return {"S": lex["names"][p["s"]], "V": lex["verbs"][p["v"]], "neg": p["neg"],
            "O": lex["objects"][p["o"]], "adj": pick("adjectives", p["adj"]),
            "P": pick("places", p["p"]), "T": pick("times", p["t"])}


def _example(lex: dict, g: dict, lang: str, plan: dict) -> dict:
    """Render one semantic plan (indices into the aligned word lists) in one language."""
    return {"premise": _clause(lex, g, lang, _words(lex, plan, "premise")),
            "hypothesis": _clause(lex, g, lang, _words(lex, plan, "hypothesis")),
            "label": LABELS.index(plan["label"])}


def _plan(rng: random.Random, label: str, sizes: dict[str, int]) -> dict:
    """A premise (subject, verb, object with an optional adjective, place, optional time)
    and a hypothesis that is entailed (the premise or a part of it), contradicted (the
    same with the verb negated) or neutral (it adds what the premise does not say: an
    adjective of the object, or a time)."""
    maybe = lambda key: rng.randrange(sizes[key]) if rng.random() < 0.5 else None  # noqa: E731
    premise = {"s": rng.randrange(sizes["names"]), "v": rng.randrange(sizes["verbs"]),
               "neg": False, "o": rng.randrange(sizes["objects"]), "adj": maybe("adjectives"),
               "p": rng.randrange(sizes["places"]), "t": maybe("times")}
    keep = {k: rng.random() < 0.5 for k in ("adj", "p", "t")}
    variant = rng.choice(list(NEUTRAL_SLOTS)) if label == "neutral" else None
    if variant:  # the premise leaves the slot open that the hypothesis fills
        premise[NEUTRAL_SLOTS[variant]] = None
    hyp = {**premise, **{k: premise[k] if keep[k] else None for k in keep}}
    if label == "contradiction":
        hyp["neg"] = True
    elif variant == "new_adjective":
        hyp["adj"] = rng.randrange(sizes["adjectives"])
    elif variant == "new_time":
        hyp["t"] = rng.randrange(sizes["times"])
    return {"label": label, "variant": variant, "premise": premise, "hypothesis": hyp}


def _balanced_labels(rng: random.Random, n: int) -> list[str]:
    labels = [LABELS[i % 3] for i in range(n)]
    rng.shuffle(labels)
    return labels


def _sizes(lexicon: dict[str, dict]) -> dict[str, int]:
    return {k: len(v) for k, v in next(iter(lexicon.values())).items() if isinstance(v, list)}


def _train_examples(rng: random.Random, n: int, render, sizes: dict[str, int],
                    held_out: set[tuple[str, str]]) -> list[dict]:
    """n balanced training examples, none of whose (premise, hypothesis) is in dev/test."""
    out = []
    for label in _balanced_labels(rng, n):
        while True:
            ex = render(_plan(rng, label, sizes))
            if (ex["premise"], ex["hypothesis"]) not in held_out:
                break
        out.append(ex)
    return out


def generate(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """All examples, keyed by (language, split). Pure function of lexicon, URIEL and seed."""
    sizes, g = _sizes(lexicon), grammars(lexicon)
    out = {}
    for split in ("validation", "test"):  # parallel across languages, like XNLI
        rng = random.Random(f"{seed}/{split}")
        plans = [_plan(rng, label, sizes) for label in _balanced_labels(rng, SIZES[split])]
        for lang, lex in lexicon.items():
            out[lang, split] = [_example(lex, g[lang], lang, p) for p in plans]
    for lang, lex in lexicon.items():  # drawn independently per language
        held_out = {(r["premise"], r["hypothesis"])
                    for split in ("validation", "test") for r in out[lang, split]}
        n = ENGLISH_TRAIN_SIZE if lang == "en" else SIZES["train"]
        render = lambda plan, lex=lex, lang=lang: _example(lex, g[lang], lang, plan)  # noqa: E731
        out[lang, "train"] = _train_examples(random.Random(f"{seed}/train/{lang}"), n, render,
                                             sizes, held_out)
    return out


def _choice(lex: dict, g: dict, lang: str, plan: dict, label: int) -> dict:
    """A premise and two statements about it: the entailed one and its negation."""
    right = _example(lex, g, lang, plan)
    negated = {**plan, "hypothesis": {**plan["hypothesis"], "neg": True}}
    wrong = _example(lex, g, lang, negated)
    pair = [wrong["hypothesis"], right["hypothesis"]] if label else [right["hypothesis"],
                                                                      wrong["hypothesis"]]
    return {"premise": right["premise"], "question": "", "choice1": pair[0], "choice2": pair[1],
            "label": label}


def generate_choices(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """demo_choice examples per language (independent of demo_nli's random streams): train
    drawn per language, dev and test parallel across languages."""
    sizes, g = _sizes(lexicon), grammars(lexicon)
    out = {}
    for lang, lex in lexicon.items():
        rng = random.Random(f"{seed}/choice/train/{lang}")
        n = CHOICE_ENGLISH_TRAIN_SIZE if lang == "en" else CHOICE_TRAIN_SIZE
        out[lang, "train"] = [_choice(lex, g[lang], lang, _plan(rng, "entailment", sizes),
                                      rng.randrange(2)) for _ in range(n)]
    for split, n in CHOICE_SIZES.items():
        rng = random.Random(f"{seed}/choice/{split}")
        plans = [(_plan(rng, "entailment", sizes), i % 2) for i in range(n)]
        for lang, lex in lexicon.items():
            out[lang, split] = [_choice(lex, g[lang], lang, plan, label) for plan, label in plans]
    return out


def _social(lex: dict, g: dict, lang: str, plan: dict, other: int, label: int) -> dict:
    """A premise and three statements: the entailed one, its negation, and the entailed one
    said of another subject (`other`); the label is the entailed one's position, "1".."3"."""
    right = _example(lex, g, lang, plan)
    wrong = [_example(lex, g, lang, {**plan, "hypothesis": {**plan["hypothesis"], **change}})["hypothesis"]
             for change in ({"neg": True}, {"s": other})]
    choices = [*wrong[:label], right["hypothesis"], *wrong[label:]]
    return {"context": right["premise"], "question": "", "answerA": choices[0], "answerB": choices[1],
            "answerC": choices[2], "label": str(label + 1)}


def generate_social(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """demo_social: English train and validation (its own random streams)."""
    sizes, g, lex = _sizes(lexicon), grammars(lexicon), lexicon["en"]
    out = {}
    for split, n in SOCIAL_SIZES.items():
        rng = random.Random(f"{seed}/social/{split}")
        rows = []
        for _ in range(n):
            plan = _plan(rng, "entailment", sizes)
            other = (plan["hypothesis"]["s"] + 1 + rng.randrange(sizes["names"] - 1)) % sizes["names"]
            rows.append(_social(lex, g["en"], "en", plan, other, rng.randrange(3)))
        out["en", split] = rows
    return out


def generate_robustness(lexicon: dict[str, dict], seed: int = 0) -> dict[tuple[str, str], list[dict]]:
    """demo_americas dev and test: demo_nli's dev/test plans rendered in unseen languages."""
    sizes, g = _sizes(lexicon), grammars(lexicon)
    out = {}
    for split in ("validation", "test"):
        rng = random.Random(f"{seed}/{split}")  # demo_nli's stream: the same meanings
        plans = [_plan(rng, label, sizes) for label in _balanced_labels(rng, SIZES[split])]
        for lang, lex in lexicon.items():
            out[lang, split] = [_example(lex, g[lang], lang, p) for p in plans]
    return out


def _mixed(lexicon: dict[str, dict], lang: str, rng: random.Random, rate: float) -> dict:
    """Language `lang`'s lexicon with each word class swapped, at `rate`, for the aligned
    class of another pretraining language: code-switching by dictionary substitution."""
    others = [other for other in lexicon if other != lang]
    lex = dict(lexicon[lang])
    for key in CODE_SWITCHED:
        if rng.random() < rate:
            lex[key] = lexicon[rng.choice(others)][key]
    return lex


def generate_pretraining(lexicon: dict[str, dict], held_out: dict[str, set[str]],
                         seed: int = 0) -> dict[str, list[str]]:
    """The demo's stand-in for CC-100: unlabelled sentences per language for the demo
    model's masked-LM pretraining, and the mechanism of its cross-lingual transfer.

    Per language: PRETRAIN_MONOLINGUAL plain clauses (some negated); PRETRAIN_CODE_SWITCHED
    clauses in the language's grammar whose word classes (names, verbs, objects, the
    negator, ...) each come from another language at rate CODE_SWITCH_RATE, so that
    translations share contexts (dictionary-based code-switching: Conneau et al. 2020;
    Qin et al. 2020, CoSDA-ML); and PRETRAIN_PAIRS pairs of clauses about one event, in
    the same language or two (XLM's translation LM, Conneau & Lample 2019): a masked word
    of one can be read off the other. Nothing is labelled, and no sentence of any dev or
    test set (`held_out`, per language) occurs."""
    sizes, g = _sizes(lexicon), grammars(lexicon)
    out = {}
    for lang, lex in lexicon.items():
        rng = random.Random(f"{seed}/pretrain/{lang}")
        sentences: list[str] = []
        for i in range(PRETRAIN_MONOLINGUAL + PRETRAIN_CODE_SWITCHED):
            mixed = lex if i < PRETRAIN_MONOLINGUAL else _mixed(lexicon, lang, rng, CODE_SWITCH_RATE)
            while True:
                plan = _plan(rng, rng.choice(LABELS), sizes)
                side = rng.choice(["premise", "hypothesis"])
                text = _clause(mixed, g[lang], lang, _words(mixed, plan, side))
                if text not in held_out.get(lang, ()):
                    break
            sentences.append(text)
        for _ in range(PRETRAIN_PAIRS):
            other = lang if rng.random() < PRETRAIN_SAME_LANGUAGE else rng.choice(
                [o for o in lexicon if o != lang])
            while True:
                plan = _plan(rng, rng.choice(LABELS), sizes)
                a = _clause(lex, g[lang], lang, _words(lex, plan, rng.choice(SIDES)))
                b = _clause(lexicon[other], g[other], other, _words(lexicon[other], plan, rng.choice(SIDES)))
                if a not in held_out.get(lang, ()) and b not in held_out.get(other, ()):
                    break
            sentences.append(f"{a}\t{b}")
        out[lang] = sentences
    return out


def dictionary(lexicon: dict[str, dict]) -> list[list[str]]:
    """The demo's bilingual dictionary, every language at once: one row per concept, its
    word class (`#verbs`) and its word in each language (multi-word entries such as 'in
    the morning' give each of their words). The demo model's word embeddings start from
    it (study.pretrained.align_embeddings), as from cross-lingual word embeddings."""
    langs = list(lexicon)
    rows = []
    for key in DICTIONARY_CLASSES:
        first = lexicon[langs[0]][key]
        for i in range(len(first) if isinstance(first, list) else 1):
            words = [lexicon[lang][key][i] if isinstance(first, list) else lexicon[lang][key]
                     for lang in langs]
            rows.append([f"#{key}", *(" ".join(w.split()) for w in words)])
    return rows


def _held_out_sentences(*tasks: dict[tuple[str, str], list[dict]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for examples in tasks:
        for (lang, split), rows in examples.items():
            if split == "train":
                continue
            for r in rows:
                out.setdefault(lang, set()).update(
                    r.get(k) for k in ("premise", "hypothesis", "choice1", "choice2") if r.get(k))
    return out


def write(out_dir: Path, seed: int = 0) -> Path:
    """Write {out_dir}/{demo_nli,demo_choice,demo_social,demo_americas}/{lang}/{split}.jsonl and
    {out_dir}/demo_pretrain/{lang}.txt, each task with a MANIFEST.json of checksums, and
    the data card {out_dir}/DATACARD.md. Returns the demo_nli folder."""
    out_dir = Path(out_dir)
    lexicon = load_lexicon()
    americas = load_lexicon("demo_lexicon_americas.yaml")
    nli, choice = generate(lexicon, seed), generate_choices(lexicon, seed)
    robustness = generate_robustness(americas, seed)
    _write_task(out_dir, ROBUSTNESS_TASK, robustness, americas, seed)
    _write_task(out_dir, CHOICE_TASK, choice, lexicon, seed)
    _write_task(out_dir, SOCIAL_TASK, generate_social(lexicon, seed), {"en": lexicon["en"]}, seed)
    root = _write_task(out_dir, TASK, nli, lexicon, seed)
    corpus = generate_pretraining(lexicon, _held_out_sentences(nli, choice), seed)
    _write_corpus(out_dir / PRETRAIN_DIR, corpus, dictionary(lexicon), list(lexicon), seed)
    from study.demo_card import data_card

    atomic_write_text(out_dir / "DATACARD.md", data_card(lexicon, americas, nli, choice, corpus))
    return root


def _write_corpus(root: Path, corpus: dict[str, list[str]], rows: list[list[str]],
                  langs: list[str], seed: int) -> None:
    """{lang}.txt (one sentence or tab-separated pair a line), dictionary.tsv and a MANIFEST."""
    manifest = {"corpus": PRETRAIN_DIR, "generator_version": GENERATOR_VERSION, "seed": seed,
                "monolingual": PRETRAIN_MONOLINGUAL, "code_switched": PRETRAIN_CODE_SWITCHED,
                "code_switch_rate": CODE_SWITCH_RATE, "pairs": PRETRAIN_PAIRS,
                "pairs_same_language": PRETRAIN_SAME_LANGUAGE, "files": {}}
    files = {f"{lang}.txt": "".join(s + "\n" for s in sentences)
             for lang, sentences in sorted(corpus.items())}
    files["dictionary.tsv"] = "\t".join(["class", *langs]) + "\n" + "".join(
        "\t".join(row) + "\n" for row in rows)
    for name, text in files.items():
        atomic_write_text(root / name, text)
        manifest["files"][name] = {"rows": text.count("\n"),
                                   "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    atomic_write_text(root / "MANIFEST.json", json.dumps(manifest, indent=1, ensure_ascii=False))


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
    g = grammars(lexicon)
    manifest["languages"] = {
        lang: {"name": lex["name"], "script": lex["script"],
               **{param: v["value"] for param, v in g[lang].items()}}
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
