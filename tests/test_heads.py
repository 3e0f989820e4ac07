"""Every head end to end on a tiny model, the task sampler, multi-task runs, bad losses."""

import numpy as np
import pytest
import torch
from datasets import Dataset

from study.config import ModelConfig, TrainConfig
from study.evaluation import qa_answers, squad_scores
from study.multitask import NonFiniteLoss, TaskBatchSampler, task_probabilities
from study.pretrained import build_tiny_xlmr
from study.training import save_encoder, train_phase2

WORDS = "the cat dog bird sat ran flew on a mat roof tree while rain snow fell".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "tiny"
    texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 3
    spec = ModelConfig(name_or_path="tiny", build="tiny-xlmr", vocab_size=101, mlm_epochs=0)
    return str(build_tiny_xlmr(out, texts, spec, seed=0))


def _rng():
    return np.random.default_rng(0)


def nli(n=96):
    animals, places = ["cat", "dog", "bird"], ["mat", "roof", "tree"]
    rows = []
    for i in range(n):
        a, p = animals[i % 3], places[(i // 3) % 3]
        label = i % 3
        other = animals[(i + 1) % 3]
        hyp = {0: f"the {a} sat", 1: f"the {a} ran while rain fell", 2: f"the {other} sat"}[label]
        rows.append({"premise": f"the {a} sat on a {p}", "hypothesis": hyp, "label": label, "lang": "en"})
    return Dataset.from_list(rows)


def paraphrase(n=64):
    rows = [{"premise": f"the {WORDS[i % 6 + 1]} sat", "hypothesis": f"the {WORDS[(i + i % 2) % 6 + 1]} sat",
             "label": int(i % 2 == 0), "lang": "en"} for i in range(n)]
    return Dataset.from_list(rows)


def choices(n=64):
    rows = []
    for i in range(n):
        a, b = WORDS[1 + i % 3], WORDS[1 + (i + 1) % 3]
        right = i % 2
        options = [f"the {b} flew", f"the {a} sat"] if right else [f"the {a} sat", f"the {b} flew"]
        rows.append({"premise": f"the {a} sat on a mat", "question": "effect", "choices": options,
                     "label": right, "lang": "en"})
    return Dataset.from_list(rows)


def qa(n=48):
    rows = []
    for i in range(n):
        place = ["mat", "roof", "tree"][i % 3]
        context = f"the {WORDS[1 + i % 3]} sat on a {place} while rain fell on the {place}"
        answer = f"a {place}"
        rows.append({"id": f"q{i}", "question": f"where did the {WORDS[1 + i % 3]} sit", "context": context,
                     "answers": {"text": [answer], "answer_start": [context.index(answer)]}, "lang": "en"})
    return Dataset.from_list(rows)


T = TrainConfig(lr=2e-3, epochs=4, batch_size=8, max_length=64, logging_steps=4, warmup_ratio=0.1)


def _losses(trainer, key="loss"):
    return [r[key] for r in trainer.state.log_history if key in r]


@pytest.mark.parametrize(("task", "make"), [
    ("demo_nli", nli), ("paws_x", paraphrase), ("copa", choices), ("squad", qa)])
def test_each_head_trains_and_predicts_with_the_right_shape(tiny, tmp_path, task, make):
    from study.features import collator, tokenize
    from study.registry import TASKS

    t = T.model_copy(update={"max_length": 64})
    trainer = train_phase2(tiny, {task: make()}, t, seed=0, work_dir=tmp_path / "w", run_key={"t": task})
    losses = _losses(trainer)
    assert len(losses) >= 6 and np.mean(losses[-3:]) < np.mean(losses[:3]), losses  # the loss falls
    head = TASKS[task].head
    batch_rows = tokenize(make(4), trainer.processing_class, head, 64, doc_stride=16)
    batch = collator(head, trainer.processing_class)([batch_rows[i] for i in range(4)])
    model = trainer.model.eval()
    with torch.no_grad():
        out = model(task=task, **{k: v for k, v in batch.items()
                                  if k not in ("labels", "start_positions", "end_positions")})
    width = batch["input_ids"].shape[-1]
    expected = {"pair_classification": (4, len(TASKS[task].label_set or ())), "multiple_choice": (4, 2),
                "extractive_qa": (4, width)}[head]
    got = out["start_logits"].shape if head == "extractive_qa" else out["logits"].shape
    assert tuple(got) == expected


def test_multitask_with_mlm_logs_each_task_and_saves_one_encoder(tiny, tmp_path):
    t = T.model_copy(update={"mlm": True, "task_sampler": "uniform", "epochs": 2})
    sets = {"demo_nli": nli(48), "copa": choices(32), "squad": qa(32)}
    trainer = train_phase2(tiny, sets, t, seed=0, work_dir=tmp_path / "w", run_key={"mt": 1})
    logged = {k for r in trainer.state.log_history for k in r}
    assert {"loss_demo_nli", "loss_copa", "loss_squad", "loss_mlm"} <= logged
    sizes = trainer.task_sizes  # QA counts context windows: at least one per question
    assert {k: sizes[k] for k in ("demo_nli", "copa", "mlm")} == {"demo_nli": 48, "copa": 32, "mlm": 112}
    assert sizes["squad"] >= 32
    assert trainer.task_probabilities == pytest.approx(dict.fromkeys(sizes, 0.25))
    assert trainer.state.global_step == 2 * -(-sum(sizes.values()) // 8)  # all batches, 2 epochs
    encoder = save_encoder(trainer, tmp_path / "encoder")
    assert (encoder / "config.json").is_file() and not (encoder / "heads").exists()


def test_multitask_run_is_deterministic(tiny, tmp_path):
    t = T.model_copy(update={"mlm": True, "epochs": 1})
    runs = [train_phase2(tiny, {"demo_nli": nli(48), "copa": choices(32)}, t, seed=5,
                         work_dir=tmp_path / f"w{i}", run_key={"d": i}) for i in range(2)]
    assert runs[0].state.log_history[-1]["train_loss"] == runs[1].state.log_history[-1]["train_loss"]
    for (name, a), b in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(("kind", "expected"), [
    ("proportional", {"a": 0.75, "b": 0.25}), ("uniform", {"a": 0.5, "b": 0.5}),
    ("temperature", {"a": 3 ** 0.5 / (3 ** 0.5 + 1), "b": 1 / (3 ** 0.5 + 1)})])
def test_task_sampler_draws_tasks_in_its_proportions(kind, expected):
    sizes = {"a": 300, "b": 100}
    p = task_probabilities(sizes, kind, temperature=2.0)
    assert p == pytest.approx(expected)
    sampler = TaskBatchSampler(sizes, 10, p, seed=0)
    counts = {"a": 0, "b": 0}
    for epoch in range(50):
        sampler.set_epoch(epoch)
        for batch in sampler:
            task = "a" if batch[0] < 300 else "b"
            assert all((i < 300) == (task == "a") for i in batch) and len(batch) == 10  # one task
            counts[task] += 1
    assert counts["a"] / sum(counts.values()) == pytest.approx(expected["a"], abs=0.03)


def test_task_sampler_is_seeded_by_seed_and_epoch():
    def batches(seed, epoch):
        s = TaskBatchSampler({"a": 50, "b": 30}, 8, {"a": 0.5, "b": 0.5}, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert batches(0, 0) == batches(0, 0)
    assert batches(0, 0) != batches(0, 1) and batches(0, 0) != batches(1, 0)
    assert len(batches(0, 0)) == 10  # 80 examples / 8


def test_non_finite_loss_stops_naming_step_task_and_examples(tiny, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    broken = tmp_path / "broken"
    model = AutoModelForMaskedLM.from_pretrained(tiny)
    with torch.no_grad():
        model.roberta.embeddings.word_embeddings.weight[5:] = float("nan")
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(broken)
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss \(nan\) at step 1, task 'demo_nli', "
                                            r"examples \[\d+(, \d+)*\]"):
        train_phase2(str(broken), {"demo_nli": nli(16)}, T, seed=0, work_dir=tmp_path / "w",
                     run_key={"nan": 1})


def test_qa_post_processing_picks_the_best_valid_span():
    context = "the cat sat on a mat"
    # tokens: <s> q </s></s> the cat sat on a mat </s>
    offsets = [None, None, None, None, (0, 3), (4, 7), (8, 11), (12, 14), (15, 16), (17, 20), None]
    start = np.full(11, -5.0)
    end = np.full(11, -5.0)
    start[1], end[1] = 9.0, 9.0  # the question token: not in the context, ignored
    start[8], end[9] = 3.0, 4.0  # "a mat"
    start[9], end[5] = 2.0, 9.0  # end before start: ignored ("mat" alone scores lower)
    answers = qa_answers([{"example_id": "q", "offset_mapping": offsets}], start[None], end[None],
                         {"q": context})
    assert answers == {"q": "a mat"}
    scores = squad_scores({"q": "a mat", "r": "the roof"}, {"q": ["mat"], "r": ["tree", "a roof!"]})
    assert scores == {"exact_match": 100.0, "f1": 100.0, "n": 2}
    assert squad_scores({"q": "cat sat"}, {"q": ["the cat"]})["f1"] == pytest.approx(200 / 3)  # P 1/2, R 1


def test_phase3_multiple_choice_keeps_the_best_dev_checkpoint(tiny, tmp_path):
    from study.training import train_target

    t = T.model_copy(update={"epochs": 3})
    trainer = train_target(tiny, "multiple_choice", choices(64), choices(16), t, seed=0,
                           work_dir=tmp_path / "w", run_key={"mc": 1})
    evals = [r["eval_accuracy"] for r in trainer.state.log_history if "eval_accuracy" in r]
    assert len(evals) == 3  # once per epoch (save_steps: null)
    assert trainer.state.best_metric == max(evals)
    assert trainer.evaluate()["eval_accuracy"] == max(evals)  # the kept model is the best one


def test_early_stopping_and_activation_checkpointing(tiny, tmp_path):
    from study.training import train_target

    # A learning rate too small to change anything: dev accuracy never improves.
    t = T.model_copy(update={"epochs": 6, "lr": 1e-12, "early_stopping_patience": 2,
                             "gradient_checkpointing": True})
    trainer = train_target(tiny, "pair_classification", nli(48), nli(12), t, seed=0,
                           work_dir=tmp_path / "w", run_key={"es": 1})
    evals = [r for r in trainer.state.log_history if "eval_accuracy" in r]
    assert len(evals) == 3  # the first, then two without improvement: stop (of 6 epochs)
    assert trainer.state.global_step == 3 * 6  # 48 examples / 8 per step, 3 epochs run


def test_precision_falls_back_to_fp32_where_the_hardware_lacks_it(caplog, monkeypatch):
    from study import training
    from study.training import precision

    if torch.cuda.is_available():
        pytest.skip("a GPU machine: fp16 is available")
    assert precision("fp16") == "fp32" and "not supported" in caplog.text
    assert precision("fp32") == "fp32"
    # bf16 only where the CPU has bf16 arithmetic: emulated, it is far slower than fp32
    assert precision("bf16") == ("bf16" if training.cpu_has_bf16() else "fp32")
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    caplog.clear()
    assert precision("bf16") == "fp32" and "not supported" in caplog.text
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    assert precision("bf16") == "bf16"


def test_bf16_training_and_evaluation_run_on_a_cpu_that_has_it(tiny, tmp_path, monkeypatch):
    """transformers refuses bf16 on a CPU unless told it is on the CPU (use_cpu): the
    training arguments say so, and evaluation runs under the same autocast."""
    from study import training
    from study.evaluation import predict

    if torch.cuda.is_available():
        pytest.skip("a GPU machine")
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)  # emulated here if need be
    t = T.model_copy(update={"epochs": 1, "precision": "bf16"})
    trainer = training.train_target(tiny, "pair_classification", nli(16), None, t, seed=0,
                                    work_dir=tmp_path / "w", run_key={"bf16": 1})
    assert trainer.args.bf16 and trainer.state.global_step == 2
    pred = predict(trainer.model, trainer.processing_class, nli(8), "pair_classification", 4, 32, "bf16")
    assert pred.shape == (8,) and set(pred.tolist()) <= {0, 1, 2}
