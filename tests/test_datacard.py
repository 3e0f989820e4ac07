from pathlib import Path

from datasets import Dataset

from study import datacard, typology
from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_task_card_lists_every_dataset_with_its_roles_and_licence():
    card = datacard.task_card(load_config(ROOT / "params/full.yaml"))
    assert list(card.index) == ["xnli", "americas_nli", "xcopa", "mnli", "siqa", "copa", "anli", "klue_nli",
                                "indonli", "jnli", "ocnli", "farstail", "teca", "cdsc_e", "si_nli", "xnli_mt"]
    assert card.loc["cdsc_e", "license"] == "CC BY-NC-SA 4.0" and card.loc["farstail", "origin"] == "native"
    assert card.loc["americas_nli", "roles"] == "zero-shot evaluation"
    assert card.loc["xnli_mt", "roles"] == "translate-train reference"
    assert card.loc["jnli", "hub id"] == "shunk031/JGLUE (JNLI)" and card.loc["anli", "task family"] == "nli"
    assert card.loc["mnli", "roles"] == "phase 3 (English); phase 2 (English)"
    assert card.loc["xnli", "origin"] == "human-translated"
    assert card.loc["siqa", "roles"] == card.loc["copa", "roles"] == "phase 3 (English)"  # xcopa: SIQA, COPA
    assert card.loc["ocnli", "hub id"] == "clue/clue (ocnli)"
    assert (card["read from"] == "hub").all()
    demo = datacard.task_card(load_config(ROOT / "params/demo.yaml"))
    assert demo.loc["demo_nli", "read from"] == "local" and demo.loc["demo_nli", "origin"] == "synthetic"


def test_scripts():
    assert [typology.script(x) for x in ("en", "ru", "ja", "ko", "te", "zh")] == [
        "Latn", "Cyrl", "Jpan", "Kore", "Telu", "Hans"]


def test_length_table():
    ds = Dataset.from_dict({"premise": ["ab", "abc"], "hypothesis": ["c", ""], "lang": ["en", "ja"]})
    table = datacard.length_table({"en": ds})
    assert table.to_dict("records") == [
        {"condition": "en", "task": "", "language": "en", "characters": 3},
        {"condition": "en", "task": "", "language": "ja", "characters": 3}]
