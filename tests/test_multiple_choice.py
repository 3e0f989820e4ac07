"""Multiple-choice tasks (XCOPA, COPA): fixtures in each source's schema, canonical output."""

import json
from pathlib import Path

import pytest

from study.config import ConfigError, DataConfig, load_config
from study.data import DataError, load_split
from study.registry import TASKS

ROOT = Path(__file__).resolve().parents[1]

XCOPA_ROWS = [  # the Hub / XTREME schema of XCOPA (and COPA)
    {"premise": "Mies avasi hanan.", "choice1": "Vessa täyttyi vedellä.",
     "choice2": "Vettä valui hanasta.", "question": "effect", "label": 1, "idx": 1, "changed": False},
    {"premise": "Tyttö löysi hyönteisen.", "choice1": "Hän kaatoi maitoa.",
     "choice2": "Hän menetti ruokahalunsa.", "question": "effect", "label": 1, "idx": 2,
     "changed": False},
    {"premise": "Nainen jätti työnsä.", "choice1": "Hän sai ylennyksen.",
     "choice2": "Hän oli tyytymätön.", "question": "cause", "label": 1, "idx": 3, "changed": True},
]


def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _cfg(**kw) -> DataConfig:
    return DataConfig(targets={"xnli": {"train": "mnli"}}, phase2_en="mnli",
                      phase2_pool=["klue_nli"], **kw)


def _check_canonical(ds, lang):
    assert ds.column_names == ["premise", "question", "choices", "label", "lang"]
    first = ds[0]
    assert first["choices"] == [XCOPA_ROWS[0]["choice1"], XCOPA_ROWS[0]["choice2"]]
    assert first["premise"] == XCOPA_ROWS[0]["premise"] and first["question"] == "effect"
    assert list(ds["label"]) == [1, 1, 1] and set(ds["lang"]) == {lang}


def test_xcopa_local_files_in_hub_schema(tmp_path):
    _jsonl(tmp_path / "xcopa" / "et" / "test.jsonl", XCOPA_ROWS)
    _check_canonical(load_split("xcopa", "et", "test", _cfg(source="local", local_dir=tmp_path)), "et")


def test_xcopa_xtreme_layout(tmp_path):
    _jsonl(tmp_path / "xcopa" / "val-et.jsonl", XCOPA_ROWS)
    cfg = _cfg(sources={"xcopa": "xtreme"}, xtreme_dir=tmp_path)
    _check_canonical(load_split("xcopa", "et", "dev", cfg), "et")


def test_copa_english_fixture(tmp_path):
    _jsonl(tmp_path / "copa" / "en" / "train.jsonl",
           [{**r, "premise": "The man turned on the faucet."} for r in XCOPA_ROWS])
    ds = load_split("copa", "en", "train", _cfg(source="local", local_dir=tmp_path))
    assert ds[0]["premise"] == "The man turned on the faucet." and len(ds[0]["choices"]) == 2


def test_label_outside_the_choices_is_named(tmp_path):
    _jsonl(tmp_path / "xcopa" / "et" / "test.jsonl", [{**XCOPA_ROWS[0], "label": 2}])
    with pytest.raises(DataError, match=r"column 'label' has label value\(s\) \[2\]; accepted ids 0\.\.1"):
        load_split("xcopa", "et", "test", _cfg(source="local", local_dir=tmp_path))


def test_xtreme_test_file_without_labels_is_named(tmp_path):
    _jsonl(tmp_path / "xcopa" / "test-et.jsonl", [{k: v for k, v in r.items() if k != "label"}
                                                  for r in XCOPA_ROWS])
    with pytest.raises(DataError, match=r"test-et\.jsonl: missing column\(s\) \['label'\]"):
        load_split("xcopa", "et", "test", _cfg(sources={"xcopa": "xtreme"}, xtreme_dir=tmp_path))


def test_registry_entries_are_consistent():
    assert TASKS["xcopa"].head == "multiple_choice" and TASKS["xcopa"].label_names is None
    assert len(TASKS["xcopa"].languages) == 11
    assert TASKS["xnli"].label_names == ("entailment", "neutral", "contradiction")


def test_xcopa_is_a_target_trained_on_english_copa():
    cfg = load_config(ROOT / "params/full.yaml")
    assert cfg.data.targets["xcopa"].train == "copa"
    assert cfg.data.evaluated("xcopa") == [("xcopa", TASKS["xcopa"].languages)]
    with pytest.raises(ConfigError, match=r"task 'klue_nli' needs English train and dev"):
        load_config(ROOT / "params/full.yaml", {"data.targets.xnli.train": "klue_nli"})
