"""The loader: local files in the Hub schema, label mapping, errors, budgets."""

import json
import time
from pathlib import Path

import pytest

from study.config import DataConfig
from study.data import DataError, load_split, local_files
from study.registry import NLI_LABELS, TASKS
from study.selection import fill_quotas, language_budgets, shares, temperature_shares


def _write(root: Path, task: str, lang: str, split: str, rows: list[dict]) -> None:
    path = local_files(TASKS[task], lang, split, root)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _cfg(root: Path) -> DataConfig:
    return DataConfig(source="local", local_dir=root, targets={"xnli": {"train": "mnli"}},
                      phase2_en="mnli", phase2_pool=["ocnli"])


def test_xnli_schema_maps_to_canonical_columns(tmp_path):
    _write(tmp_path, "xnli", "de", "test", [
        {"premise": "Er schläft.", "hypothesis": "Er ist wach.", "label": 2},
        {"premise": "Sie isst.", "hypothesis": "Sie isst etwas.", "label": 0},
    ])
    ds = load_split("xnli", "de", "test", _cfg(tmp_path))
    assert ds.column_names == ["premise", "hypothesis", "label", "lang"]
    assert [NLI_LABELS[x] for x in ds["label"]] == ["contradiction", "entailment"]
    assert ds["lang"] == ["de", "de"]


def test_ocnli_label_order_is_remapped(tmp_path):
    # OCNLI (CLUE) orders its ids neutral, entailment, contradiction.
    _write(tmp_path, "ocnli", "zh", "train", [
        {"sentence1": "他在睡觉。", "sentence2": "他醒着。", "label": 2},
        {"sentence1": "她在吃饭。", "sentence2": "她在吃东西。", "label": 1},
        {"sentence1": "她在吃饭。", "sentence2": "她很饿。", "label": 0},
    ])
    ds = load_split("ocnli", "zh", "train", _cfg(tmp_path))
    assert [NLI_LABELS[x] for x in ds["label"]] == ["contradiction", "entailment", "neutral"]
    assert ds["premise"][0] == "他在睡觉。"


def test_unknown_label_is_named(tmp_path):
    _write(tmp_path, "xnli", "de", "test", [{"premise": "a", "hypothesis": "b", "label": 7}])
    with pytest.raises(DataError, match=r"test\.jsonl: column 'label' has label value\(s\) \[7\]"):
        load_split("xnli", "de", "test", _cfg(tmp_path))


def test_missing_column_is_named(tmp_path):
    _write(tmp_path, "xnli", "de", "test", [{"premise": "a", "label": 0}])
    with pytest.raises(DataError, match=r"missing column\(s\) \['hypothesis'\]"):
        load_split("xnli", "de", "test", _cfg(tmp_path))


def test_missing_file_says_where_it_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"xnli/de/test\.jsonl: no such file"):
        load_split("xnli", "de", "test", _cfg(tmp_path))


def test_language_the_task_lacks_is_refused(tmp_path):
    with pytest.raises(DataError, match="task 'xnli' has no language 'ja'"):
        load_split("xnli", "ja", "test", _cfg(tmp_path))


def test_hub_offline_fails_fast_naming_the_dataset(tmp_path):
    cfg = DataConfig(source="hub", targets={"xnli": {"train": "mnli"}}, phase2_en="mnli",
                     phase2_pool=["ocnli"])
    start = time.time()
    with pytest.raises(DataError, match=r"dataset 'facebook/xnli' \(config 'de'.*data.source: local"):
        load_split("xnli", "de", "test", cfg)
    assert time.time() - start < 30  # offline mode: no network timeout


def test_budget_shares_sum_exactly():
    assert shares(10, 3) == [4, 3, 3]
    assert sum(language_budgets("diverse", ("ja", "ko", "te"), 1000).values()) == 1000
    mixed = language_budgets("en+diverse", ("en", "ja", "ko"), 1001)
    assert mixed == {"en": 500, "ja": 251, "ko": 250}


def test_short_language_gives_all_it_has_and_the_rest_is_redistributed():
    planned = {"ja": 334, "ko": 333, "te": 333}
    used = fill_quotas(planned, {"ja": 100, "ko": 5000, "te": 5000})
    assert used == {"ja": 100, "ko": 450, "te": 450}
    assert fill_quotas(planned, {"ja": 100, "ko": 420, "te": 5000}) == {"ja": 100, "ko": 420, "te": 480}
    assert fill_quotas(planned, {"ja": 400, "ko": 400, "te": 400}) == planned


def test_budget_larger_than_all_data_is_refused():
    with pytest.raises(DataError, match=r"1200 usable examples in all.*fewer than the budget 1500"):
        fill_quotas({"ja": 500, "ko": 500, "te": 500}, {"ja": 400, "ko": 400, "te": 400})


def test_temperature_shares():
    sizes = {"ko": 24000, "id": 10000, "ja": 2000}
    assert temperature_shares(1000, sizes, 1.0) == {"ko": 667, "id": 278, "ja": 55}  # by size
    flat = temperature_shares(1000, sizes, 1000.0)
    assert max(flat.values()) - min(flat.values()) <= 2  # T -> infinity: equal
    mid = temperature_shares(1000, sizes, 3.3)
    assert sum(mid.values()) == 1000 and flat["ja"] > mid["ja"] > 55
    mixed = language_budgets("en+diverse", ("en", "ko", "ja"), 1001, sizes, 1.0)
    assert mixed == {"en": 500, "ko": 462, "ja": 39}


@pytest.mark.parametrize(("task", "lang", "split"), [
    ("americas_nli", "quy", "test"), ("xnli_mt", "sw", "train"), ("klue_nli", "ko", "train"),
    ("mnli", "en", "dev"), ("demo_nli", "te", "train")])
def test_nli_entries_map_their_hub_schema(tmp_path, task, lang, split):
    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "label": i % 3} for i in range(6)]
    _write(tmp_path, task, lang, split, rows)
    ds = load_split(task, lang, split, _cfg(tmp_path))
    names = [NLI_LABELS[x] for x in ds["label"]]
    assert names == [TASKS[task].label_names[i % 3] for i in range(6)]
    assert list(ds["premise"]) == [f"p{i}" for i in range(6)] and set(ds["lang"]) == {lang}
    assert TASKS[task].head == "pair_classification"


@pytest.mark.parametrize(("text", "message"), [
    ("", r"the file is empty"),
    ('{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "a", broken\n',
     r"cannot be read as JSON lines"),
])
def test_empty_or_unreadable_file_is_named(tmp_path, text, message):
    path = local_files(TASKS["xnli"], "de", "test", tmp_path)[0]
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(DataError, match=r"xnli/de/test\.jsonl: " + message):
        load_split("xnli", "de", "test", _cfg(tmp_path))


def test_parquet_and_tsv_local_files_in_the_hub_schema(tmp_path):
    import pandas as pd

    rows = [{"premise": "Er schläft.", "hypothesis": "Er ist wach.", "label": 2},
            {"premise": "Sie isst.", "hypothesis": "Sie isst etwas.", "label": 0}]
    path = local_files(TASKS["xnli"], "de", "test", tmp_path)[0]
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path.with_suffix(".parquet"))
    ds = load_split("xnli", "de", "test", _cfg(tmp_path))
    assert [NLI_LABELS[x] for x in ds["label"]] == ["contradiction", "entailment"]
    pd.DataFrame(rows).to_csv(path.with_suffix(".tsv"), sep="\t", index=False)
    with pytest.raises(DataError, match=r"xnli/de/test: several copies \['test.parquet', 'test.tsv'\]"):
        load_split("xnli", "de", "test", _cfg(tmp_path))
    path.with_suffix(".parquet").unlink()
    ds = load_split("xnli", "de", "test", _cfg(tmp_path))
    assert list(ds["premise"]) == ["Er schläft.", "Sie isst."] and list(ds["label"]) == [2, 0]


def test_csv_keeps_string_labels_and_refuses_bad_ids(tmp_path):
    siqa = tmp_path / "siqa" / "en" / "train.csv"
    siqa.parent.mkdir(parents=True)
    siqa.write_text('context,question,answerA,answerB,answerC,label\n'
                    '"Tracy lost her keys, sadly.",What next?,sing,dance,look for them,3\n')
    cfg = DataConfig(source="local", local_dir=tmp_path, targets={"xnli": {"train": "mnli"}},
                     phase2_en="mnli", phase2_pool=["ocnli"])
    ds = load_split("siqa", "en", "train", cfg)
    assert ds[0]["label"] == 2 and ds[0]["premise"] == "Tracy lost her keys, sadly."
    bad = tmp_path / "xnli" / "de" / "test.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("premise,hypothesis,label\na,b,entailment\n")
    with pytest.raises(DataError, match=r"test\.csv: column 'label' has label value\(s\) \['entailment'\]"):
        load_split("xnli", "de", "test", cfg)


def test_list_columns_cannot_come_from_csv(tmp_path):
    path = tmp_path / "squad" / "en" / "train.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,question,context,answers\n1,q,c,a\n")
    cfg = DataConfig(source="local", local_dir=tmp_path, targets={"xnli": {"train": "mnli"}},
                     phase2_en="mnli", phase2_pool=["ocnli"])
    with pytest.raises(DataError, match=r"list-valued column\(s\) \['answers'\].*use \.jsonl or \.parquet"):
        load_split("squad", "en", "train", cfg)


def test_dataset_fingerprint_follows_content_not_processing_history(tmp_path):
    from datasets import Dataset, load_dataset

    from study.provenance import dataset_fingerprint

    rows = {"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, 2], "lang": ["de", "de"]}
    built = Dataset.from_dict(rows).select([1, 0]).select([1, 0])  # same rows after two operations
    path = tmp_path / "set.jsonl"
    built.to_json(path)
    read_back = load_dataset("json", data_files=str(path), split="train")
    assert built._fingerprint != read_back._fingerprint  # what the old fingerprint got wrong
    assert dataset_fingerprint(built) == dataset_fingerprint(read_back)
    changed = Dataset.from_dict({**rows, "label": [0, 1]})
    reordered = Dataset.from_dict(rows).select([1, 0])
    assert len({dataset_fingerprint(d) for d in (built, changed, reordered)}) == 3


def test_a_split_read_again_is_the_one_already_read_until_its_file_changes(tmp_path):
    """load_split keeps what it read (study.data.LOADED): a phase-2 job reads every evaluation
    set for its leakage check, and the warm server reads a study's splits for every job. A
    file written again (new size, time or inode) is read again."""
    rows = [{"premise": f"Er schläft {i}.", "hypothesis": "Er ist wach.", "label": 2} for i in range(4)]
    _write(tmp_path, "xnli", "de", "test", rows)
    first = load_split("xnli", "de", "test", _cfg(tmp_path))
    assert load_split("xnli", "de", "test", _cfg(tmp_path)) is first
    assert load_split("xnli", "de", "test", _cfg(tmp_path), limit=2) is not first  # its own entry
    assert len(load_split("xnli", "de", "test", _cfg(tmp_path), limit=2)) == 2
    _write(tmp_path, "xnli", "de", "test", rows[:3])
    again = load_split("xnli", "de", "test", _cfg(tmp_path))
    assert again is not first and len(again) == 3 and len(first) == 4
