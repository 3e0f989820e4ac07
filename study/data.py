"""Loading every dataset of the study into one canonical shape.

Whatever the source (the Hub through `datasets`, or local jsonl files in the Hub's
schema), a split comes back as a `datasets.Dataset` with the columns

    premise, hypothesis, label (canonical id: entailment=0, neutral=1, contradiction=2), lang

The source's own column names and label ids are mapped through the registry entry
(study/tasks.yaml). Problems name the dataset, file, column or value.
"""

from __future__ import annotations

from pathlib import Path

from study.config import DataConfig, StudyConfig
from study.registry import NLI_LABELS, TASKS, TaskSpec

CANONICAL_COLUMNS = ("premise", "hypothesis", "label", "lang")


class DataError(ValueError):
    """Data is missing, unreadable or not in the schema the registry promises."""


def local_file(task: TaskSpec, lang: str, split: str, data_dir: Path) -> Path:
    """Where a local copy of (task, lang, split) lives, in the Hub's split naming."""
    return Path(data_dir) / task.name / lang / f"{task.splits[split]}.jsonl"


def load_split(task: str | TaskSpec, lang: str, split: str, data: DataConfig,
               limit: int | None = None):
    """One language's split of one task, in canonical columns (first `limit` rows)."""
    task = TASKS[task] if isinstance(task, str) else task
    if lang not in task.languages:
        raise DataError(f"task {task.name!r} has no language {lang!r}; it has {list(task.languages)}")
    if split not in task.splits:
        raise DataError(f"task {task.name!r} has no {split!r} split; it has {list(task.splits)}")
    kind = data.source_of(task.name)
    if kind == "local":
        raw = _load_local(task, lang, split, data.local_dir)
        where = str(local_file(task, lang, split, data.local_dir))
    elif kind == "xtreme":
        raw, where = _load_xtreme(task, lang, split, data.xtreme_dir)
    else:
        raw, where = _load_hub(task, lang, split), f"{task.hub_id} ({task.hub_config(lang)})"
    if limit is not None and len(raw) > limit:
        raw = raw.select(range(limit))
    return canonicalise(raw, task, lang, where)


def _load_local(task: TaskSpec, lang: str, split: str, data_dir: Path):
    path = local_file(task, lang, split, data_dir)
    if not path.is_file():
        raise DataError(
            f"{path}: no such file. With data.source: local, task {task.name!r} needs "
            f"{{local_dir}}/{task.name}/{{lang}}/{{split}}.jsonl in the Hub schema "
            f"(columns {source_columns(task)})")
    return _read_jsonl(path)


def _read_jsonl(path: Path):
    from datasets import load_dataset

    try:
        return load_dataset("json", data_files=str(path), split="train")
    except Exception as exc:  # datasets wraps parser errors in several types
        raise DataError(f"{path}: cannot be read as JSON lines ({type(exc).__name__}: {exc})") from None


def _load_xtreme(task: TaskSpec, lang: str, split: str, xtreme_dir: Path):
    """A split in the XTREME download layout: premise, hypothesis, label string; no header."""
    import csv

    import pandas as pd
    from datasets import Dataset

    if split not in task.xtreme_files:
        raise DataError(f"task {task.name!r} has no {split!r} file in the XTREME layout; it has "
                        f"{list(task.xtreme_files)}")
    path = Path(xtreme_dir) / task.xtreme_files[split].format(lang=lang)
    if not path.is_file():
        raise DataError(f"{path}: no such file (XTREME download layout, "
                        f"{task.xtreme_files[split]!r} under data.xtreme_dir)")
    if path.suffix == ".jsonl":  # e.g. xcopa/val-{lang}.jsonl: the source's own schema
        return _read_jsonl(path), str(path)
    try:
        table = pd.read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                            keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 tab-separated values "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if table.shape[1] == 2:
        raise DataError(f"{path}: two columns and no labels (XTREME's test files have their labels "
                        "removed); evaluate with labelled files or the Hub")
    if table.shape[1] != 3:
        raise DataError(f"{path}: expected 3 tab-separated columns (premise, hypothesis, label), "
                        f"found {table.shape[1]}")
    bad = sorted(set(table[2]) - set(task.label_names))
    if bad:
        raise DataError(f"{path}: label value(s) {bad[:5]} in column 3; accepted: {list(task.label_names)}")
    f = task.fields
    raw = Dataset.from_dict({f["premise"]: table[0].tolist(), f["hypothesis"]: table[1].tolist(),
                             f["label"]: [task.label_names.index(x) for x in table[2]]})
    return raw, str(path)


def _load_hub(task: TaskSpec, lang: str, split: str):
    from datasets import load_dataset

    if task.hub_id is None:
        raise DataError(f"task {task.name!r} exists only as local files: set data.source: local")
    try:
        return load_dataset(task.hub_id, name=task.hub_config(lang), split=task.splits[split],
                            revision=task.revision)
    except Exception as exc:  # offline: ConnectionError, OSError or DatasetNotFoundError
        raise DataError(
            f"dataset {task.hub_id!r} (config {task.hub_config(lang)!r}, split "
            f"{task.splits[split]!r}) could not be loaded: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}. Without Hub access, load it once on "
            f"a connected machine (datasets.load_dataset) and copy the cache "
            f"(~/.cache/huggingface), or write it as jsonl to "
            f"{{local_dir}}/{task.name}/{lang}/{task.splits[split]}.jsonl and set data.source: "
            f"local") from None


def source_columns(task: TaskSpec) -> list[str]:
    cols: list[str] = []
    for src in task.fields.values():
        cols.extend(src if isinstance(src, list) else [src])
    return cols


def canonicalise(raw, task: TaskSpec, lang: str, where: str):
    """The source's columns and labels in the canonical shape of the task's head.

    pair_classification: premise, hypothesis, label (canonical NLI id), lang.
    multiple_choice: premise, question, choices (list), label (index of the right choice), lang.
    """
    missing = [src for src in source_columns(task) if src not in raw.column_names]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; found {raw.column_names}")
    if len(raw) == 0:
        raise DataError(f"{where}: the split is empty")
    if task.head == "multiple_choice":
        return _canonical_choices(raw, task, lang, where)
    to_canonical = [NLI_LABELS.index(name) for name in task.label_names]
    source_label = task.fields["label"]
    bad = sorted({v for v in raw[source_label] if not _valid_id(v, len(to_canonical))}, key=str)
    if bad:
        raise DataError(f"{where}: column {source_label!r} has label value(s) {bad[:5]}; "
                        f"accepted ids 0..{len(to_canonical) - 1} meaning {list(task.label_names)}")
    rename = {src: ours for ours, src in task.fields.items() if src != ours}
    ds = raw.select_columns(list(task.fields.values())).rename_columns(rename)
    ds = ds.map(lambda b: {"label": [to_canonical[v] for v in b["label"]], "lang": [lang] * len(b["label"])},
                batched=True, desc=f"{task.name}/{lang}")
    return ds


def _canonical_choices(raw, task: TaskSpec, lang: str, where: str):
    f = task.fields
    n = len(f["choices"])
    bad = sorted({v for v in raw[f["label"]] if not _valid_id(v, n)}, key=str)
    if bad:
        raise DataError(f"{where}: column {f['label']!r} has label value(s) {bad[:5]}; "
                        f"accepted: the index of the right choice, 0..{n - 1}")

    def convert(b):
        size = len(b[f["label"]])
        return {"premise": b[f["premise"]],
                "question": b[f["question"]] if "question" in f else [""] * size,
                "choices": [list(c) for c in zip(*(b[col] for col in f["choices"]), strict=True)],
                "label": b[f["label"]], "lang": [lang] * size}

    ds = raw.map(convert, batched=True, remove_columns=raw.column_names, desc=f"{task.name}/{lang}")
    return ds.select_columns(["premise", "question", "choices", "label", "lang"])


def _valid_id(value, n: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n


def pretraining_corpus(cfg: StudyConfig) -> list[str]:
    """Every sentence of the training splits of the study's tasks, sorted and unique.

    Used only to build the demo's tokenizer and masked-LM pretraining: like XLM-R's
    CC-100, it covers the test languages, but it holds no dev or test sentence.
    """
    d = cfg.data
    texts: set[str] = set()
    for name in d.tasks():
        task = TASKS[name]
        if "train" not in task.splits:
            continue
        for lang in task.languages:
            ds = load_split(task, lang, "train", d)
            texts.update(ds["premise"])
            texts.update(ds["hypothesis"])
    return sorted(texts)
