"""Phase 1: the pretrained multilingual encoder.

The full study loads `xlm-roberta-large` from the Hub. The demo builds a tiny model
of the same architecture here, deterministically, from the demo's own text: a BPE
tokenizer with XLM-R's special tokens, an `XLMRobertaConfig` of ~0.3M parameters and,
optionally, a short masked-LM pretraining over every demo language (the stand-in for
XLM-R's multilingual pretraining, so that the encoder has seen each language's words).
It is saved with `save_pretrained` and later loaded with `from_pretrained`, exactly as
a Hub model is.

    python -m study.pretrained params/demo.yaml     # build the demo model if missing
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from study.config import ModelConfig, StudyConfig, load_config
from study.io import atomic_dir, atomic_write_json
from study.timing import timed

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R ids 0..4
CJK_CHARACTER = r"[\p{Han}\p{Hiragana}\p{Katakana}]"


class ModelUnavailable(RuntimeError):
    """A model is neither local nor reachable; the message says how to supply it."""


def base_model_path(cfg: StudyConfig) -> str:
    """What phase 2/3 pass to `from_pretrained`: a built local folder or a Hub id/path."""
    if cfg.model.build:
        return str(cfg.study_dir / "pretrained")
    return cfg.model.name_or_path


def ensure_base_model(cfg: StudyConfig) -> str:
    """Build the demo model on first use; return what to load it from."""
    path = base_model_path(cfg)
    if cfg.model.build and not (Path(path) / "config.json").exists():
        from study.data import pretraining_corpus, pretraining_dictionary

        build_tiny_xlmr(Path(path), pretraining_corpus(cfg), cfg.model, seed=cfg.phase2_seed,
                        threads=cfg.threads,
                        dictionary=pretraining_dictionary(cfg) if cfg.model.align_embeddings else None)
    return path


def train_tokenizer(texts: list[str], vocab_size: int):
    """A subword tokenizer with XLM-R's normalisation, special tokens and templates.

    XLM-R's SentencePiece model is a Unigram; the demo's is a byte-pair encoding, because
    the `tokenizers` Unigram trainer does not hold up under this pre-tokenizer: asked for
    2,000 to 6,000 pieces on the demo corpus it returns 1,049, mostly single characters
    (English "book" came out as `▁ b ook`, every Hindi word as its letters). BPE's merges
    keep the corpus's words whole, so the cross-lingual dictionary reaches whole words.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    # Han and kana characters each make their own piece, as in mBERT: text without spaces
    # would otherwise come out as whole-phrase pieces that hide the words in them.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CJK_CHARACTER), behavior="isolated"),
        pre_tokenizers.Punctuation(behavior="isolated"),  # 'evening.' is 'evening' and '.'
        pre_tokenizers.Metaspace(prepend_scheme="first")])
    tok.decoder = decoders.Metaspace()
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    # The generic fast tokenizer: transformers 5's XLMRobertaTokenizer rebuilds its
    # normaliser and pre-tokenizer on loading instead of reading tokenizer.json, so the
    # model would be fine-tuned on other token ids than it was pretrained on.
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=256, bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", sep_token="</s>", pad_token="<pad>", cls_token="<s>", mask_token="<mask>")


def build_tiny_xlmr(out: Path, texts: list[str], spec: ModelConfig, seed: int,
                    threads: int = 1, dictionary: list[list[str]] | None = None) -> Path:
    """Tokenizer + randomly initialised XLM-R (+ optional MLM pretraining), saved at `out`."""
    import time

    from study.timing import import_frameworks

    started = time.perf_counter()
    import_frameworks()
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, set_seed

    # `<out>.partial` from the start: the console counts the build as running while it trains
    with atomic_dir(out) as tmp:
        torch.set_num_threads(threads)
        set_seed(seed)
        tokenizer = train_tokenizer(texts, spec.vocab_size)
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),  # the trainer may stop short of the asked size
            hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
            num_attention_heads=spec.num_heads, intermediate_size=spec.ffn_size,
            max_position_embeddings=258, type_vocab_size=1,
            pad_token_id=1, bos_token_id=0, eos_token_id=2,
        )
        model = XLMRobertaForMaskedLM(config)
        aligned = 0
        if dictionary:  # cross-lingual word embeddings, kept as they are by the masked LM
            aligned = align_embeddings(model, tokenizer, dictionary, seed)
            model.roberta.embeddings.word_embeddings.weight.requires_grad_(False)
        history = _pretrain_mlm(model, tokenizer, texts, spec.mlm_epochs, seed, out) \
            if spec.mlm_epochs > 0 else []
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "build.json", {
            "recipe": spec.model_dump(mode="json"), "seed": seed, "corpus_sentences": len(texts),
            "aligned_pieces": aligned,
            "parameters": sum(p.numel() for p in model.parameters()), "mlm_history": history,
            "timing": _job_timing(started),
        })
    return out


def align_embeddings(model, tokenizer, dictionary: list[list[str]], seed: int,
                     noise: float = 0.5) -> int:
    """Cross-lingual word embeddings from a dictionary, as the demo model's starting point.

    `dictionary` rows are concepts: a word class (`#verbs`) and the concept's word in each
    language. Every word class gets a random direction, every concept a vector along it
    plus its own random part, and each word of the concept that vector plus `noise` times
    a random part of its own (so translations are near, not equal). A word of several
    pieces sets those of its pieces that no single-piece word set. Returns the pieces set.
    """
    import torch

    space = tokenizer.convert_tokens_to_ids("▁")
    weight = model.roberta.embeddings.word_embeddings.weight
    scale = model.config.initializer_range
    gen = torch.Generator().manual_seed(seed)
    classes: dict[str, torch.Tensor] = {}
    targets: list[tuple[list[int], torch.Tensor]] = []
    for group, *words in dictionary:
        if group not in classes:
            classes[group] = torch.randn(weight.shape[1], generator=gen) * scale
        concept = classes[group] + torch.randn(weight.shape[1], generator=gen) * scale
        for word in words:
            targets.append((_word_pieces(tokenizer, word, space),
                            concept + noise * torch.randn(weight.shape[1], generator=gen) * scale))
    done: set[int] = set()
    with torch.no_grad():
        for single in (True, False):  # whole-word pieces first, then the rest
            for (pieces, whole), vector in targets:
                if whole == single:
                    for p in pieces:
                        if p not in done:
                            weight[p] = vector
                            done.add(p)
    return len(done)


def _word_pieces(tokenizer, word: str, space: int) -> tuple[list[int], bool]:
    """The pieces a word is written with, and whether it is one piece. In running text a
    word has no leading '▁' where no space comes before it (within Chinese or Japanese
    text): its first piece is also taken without the '▁', where the vocabulary has that."""
    tokens = [t for t in tokenizer.tokenize(word) if tokenizer.convert_tokens_to_ids(t) != space]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    if tokens and tokens[0].startswith("▁"):
        bare = tokenizer.convert_tokens_to_ids(tokens[0][1:])
        if bare != tokenizer.unk_token_id:
            ids.append(bare)
    return ids, len(tokens) == 1


def _job_timing(started: float) -> dict[str, float]:
    """Seconds of this build job: its process's start-up and imports, then its phases (the
    benchmark splits the demo's wall time with these)."""
    import time

    from study.timing import TOTALS, forked, process_started

    begun, finished = process_started(), time.time()
    job = finished - begun
    return {"job": round(job, 3), "started": begun, "finished": finished, "forked": forked(),
            "startup": round(job - (time.perf_counter() - started), 3),
            **{phase: round(seconds, 3) for phase, seconds in TOTALS.items()}}


def _masked_only_trainer():
    from transformers import Trainer

    class MaskedOnly(Trainer):
        """Masked LM with the vocabulary projection on the masked tokens only: the same loss
        (mean cross-entropy over masked tokens) without the ~85% of the output layer's work
        whose logits the loss ignores."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch.nn.functional as F

            labels = inputs.pop("labels")
            hidden = model.roberta(**inputs).last_hidden_state
            masked = labels != -100
            loss = F.cross_entropy(model.lm_head(hidden[masked]), labels[masked])
            return (loss, None) if return_outputs else loss

    return MaskedOnly


def _encode_lines(tokenizer, lines: list[str]):
    """Corpus lines as the model sees them: a line with a tab is a pair of parallel
    sentences, encoded as one sequence `<s> A </s></s> B </s>` (XLM's translation LM:
    a masked word can be read off its translation); any other line is one sentence."""
    pairs = [line.split("\t", 1) if "\t" in line else [line, None] for line in lines]
    singles = [i for i, (_, b) in enumerate(pairs) if b is None]
    out = {"input_ids": [None] * len(lines), "attention_mask": [None] * len(lines)}
    for idx, enc in ((singles, tokenizer([pairs[i][0] for i in singles], truncation=True,
                                         max_length=64) if singles else None),
                     (paired := [i for i in range(len(lines)) if pairs[i][1] is not None],
                      tokenizer([pairs[i][0] for i in paired], [pairs[i][1] for i in paired],
                                truncation=True, max_length=128) if paired else None)):
        for j, i in enumerate(idx):
            out["input_ids"][i] = enc["input_ids"][j]
            out["attention_mask"][i] = enc["attention_mask"][j]
    return out


def _pretrain_mlm(model, tokenizer, texts, epochs, seed, out: Path) -> list[dict]:
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, TrainingArguments

    MaskedOnlyTrainer = _masked_only_trainer()

    ds = Dataset.from_dict({"text": texts}).map(
        lambda b: _encode_lines(tokenizer, b["text"]), batched=True, remove_columns=["text"])
    args = TrainingArguments(
        output_dir=str(out.with_name(out.name + ".mlm-scratch")), num_train_epochs=epochs,
        per_device_train_batch_size=64, learning_rate=1e-3, warmup_steps=0.05,
        weight_decay=0.01, seed=seed, data_seed=seed, use_cpu=True, report_to="none",
        save_strategy="no", logging_steps=50, disable_tqdm=os.environ.get("TQDM_DISABLE") == "1",
        train_sampling_strategy="group_by_length",  # similar lengths per batch: less padding
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    trainer = MaskedOnlyTrainer(model=model, args=args, train_dataset=ds, data_collator=collator)
    with timed("train"):
        trainer.train()
    shutil.rmtree(args.output_dir, ignore_errors=True)
    return trainer.state.log_history


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the demo's pretrained model if missing.")
    parser.add_argument("params", type=Path)
    args = parser.parse_args()
    cfg = load_config(args.params)
    print(ensure_base_model(cfg))


if __name__ == "__main__":
    main()
