"""The task registry: study/tasks.yaml read into frozen `TaskSpec` records.

Every entry is checked when the module is imported, so a mistake in tasks.yaml fails
at once with the task's name and the key at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

NLI_LABELS = ("entailment", "neutral", "contradiction")
"""Canonical NLI label names; canonical label id = position in this tuple."""

PARAPHRASE_LABELS = ("different", "paraphrase")
"""Canonical paraphrase label names (PAWS-X: 0 = not a paraphrase, 1 = paraphrase)."""

LABEL_SETS = {"nli": NLI_LABELS, "paraphrase": PARAPHRASE_LABELS}

Head = Literal["pair_classification", "multiple_choice", "extractive_qa"]
HEADS = ("pair_classification", "multiple_choice", "extractive_qa")
FAMILIES = ("nli", "paraphrase", "qa", "commonsense")
ORIGINS = ("native", "human-translated", "machine-translated", "synthetic")

FIELDS = {  # our columns each head needs from a source
    "pair_classification": ("premise", "hypothesis", "label"),
    "multiple_choice": ("premise", "choices", "label"),  # + optional question
    "extractive_qa": ("id", "question", "context", "answers"),
}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    hub_id: str | None
    config: str | None
    revision: str | None
    splits: dict[str, tuple[str, ...]]  # our split -> the source's split(s), concatenated in order
    fields: dict[str, str | list[str]]  # multiple_choice: "choices" is a list column or a list of columns
    label_names: tuple[str, ...] | None  # pair_classification: canonical name of each source label
    label_values: tuple | None  # the source's label values in order, where they are not 0..n-1
    head: Head
    family: str
    xtreme_name: str | None
    languages: tuple[str, ...]
    license: str
    origin: str
    checked: bool
    xtreme_files: dict[str, str]  # split -> path in the XTREME download layout
    id_prefix: dict[str, str]  # lang -> prefix of the id column (one config holds every language)
    data_files: dict[str, tuple[str, ...]]  # source split -> candidate file patterns, one per layout
    reader: dict[str, Any]  # options of the file reader datasets picks (csv: sep)
    examples: dict[str, int]  # our split -> examples per language (the plan's cost estimate)

    def hub_config(self, lang: str) -> str | None:
        return self.config.format(lang=lang) if self.config else None

    @property
    def label_set(self) -> tuple[str, ...] | None:
        """The canonical label set of a pair_classification task (NLI or paraphrase)."""
        if self.label_names is None:
            return None
        return next(s for s in LABEL_SETS.values() if set(self.label_names) <= set(s))

    @property
    def is_nli(self) -> bool:
        return self.head == "pair_classification" and self.label_set == NLI_LABELS


def _load_registry() -> dict[str, TaskSpec]:
    text = resources.files("study").joinpath("tasks.yaml").read_text(encoding="utf-8")
    return {name: _spec(name, entry) for name, entry in yaml.safe_load(text).items()}


_KEYS = {f for f in TaskSpec.__dataclass_fields__ if f != "name"}
_OPTIONAL = {"label_values": None, "xtreme_files": {}, "id_prefix": {}, "data_files": {}, "examples": {},
             "reader": {}}


def _spec(name: str, entry: dict) -> TaskSpec:
    where = f"study/tasks.yaml: task {name!r}"
    unknown = set(entry) - _KEYS
    missing = _KEYS - set(entry) - set(_OPTIONAL)
    if unknown or missing:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}, missing key(s) {sorted(missing)};"
                         f" accepted keys: {sorted(_KEYS)}")
    entry = {**_OPTIONAL, **entry}
    labels, values = entry["label_names"], entry["label_values"]
    spec = TaskSpec(
        name=name,
        **{**entry,
           "splits": {ours: tuple(src) if isinstance(src, list) else (src,)
                      for ours, src in entry["splits"].items()},
           "label_names": tuple(labels) if labels is not None else None,
           "label_values": tuple(values) if values is not None else None,
           "languages": tuple(entry["languages"]),
           "xtreme_files": entry["xtreme_files"] or {}, "id_prefix": entry["id_prefix"] or {},
           "data_files": {src: tuple(p) if isinstance(p, list) else (p,)
                          for src, p in (entry["data_files"] or {}).items()},
           "examples": entry["examples"] or {},
           "reader": entry["reader"] or {}},
    )
    _check_spec(spec, where)
    return spec


def _check_spec(spec: TaskSpec, where: str) -> None:
    if spec.head not in HEADS:
        raise ValueError(f"{where}: head {spec.head!r}; accepted: {list(HEADS)}")
    if spec.family not in FAMILIES:
        raise ValueError(f"{where}: family {spec.family!r}; accepted: {list(FAMILIES)}")
    if spec.origin not in ORIGINS:
        raise ValueError(f"{where}: origin {spec.origin!r}; accepted: {list(ORIGINS)}")
    missing = [f for f in FIELDS[spec.head] if f not in spec.fields]
    if missing:
        raise ValueError(f"{where}: head {spec.head} needs fields {list(FIELDS[spec.head])}; "
                         f"missing {missing}")
    if spec.head == "pair_classification":
        if not spec.label_names or not any(set(spec.label_names) <= set(s) for s in LABEL_SETS.values()):
            raise ValueError(f"{where}: label_names must be names of one canonical label set "
                             f"{ {k: list(v) for k, v in LABEL_SETS.items()} }, got {spec.label_names}")
    elif spec.label_names is not None:
        raise ValueError(f"{where}: head {spec.head} takes label_names: null "
                         "(multiple_choice labels are choice indices; QA has answer spans)")
    if spec.head == "multiple_choice":
        choices = spec.fields["choices"]
        if not isinstance(choices, str) and (not isinstance(choices, list) or len(choices) < 2):
            raise ValueError(f"{where}: fields.choices must be one list column or a list of at "
                             f"least two columns, got {choices!r}")
    if spec.label_values is not None and spec.head == "pair_classification" \
            and len(spec.label_values) != len(spec.label_names):
        raise ValueError(f"{where}: label_values {list(spec.label_values)} and label_names "
                         f"{list(spec.label_names)} must have the same length")
    if spec.data_files:
        lacking = sorted({src for srcs in spec.splits.values() for src in srcs} - set(spec.data_files))
        if lacking:
            raise ValueError(f"{where}: data_files must give a file pattern for every source split; "
                             f"missing {lacking}")
        layouts = {src: len(p) for src, p in spec.data_files.items()}
        if len(set(layouts.values())) != 1:
            raise ValueError(f"{where}: data_files must list as many candidate patterns (layouts) for "
                             f"every split; got {layouts}")
    for split, n in spec.examples.items():
        if split not in spec.splits or not isinstance(n, int) or n <= 0:
            raise ValueError(f"{where}: examples must map a split of {list(spec.splits)} to a positive "
                             f"count, got {split!r}: {n!r}")
    if spec.id_prefix and set(spec.id_prefix) != set(spec.languages):
        raise ValueError(f"{where}: id_prefix must give a prefix for every language "
                         f"{list(spec.languages)}, got {sorted(spec.id_prefix)}")


TASKS: dict[str, TaskSpec] = _load_registry()


def pin_revisions(path: Path | None = None, api=None) -> dict[str, str]:
    """Pin every Hub entry of tasks.yaml to the commit it resolves to now (needs the Hub).

    An unpinned entry (`revision: null`) gets the sha of the repository's main branch; one
    on a branch (`refs/convert/parquet`) gets that branch's sha. Entries already on a sha
    are left alone. Only the `revision:` lines change; comments and layout are kept.
    Returns task -> the sha written.
    """
    from huggingface_hub import HfApi

    path = Path(path) if path else Path(__file__).with_name("tasks.yaml")
    api = api or HfApi()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entries = yaml.safe_load("".join(lines))
    pinned, task = {}, None
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z0-9_]+:\s*$", line):
            task = line.split(":")[0]
        elif task and re.match(r"^  revision:", line):
            entry = entries[task]
            if entry["hub_id"] is None or re.fullmatch(r"[0-9a-f]{40}", str(entry["revision"])):
                continue
            sha = api.dataset_info(entry["hub_id"], revision=entry["revision"]).sha
            branch = f"  # was {entry['revision']}" if entry["revision"] else ""
            lines[i] = f"  revision: {sha}{branch}\n"
            pinned[task] = sha
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return pinned


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["pin"]:
        sys.exit("usage: python -m study.registry pin   (pins Hub revisions in study/tasks.yaml)")
    for name, sha in pin_revisions().items():
        print(f"{name}: {sha}")
