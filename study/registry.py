"""The task registry: study/tasks.yaml read into frozen `TaskSpec` records."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import yaml

NLI_LABELS = ("entailment", "neutral", "contradiction")
"""Canonical NLI label names; canonical label id = position in this tuple."""

Head = Literal["pair_classification", "multiple_choice"]
HEADS = ("pair_classification", "multiple_choice")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    hub_id: str | None
    config: str | None
    revision: str | None
    splits: dict[str, str]
    fields: dict[str, str | list[str]]  # multiple_choice: "choices" lists the choice columns
    label_names: tuple[str, ...] | None  # pair_classification only; choices use indices
    head: Head
    xtreme_name: str | None
    languages: tuple[str, ...]
    license: str
    origin: str
    checked: bool
    xtreme_files: dict[str, str]  # split -> path in the XTREME download layout

    def hub_config(self, lang: str) -> str | None:
        return self.config.format(lang=lang) if self.config else None


def _load_registry() -> dict[str, TaskSpec]:
    text = resources.files("study").joinpath("tasks.yaml").read_text(encoding="utf-8")
    tasks = {}
    for name, entry in yaml.safe_load(text).items():
        labels = entry.get("label_names")
        spec = TaskSpec(
            name=name,
            **{**entry, "label_names": tuple(labels) if labels is not None else None,
               "languages": tuple(entry["languages"]),
               "xtreme_files": entry.get("xtreme_files") or {}},
        )
        _check_spec(spec)
        tasks[name] = spec
    return tasks


def _check_spec(spec: TaskSpec) -> None:
    where = f"study/tasks.yaml: task {spec.name!r}"
    if spec.head not in HEADS:
        raise ValueError(f"{where}: head {spec.head!r}; accepted: {list(HEADS)}")
    if spec.head == "pair_classification":
        unknown = set(spec.label_names or ()) - set(NLI_LABELS)
        if not spec.label_names or unknown:
            raise ValueError(f"{where}: label_names must be canonical {list(NLI_LABELS)}, "
                             f"got {spec.label_names}")
    else:
        choices = spec.fields.get("choices")
        if spec.label_names is not None or not isinstance(choices, list) or len(choices) < 2:
            raise ValueError(f"{where}: multiple_choice needs fields.choices (a list of at least "
                             "two columns) and label_names: null (labels are choice indices)")


TASKS: dict[str, TaskSpec] = _load_registry()
