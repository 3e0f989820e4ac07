"""The study's conditions: what each one is, how its id is written, and the comparisons made.

The design's facts live here once, as data (`KINDS`, `COMPARISONS`, `CONTROLS`), in the
spirit of xtreme's task dictionaries; every module that builds or reads a condition id
does it through `ConditionId`:

    none                 the pretrained model, no phase 2
    diverse              a condition of a one-family study
    random-1             the second random draw (`random`: the draws pooled)
    qa/diverse           `diverse` of the `qa` family in a several-family study (data.families)
    translate-train      no family prefix: its data is the targets' own (the first family selects it)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

Source = Literal["en", "pool", "translated"]


@dataclass(frozen=True)
class Kind:
    """What one condition of STUDY.md trains on in phase 2."""

    reads: tuple[Source, ...] = ()  # the phase-2 data sources: English tasks, the pool, translated data
    choose: Literal["diverse", "similar", "random"] | None = None  # how it picks k pool languages
    reference: bool = False  # trained on the test languages themselves: not zero-shot
    replicates: str | None = None  # negative control: the condition whose recipe it repeats
    per_family: bool = True  # one id per phase-2 family; else one id, selected with the first family

    @property
    def phase2(self) -> bool:
        return bool(self.reads) or self.replicates is not None


KINDS: dict[str, Kind] = {
    "none": Kind(),
    "en": Kind(reads=("en",)),
    "diverse": Kind(reads=("pool",), choose="diverse"),
    "similar": Kind(reads=("pool",), choose="similar"),
    "random": Kind(reads=("pool",), choose="random"),
    "en+diverse": Kind(reads=("en", "pool"), choose="diverse"),
    "translate-train": Kind(reads=("translated",), reference=True, per_family=False),
    "en-replicate": Kind(replicates="en"),
}
"""Phase-2 conditions (see STUDY.md), in the report's order. `translate-train`
(machine-translated data in the target languages) is a reference that is not zero-shot;
`en-replicate` is the negative control (A/A): `en`'s recipe again, with its own phase-2
data draw and training seed (config.replicate_seed)."""

CONDITIONS = tuple(KINDS)
REFERENCE_CONDITIONS = tuple(k for k, v in KINDS.items() if v.reference)
REPLICATES = {k: v.replicates for k, v in KINDS.items() if v.replicates}

COMPARISONS = (("diverse", "en"), ("diverse", "similar"), ("diverse", "random"), ("en+diverse", "en"))
"""The study's paired comparisons (STUDY.md), made within each phase-2 family; every
condition is also compared with `none`."""
CONTROLS = {"positive": ("translate-train", "en"), "negative": ("en-replicate", "en")}
"""Does the study detect effects? Comparisons whose answer is known (STUDY.md): training
phase 2 on the test languages themselves must beat English (positive), and a replicate
of `en` must not differ from `en` (negative, A/A). Made in one-family studies."""


def recipe(kind: str) -> str:
    """The condition whose data recipe `kind` follows (itself, or a replicate's original)."""
    return REPLICATES.get(kind, kind)


def facts(condition: str) -> Kind:
    """The facts of a condition's recipe (a kind or any id; a replicate's are its original's)."""
    return KINDS[recipe(ConditionId.parse(condition).kind)]


_DRAW = re.compile(r"(?P<kind>random)-(?P<draw>\d+)")


@dataclass(frozen=True, order=True)
class ConditionId:
    """One condition id of the grid: its kind (a KINDS key), its family in a several-family
    study, and for a random draw its number. `str()` writes it, `parse` reads it back."""

    kind: str
    family: str | None = None
    draw: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown condition {self.kind!r}; accepted: {list(KINDS)}")
        if self.draw is not None and KINDS[self.kind].choose != "random":
            raise ValueError(f"condition {self.kind!r} has no draws (only random-<n>)")

    @classmethod
    def parse(cls, text: str | ConditionId) -> ConditionId:
        """'qa/random-1' -> ConditionId('random', 'qa', 1); a clear error for anything else."""
        if isinstance(text, ConditionId):
            return text
        family, _, name = str(text).rpartition("/")
        m = _DRAW.fullmatch(name)
        try:
            return cls(m["kind"], family or None, int(m["draw"])) if m else cls(name, family or None)
        except ValueError as e:
            raise ValueError(f"condition id {text!r}: {e} (ids are <condition>, random-<n> or "
                             "<family>/<condition>)") from None

    def __str__(self) -> str:
        return (f"{self.family}/" if self.family else "") + self.name

    @property
    def name(self) -> str:
        """The id within its family: `diverse`, `random-1`."""
        return self.kind if self.draw is None else f"{self.kind}-{self.draw}"

    @property
    def prefix(self) -> str:
        """'qa/' in a several-family study, else ''."""
        return f"{self.family}/" if self.family else ""

    @property
    def facts(self) -> Kind:
        return facts(self.kind)

    @property
    def is_draw(self) -> bool:
        return self.draw is not None

    @property
    def pooled(self) -> ConditionId:
        """A random draw's pooled condition (`qa/random-1` -> `qa/random`); else itself."""
        return replace(self, draw=None)

    def home(self, families) -> str | None:
        """The family whose slice selects this condition's data: its own, or for a condition
        without a family in a several-family study (translate-train) the first."""
        families = list(families)
        return self.family or (families[0] if families and self.kind != "none" else None)


def ids(kinds, draws: int, families=()) -> list[str]:
    """The phase-2 condition ids of a study: every kind but `none`, `random` as one id per
    draw; in a several-family study `<family>/<id>` per family for each kind trained per
    family, and the others (translate-train) once, unprefixed."""
    def one(family: str | None) -> list[str]:
        out = []
        for kind in kinds:
            if not KINDS[kind].phase2 or (family and not KINDS[kind].per_family):
                continue
            if KINDS[kind].choose == "random":
                out += [str(ConditionId(kind, family, d)) for d in range(draws)]
            else:
                out.append(str(ConditionId(kind, family)))
        return out
    if not families:
        return one(None)
    return [c for f in families for c in one(f)] + [
        str(ConditionId(k)) for k in kinds if KINDS[k].phase2 and not KINDS[k].per_family]


def label(condition: str) -> str:
    """A condition's name in the report's tables and figures: references marked as not
    zero-shot, the pooled random draws marked as pooled, the negative control as such."""
    c = ConditionId.parse(condition)
    if c.kind == "random" and not c.is_draw:
        return f"{condition} (draws pooled)"
    if c.kind in REPLICATES:
        return f"{condition} (negative control)"
    return f"{condition} (reference, not zero-shot)" if c.facts.reference else condition
