"""The study's command line: plan, check, run and clean a study.

    python -m study.grid plan  params/full.yaml    # jobs per stage and projected compute
    python -m study.grid run   params/demo.yaml    # the grid, locally (or --profile ...)
    python -m study.grid clean params/demo.yaml    # remove this study's outputs, after asking

The grid itself is in layers: study.jobgraph (the jobs), study.fingerprints (what can
change a job's results; Snakemake reruns a job when its fingerprint changes),
study.costs (the projected compute), and the workflow (workflow/Snakefile, one rules file
per stage) that runs them. This module launches, locks and reports; none of it counts in a
fingerprint.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from study import layout
from study.config import StudyConfig
from study.costs import plan
from study.jobgraph import PACKAGE

SNAKEFILE = PACKAGE.parent / "workflow" / "Snakefile"


class StudyLocked(RuntimeError):
    pass


@contextmanager
def study_lock(cfg: StudyConfig):
    """Hold the study's lock (`outputs/<study>/.lock`, an OS file lock by `filelock`) for the
    block: a second `run` or a `clean` of the same study stops at once with a message naming
    the holder (`.lock.holder`: pid, host and start). The OS releases the lock when the
    process ends however it ends, so a kill leaves no stale lock."""
    from filelock import FileLock, Timeout

    from study.io import atomic_write_text

    cfg.study_dir.mkdir(parents=True, exist_ok=True)
    lock, holder = FileLock(cfg.study_dir / ".lock", timeout=0), cfg.study_dir / ".lock.holder"
    try:
        lock.acquire()
    except Timeout:
        who = holder.read_text().strip() if holder.is_file() else ""
        raise StudyLocked(f"study {cfg.study!r} ({cfg.study_dir}) is in use by {who or 'another process'}; "
                          "wait for it to finish or stop it, then run again") from None
    try:
        atomic_write_text(holder, f"pid {os.getpid()} on {os.uname().nodename}, since "
                                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


DEFAULT_MEMORY_MB = 2000


def memory_mb(cfg: StudyConfig, stage: str) -> int:
    """Peak host memory of one job of `stage` (params `plan.memory_mb`), the rule's mem_mb."""
    return cfg.plan.memory_mb.get(stage, DEFAULT_MEMORY_MB)


def available_memory_mb() -> int:
    """Memory this machine has free for jobs now (psutil's `available`: MemAvailable on
    Linux), in MB."""
    import psutil

    return psutil.virtual_memory().available // 2**20


def local_parallelism(cfg: StudyConfig, cores: int, memory: int) -> int:
    """How many phase-3 jobs a local run has going at once: cores and memory both bound it."""
    return max(1, min(cores // cfg.threads, memory // memory_mb(cfg, "phase3")))


def snakemake_command(params_file: Path, cores: int, profile: str | None, extra: list[str],
                      memory: int | None = None, workdir: Path | None = None) -> list[str]:
    """The Snakemake call. A local run is bounded by cores and by memory (`--resources
    mem_mb`, against each rule's declared mem_mb); a profile sets its own limits. Snakemake
    keeps its records (which parameters and code made each output: what decides a rerun)
    in `workdir`/.snakemake: the study's folder, so they follow the study, not the
    directory the command was started from."""
    # The study's own lock (study_lock) keeps a second run out; Snakemake's directory lock would
    # outlive a killed run and stop the restart, and a job it saw start but not end is redone.
    # A failed job stops only what depends on it (--keep-going); `run` then names it.
    # What reruns a finished job is its fingerprint (a rule parameter: the settings, registry
    # entries and code that can change its results), not the text of the rule's shell command.
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--config",
               f"params={Path(params_file).resolve()}", "--nolock", "--rerun-incomplete", "--keep-going",
               "--rerun-triggers", "mtime", "params", "input", "software-env",
               # the rules' priorities decide the order; the default ILP scheduler solves a
               # program (a CBC process) at each job's end, on the cores the jobs run on
               "--scheduler", "greedy"]
    if workdir is not None:
        command += ["--directory", str(workdir)]
    if profile:  # a profile folder named relative to where the command was started
        command += ["--profile", str(Path(profile).resolve()) if Path(profile).is_dir() else profile]
    else:
        memory = available_memory_mb() if memory is None else memory
        command += ["--cores", str(cores), "--resources", f"mem_mb={memory}"]
    return command + extra


STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
JOB_CONSOLE = "STUDY_JOB_CONSOLE"  # where a job's output goes beside its log (the rules' shell)


def run(params_file: Path, cores: int, profile: str | None, extra: list[str], verbose: bool = False,
        open_report: bool = False) -> int:
    """Run the study grid through Snakemake, holding the study's lock. The terminal shows a
    progress line, a line per finished job and a summary (study.console); Snakemake's output
    goes to logs/snakemake.log and each job's to its own log, or, with `verbose`, all of it
    to the terminal. Ctrl-C, SIGTERM or SIGHUP stop the run: Snakemake stops its jobs, and
    one line says what finished and that the same command resumes. With `open_report`, a
    finished run opens the report in the browser where a desktop exists."""
    import contextlib
    import signal
    import subprocess
    from contextlib import nullcontext

    from study import warm
    from study.preflight import check

    dry_run = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
    stop: list[int] = []

    def stopping(signum, _frame):
        if not stop and proc is not None and proc.poll() is None:
            # as Ctrl-C: Snakemake stops its jobs now (its SIGTERM waits for them to finish)
            proc.send_signal(signal.SIGINT)
        stop.append((signum, time.time()))

    proc = None
    previous = {name: signal.signal(getattr(signal, name), stopping) for name in STOP_SIGNALS}
    server = contextlib.ExitStack()
    try:
        # local jobs are forked from one process that has imported the stack already; it starts
        # first, so that its imports (seconds) overlap the checks rather than delay the first job
        if not profile and not dry_run:
            server.enter_context(warm.server(params_file))
        # params, data and Hub: nothing starts, nothing is written if wrong (a dry run downloads
        # nothing: it needs no Hub, e.g. to list a cluster's jobs from a machine without it)
        cfg, _ = check(params_file, hub=not dry_run)
        with study_lock(cfg):
            _announce(cfg, cores, profile)
            if stop:
                print("stopped before any job started; run the same command again to start", flush=True)
                return 130
            from study import console

            log = cfg.study_dir / "logs" / "snakemake.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            quiet = not verbose and not dry_run
            command = snakemake_command(params_file.resolve(), cores, profile, extra,
                                        available_memory_mb(), workdir=cfg.study_dir)
            with open(log, "w") if quiet else nullcontext() as sink:
                # read here, where the server's socket is in the environment the jobs inherit;
                # unbuffered: the progress line reads Snakemake's job count from its log
                env = {**os.environ, "PYTHONUNBUFFERED": "1",
                       **({JOB_CONSOLE: "/dev/stdout"} if not quiet else {})}
                progress = console.Progress(cfg, log) if quiet else nullcontext()
                with progress:
                    proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT if quiet
                                            else None)
                    status = _wait(proc, stop)
            if stop:
                print(progress.interrupted_line() if quiet else "stopped; run the same command again "
                      "to resume (finished jobs are kept)", flush=True)
                return 130
            if quiet and not status:
                _finish(cfg, progress)
            if open_report and not status and not dry_run and (line := console.open_report(cfg)):
                print(line, flush=True)
    finally:
        server.close()
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
    # both: a run can have a notebook that failed and a job the cluster ended
    if status and not [*report_failures(cfg), *report_scheduler_stops(cfg, log)] and quiet:
        # not a notebook, not the scheduler: Snakemake's log tells
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-12:]
        print(f"the workflow stopped (exit {status}); the end of its log, {log}:", *tail, sep="\n",
              file=sys.stderr, flush=True)
    return status


STOP_GRACE = 60.0  # seconds a stopped Snakemake has to stop its jobs before it is killed


def _wait(proc, stop: list) -> int:
    """Snakemake's exit status; once the run is stopped, at most STOP_GRACE seconds more,
    then Snakemake and the jobs under it are killed (it can hang in its own signal handler)."""
    import subprocess

    import psutil

    while True:
        try:
            return proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            if stop and time.time() - stop[0][1] > STOP_GRACE:
                try:
                    tree = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
                except psutil.NoSuchProcess:
                    tree = []
                for p in tree:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
                return proc.wait()


def _announce(cfg: StudyConfig, cores: int, profile: str | None) -> None:
    try:
        table, _ = plan(cfg)
        hours = {c: f"{table.loc['total', c]:.2g} h" for c in table.columns if c.startswith("hours")}
        print(f"study {cfg.study!r}: {table.loc['total', 'jobs']} jobs in the grid, "
              f"{table.loc['total', 'PFLOP']:.3g} PFLOP projected"
              + "".join(f", {v} {k.removeprefix('hours ')}" for k, v in hours.items())
              + f" (python -m study.grid plan {cfg.source_file})", flush=True)
    except (KeyError, RuntimeError) as e:  # the projection is information, not a requirement
        print(f"no compute projection: {e}", flush=True)
    if not profile:
        memory = available_memory_mb()
        print(f"local run: up to {local_parallelism(cfg, cores, memory)} phase-3 jobs at once "
              f"({cores} cores, {cfg.threads} thread(s) a job; {memory} MB available, "
              f"{memory_mb(cfg, 'phase3')} MB a job)", flush=True)


def _finish(cfg: StudyConfig, progress) -> None:
    """The last lines of a finished run: nothing was to do, or the study's summary."""
    from study import console

    if progress.total == 0:
        print(f"nothing to do: every job of study {cfg.study!r} is finished and up to date "
              f"(report: {layout.report_file(cfg).resolve().as_uri()})", flush=True)
    else:
        print(console.summary(cfg), flush=True)


def report_failures(cfg: StudyConfig) -> list[dict]:
    """After a failed workflow: each run whose notebook failed, and where that notebook is."""
    from study.runner import failed_runs

    failed = failed_runs(cfg.study_dir)
    for f in failed:
        print(f"failed: {Path(f['run']).relative_to(cfg.study_dir)} ({f['error']}); its executed "
              f"notebook with the error: {f['notebook']}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} run(s) failed; fix the cause and run again: finished jobs are kept, "
              "failed ones are redone", file=sys.stderr)
    return failed


_ERROR_BLOCK = re.compile(r"^Error in rule (\w+):\n((?:    .*\n?)+)", re.MULTILINE)


# The SLURM job states in which the scheduler, not the job, ended a job: how the study names
# each, and what it tells the user
SCHEDULER_STOPS = {
    "TIMEOUT": ("time limit", "was stopped at its time limit{limit}"),
    "CANCELLED": ("cancelled", "was cancelled (scancel, or the cluster's administrators)"),
    "PREEMPTED": ("preempted", "was preempted (a job of higher priority took its resources)"),
    "NODE_FAIL": ("node failure", "lost its node"),
    "BOOT_FAIL": ("node failure", "lost its node (it failed to boot)"),
    "OUT_OF_MEMORY": ("out of memory", "ran out of its {memory} MB (plan.memory_mb.{rule})"),
    "DEADLINE": ("deadline", "reached its deadline"),
}


def scheduler_stops(log_text: str) -> list[dict]:
    """The jobs a cluster ended (SCHEDULER_STOPS: a time limit, scancel, preemption, a node
    failure, memory), from Snakemake's log: its SLURM executor reports each as an error of
    its rule with the job's SLURM status. Each: the rule, the status, the SLURM job id, the
    job's output and its logs. A job that failed on its own (FAILED) is not among them."""
    found = []
    for rule, body in _ERROR_BLOCK.findall(log_text):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.MULTILINE))
        status = re.search(r"SLURM status is: '(\w+)'", fields.get("message", ""))
        if not status or status.group(1) not in SCHEDULER_STOPS:
            continue
        logs = fields.get("log", "").split(" (check log")[0]
        found.append({"rule": rule, "status": status.group(1), "job": fields.get("external_jobid", "?"),
                      "output": fields.get("output", ""),
                      "logs": [x.strip() for x in logs.split(",") if x.strip()]})
    return found


def report_scheduler_stops(cfg: StudyConfig, log: Path) -> list[dict]:
    """After a failed workflow on a cluster: each job the scheduler ended, why (for a time
    limit, the limit it had: study.costs.runtime_minutes), its logs, and what to do."""
    from study import costs

    try:
        stopped = scheduler_stops(log.read_text(errors="replace"))
    except OSError:
        return []
    for job in stopped:
        out = Path(job["output"])
        where = out.relative_to(cfg.study_dir) if out.is_relative_to(cfg.study_dir) else out
        target = where.parts[1] if job["rule"] == "phase3" and len(where.parts) > 1 else None
        limit = (f" of {costs.runtime_minutes(cfg, job['rule'], target)} min"
                 if job["rule"] in ("phase2", "phase3") else "")
        label, why = SCHEDULER_STOPS[job["status"]]
        why = why.format(limit=limit, rule=job["rule"], memory=memory_mb(cfg, job["rule"]))
        print(f"{label}: {job['rule']} {where} (SLURM job {job['job']}) {why}; its logs: "
              f"{', '.join(job['logs'])}", file=sys.stderr)
    if any(job["status"] == "TIMEOUT" for job in stopped):
        p = cfg.plan
        print(f"A phase-2 or phase-3 job's time limit is its projected hours x plan.runtime_safety "
              f"({p.runtime_safety}) + plan.runtime_startup_minutes ({p.runtime_startup_minutes}), "
              f"at most plan.max_runtime_minutes ({p.max_runtime_minutes}); other rules take the "
              "profile's runtime. Raise it first.", file=sys.stderr)
    if stopped:
        print(f"{len(stopped)} job(s) were ended by the cluster. Run the same command again: finished jobs "
              "are kept, and the stopped training jobs resume from their last checkpoint", file=sys.stderr)
    return stopped


def clean(params_file: Path, yes: bool = False, ask=input) -> bool:
    """Remove one study's outputs (`output_root/<study>`), after asking; never anything else."""
    import shutil

    from study.config import load_config

    cfg = load_config(params_file)
    target = cfg.study_dir.resolve()
    root = cfg.output_root.resolve()
    if target.parent != root or target.name != cfg.study:
        raise RuntimeError(f"{params_file}: {target} is not output_root/<study>; refusing to remove it")
    if not target.exists():
        print(f"nothing to clean: {target} does not exist")
        return False
    files = [p for p in target.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 1e6
    with study_lock(cfg):
        if not yes:
            answer = ask(f"Remove study {cfg.study!r}: {target} ({len(files)} files, {size:.1f} MB)? "
                         "[y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("kept")
                return False
        shutil.rmtree(target)
    print(f"removed {target}")
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    import pandas as pd

    from study.config import ConfigError, load_config
    from study.data import DataError
    from study.typology import TypologyError  # the design check computes distances

    parser = argparse.ArgumentParser(prog="python -m study.grid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan", help="jobs per stage and projected compute, runs nothing")
    p_run = sub.add_parser("run", help="run the grid (Snakemake), skipping finished jobs")
    p_clean = sub.add_parser("clean", help="remove this study's outputs, after asking")
    p_check = sub.add_parser("check", help="check the params, data and Hub needs, runs nothing")
    for p in (p_plan, p_run, p_clean, p_check):
        p.add_argument("params", type=Path, help="params YAML file")
    p_run.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                       help="local cores (default: all); each job takes `threads` of them")
    p_run.add_argument("--profile", help="a Snakemake profile, e.g. workflow/profiles/slurm")
    p_run.add_argument("-v", "--verbose", action="store_true", help="show Snakemake's and every job's "
                       "output (kernel messages, progress bars, Trainer logs) instead of the progress line")
    p_run.add_argument("--open", action="store_true", help="open the report in the browser when the run "
                       "has finished, where a desktop exists (elsewhere its path is printed, as always)")
    p_clean.add_argument("--yes", action="store_true", help="do not ask")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command == "plan":
            import datasets

            cfg = load_config(args.params)
            datasets.disable_progress_bars()  # the plan reads local splits: per-file bars are noise
            table, n = plan(cfg)
            counts = ", ".join(f"{k} {v}" for k, v in table["jobs"].items() if k != "total")
            print(f"study {cfg.study!r} ({args.params}): {table.loc['total', 'jobs']} jobs ({counts})")
            print(f"model: {cfg.model.name_or_path}, {n / 1e6:.1f}M non-embedding parameters; "
                  f"tokens per sequence: {cfg.plan.tokens_per_sequence or 'max_length (upper bound)'}")
            with pd.option_context("display.float_format", "{:,.3g}".format, "display.width", 160):
                print(table.to_string())
            if not cfg.plan.hardware:
                print("(no hardware profile in plan.hardware: no time projection)")
            from study import design

            diagnosis = design.diagnose(cfg)
            print(design.summary(diagnosis, cfg))
            for line in design.enforce(cfg, diagnosis):  # design.weak_contrast: error raises
                print(f"warning: {line}", file=sys.stderr)
            return 0
        if args.command in ("run", "check"):  # before anything else: a weak design warns, or stops
            from study import design  # (design.weak_contrast: error)

            for line in design.enforce(load_config(args.params)):
                print(f"warning: {line}", file=sys.stderr, flush=True)
        if args.command == "run":
            return run(args.params, args.cores, args.profile, extra, verbose=args.verbose,
                       open_report=args.open)
        if args.command == "check":
            from study.preflight import check, hub_needs, offline

            cfg, splits = check(args.params)
            needs = hub_needs(cfg)
            offline = " (the Hub is unreachable: the jobs run offline from the cache)" \
                if needs and offline() else ""
            print(f"{args.params}: study {cfg.study!r} is ready: params valid, {splits} local data "
                  f"split(s) readable, {len(needs)} Hub model(s)/dataset(s) available{offline}")
            return 0
        if extra:
            parser.error(f"unrecognised arguments: {' '.join(extra)}")
        clean(args.params, args.yes, ask=input if sys.stdin.isatty() or args.yes else _no_tty)
        return 0
    except (ConfigError, DataError, TypologyError, StudyLocked, RuntimeError, KeyError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _no_tty(prompt: str) -> str:
    raise RuntimeError("clean asks before removing anything; no terminal to ask on. Pass --yes to "
                       "remove without asking")


if __name__ == "__main__":
    sys.exit(main())
