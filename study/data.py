"""Loading every dataset of the study into one canonical shape per head.

Whatever the source (the Hub through `datasets`, local jsonl files in the Hub's schema,
or the XTREME download layout), a split comes back as a `datasets.Dataset` with the
canonical columns of the task's head (`CANONICAL_COLUMNS`):

    pair_classification  premise, hypothesis, label (index in the task's canonical label
                         set: NLI entailment=0, neutral=1, contradiction=2), lang
    multiple_choice      premise, question, choices (list), label (index of the right
                         choice), lang
    extractive_qa        id, question, context, answers {text: [...], answer_start: [...]},
                         lang

The source's own column names, split names and label values are mapped through the
registry entry (study/tasks.yaml). Problems name the dataset, file, column or value.
"""

from __future__ import annotations

from pathlib import Path

from study.config import DataConfig, StudyConfig
from study.registry import TASKS, TaskSpec

CANONICAL_COLUMNS = {
    "pair_classification": ("premise", "hypothesis", "label", "lang"),
    "multiple_choice": ("premise", "question", "choices", "label", "lang"),
    "extractive_qa": ("id", "question", "context", "answers", "lang"),
}


class DataError(ValueError):
    """Data is missing, unreadable or not in the schema the registry promises."""


LOCAL_FORMATS = (".jsonl", ".parquet", ".csv", ".tsv")


def local_files(task: TaskSpec, lang: str, split: str, data_dir: Path) -> list[Path]:
    """Where a local copy of (task, lang, split) lives: one jsonl file per source split
    (Hub naming); a .parquet, .csv or .tsv file of the same name is read instead."""
    return [Path(data_dir) / task.name / lang / f"{src}.jsonl" for src in task.splits[split]]


def load_split(task: str | TaskSpec, lang: str, split: str, data: DataConfig,
               limit: int | None = None):
    """One language's split of one task, in canonical columns (first `limit` rows)."""
    task = TASKS[task] if isinstance(task, str) else task
    if lang not in task.languages:
        raise DataError(f"task {task.name!r} has no language {lang!r}; it has {list(task.languages)}")
    if split not in task.splits:
        raise DataError(f"task {task.name!r} has no {split!r} split; it has {list(task.splits)}")
    kind = data.source_of(task.name)
    key = _local_key(task, lang, split, data.local_dir, limit) if kind == "local" else None
    if key in LOADED:
        return LOADED[key]
    if kind == "local":
        raw, where = _load_local(task, lang, split, data.local_dir)
    elif kind == "xtreme":
        raw, where = _load_xtreme(task, lang, split, data.xtreme_dir)
    else:
        raw, where = _load_hub(task, lang, split), f"{task.hub_id} ({task.hub_config(lang)})"
    if task.id_prefix:  # one source config holds every language: keep this one's rows
        raw = _rows_of_language(raw, task, lang, where)
    if limit is not None and len(raw) > limit:
        raw = raw.select(range(limit))
    ds = canonicalise(raw, task, lang, where, split)
    if key is not None:
        LOADED[key] = ds
    return ds


LOADED: dict[tuple, object] = {}
"""This process's canonical splits of local files, by task entry, language, split, limit and
the files' size and modification time: a split read again is not parsed and mapped again
(a phase-2 job reads every evaluation set for its leakage check, 0.8 s in the demo). The
warm server (study.warm) reads a study's local splits before it forks the jobs, which then
share them. A Dataset is not changed in place by the study (its methods return new ones)."""


def _local_key(task: TaskSpec, lang: str, split: str, data_dir: Path, limit: int | None) -> tuple | None:
    """What a local split's content depends on; None where a file is missing (the load then
    names it)."""
    files = []
    for default in local_files(task, lang, split, data_dir):
        found = [default.with_suffix(x) for x in LOCAL_FORMATS if default.with_suffix(x).is_file()]
        if len(found) != 1:
            return None
        stat = found[0].stat()
        files.append((str(found[0].resolve()), stat.st_size, stat.st_mtime_ns))
    return repr(task), lang, split, limit, tuple(files)


def _rows_of_language(raw, task: TaskSpec, lang: str, where: str):
    id_col, prefix = task.fields["id"], task.id_prefix[lang]
    if id_col not in raw.column_names:
        raise DataError(f"{where}: missing column(s) {[id_col]}; found {raw.column_names}")
    ds = raw.filter(lambda b: [str(i).startswith(prefix) for i in b[id_col]], batched=True,
                    desc=f"{task.name}/{lang}")
    if len(ds) == 0:
        raise DataError(f"{where}: no row of language {lang!r} (column {id_col!r} starting with "
                        f"{prefix!r}) among {len(raw)} rows")
    return ds


def _load_local(task: TaskSpec, lang: str, split: str, data_dir: Path):
    from datasets import concatenate_datasets

    parts, paths = [], []
    for default in local_files(task, lang, split, data_dir):
        found = [default.with_suffix(x) for x in LOCAL_FORMATS if default.with_suffix(x).is_file()]
        if not found:
            raise DataError(
                f"{default}: no such file. With data.source: local, task {task.name!r} needs "
                f"{{local_dir}}/{task.name}/{{lang}}/{{source split}}.jsonl (or .parquet, .csv, "
                f".tsv) in the Hub schema (columns {source_columns(task)}; {split} = "
                f"{list(task.splits[split])})")
        if len(found) > 1:
            raise DataError(f"{default.with_suffix('')}: several copies {[p.name for p in found]}; "
                            "keep one")
        parts.append(_read_local(found[0], task))
        paths.append(str(found[0]))
    return (parts[0] if len(parts) == 1 else concatenate_datasets(parts)), " + ".join(paths)


def _read_local(path: Path, task: TaskSpec):
    from datasets import Dataset, load_dataset

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    if path.suffix in (".csv", ".tsv"):
        return Dataset.from_pandas(_read_table(path, task), preserve_index=False)
    if path.suffix == ".jsonl":  # Arrow's JSON reader does not check the encoding: check it here
        blob = path.read_bytes()
        try:
            blob.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = blob.count(b"\n", 0, exc.start) + 1
            raise DataError(f"{path}: line {line} is not UTF-8 (byte {blob[exc.start]:#x}; a file of "
                            "mixed encodings?); JSON lines must be UTF-8 throughout: re-save it as "
                            "UTF-8") from None
    try:
        return load_dataset("json" if path.suffix == ".jsonl" else "parquet", data_files=str(path),
                            split="train")
    except Exception as exc:  # datasets wraps parser errors in several types
        kind = "JSON lines" if path.suffix == ".jsonl" else "parquet"
        raise DataError(f"{path}: cannot be read as {kind} ({type(exc).__name__}: {exc})") from None


def _read_table(path: Path, task: TaskSpec):
    """A csv/tsv file with a header row in the source's column names; flat columns only."""
    import csv

    import pandas as pd

    nested = [src for ours, src in task.fields.items()
              if ours == "answers" or (ours == "choices" and isinstance(src, str))]
    if nested:
        raise DataError(f"{path}: task {task.name!r} has list-valued column(s) {nested}, which "
                        f"{path.suffix} cannot hold; use .jsonl or .parquet")
    tsv = path.suffix == ".tsv"
    try:
        table = pd.read_csv(path, sep="\t" if tsv else ",", dtype=str, keep_default_na=False,
                            encoding="utf-8", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 {path.suffix[1:]} with a header row "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    label = task.fields["label"]
    if task.label_values is None and label in table:  # ids: the text must be an integer
        bad = sorted({v for v in table[label] if not v.lstrip("-").isdigit()})
        if bad:
            raise DataError(f"{path}: column {label!r} has label value(s) {bad[:5]}; accepted: "
                            "integer ids")
        table[label] = table[label].astype(int)
    return table


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
        return _read_local(path, task), str(path)
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
    values = task.label_values or range(len(task.label_names))  # the source's value per label
    raw = Dataset.from_dict({f["premise"]: table[0].tolist(), f["hypothesis"]: table[1].tolist(),
                             f["label"]: [values[task.label_names.index(x)] for x in table[2]]})
    return raw, str(path)


def _load_hub(task: TaskSpec, lang: str, split: str):
    from datasets import load_dataset

    if task.hub_id is None:
        raise DataError(f"task {task.name!r} exists only as local files: set data.source: local")
    hub_split = "+".join(task.splits[split])  # datasets concatenates "a+b" in order
    # A parquet export (refs/convert/parquet) names its files, not its configs: without explicit
    # data_files, datasets would merge configs and splits such as test_lay and test_expert. A
    # repository of plain files (FarsTail's tab-separated csv) names them too, with its reader's
    # options (registry `reader`: the delimiter).
    failures = []
    for files in data_layouts(task, lang, task.splits[split]) if task.data_files else [None]:
        try:
            return load_dataset(task.hub_id, name=None if files else task.hub_config(lang),
                                data_files=files, split=hub_split, revision=task.revision, **task.reader)
        except Exception as exc:  # offline: ConnectionError, OSError or DatasetNotFoundError
            failures.append(exc)
    raise _hub_error(task, lang, hub_split, failures[0]) from None


def data_layouts(task: TaskSpec, lang: str, sources) -> list[dict[str, str]]:
    """The data_files to load `sources` with: the first of the registry's candidate layouts
    whose every pattern matches a file of the repository at the pinned revision
    (huggingface_hub.list_repo_files), as the one layout to load. Offline, where the files
    cannot be listed, every layout in order (the first that loads from the cache wins)."""
    import fnmatch

    import huggingface_hub

    candidates = [{src: task.data_files[src][i].format(lang=lang) for src in sources}
                  for i in range(len(task.data_files[sources[0]]))]
    try:
        listed = huggingface_hub.list_repo_files(task.hub_id, repo_type="dataset", revision=task.revision)
    except Exception:  # offline (HF_HUB_OFFLINE, no network) or a local folder: try them in order
        return candidates
    for files in candidates:
        if all(fnmatch.filter(listed, pattern) for pattern in files.values()):
            return [files]
    data = [f for f in listed if f.endswith((".parquet", ".csv", ".tsv", ".json", ".jsonl", ".arrow"))]
    raise DataError(
        f"dataset {task.hub_id!r} at revision {task.revision!r}: none of the registry's layouts "
        f"(study/tasks.yaml, {task.name}.data_files) matches its files; tried "
        f"{[list(c.values()) for c in candidates]}; its data files ({len(data)}): {sorted(data)[:20]}. "
        f"Add the layout it has to {task.name}.data_files")


def _hub_error(task: TaskSpec, lang: str, hub_split: str, exc: Exception) -> DataError:
    return DataError(
        f"dataset {task.hub_id!r} (config {task.hub_config(lang)!r}, split "
        f"{hub_split!r}) could not be loaded: {type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else ''}. Without Hub access, load it once on "
        f"a connected machine (datasets.load_dataset) and copy the cache "
        f"(~/.cache/huggingface), or write each source split as jsonl to "
        f"{{local_dir}}/{task.name}/{lang}/{{source split}}.jsonl and set data.source: "
        f"local")


def source_columns(task: TaskSpec) -> list[str]:
    cols: list[str] = []
    for src in task.fields.values():
        cols.extend(src if isinstance(src, list) else [src])
    return cols


def canonicalise(raw, task: TaskSpec, lang: str, where: str, split: str = "?"):
    """The source's columns and labels in the canonical shape of the task's head. QA rows
    whose answer_start misses its answer are realigned or dropped, and counted in REPAIRED
    under (task, lang, split)."""
    missing = [src for src in source_columns(task) if src not in raw.column_names]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; found {raw.column_names}")
    if len(raw) == 0:
        raise DataError(f"{where}: the split is empty")
    empty = {src: n for src in source_columns(task) if (n := sum(v is None for v in raw[src][:]))}
    if empty:
        raise DataError(f"{where}: row(s) without a value (null) in column(s) {empty} (column: rows); "
                        f"every row needs each of {source_columns(task)}")
    if "id" in task.fields:  # ids name examples: each once
        from collections import Counter

        twice = [i for i, n in Counter(raw[task.fields["id"]][:]).items() if n > 1]
        if twice:
            raise DataError(f"{where}: column {task.fields['id']!r} has {len(twice)} duplicate id(s) "
                            f"{sorted(map(str, twice))[:5]}; every example needs an id of its own")
    if task.head == "pair_classification":
        _check_label_names(raw, task, where)
    if task.head == "extractive_qa":
        raw = _realigned_answers(raw, task, lang, where, split)
    convert = {"pair_classification": _canonical_pairs, "multiple_choice": _canonical_choices,
               "extractive_qa": _canonical_qa}[task.head]
    ds = convert(raw, task, lang, where)
    return ds.select_columns(list(CANONICAL_COLUMNS[task.head]))


def _check_label_names(raw, task: TaskSpec, where: str) -> None:
    """A source whose label column is a ClassLabel names its labels: they must be the
    registry's label_names, in the same order (case aside). An old cache of KLUE, built with
    its loading script, orders them entailment, contradiction, neutral: read with today's
    mapping, neutral and contradiction would swap, and no number would show it."""
    from datasets import ClassLabel

    feature = raw.features.get(task.fields["label"])
    if not isinstance(feature, ClassLabel) or task.label_values is not None:
        return
    names = [str(n).strip().lower() for n in feature.names]
    if all(n.isdigit() for n in names):  # "0", "1" (PAWS-X): names that say nothing
        return
    if names != [n.lower() for n in task.label_names]:
        raise DataError(
            f"{where}: the source names its labels {list(feature.names)} (column {task.fields['label']!r}, "
            f"a ClassLabel, in id order), but the registry maps them as {list(task.label_names)} "
            f"(study/tasks.yaml, {task.name}.label_names): reading it would mislabel the examples. "
            "A cache built by an older loading script or another revision orders them so: clear that "
            "dataset's cache (~/.cache/huggingface/datasets) or pin the registry's revision")


REPAIRED: dict[tuple[str, str, str], dict[str, int]] = {}
"""Rows a load of QA data repaired, by (task, language, split): answers realigned to where
their text is in the context, and rows dropped because it is not there (TyDiQA's Hub rows:
its loading script stripped the contexts without shifting answer_start)."""


def repairs(tasks=None) -> dict[str, dict[str, int]]:
    """REPAIRED as task/lang/split -> counts, for the given tasks (all when None)."""
    return {f"{t}/{lang}/{split}": dict(counts) for (t, lang, split), counts in sorted(REPAIRED.items())
            if tasks is None or t in tasks}


def _realign(context: str, text: str, start) -> int | None:
    """Where `text` is in `context`: at `start`, else its occurrence nearest `start`; None
    where the context does not hold it."""
    if isinstance(start, int) and context[start:start + len(text)] == text:
        return start
    found, at = [], context.find(text)
    while text and at >= 0:
        found.append(at)
        at = context.find(text, at + 1)
    return min(found, key=lambda s: abs(s - (start if isinstance(start, int) else 0))) if found else None


def _realigned_answers(raw, task: TaskSpec, lang: str, where: str, split: str):
    """QA rows with each answer_start where its answer text is in the context (the nearest
    occurrence to the given offset); rows with an answer the context does not hold, or no
    answer, are dropped. The counts go to REPAIRED (and from there to the data card and the
    metrics); a split with no row left is an error."""
    import logging

    f = task.fields
    keep, fixed, rows = [], {}, raw.select_columns([f["context"], f["answers"]])
    for i, row in enumerate(rows):
        answers, context = row[f["answers"]], row[f["context"]]
        texts, starts = list(answers.get("text", [])), list(answers.get("answer_start", []))
        if not texts or len(texts) != len(starts):
            continue
        aligned = [_realign(context, t, s) for t, s in zip(texts, starts, strict=True)]
        if None in aligned:
            continue
        keep.append(i)
        if aligned != starts:
            fixed[i] = aligned
    dropped = len(raw) - len(keep)
    if fixed or dropped:
        REPAIRED[(task.name, lang, split)] = {"rows": len(raw), "realigned": len(fixed), "dropped": dropped}
        logging.getLogger(__name__).warning(
            "%s: %d of %d row(s) had an answer_start that missed its answer, realigned to the answer's "
            "text in the context; %d row(s) dropped (an answer the context does not hold, or none)",
            where, len(fixed), len(raw), dropped)
    if not keep:
        raise DataError(f"{where}: none of its {len(raw)} row(s) has answers found in its context "
                        f"(column {f['answers']!r})")
    if fixed:
        def shift(b, idx):
            return {f["answers"]: [{**a, "answer_start": fixed.get(i, a["answer_start"])}
                                   for a, i in zip(b[f["answers"]], idx, strict=True)]}

        raw = raw.map(shift, with_indices=True, batched=True, desc=f"{task.name}/{lang} answers",
                      features=raw.features)
    return raw.select(keep) if dropped else raw


def _label_positions(raw, task: TaskSpec, n: int, where: str, meaning: str) -> list[int]:
    """Each row's label as a position 0..n-1: the source's value itself, or its index in
    `label_values` where the source uses other values (strings "1", "2", "3", ...)."""
    column = task.fields["label"]
    values = raw[column][:]  # a list: a Column reads row by row
    if task.label_values is not None:
        index = {v: i for i, v in enumerate(task.label_values)}
        bad = sorted({v for v in values if v not in index}, key=str)
        accepted = f"{list(task.label_values)} meaning {meaning}"
    else:
        bad = sorted({v for v in values if not _valid_id(v, n)}, key=str)
        accepted = f"ids 0..{n - 1} meaning {meaning}"
    if bad:
        raise DataError(f"{where}: column {column!r} has label value(s) {bad[:5]}; accepted {accepted}")
    return [index[v] for v in values] if task.label_values is not None else list(values)


def _canonical_pairs(raw, task: TaskSpec, lang: str, where: str):
    to_canonical = [task.label_set.index(name) for name in task.label_names]
    positions = _label_positions(raw, task, len(to_canonical), where, str(list(task.label_names)))
    f = task.fields
    return raw.map(
        lambda b, idx: {"premise": b[f["premise"]], "hypothesis": b[f["hypothesis"]],
                        "label": [to_canonical[positions[i]] for i in idx], "lang": [lang] * len(idx)},
        with_indices=True, batched=True, remove_columns=raw.column_names, desc=f"{task.name}/{lang}",
        features=_features("premise", "hypothesis", "label", "lang"))


def _canonical_choices(raw, task: TaskSpec, lang: str, where: str):
    f = task.fields
    if isinstance(f["choices"], str):  # one column holding each row's list of choices
        counts = {len(c) for c in raw[f["choices"]][:]}
        if len(counts) != 1 or min(counts) < 2:
            raise DataError(f"{where}: column {f['choices']!r} must hold the same number (>= 2) of "
                            f"choices in every row; found lengths {sorted(counts)}")
        n = counts.pop()
    else:
        n = len(f["choices"])
    positions = _label_positions(raw, task, n, where, "the index of the right choice")

    def convert(b, idx):
        size = len(idx)
        choices = (b[f["choices"]] if isinstance(f["choices"], str)
                   else [list(c) for c in zip(*(b[col] for col in f["choices"]), strict=True)])
        return {"premise": b[f["premise"]],
                "question": b[f["question"]] if "question" in f else [""] * size,
                "choices": choices, "label": [positions[i] for i in idx], "lang": [lang] * size}

    return raw.map(convert, with_indices=True, batched=True, remove_columns=raw.column_names,
                   desc=f"{task.name}/{lang}",
                   features=_features("premise", "question", "choices", "label", "lang"))


def _features(*columns: str):
    """The canonical column types (whatever string or integer types the source used)."""
    from datasets import Features, List, Value

    types = {"label": Value("int64"), "choices": List(Value("string"))}
    return Features({c: types.get(c, Value("string")) for c in columns})


def _canonical_qa(raw, task: TaskSpec, lang: str, where: str):
    """SQuAD-schema QA. Every answer must lie in its context at its answer_start."""
    f = task.fields
    bad = []
    for qid, context, answers in zip(raw[f["id"]], raw[f["context"]], raw[f["answers"]], strict=True):
        texts, starts = answers.get("text", []), answers.get("answer_start", [])
        spans_ok = len(texts) == len(starts) and len(texts) > 0 and all(
            isinstance(s, int) and context[s:s + len(t)] == t for t, s in zip(texts, starts, strict=True))
        if not spans_ok:
            bad.append(qid)
    if bad:
        raise DataError(f"{where}: {len(bad)} row(s) whose answers are missing or not found in the "
                        f"context at answer_start (column {f['answers']!r}), ids {bad[:5]}")
    return raw.map(
        lambda b: {"id": [str(i) for i in b[f["id"]]], "question": b[f["question"]],
                   "context": b[f["context"]], "answers": b[f["answers"]], "lang": [lang] * len(b[f["id"]])},
        batched=True, remove_columns=raw.column_names, desc=f"{task.name}/{lang}")


def _valid_id(value, n: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n


def pretraining_corpus(cfg: StudyConfig) -> list[str]:
    """The demo model's pretraining text, sorted and unique: the lines of model.corpus's
    {lang}.txt files, or every sentence of the training splits of the study's tasks.

    Used only to build the demo's tokenizer and masked-LM pretraining: like XLM-R's
    CC-100, it covers the test languages, but it holds no dev or test sentence.
    """
    if cfg.model.corpus is not None:
        files = sorted(Path(cfg.model.corpus).glob("*.txt"))
        if not files:
            raise DataError(f"{cfg.model.corpus}: no {{lang}}.txt pretraining text (model.corpus); "
                            "regenerate the demo data (python -m study.demo_data data/demo)")
        return sorted({line for f in files for line in f.read_text(encoding="utf-8").splitlines() if line})
    d = cfg.data
    texts: set[str] = set()
    for name in d.tasks():
        task = TASKS[name]
        if "train" not in task.splits:
            continue
        for lang in task.languages:
            ds = load_split(task, lang, "train", d)
            for column in ("premise", "hypothesis", "question", "context"):
                if column in ds.column_names:
                    texts.update(t for t in ds[column] if t)
            if "choices" in ds.column_names:
                texts.update(c for choices in ds["choices"][:] for c in choices)
    return sorted(texts)


def pretraining_dictionary(cfg: StudyConfig) -> list[list[str]]:
    """model.corpus/dictionary.tsv: rows of a word class and its word in each language."""
    path = Path(cfg.model.corpus) / "dictionary.tsv"
    if not path.is_file():
        raise DataError(f"{path}: missing; model.align_embeddings reads it. Regenerate the demo data "
                        "(python -m study.demo_data data/demo) or set align_embeddings: false")
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
    if not rows or any(len(r) < 3 or not r[0].startswith("#") for r in rows):
        raise DataError(f"{path}: expected a header, then rows of '#class<TAB>word<TAB>word...'")
    return rows
