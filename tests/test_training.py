"""Phase 2 -> phase 3 hand-over and reproducibility on a tiny model built in the test."""

from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset

from study.config import ModelConfig, TrainConfig
from study.evaluation import predict
from study.pretrained import build_tiny_xlmr
from study.training import load_classifier, save_encoder, train_phase2, train_target

ROOT = Path(__file__).resolve().parents[1]

PAIRS = [("Anna sees the book.", "Anna sees the book.", 0),
         ("Anna sees the book.", "Anna sees the car today.", 1),
         ("Anna sees the book.", "Anna does not see the book.", 2)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "tiny"
    texts = [s for p, h, _ in PAIRS for s in (p, h)] + ["Er sieht das Buch.", "彼は本を見る。"]
    spec = ModelConfig(name_or_path="tiny", build="tiny-xlmr", vocab_size=120, mlm_epochs=0)
    return str(build_tiny_xlmr(out, texts, spec, seed=0))


def _data(n: int) -> Dataset:
    rows = [PAIRS[i % 3] for i in range(n)]
    return Dataset.from_dict({"premise": [r[0] for r in rows], "hypothesis": [r[1] for r in rows],
                              "label": [r[2] for r in rows], "lang": ["en"] * n})


T = TrainConfig(lr=5e-3, epochs=2, batch_size=8, max_length=32, logging_steps=5)


def test_phase3_gets_the_phase2_encoder_unchanged_and_a_fresh_head(tiny_model, tmp_path):
    trainer = train_phase2(tiny_model, {"demo_nli": _data(48)}, T, seed=0, work_dir=tmp_path / "w",
                           run_key={"test": 1})
    encoder = save_encoder(trainer, tmp_path / "encoder")
    phase2 = trainer.model
    phase3, _ = load_classifier(str(encoder))
    received = phase3.base_model.state_dict()
    for name, tensor in phase2.encoder.state_dict().items():
        if name in received:  # the sequence classifier has no pooler
            assert torch.equal(tensor, received[name]), name
    assert set(received) <= set(phase2.encoder.state_dict())
    # The phase-2 head is thrown away: phase 3's head is freshly initialised.
    head2 = phase2.heads["demo_nli"]["classifier"]
    assert not torch.equal(head2.out_proj.weight, phase3.classifier.out_proj.weight)
    assert all(not k.startswith(("classifier", "heads")) for k in _safetensor_keys(encoder))


def _safetensor_keys(folder):
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return list(f.keys())


def test_same_seed_same_predictions(tiny_model, tmp_path):
    runs = []
    for i in range(2):
        trainer = train_target(tiny_model, "pair_classification", _data(48), _data(12), T, seed=3,
                               work_dir=tmp_path / f"w{i}", run_key={"run": i})
        runs.append(predict(trainer.model, trainer.processing_class, _data(12), "pair_classification", 4, 32))
        runs.append(trainer.state.log_history[-1]["train_loss"])
    assert np.array_equal(runs[0], runs[2])
    assert runs[1] == runs[3]


def test_tokenizer_is_xlmr_shaped(tiny_model):
    _, tok = load_classifier(tiny_model)
    ids = tok("Anna sees", "the book")["input_ids"]
    assert ids[0] == tok.cls_token_id == 0 and ids[-1] == tok.sep_token_id == 2
    assert tok.pad_token_id == 1 and tok.mask_token_id == 4
    assert ids.count(2) == 3  # <s> A </s></s> B </s>


def test_missing_hub_model_offline_names_it(monkeypatch):
    from study.pretrained import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="'xlm-roberta-large'.*HF_HUB_OFFLINE=1"):
        load_classifier("xlm-roberta-large")


def test_tiny_model_build_is_deterministic(tmp_path):
    texts = [s for p, h, _ in PAIRS for s in (p, h)] * 20 + ["Er sieht das Buch.", "彼は本を見る。"]
    spec = ModelConfig(name_or_path="tiny", build="tiny-xlmr", vocab_size=120, mlm_epochs=1)
    a = build_tiny_xlmr(tmp_path / "a", texts, spec, seed=0)
    b = build_tiny_xlmr(tmp_path / "b", texts, spec, seed=0)
    for name in ("tokenizer.json", "model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_masked_lm_pretraining_loss_is_the_full_models_on_masked_tokens_only(tiny_model):
    """The demo's pretraining projects only the masked tokens onto the vocabulary; its loss
    is the one XLMRobertaForMaskedLM computes over the whole sequence."""
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, XLMRobertaForMaskedLM

    from study.pretrained import _masked_only_trainer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = XLMRobertaForMaskedLM.from_pretrained(tiny_model).eval()
    texts = ["the cat sat on the mat", "ein Hund", "a much longer sentence with many more words in it"]
    batch = DataCollatorForLanguageModeling(tok, mlm_probability=0.5, seed=1)(
        [tok(t) for t in texts])
    assert (batch["labels"] != -100).sum() > 0
    full = model(**batch).loss
    masked_only = _masked_only_trainer().compute_loss(None, model, dict(batch))
    assert torch.allclose(full, masked_only, atol=1e-5)


def test_length_sorted_batches_give_each_example_its_own_prediction_in_dataset_order(tiny_model, tmp_path):
    """Evaluation sorts by length and pads per batch; the answer for every example must be
    the one it gets alone (no padding), written back at its own position."""
    learned = TrainConfig(lr=5e-3, epochs=10, batch_size=8, max_length=32, logging_steps=5)
    trainer = train_target(tiny_model, "pair_classification", _data(48), None, learned, seed=0,
                           work_dir=tmp_path / "w", run_key={"run": "order"})
    model, tok = trainer.model, trainer.processing_class
    rng = np.random.default_rng(0)
    filler = "today Er sieht das Buch the car".split()
    rows = [(p + " " + " ".join(rng.choice(filler, rng.integers(0, 12))), h)
            for p, h, _ in (PAIRS[i] for i in rng.integers(0, 3, 40))]
    ds = Dataset.from_dict({"premise": [p for p, _ in rows], "hypothesis": [h for _, h in rows],
                            "label": [0] * 40, "lang": ["en"] * 40})
    model.eval()
    with torch.inference_mode():
        alone = [int(model(**tok(p, h, return_tensors="pt")).logits.argmax(-1)) for p, h in rows]
    batched = predict(model, tok, ds, "pair_classification", 8, 256)  # 256: nothing truncated
    assert len(set(alone)) > 1  # not one class for all: the test could not see a mix-up
    assert batched.tolist() == alone
    lengths = [len(tok(p, h)["input_ids"]) for p, h in rows]
    assert sorted(lengths) != lengths and len(set(lengths)) > 5  # the order really changed
    assert max(lengths) < 256


def test_frozen_word_embeddings_stay_while_the_rest_trains(tiny_model, tmp_path):
    from transformers import AutoModel

    before = AutoModel.from_pretrained(tiny_model).embeddings.word_embeddings.weight.detach().clone()
    frozen = T.model_copy(update={"freeze_embeddings": True})
    trainer = train_target(tiny_model, "pair_classification", _data(48), None, frozen, seed=0,
                           work_dir=tmp_path / "w", run_key={"test": 2})
    roberta = trainer.model.roberta
    assert torch.equal(roberta.embeddings.word_embeddings.weight, before)
    assert not torch.equal(roberta.embeddings.position_embeddings.weight,
                           AutoModel.from_pretrained(tiny_model).embeddings.position_embeddings.weight)
    moved = train_target(tiny_model, "pair_classification", _data(48), None, T, seed=0,
                         work_dir=tmp_path / "w2", run_key={"test": 3})
    assert not torch.equal(moved.model.roberta.embeddings.word_embeddings.weight, before)


def test_batches_are_grouped_by_length_only_when_asked(tmp_path):
    from study.training import training_arguments

    grouped = training_arguments(T, tmp_path, 0, 10, select_on_dev=False)
    mixed = training_arguments(T.model_copy(update={"group_by_length": False}), tmp_path, 0, 10, False)
    assert (grouped.train_sampling_strategy, mixed.train_sampling_strategy) == ("group_by_length", "random")


def test_aligned_embeddings_start_translations_near_each_other():
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from study.pretrained import align_embeddings, train_tokenizer

    texts = ["Anna sees book.", "Anna sieht Buch.", "Анна видит книгу.", "Anna not sees car.",
             "Anna nicht sieht Auto.", "Анна не видит машину."] * 5
    tok = train_tokenizer(texts, 200)
    model = XLMRobertaForMaskedLM(XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=32))
    rows = [["#objects", "book", "Buch", "книгу"], ["#objects", "car", "Auto", "машину"],
            ["#negation", "not", "nicht", "не"]]
    assert align_embeddings(model, tok, rows, seed=0) >= 9
    emb = model.roberta.embeddings.word_embeddings.weight

    def vec(word):
        return emb[tok(word, add_special_tokens=False)["input_ids"]].mean(0)

    cos = torch.nn.functional.cosine_similarity
    assert cos(vec("Buch"), vec("book"), dim=0) > 0.7  # a translation: near
    assert cos(vec("Buch"), vec("car"), dim=0) < cos(vec("Buch"), vec("book"), dim=0)  # same class
    assert cos(vec("nicht"), vec("book"), dim=0) < 0.5  # another class: far


def test_demo_tokenizer_keeps_the_dictionary_words_whole():
    """On the demo's own corpus the tokenizer keeps words whole (the Unigram trainer gave
    1,049 mostly one-letter pieces: `▁ b ook`), so the dictionary reaches the words; a
    Chinese word is aligned in the pieces it has inside a sentence (no '▁')."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from study.config import load_config
    from study.data import pretraining_corpus, pretraining_dictionary
    from study.pretrained import align_embeddings, train_tokenizer

    cfg = load_config(ROOT / "params/demo.yaml")
    tok = train_tokenizer(pretraining_corpus(cfg), cfg.model.vocab_size)
    assert len(tok) == cfg.model.vocab_size
    rows = pretraining_dictionary(cfg)
    dictionary = Path(cfg.model.corpus) / "dictionary.tsv"
    header = dictionary.read_text(encoding="utf-8").split("\n")[0].split("\t")
    spaced = [w for row in rows for lang, w in zip(header[1:], row[1:], strict=True)
              if lang not in ("zh", "ja") and " " not in w]
    whole = [w for w in spaced if len(tok.tokenize(w)) == 1]
    assert len(whole) / len(spaced) >= 0.95, sorted(set(spaced) - set(whole))[:20]
    assert tok.tokenize("Lucy likes book in city yesterday.") == [
        "▁Lucy", "▁likes", "▁book", "▁in", "▁city", "▁yesterday", "."]
    model = XLMRobertaForMaskedLM(XLMRobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=16))
    before = model.roberta.embeddings.word_embeddings.weight.detach().clone()
    align_embeddings(model, tok, rows, seed=0)
    after = model.roberta.embeddings.word_embeddings.weight.detach()
    inside = tok.tokenize("我看见苹果")[-2:]  # 苹 果, as they come after another character
    assert all(not p.startswith("▁") for p in inside)
    assert all(not torch.equal(before[i], after[i]) for i in tok.convert_tokens_to_ids(inside))


def test_each_setting_reaches_the_trainer_under_its_name_mapped_in_one_place(tmp_path):
    """TRAINING_ARGUMENTS is the one place a phase setting is renamed: every key is a
    TrainConfig setting, every value a TrainingArguments field, and the Trainer gets the
    params' values."""
    import dataclasses

    from transformers import TrainingArguments

    from study.config import TrainConfig
    from study.training import TRAINING_ARGUMENTS, training_arguments

    assert set(TRAINING_ARGUMENTS) <= set(TrainConfig.model_fields)
    assert set(TRAINING_ARGUMENTS.values()) <= {f.name for f in dataclasses.fields(TrainingArguments)}
    t = TrainConfig(lr=3e-4, epochs=3, batch_size=8, eval_batch_size=16, warmup_ratio=0.2, weight_decay=0.01,
                    grad_accum=2, logging_steps=7)
    args = training_arguments(t, tmp_path, seed=1, steps_per_epoch=10, select_on_dev=False)
    for setting, name in TRAINING_ARGUMENTS.items():
        assert getattr(args, name) == getattr(t, setting), (setting, name)
    assert (args.learning_rate, args.num_train_epochs, args.gradient_accumulation_steps) == (3e-4, 3, 2)
