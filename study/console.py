"""What `study.grid run` shows on the terminal: one progress line for the grid, a line per
finished job, and at the end a summary (the report, the main result, the controls' verdicts,
where the logs are). Snakemake's own output, kernel warnings, progress bars and Trainer logs
go to the log files (`logs/snakemake.log`, one file per job); `-v` shows them instead.

The progress is read from the study's folder, which every job writes atomically: a job is
running while its `<output>.partial` folder exists and finished when its output holds the
record of this run (`timing.json`, the base model's `build.json`, the report). How many jobs
this run has to do is what Snakemake says it will run (its "Job stats" total); the time left
is the plan's projection of the jobs not yet done (study.costs), scaled by how the finished
ones compared with theirs.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from study import layout
from study.config import StudyConfig
from study.jobgraph import Job, jobs


@dataclass(frozen=True)
class Watched:
    job: Job
    output: Path
    record: Path  # written last, when the job succeeds


def output_of(cfg: StudyConfig, job: Job) -> Path:
    """The folder (the report: the file) a job's rule declares as its output."""
    if job.stage == "base_model":
        return cfg.study_dir / "pretrained"
    if job.stage == "select":
        return layout.selection_dir(cfg, job.family)
    if job.stage == "phase2":
        return layout.phase2_dir(cfg, job.condition, job.seed)
    if job.stage == "phase3":
        return layout.run_dir(cfg, job.target, job.condition, job.seed)
    return layout.report_file(cfg)


def watched(cfg: StudyConfig) -> list[Watched]:
    out = []
    for job in jobs(cfg):
        folder = output_of(cfg, job)
        record = {"base_model": folder / "build.json", "report": folder}.get(job.stage,
                                                                            folder / "timing.json")
        out.append(Watched(job, folder, record))
    return out


def describe(job: Job) -> str:
    parts = [job.stage.replace("_", " ")]
    if job.target:
        parts.append(job.target)
    if job.condition:
        parts.append(job.condition)
    if job.family and not job.condition:
        parts.append(job.family)
    if job.seed is not None:
        parts.append(f"seed {job.seed}")
    return " ".join(parts)


def _seconds(w: Watched) -> float | None:
    try:
        if w.job.stage == "base_model":
            return json.loads(w.record.read_text())["timing"]["job"]
        timing = w.output.parent / "analysis" / "timing.json" if w.job.stage == "report" else w.record
        return json.loads(timing.read_text())["job"]
    except (OSError, ValueError, KeyError):
        return None


def figures(w: Watched) -> dict[str, float | str]:
    """A finished job's numbers worth seeing (none where it has none)."""
    try:
        if w.job.stage == "phase3":
            m = json.loads((w.output / "metrics.json").read_text())
            return {"English dev": 100 * m["dev_en_accuracy"], "test average": 100 * m["test_average"]}
        if w.job.stage == "phase2":
            m = json.loads((w.output / "metrics.json").read_text())
            losses = [r["train_loss"] for r in m.get("log_history", []) if "train_loss" in r]
            return {"examples": m["examples"], **({"training loss": losses[-1]} if losses else {})}
        if w.job.stage == "base_model":
            history = json.loads(w.record.read_text()).get("mlm_history") or []
            loss = history[-1].get("train_loss") if history else None
            return {"masked-LM loss": loss} if loss is not None else {}
        if w.job.stage == "select":
            sets = json.loads((w.output / "metrics.json").read_text()).get("languages") or {}
            return {k: ", ".join(v) for k, v in sets.items() if k in ("diverse", "similar")}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return {}


def _format(name: str, values: list) -> str:
    if isinstance(values[0], str):
        return f"{name} {values[0]}"
    mean = sum(values) / len(values)
    unit = "%" if name in ("English dev", "test average") else ""
    text = f"{mean:.0f}" if name == "examples" else f"{mean:.1f}{unit}" if unit else f"{mean:.3g}"
    if len(values) > 1 and unit:
        text += f" ({min(values):.1f}-{max(values):.1f})"
    return f"{name} {text}"


def done_line(group: list[Watched]) -> str:
    """One line for the finished jobs of one stage and condition (its seeds together):
    'done phase3 demo_nli en, 4 seeds, 12 s each: English dev 99.1% (98.7-99.7), ...'."""
    job = group[0].job
    seeds = sorted(w.job.seed for w in group if w.job.seed is not None)
    name = describe(Job(job.stage, job.target, job.condition, None, job.family))
    if len(seeds) == 1:
        name += f" seed {seeds[0]}"
    elif seeds:
        name += f", {len(seeds)} seeds"
    seconds = [t for w in group if (t := _seconds(w)) is not None]
    line = f"done {name}"
    if seconds:
        line += f" in {sum(seconds) / len(seconds):.0f} s" + (" each" if len(seconds) > 1 else "")
    per = [figures(w) for w in group]
    names = list(dict.fromkeys(k for p in per for k in p))
    parts = [_format(k, [p[k] for p in per if k in p]) for k in names]
    return line + (": " + ", ".join(parts) if parts else "")


def _group(w: Watched) -> tuple:
    return (w.job.stage, w.job.target, w.job.condition, w.job.family)


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Watch a running study from its folder; print a line per finished job and keep one
    progress bar for the grid (tqdm: redrawn in place on a terminal, sparse in a log)."""

    def __init__(self, cfg: StudyConfig, snakemake_log: Path | None = None, interval: float = 1.0,
                 file=None):
        import sys

        self.cfg, self.log, self.interval = cfg, snakemake_log, interval
        self.file = file or sys.stdout
        self.items = watched(cfg)
        self.started = time.time()
        self.done_before = {w for w in self.items if w.record.exists()}  # finished by an earlier run
        self.finished: list[Watched] = []
        self.unreported: list[Watched] = []  # finished, their line not printed yet
        self.total: int | None = None
        self.work_started: float | None = None  # when the first job the plan projects was seen running
        self.projected = self._projection()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="study-progress")
        self.bar = None

    # -- what the folder says
    def _finished_now(self, w: Watched) -> bool:
        try:
            return w.record.stat().st_mtime >= self.started - 1
        except OSError:
            return False

    def running(self) -> list[Watched]:
        now = [w for w in self.items if w not in self.finished
               and w.output.with_name(w.output.name + ".partial").exists()]
        if self.work_started is None and any(self.projected.get(w.job.stage, 0) > 0 for w in now):
            self.work_started = time.time()
        return now

    def _projection(self) -> dict[str, float]:
        """Projected seconds per job of each stage (the plan's first hardware profile)."""
        try:
            from study.costs import plan

            table, _ = plan(self.cfg)
            hours = next(c for c in table.columns if c.startswith("hours"))
            return {stage: 3600 * float(table.loc[stage, hours]) / max(1, int(table.loc[stage, "jobs"]))
                    for stage in table.index if stage != "total"}
        except Exception:  # noqa: BLE001 - a projection is information, not a requirement
            return {}

    def _snakemake_total(self) -> int | None:
        """The number of jobs Snakemake says this run has to do (its 'Job stats' total)."""
        if self.log is None:
            return None
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return None
        if "Nothing to be done" in text:
            return 0
        found = re.findall(r"^total\s+(\d+)", text, flags=re.M)
        if not found:
            return None
        target = re.findall(r"^all\s+(\d+)", text, flags=re.M)  # the target rule: no job of the study
        return int(found[0]) - (int(target[0]) if target else 0)

    def left(self) -> float | None:
        """Seconds left: the projection of the jobs not done, times what the finished ones
        took against their projection (the plan counts arithmetic, not start-up)."""
        if not self.projected:
            return None
        todo = [w for w in self.items if w not in self.finished and w not in self.done_before]
        ahead = sum(self.projected.get(w.job.stage, 0.0) for w in todo)
        behind = sum(self.projected.get(w.job.stage, 0.0) for w in self.finished)
        if behind <= 0 or self.work_started is None:  # no estimate before a measured job
            return None
        # the clock since the first job the plan projects began: the base model and the
        # selection before it (no arithmetic the plan counts) are not in the ratio
        return ahead * (time.time() - self.work_started) / behind

    # -- the terminal
    def _status(self) -> str:
        left = self.left()
        running = self.running()
        names = ", ".join(describe(w.job) for w in running[:2]) + (" ..." if len(running) > 2 else "")
        return (f"running {len(running)}" + (f" ({names})" if names else "")
                + (f", about {_clock(left)} left" if left is not None else ""))

    def poll(self) -> None:
        from tqdm.auto import tqdm

        if self.total is None:
            self.total = self._snakemake_total()
        if self.bar is None and self.total:
            self.bar = tqdm(total=self.total, desc="study", unit="job", file=self.file, leave=True,
                            dynamic_ncols=True, mininterval=0.5,
                            bar_format="{desc}: {n_fmt}/{total_fmt} jobs |{bar:20}| {elapsed} "
                                       "elapsed{postfix}")
        for w in self.items:
            if w in self.finished or not self._finished_now(w):
                continue
            self.finished.append(w)
            self.unreported.append(w)
            if self.bar:
                self.bar.update(1)
        # a line per stage and condition once none of its jobs is left to do (its seeds together)
        for key in dict.fromkeys(_group(w) for w in self.unreported):
            if any(_group(w) == key and w not in self.finished and w not in self.done_before
                   for w in self.items):
                continue
            group = [w for w in self.unreported if _group(w) == key]
            self.unreported = [w for w in self.unreported if _group(w) != key]
            (self.bar.write if self.bar else self._print)(done_line(group), file=self.file)
        if self.bar:
            self.bar.set_postfix_str(self._status(), refresh=True)

    def _print(self, line: str, file=None) -> None:
        print(line, file=file or self.file, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the display never stops a study
                pass

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.poll()
        finally:
            if self.bar:
                self.bar.close()

    def interrupted_line(self) -> str:
        running = self.running()
        todo = self.total if self.total is not None else "?"
        return (f"stopped: {len(self.finished)} of {todo} jobs of this run finished"
                + (f", {len(running)} stopped while running ({', '.join(describe(w.job) for w in running)})"
                   if running else "")
                + "; run the same command again to resume (finished jobs are kept)")


def summary(cfg: StudyConfig) -> str:
    """The end of a finished study: the report, the main result, the controls, the logs."""
    import pandas as pd

    from study import stats

    report = layout.report_file(cfg).resolve()
    lines = [f"report: {report.as_uri()}"]
    analysis = layout.analysis_dir(cfg)
    try:
        ci = pd.read_csv(analysis / "accuracy_ci.csv")
    except OSError:
        ci = None
    if ci is not None and not ci.empty:
        avg = ci[ci.language == "avg"].copy()
        avg["cell"] = [f"{a:.1f} [{lo:.1f}, {hi:.1f}]" for a, lo, hi in zip(avg.accuracy, avg.ci_low,
                                                                             avg.ci_high, strict=True)]
        table = avg.pivot(index="condition", columns="task", values="cell")
        order = [c for c in dict.fromkeys(["none", *cfg.conditions]) if c in table.index]
        table = table.loc[order + [c for c in table.index if c not in order]]
        lines += ["", "test accuracy, average over languages (%, 95% interval over examples and seeds):",
                  table.to_string(na_rep="-"), ""]
    try:
        compared = pd.read_csv(analysis / "comparisons.csv", keep_default_na=False)
    except OSError:
        compared = None
    if compared is not None and not compared.empty:
        compared["p_holm"] = pd.to_numeric(compared["p_holm"])
        for col in ("difference", "ci_low", "ci_high", "p", "seeds"):
            compared[col] = pd.to_numeric(compared[col])
        for task, part in compared.groupby("task", sort=False):
            for v in stats.control_verdicts(part).itertuples():
                verdict = "as expected" if v.as_expected else "NOT as expected"
                lines.append(f"{v.control} control, {task} ({v.comparison}): {v.difference:+.1f} points "
                             f"[{v.ci_low:+.1f}, {v.ci_high:+.1f}], Holm p {v.p_holm:.3g}: {verdict}")
    lines.append(f"logs: {(cfg.study_dir / 'logs').resolve()}")
    return "\n".join(lines)


def desktop() -> bool:
    """Whether a browser can be shown: macOS or Windows, or an X11 or Wayland display (a
    cluster node, an SSH session or a container has none)."""
    import os
    import sys

    shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return sys.platform in ("darwin", "win32") or bool(shown)


def open_report(cfg: StudyConfig) -> str | None:
    """Open the report in the desktop's browser where there is a desktop; the line to print."""
    import webbrowser

    report = layout.report_file(cfg).resolve()
    if not report.is_file() or not desktop():
        return None
    return f"opened in the browser: {report.as_uri()}" if webbrowser.open(report.as_uri()) else None
