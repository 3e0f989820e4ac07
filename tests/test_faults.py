"""Fault injection: bad parameter files, bad data files, a Hub that cannot be reached and a
full disk. Each must stop the study with one clear line (file, key or value, and what is
accepted), with no traceback from library internals and nothing written under outputs/;
a full disk must keep the previous good state. (Kills and a failing notebook inside the
workflow: tests/test_kills.py.)"""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from study import grid

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
DELETE = object()


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = grid.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


def _set(dotted: str, value):
    def change(raw: dict) -> None:
        *path, last = dotted.split(".")
        for key in path:
            raw = raw[key]
        if value is DELETE:
            del raw[last]
        else:
            raw[last] = value
    return change


def _families(first: str) -> callable:
    def change(raw: dict) -> None:
        raw["data"].pop("phase2_en")
        raw["data"].pop("phase2_pool")
        raw["data"]["families"] = {
            first: {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
            "commonsense": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}
    return change


# (id, change to the demo params (a function of the parsed file, or the file's text),
#  fragments the one-line error must contain: the key, the value, what is accepted)
BAD_PARAMS = [
    ("unknown-key", _set("seedz", [0]), ["'seedz'", "did you mean 'seeds'", "accepted here"]),
    ("unknown-nested-key", _set("phase3.learning_rate", 1e-3), ["'phase3.learning_rate'", "'lr'"]),
    ("seeds-not-a-list", _set("seeds", "zero"), ["'seeds'", "'zero'", "expected a list"]),
    ("epochs-a-word", _set("phase3.epochs", "many"), ["'phase3.epochs'", "'many'", "expected a number"]),
    ("lr-a-word", _set("phase2.lr", "fast"), ["'phase2.lr'", "'fast'", "expected a number"]),
    ("negative-lr", _set("phase3.lr", -1), ["'phase3.lr'", "-1", "greater than 0"]),
    ("k-zero", _set("selection.k", 0), ["'selection.k'", "value 0", "greater than 0"]),
    ("k-larger-than-pool", _set("selection.k", 50),
     ["selection.k 50", "6 language(s)", "'bn', 'fi', 'id', 'ja', 'ko', 'te'", "k from 1 to 6"]),
    ("batch-size-zero", _set("phase3.batch_size", 0), ["'phase3.batch_size'", "value 0", "greater than 0"]),
    ("warmup-over-one", _set("phase3.warmup_ratio", 1.5), ["'phase3.warmup_ratio'", "1.5", "less than 1"]),
    ("budget-negative", _set("selection.budget", -5), ["'selection.budget'", "-5", "greater than 0"]),
    ("random-draws-negative", _set("selection.random_draws", -1), ["'selection.random_draws'", "-1"]),
    ("threads-zero", _set("threads", 0), ["'threads'", "value 0", "greater than 0"]),
    ("negative-seed", _set("seeds", [0, -1]), ["'seeds.1'", "-1", "greater than or equal to 0"]),
    ("max-train-zero", _set("data.max_train_examples", 0), ["'data.max_train_examples'", "greater than 0"]),
    ("unknown-target-task", _set("data.targets", {"xnlii": {"train": "demo_nli"}}),
     ["'data.targets'", "unknown task 'xnlii'", "'xnli'", "study/tasks.yaml"]),
    ("unknown-pool-task", _set("data.phase2_pool", ["mnlii"]), ["'data.phase2_pool'", "'mnlii'", "'mnli'"]),
    ("unknown-language", _set("data.targets.demo_nli.languages", ["en", "xx"]),
     ["targets.demo_nli.languages", "['xx']", "accepted: ['en', 'de'"]),
    ("target-trained-without-english", _set("data.targets.demo_nli.train", "demo_americas"),
     ["'data.targets.demo_nli.train'", "'demo_americas'", "needs English train and dev"]),
    ("also-evaluate-other-head", _set("data.targets.demo_nli.also_evaluate", ["demo_choice"]),
     ["'data.targets'", "also_evaluate 'demo_choice'", "another head"]),
    ("phase2-task-without-train", _set("data.phase2_en", "demo_americas"),
     ["'data.phase2_en'", "'demo_americas'", "no train split"]),
    ("no-conditions", _set("conditions", []), ["'conditions'", "[]", "at least one condition from"]),
    ("unknown-condition", _set("conditions", ["none", "diverse2"]), ["'diverse2'", "accepted: ['none'"]),
    ("condition-twice", _set("conditions", ["none", "en", "en"]), ["'conditions'", "twice"]),
    ("no-seeds", _set("seeds", []), ["'seeds'", "at least one seed"]),
    ("translate-train-without-data", _set("data.translate_train", None),
     ["condition 'translate-train'", "data.translate_train"]),
    ("families-and-phase2-en", lambda raw: raw["data"].update(families={
        "a": {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
        "b": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}),
     ["section 'data'", "either phase2_en and phase2_pool", "not both"]),
    ("one-family", lambda raw: (raw["data"].pop("phase2_en"), raw["data"].pop("phase2_pool"),
                                raw["data"].update(families={"a": {"phase2_en": "demo_nli",
                                                                   "phase2_pool": ["demo_nli"]}})),
     ["'data.families'", "one family", "two or more"]),
    ("family-name-unsafe", _families("NLI!"), ["'data.families'", "'NLI!'", "lower-case letters"]),
    ("local-without-folder", _set("data.local_dir", None), ["section 'data'", "needs local_dir"]),
    ("xtreme-without-folder", _set("data.source", "xtreme"), ["section 'data'", "needs xtreme_dir"]),
    ("unknown-feature-set", _set("selection.feature_sets", ["morphology"]),
     ["'selection.feature_sets.0'", "'morphology'", "'syntactic', 'phonological' or 'inventory'"]),
    ("unknown-quota", _set("selection.quota", "fair"),
     ["'selection.quota'", "'fair'", "'equal' or 'temperature'"]),
    ("heads-do-not-divide", _set("model.num_heads", 3), ["section 'model'", "hidden_size 64", "num_heads 3"]),
    ("seed-policy-unknown", _set("phase2_seed_policy", "each"),
     ["'phase2_seed_policy'", "'each'", "'shared' or 'per_seed'"]),
    ("unknown-precision", _set("phase3.precision", "fp64"), ["'phase3.precision'", "'fp64'", "'bf16'"]),
    ("masked-lm-in-phase3", _set("phase3.mlm", True), ["phase3.mlm", "phase-2 task"]),
    ("memory-unknown-stage", _set("plan.memory_mb", {"phase9": 100}),
     ["'plan.memory_mb'", "'phase9'", "'phase3'"]),
    ("hardware-rate-a-word", _set("plan.hardware", {"cpu": "fast"}),
     ["'plan.hardware.cpu'", "'fast'", "a number"]),
    ("study-name-with-slash", _set("study", "a/b"), ["'study'", "'a/b'", "A-Za-z0-9_.-"]),
    ("study-missing", _set("study", DELETE), ["'study'", "required but missing"]),
    ("output-root-is-a-file", _set("output_root", "/etc/hostname"),
     ["'output_root'", "/etc/hostname", "a folder"]),
    ("loader-owned-key", _set("source_file", "x.yaml"), ["'source_file'", "set by the loader"]),
    ("yaml-syntax", "study: demo\nseeds: [0, 1\n", ["not valid YAML", "line 3"]),
    ("tab-indentation", "study: demo\nmodel:\n\tname_or_path: x\n", ["not valid YAML", "line 3"]),
    ("list-at-top", "- demo\n- nli\n", ["expected a mapping of settings", "['demo', 'nli']"]),
    ("empty-file", "", ["expected a mapping of settings", "got None"]),
]


def _params(tmp_path: Path, change) -> Path:
    path = tmp_path / "bad.yaml"
    if isinstance(change, str):
        path.write_text(change)
        return path
    raw = copy.deepcopy(DEMO)
    raw["output_root"] = str(tmp_path / "outputs")
    raw["data"]["local_dir"] = str(ROOT / "data" / "demo")
    raw["model"]["corpus"] = str(ROOT / "data" / "demo" / "demo_pretrain")
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_there_are_at_least_30_bad_parameter_files():
    assert len(BAD_PARAMS) >= 30 and len({c[0] for c in BAD_PARAMS}) == len(BAD_PARAMS)


@pytest.mark.parametrize(("change", "fragments"), [c[1:] for c in BAD_PARAMS], ids=[c[0] for c in BAD_PARAMS])
@pytest.mark.parametrize("command", ["check", "plan", "run"])
def test_bad_parameter_file_gives_one_clear_error_and_writes_nothing(tmp_path, capsys, command, change,
                                                                     fragments):
    params = _params(tmp_path, change)
    code, err = _cli(capsys, command, str(params))
    assert code == 2
    assert err.startswith(f"error: {params}:"), err  # the file first
    assert len(err.strip().splitlines()) == 1, err  # one line
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err and "pydantic" not in err.lower()
    assert not (tmp_path / "outputs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_the_real_command_line_shows_no_traceback(tmp_path):
    params = _params(tmp_path, _set("phase3.epochs", "many"))
    done = subprocess.run([sys.executable, "-m", "study.grid", "run", str(params)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {params}: key 'phase3.epochs': value 'many' is not accepted: expected a number, "
        "e.g. 2e-5 or 0.1"]
    assert not (tmp_path / "outputs").exists()


# -- bad data files ---------------------------------------------------------------------

def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _edit_rows(relative: str, edit):
    def change(data: Path) -> Path:
        path = data / relative
        rows = _rows(path)
        edit(rows)
        _write_rows(path, rows)
        return path
    return change


def _bytes(relative: str, edit):
    def change(data: Path) -> Path:
        path = data / relative
        path.write_bytes(edit(path.read_bytes()))
        return path
    return change


def _drop_hypothesis(rows):
    for r in rows:
        r.pop("hypothesis")


def _latin1_line(blob: bytes) -> bytes:
    lines = blob.split(b"\n")
    lines[3] = json.dumps({"premise": "Der Bär frißt", "hypothesis": "Süß", "label": 0},
                          ensure_ascii=False).encode("latin-1")
    return b"\n".join(lines)


def _misnamed_folder(data: Path) -> Path:
    (data / "demo_nli" / "de").rename(data / "demo_nli" / "deu")
    return data / "demo_nli" / "deu"


def _second_copy(data: Path) -> Path:
    path = data / "demo_nli" / "de" / "test.csv"
    path.write_text("premise,hypothesis,label\na,b,0\n")
    return data / "demo_nli" / "de" / "test"


def _delete(relative: str):
    def change(data: Path) -> Path:
        (data / relative).unlink()
        return data / relative
    return change


def _squad_with_duplicate_ids(data: Path) -> Path:
    path = data / "squad" / "en" / "train.jsonl"
    path.parent.mkdir(parents=True)
    row = {"id": "q1", "title": "t", "context": "Anna reads the book.", "question": "Who reads?",
           "answers": {"text": ["Anna"], "answer_start": [0]}}
    _write_rows(path, [row, {**row, "question": "Who?"}])
    return path


# (id, change to a copy of data/demo returning the file it broke, fragments, keep MANIFEST.json)
BAD_DATA = [
    ("missing-column", _edit_rows("demo_nli/de/test.jsonl", _drop_hypothesis),
     ["missing column(s) ['hypothesis']", "found ['premise', 'label']"], False),
    ("unknown-label", _edit_rows("demo_nli/ru/validation.jsonl", lambda rows: rows[5].update(label=7)),
     ["column 'label' has label value(s) [7]", "accepted ids 0..2"], False),
    ("label-as-text", _edit_rows("demo_nli/en/train.jsonl", lambda rows: rows[0].update(label="entailment")),
     ["label value(s) ['entailment']", "ids 0..2"], False),
    ("label-null", _edit_rows("demo_nli/zh/test.jsonl", lambda rows: rows[9].update(label=None)),
     ["without a value (null)", "'label': 1"], False),
    ("label-boolean", _edit_rows("demo_choice/sw/test.jsonl", lambda rows: rows[1].update(label=True)),
     ["label value(s) [True]", "index of the right choice"], False),
    ("choice-missing", _edit_rows("demo_choice/id/test.jsonl", lambda rows: rows[4].pop("choice2")),
     ["without a value (null)", "'choice2': 1"], False),
    ("empty-file", _bytes("demo_nli/ar/test.jsonl", lambda b: b""), ["the file is empty"], False),
    ("blank-lines-only", _bytes("demo_nli/hi/test.jsonl", lambda b: b"\n\n"),
     ["cannot be read as JSON lines"], False),
    ("truncated", _bytes("demo_nli/sw/validation.jsonl", lambda b: b[: len(b) // 2 - 7]),
     ["cannot be read as JSON lines"], False),
    ("mixed-encodings", _bytes("demo_nli/de/validation.jsonl", _latin1_line),
     ["line 4 is not UTF-8 (byte 0xe4", "re-save it as UTF-8"], False),
    ("not-json", _bytes("demo_nli/ru/test.jsonl", lambda b: b"premise,hypothesis,label\na,b,0\n"),
     ["cannot be read as JSON lines"], False),
    ("wrong-language-folder", _misnamed_folder, ["'deu' is not a language of task 'demo_nli'",
                                                 "did you mean 'de'?", "its languages"], False),
    ("missing-file", _delete("demo_choice/zh/test.jsonl"),
     ["no such file", "or .parquet, .csv, .tsv"], False),
    ("two-copies", _second_copy, ["several copies ['test.jsonl', 'test.csv']", "keep one"], False),
    ("duplicate-ids", _squad_with_duplicate_ids, ["column 'id' has 1 duplicate id(s) ['q1']"], False),
    ("truncated-shipped-file", _bytes("demo_nli/fi/train.jsonl", lambda b: b[: len(b) // 3]),
     ["content differs from MANIFEST.json", "1500 expected", "cut off or edited"], True),
    ("shipped-file-deleted", _delete("demo_choice/ko/test.jsonl"),
     ["missing; MANIFEST.json lists it (200 rows)", "python -m study.demo_data"], True),
]


def test_there_are_at_least_15_bad_data_files():
    assert len(BAD_DATA) >= 15


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory) -> Path:
    return shutil.copytree(ROOT / "data" / "demo", tmp_path_factory.mktemp("pristine") / "demo")


@pytest.mark.parametrize(("change", "fragments", "manifest"), [c[1:] for c in BAD_DATA],
                         ids=[c[0] for c in BAD_DATA])
def test_bad_data_file_gives_one_clear_error_and_writes_nothing(tmp_path, capsys, demo_copy, change,
                                                                fragments, manifest):
    data = shutil.copytree(demo_copy, tmp_path / "data")
    if not manifest:  # the shipped checksums would catch every edit first
        for m in data.glob("*/MANIFEST.json"):
            m.unlink()
    broken = change(data)
    raw = copy.deepcopy(DEMO)
    raw["output_root"] = str(tmp_path / "outputs")
    raw["data"]["local_dir"] = str(data)
    raw["model"]["corpus"] = str(data / "demo_pretrain")
    if broken.parts[-3] == "squad":  # an English QA task beside demo_nli in phase 2
        raw["data"]["phase2_en"] = ["demo_nli", "squad"]
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, err = _cli(capsys, "run", str(params))
    err = err.split("\r")[-1].lstrip()  # after the check's progress bar
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    assert str(broken) in err, err  # names the file
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


def test_the_shipped_demo_data_passes_the_check(capsys):
    code = grid.main(["check", str(ROOT / "params" / "demo.yaml")])
    out = capsys.readouterr().out
    assert code == 0 and "59 local data split(s) readable" in out, out


# -- the Hub ----------------------------------------------------------------------------

def _full_params(tmp_path: Path, **model) -> Path:
    raw = yaml.safe_load((ROOT / "params" / "full.yaml").read_text())
    raw["output_root"] = str(tmp_path / "outputs")
    raw["model"].update(model)
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    return tmp_path / "hub"


def test_a_model_missing_offline_is_named_at_once_with_how_to_supply_it(tmp_path, capsys, empty_hub_cache):
    params = _full_params(tmp_path)
    start = time.perf_counter()
    code, err = _cli(capsys, "run", str(params))
    seconds = time.perf_counter() - start
    print(f"model missing offline: refused in {seconds:.2f} s")
    assert code == 2 and err.count("\n") == 1
    assert "model 'xlm-roberta-large' is not in the local Hugging Face cache" in err
    assert "`hf download xlm-roberta-large`" in err and "model.name_or_path" in err
    assert not (tmp_path / "outputs").exists()


def test_a_dataset_missing_offline_is_named_with_how_to_supply_it(tmp_path, capsys, empty_hub_cache):
    model = tmp_path / "local-model"  # a local folder: the model is not a Hub need
    model.mkdir()
    code, err = _cli(capsys, "check", str(_full_params(tmp_path, name_or_path=str(model))))
    assert code == 2 and err.count("\n") == 1
    assert "dataset 'facebook/xnli' is not in the local Hugging Face cache" in err, err
    assert "--repo-type dataset" in err and "data.source: local" in err


def test_with_everything_cached_an_unreachable_hub_means_offline_jobs(tmp_path, monkeypatch, empty_hub_cache):
    from study import preflight
    from study.config import load_config

    params = _full_params(tmp_path)
    cfg = load_config(params)
    for kind, repo in preflight.hub_needs(cfg):  # the layout `hf download` leaves (refs, blobs, snapshots)
        folder = empty_hub_cache / f"{kind}s--{repo.replace('/', '--')}"
        for sub in ("refs", "blobs", "snapshots/abc"):
            (folder / sub).mkdir(parents=True)
        (folder / "refs" / "main").write_text("abc")
        (folder / "blobs" / "0f1e").write_text("{}")
        (folder / "snapshots" / "abc" / "config.json").symlink_to("../../blobs/0f1e")
    assert all(preflight.in_cache(kind, repo) for kind, repo in preflight.hub_needs(cfg))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(preflight, "hub_reachable", lambda timeout=3.0: False)
    checked, splits = preflight.check(params)
    assert splits == 0 and checked.study == cfg.study
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # the jobs inherit it: no network timeouts
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(preflight, "hub_reachable", lambda timeout=3.0: True)
    assert preflight.check_hub(cfg) is False  # reachable: nothing is forced offline


def test_hub_reachability_is_not_probed_when_offline_is_declared(monkeypatch):
    from study import preflight

    def no_network(*args, **kwargs):
        raise AssertionError("probed the network although HF_HUB_OFFLINE=1")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(preflight.socket, "create_connection", no_network)
    assert preflight.hub_reachable() is False


# -- a full disk -------------------------------------------------------------------------

def _disk_full_after(monkeypatch, module, calls: int):
    """Make `module.os.fsync` (the last step of an atomic write) fail with ENOSPC."""
    real = os.fsync
    count = {"n": 0}

    def fsync(fd):
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(module.os, "fsync", fsync)


def test_a_full_disk_while_writing_a_result_keeps_the_previous_one(tmp_path, monkeypatch):
    import pandas as pd

    from study import io

    target = tmp_path / "analysis" / "results.parquet"
    good = pd.DataFrame({"value": [0.5, 0.75]})
    io.atomic_write_bytes(target, good.to_parquet())
    _disk_full_after(monkeypatch, io, 0)
    with pytest.raises(io.DiskFull) as caught:
        io.atomic_write_bytes(target, pd.DataFrame({"value": [0.0]}).to_parquet())
    message = str(caught.value)
    assert str(target) in message and "disk full" in message and "previous version" in message
    assert "MB free" in message
    pd.testing.assert_frame_equal(pd.read_parquet(target), good)  # the good state is kept
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.parquet"]  # no temp file left


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_last_good_one(tmp_path, monkeypatch):
    """Training that runs out of disk while writing its second checkpoint stops with the
    error; the first checkpoint is intact and the run resumes from it to the same model as
    a run that never failed."""
    import torch
    from datasets import Dataset

    from study.config import ModelConfig, TrainConfig
    from study.pretrained import build_tiny_xlmr
    from study.training import resume_point, save_encoder, train_phase2

    pairs = [("Anna sees the book.", "Anna sees the book.", 0),
             ("Anna sees the book.", "Anna sees the car today.", 1),
             ("Anna sees the book.", "Anna does not see the book.", 2)]
    texts = [s for p, h, _ in pairs for s in (p, h)]
    model = str(build_tiny_xlmr(tmp_path / "tiny", texts, ModelConfig(name_or_path="t", build="tiny-xlmr",
                                                                     vocab_size=120), seed=0))
    rows = [pairs[i % 3] for i in range(48)]
    data = {"demo_nli": Dataset.from_dict({
        "premise": [r[0] for r in rows], "hypothesis": [r[1] for r in rows],
        "label": [r[2] for r in rows], "lang": ["en"] * 48})}
    t = TrainConfig(lr=5e-3, epochs=2, batch_size=8, max_length=32, save_steps=4)
    key = {"test": "disk"}

    reference = save_encoder(train_phase2(model, data, t, 0, tmp_path / "ref-work", key), tmp_path / "ref")

    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if "checkpoint-8" in str(f):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    work = tmp_path / "work"
    monkeypatch.setattr(torch, "save", save)
    from study.io import DiskFull

    with pytest.raises(DiskFull) as caught:
        train_phase2(model, data, t, 0, work, key)
    assert caught.value.errno == errno.ENOSPC
    message = str(caught.value)  # one clear line: what, where, what is kept, what to do
    assert f"{work / 'checkpoint-8'}: disk full while writing it" in message
    assert "checkpoint-4, is kept: run again to resume from it" in message and "\n" not in message
    monkeypatch.setattr(torch, "save", real_save)
    assert (work / "checkpoint-4" / "trainer_state.json").is_file()  # the last good state
    assert not (work / "checkpoint-8" / "trainer_state.json").exists()
    assert resume_point(work, key).endswith("checkpoint-4")
    assert not (work / "checkpoint-8").exists()  # the cut-off one is removed, not trusted

    resumed = save_encoder(train_phase2(model, data, t, 0, work, key), tmp_path / "resumed")
    assert (resumed / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
