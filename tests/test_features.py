"""Tokenization per head: truncation, QA windows with offsets, dynamic padding, caching."""

import json

import pytest
from datasets import Dataset, load_dataset

from study.features import collator, tokenize, tokenizer_fingerprint
from study.pretrained import train_tokenizer

WORDS = ("the cat sat on a mat while rain fell over old town and children ran home to eat "
         "bread with warm milk before night came down across quiet hills").split()


@pytest.fixture(scope="module")
def tokenizer():
    texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    return train_tokenizer(texts, vocab_size=200)


def test_pairs_truncate_longest_first_and_keep_labels(tokenizer):
    ds = Dataset.from_dict({"premise": [" ".join(WORDS * 3), "the cat"], "hypothesis": ["rain fell", "a mat"],
                            "label": [2, 0], "lang": ["en", "en"]})
    out = tokenize(ds, tokenizer, "pair_classification", max_length=24)
    assert out.column_names == ["labels", "input_ids", "attention_mask"] or set(out.column_names) == {
        "labels", "input_ids", "attention_mask"}
    assert len(out[0]["input_ids"]) == 24 and len(out[1]["input_ids"]) < 24
    assert "rain fell" in tokenizer.decode(out[0]["input_ids"])  # the short side survives
    assert list(out["labels"]) == [2, 0]


def test_multiple_choice_gives_one_sequence_per_choice(tokenizer):
    ds = Dataset.from_dict({"premise": ["the cat sat", "rain fell"], "question": ["effect", ""],
                            "choices": [["it ran home", "it ate bread"], ["children ran", "night came"]],
                            "label": [1, 0], "lang": ["en", "en"]})
    out = tokenize(ds, tokenizer, "multiple_choice", max_length=32)
    assert [len(x) for x in out["input_ids"]] == [2, 2]
    assert "it ate bread" in tokenizer.decode(out[0]["input_ids"][1])
    assert "effect" in tokenizer.decode(out[0]["input_ids"][0])
    batch = collator("multiple_choice", tokenizer)([out[0], out[1]])
    assert tuple(batch["input_ids"].shape[:2]) == (2, 2) and batch["labels"].tolist() == [1, 0]


def _qa_dataset():
    context = " ".join(WORDS * 2)
    answer = "warm milk"
    start = context.index(answer, len(context) // 2)  # the second occurrence, late in the text
    return Dataset.from_dict({"id": ["q1"], "question": ["what did they drink"], "context": [context],
                              "answers": [{"text": [answer], "answer_start": [start]}], "lang": ["en"]})


def test_qa_windows_overlap_and_point_at_the_answer(tokenizer):
    ds = _qa_dataset()
    out = tokenize(ds, tokenizer, "extractive_qa", max_length=40, doc_stride=12)
    assert len(out) > 2  # a long context becomes several windows
    assert all(len(ids) <= 40 for ids in out["input_ids"])
    hits = [w for w in out if w["start_positions"] > 0]
    assert hits and all(w["start_positions"] == 0 == w["end_positions"] for w in out if w not in hits)
    ev = tokenize(ds, tokenizer, "extractive_qa", max_length=40, doc_stride=12, train=False)
    assert ev["example_id"] == ["q1"] * len(out)
    context, answer = ds[0]["context"], ds[0]["answers"]["text"][0]
    for w, e in zip(out, ev, strict=True):
        assert e["offset_mapping"][1] is None  # question tokens carry no context offsets
        if w["start_positions"]:
            span = context[e["offset_mapping"][w["start_positions"]][0]:
                           e["offset_mapping"][w["end_positions"]][1]]
            assert span.strip() == answer


def test_collator_pads_each_batch_to_its_longest(tokenizer):
    ds = Dataset.from_dict({"premise": ["the cat", "the cat sat on a mat while rain fell"],
                            "hypothesis": ["a mat", "a mat"], "label": [0, 1], "lang": ["en", "en"]})
    out = tokenize(ds, tokenizer, "pair_classification", max_length=64)
    batch = collator("pair_classification", tokenizer)([out[0], out[1]])
    assert batch["input_ids"].shape[1] == max(len(x) for x in out["input_ids"]) < 64


def test_second_run_loads_the_cache_without_tokenizing(tmp_path, tokenizer, monkeypatch):
    tokenizer.save_pretrained(tmp_path / "tok")
    rows = [{"premise": f"the cat sat {w}", "hypothesis": w, "label": i % 3, "lang": "en"}
            for i, w in enumerate(WORDS)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset("json", data_files=str(tmp_path / "d.jsonl"), split="train",
                      cache_dir=str(tmp_path / "cache"))
    first = tokenize(ds, tokenizer, "pair_classification", max_length=32)

    from transformers import AutoTokenizer
    again = AutoTokenizer.from_pretrained(tmp_path / "tok")  # a new object from the same files
    assert tokenizer_fingerprint(again) == tokenizer_fingerprint(tokenizer)

    def refuse(*a, **k):
        raise AssertionError("re-tokenized although the cache holds the result")

    monkeypatch.setattr(type(again), "__call__", refuse)
    second = tokenize(ds, again, "pair_classification", max_length=32)
    assert second.cache_files == first.cache_files and second["input_ids"] == first["input_ids"]
    with pytest.raises(AssertionError, match="re-tokenized"):  # other settings: computed anew
        tokenize(ds, again, "pair_classification", max_length=16)


def test_saved_tokenizer_loads_with_the_pipeline_it_was_built_with(tmp_path, tokenizer):
    """The demo model is pretrained with the built tokenizer and fine-tuned with the loaded one."""
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["ｔｈｅ　ｃａｔ sat", "rain  fell", "Ⅸ children ran"]  # NFKC changes these
    assert loaded(texts, texts[::-1])["input_ids"] == tokenizer(texts, texts[::-1])["input_ids"]
    assert tokenizer_fingerprint(loaded) == tokenizer_fingerprint(tokenizer)
