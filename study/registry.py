"""The task registry: study/tasks.yaml read into frozen `TaskSpec` records."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import yaml

NLI_LABELS = ("entailment", "neutral", "contradiction")
"""Canonical NLI label names; canonical label id = position in this tuple."""

Head = Literal["pair_classification"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    hub_id: str | None
    config: str | None
    revision: str | None
    splits: dict[str, str]
    fields: dict[str, str]
    label_names: tuple[str, ...]
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
        spec = TaskSpec(
            name=name,
            **{**entry, "label_names": tuple(entry["label_names"]),
               "languages": tuple(entry["languages"]),
               "xtreme_files": entry.get("xtreme_files") or {}},
        )
        unknown = set(spec.label_names) - set(NLI_LABELS)
        if unknown:
            raise ValueError(f"study/tasks.yaml: task {name!r} has labels {sorted(unknown)} "
                             f"outside the canonical {list(NLI_LABELS)}")
        tasks[name] = spec
    return tasks


TASKS: dict[str, TaskSpec] = _load_registry()
