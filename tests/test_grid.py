"""The study grid: which jobs a change reruns, the plan's projection, the study lock,
`clean`, and the SLURM profile's dry run."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from study import costs, fingerprints, grid, jobgraph, layout
from study.config import ConfigError, build_config, load_config

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "params" / "full.yaml"


def _changed(cfg, **sections):
    """The config with some keys of some sections replaced (as an edited params file)."""
    raw = cfg.resolved()
    for section, values in sections.items():
        raw[section] = {**raw[section], **values} if isinstance(values, dict) else values
    return build_config(raw, cfg.source_file)


def _rerun(before, after) -> set[str]:
    fp = fingerprints.fingerprint
    return {str(j) for j in jobgraph.jobs(after) if fp(before, j) != fp(after, j)}


def test_full_grid_has_every_condition_draw_target_and_seed():
    cfg = load_config(FULL)
    jobs = jobgraph.jobs(cfg)
    phase2 = [(j.condition, j.seed) for j in jobs if j.stage == "phase2"]
    # phase2_seed_policy per_seed: an encoder per (condition, seed)
    assert phase2 == [(c, s) for c in ("en", "diverse", "similar", "random-0", "random-1", "random-2",
                                       "en+diverse", "translate-train", "en-replicate") for s in range(5)]
    phase3 = [j for j in jobs if j.stage == "phase3"]
    assert len(phase3) == 2 * 10 * 5  # targets x (none + 9 phase-2 ids) x seeds
    runs = {(j.target, j.condition, j.seed) for j in phase3}
    assert {("xcopa", "none", 2), ("xnli", "random-1", 0)} <= runs
    # each run starts from its own seed's encoder (none: from the pretrained model)
    for j in phase3:
        own = jobgraph.Job("phase2", condition=j.condition, seed=j.seed)
        expected = jobgraph.Job("base_model") if j.condition == "none" else own
        assert jobgraph.start_job(cfg, j.condition, j.seed) == expected


def test_shared_policy_trains_one_encoder_per_condition_for_every_seed():
    cfg = _changed(load_config(FULL), phase2_seed_policy="shared")
    phase2 = [j for j in jobgraph.jobs(cfg) if j.stage == "phase2"]
    assert [j.seed for j in phase2] == [None] * 9
    assert jobgraph.start_job(cfg, "diverse", 2) == jobgraph.Job("phase2", condition="diverse")
    assert layout.encoder_dir(cfg, "diverse", 2) == cfg.study_dir / "phase2" / "diverse" / "encoder"


def test_the_negative_control_repeats_the_english_recipe_with_its_own_draw_and_seed():
    from study.config import replicate_seed

    cfg = _changed(load_config(FULL), conditions=["none", "en", "en-replicate"])
    en, rep = (fingerprints.job_params(cfg, jobgraph.Job("phase2", condition=c, seed=0))
               for c in ("en", "en-replicate"))
    # the same data source, budget and training parameters; another data draw
    assert {k: v for k, v in rep["selection"].items() if k != "seed"} == \
        {k: v for k, v in en["selection"].items() if k != "seed"}
    assert rep["selection"]["seed"] == replicate_seed("en-replicate", cfg.phase2_seed) != cfg.phase2_seed
    assert rep["phase2"] == en["phase2"]
    assert fingerprints.fingerprint(cfg, jobgraph.Job("phase2", condition="en-replicate", seed=0)) != \
        fingerprints.fingerprint(cfg, jobgraph.Job("phase2", condition="en", seed=0))
    # a change to English phase-2 data reruns both; a pool change neither
    moved = _changed(cfg, data={"phase2_en": ["anli"]})
    assert {"phase2 en/seed0", "phase2 en-replicate/seed0"} <= _rerun(cfg, moved)


def test_no_phase3_run_is_seeded_like_the_phase2_it_starts_from():
    """Phase 2 trains with a seed derived from the study's, for the original and the replicate
    alike: seeded as its phase 3, `en` gave its phase-3 runs' fresh heads the very start of
    phase 2's head, which its replicate did not, and the negative control failed."""
    from study.config import phase2_training_seed, replicate_seed

    seeds = range(0, 2000, 7)
    for condition in ("en", "en-replicate", "diverse"):
        derived = [phase2_training_seed(condition, s) for s in seeds]
        assert not set(derived) & set(seeds) and len(set(derived)) == len(derived)
        assert derived == [phase2_training_seed(condition, s) for s in seeds]  # reproducible
    assert phase2_training_seed("en", 0) != phase2_training_seed("en-replicate", 0)
    replicate = replicate_seed("en-replicate", 0)
    assert phase2_training_seed("en-replicate", 0) == phase2_training_seed("en", replicate)


def test_per_seed_encoders_differ_by_their_training_seed_only():
    cfg = load_config(FULL)
    job = {s: jobgraph.Job("phase2", condition="diverse", seed=s) for s in (0, 1, 2)}
    fps = {s: fingerprints.fingerprint(cfg, j) for s, j in job.items()}
    assert len(set(fps.values())) == 3
    assert fingerprints.job_params(cfg, job[1])["training_seed"] == 1
    assert layout.encoder_dir(cfg, "diverse", 1) == cfg.study_dir / "phase2" / "diverse" / "seed1" / "encoder"
    # a run's fingerprint follows its own seed's encoder: phase 2 of seed 1 changed, only the
    # seed-1 runs of that condition are stale
    run = jobgraph.Job("phase3", target="xnli", condition="diverse", seed=1)
    assert fingerprints.job_params(cfg, run)["start"] == fps[1]
    # one more seed adds its encoders and runs, and changes nothing that exists
    more = _changed(cfg, seeds=[0, 1, 2, 3, 4, 5])
    assert _rerun(cfg, more) == {"report"}
    assert {"phase2 diverse/seed5", "phase3 xnli/diverse/seed5"} <= {str(j) for j in jobgraph.jobs(more)}


def test_a_selection_parameter_reruns_only_the_conditions_that_choose_languages():
    cfg = load_config(FULL)
    rerun = _rerun(cfg, _changed(cfg, selection={"k": 2}))
    chosen = {"diverse", "similar", "random-0", "random-1", "random-2", "en+diverse"}
    expected = ({"select", "report"} | {f"phase2 {c}/seed{s}" for c in chosen for s in range(5)}
                | {f"phase3 {t}/{c}/seed{s}" for t in ("xnli", "xcopa") for c in chosen for s in range(5)})
    assert rerun == expected


def test_one_condition_parameters_rerun_only_that_condition():
    cfg = load_config(FULL)
    # One more random draw: the new draw's jobs, and nothing that already ran.
    more = _changed(cfg, selection={"random_draws": 4})
    assert _rerun(cfg, more) == {"select", "report"}  # (random-3 is new: it has no output yet)
    assert "phase2 random-3/seed0" in {str(j) for j in jobgraph.jobs(more)}
    # The translated data set is read by translate-train only.
    rerun = _rerun(cfg, _changed(cfg, data={"translate_train": "xnli"}))
    assert {j for j in rerun if not j.startswith(("select", "report"))} == (
        {f"phase2 translate-train/seed{s}" for s in range(5)}
        | {f"phase3 {t}/translate-train/seed{s}" for t in ("xnli", "xcopa") for s in range(5)})


def test_the_order_of_targets_in_the_file_changes_no_job():
    cfg = load_config(FULL)
    raw = cfg.resolved()
    raw["data"]["targets"] = dict(reversed(list(raw["data"]["targets"].items())))
    assert _rerun(cfg, build_config(raw, cfg.source_file)) == set()


def test_phase3_parameters_and_seeds_leave_phase2_and_selection_alone():
    cfg = load_config(FULL)
    rerun = _rerun(cfg, _changed(cfg, phase3={"lr": 1e-5}))
    assert rerun == {"report"} | {str(j) for j in jobgraph.jobs(cfg) if j.stage == "phase3"}
    assert _rerun(cfg, _changed(cfg, seeds=[0, 1, 2, 3])) == {"report"}  # seed 3 is new
    assert _rerun(cfg, _changed(cfg, threads=2)) == set()  # how, not what


def test_a_phase2_parameter_reruns_phase2_and_what_starts_from_it_not_none():
    cfg = load_config(FULL)
    rerun = _rerun(cfg, _changed(cfg, phase2={"lr": 2e-5}))
    assert "select" not in rerun and not any(j.startswith("phase3 xnli/none") for j in rerun)
    assert {str(j) for j in jobgraph.jobs(cfg) if j.stage == "phase2"} <= rerun
    assert "phase3 xcopa/en/seed1" in rerun


def test_code_dependencies_follow_the_imports_of_each_stage():
    names = {stage: {p.name for p in fingerprints.code_files(stage)} for stage in jobgraph.STAGES}
    assert {"stats.py", "report.py", "04_analysis.ipynb"} <= names["report"]
    assert "stats.py" not in names["phase2"] | names["phase3"] | names["select"]
    assert "evaluation.py" in names["phase3"] and "evaluation.py" not in names["phase2"]
    assert {"training.py", "multitask.py", "selection.py"} <= names["phase2"]
    assert "typology.py" in names["select"] and "config.py" in set.intersection(*names.values())
    # what launches, schedules, checks or times a job is no stage's result code; what only
    # shows a figure or table is the report's alone; the registry counts per entry (below)
    assert not {"grid.py", "fingerprints.py", "costs.py", "runner.py", "warm.py", "preflight.py", "timing.py",
                "launch.py", "tasks.yaml"} & set.union(*names.values())
    assert {"plots.py", "datacard.py", "design.py"} & set.union(*(names[s] for s in jobgraph.STAGES
                                                                   if s != "report")) == set()
    assert "plots.py" in names["report"]


@pytest.mark.parametrize("module, stages", [
    ("stats.py", {"report"}),
    ("evaluation.py", {"phase3"}),
    ("selection.py", {"select", "phase2", "report"}),  # the report shows the design (study/design.py)
    ("plots.py", {"report"}),
    ("report.py", {"report"}),
    ("grid.py", set()),
    ("fingerprints.py", set()),
    ("costs.py", set()),
    ("runner.py", set()),
    ("warm.py", set()),
    ("preflight.py", set()),
    ("training.py", {"phase2", "phase3"}),
    ("pretrained.py", {"base_model", "phase2", "phase3"}),
    ("04_analysis.ipynb", {"report"}),
    ("config.py", set(jobgraph.STAGES)),
    ("conditions.py", set(jobgraph.STAGES)),
])
def test_editing_a_module_reruns_every_job_that_runs_it_and_no_other(monkeypatch, module, stages):
    """An edit to one file of the study's code (simulated: its bytes gain a comment) changes
    the fingerprint, and so reruns, every job whose stage runs that file and every phase-3
    run that starts from an encoder (or base model) such a job makes, and no other job.
    (Snakemake also reruns what reads a rerun job's outputs, e.g. the report.)"""
    cfg = load_config(ROOT / "params" / "demo.yaml")
    jobs = jobgraph.jobs(cfg)
    before = {str(j): fingerprints.fingerprint(cfg, j) for j in jobs}
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: read(self) + (b"\n# edited\n" if self.name == module else b""))
    changed = {str(j) for j in jobs if fingerprints.fingerprint(cfg, j) != before[str(j)]}

    def starts_from(job):
        return jobgraph.start_job(cfg, job.condition, job.seed)

    direct = {str(j) for j in jobs if j.stage in stages}
    if not stages:
        assert changed == set()
        return
    expected = direct | {str(j) for j in jobs if j.stage == "phase3" and str(starts_from(j)) in direct}
    assert changed == expected
    assert {j.stage for j in jobs if str(j) in changed} >= stages
    if module == "selection.py":  # `none` trains from the base model: its runs stay
        assert not any("none" in j for j in changed) and any("phase3" in j for j in changed)


def test_a_registry_entry_counts_only_for_the_jobs_that_read_its_task(monkeypatch):
    from dataclasses import replace

    cfg = load_config(ROOT / "params" / "demo.yaml")
    jobs = jobgraph.jobs(cfg)
    before = {str(j): fingerprints.fingerprint(cfg, j) for j in jobs}

    def changed(task, **edit):
        monkeypatch.setitem(fingerprints.TASKS, task, replace(fingerprints.TASKS[task], **edit))
        try:
            return {str(j) for j in jobs if fingerprints.fingerprint(cfg, j) != before[str(j)]}
        finally:
            monkeypatch.undo()

    assert changed("hellaswag", license="edited") == set()  # a task the demo never reads
    # a target: its runs; the selection and phase 2, which keep its test sets out of their
    # data, and the runs that start from phase 2; the report. Not demo_nli from the base model.
    edited = changed("demo_choice", license="edited")
    runs = {str(j) for j in jobs if j.stage == "phase3" and j.target == "demo_choice"}
    assert runs <= edited and {"select", "report"} <= edited
    assert {str(j) for j in jobs if j.stage == "phase2"} <= edited
    assert "base_model" not in edited and not any(j.startswith("phase3 demo_nli/none") for j in edited)
    # demo_nli is the demo's phase-2 data and its NLI target: all but the base model and the
    # demo_choice runs that start from it
    edited = changed("demo_nli", license="edited")
    assert edited == {str(j) for j in jobs if j.stage != "base_model"
                      and not (j.stage == "phase3" and j.target == "demo_choice" and j.condition == "none")}


def test_plan_counts_jobs_and_projects_compute_from_tokens(tmp_path):
    cfg = load_config(FULL)
    table, n = costs.plan(cfg)
    assert n == 3.02e8
    assert dict(table["jobs"]) == {"select": 1, "phase2": 45, "phase3": 100, "report": 1, "total": 147}
    # phase 2 by hand: 9 phase-2 ids x 5 seeds x budget x epochs x tokens per sequence, 6 N FLOPs each
    tokens = 9 * 5 * 20000 * 1 * 48
    assert table.loc["phase2", "train tokens"] == tokens
    assert table.loc["phase2", "PFLOP"] == pytest.approx(6 * n * tokens / 1e15)
    assert table.loc["phase2", "hours on h100"] == pytest.approx(6 * n * tokens / 2.0e14 / 3600)
    # phase 3 trains MNLI (392,702 examples, 5 epochs) per run of xnli: 10 conditions x 5 seeds
    xnli_train = 50 * 392702 * 5 * 48
    copa_train = 50 * 400 * 5 * 48 * 2  # two choices, one sequence each
    siqa_train = 50 * 33410 * 5 * 48 * 3  # xcopa trains SIQA (three answers) before COPA, as XTREME does
    assert table.loc["phase3", "train tokens"] == xnli_train + copa_train + siqa_train
    assert table.loc["total", "PFLOP"] == pytest.approx(table["PFLOP"].drop("total").sum())


def test_plan_names_the_missing_size_of_a_hub_task(tmp_path):
    from conftest import write_params

    cfg = load_config(FULL)
    raw = cfg.resolved()
    raw["data"]["targets"] = {"xnli": {"train": "anli"}}  # the registry has no ANLI sizes
    params = write_params(tmp_path, **{k: raw[k] for k in ("data", "plan", "model")},
                          study="sizes", conditions=["none", "en"])
    result = subprocess.run([sys.executable, "-m", "study.grid", "plan", str(params)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "task 'anli' has no `examples` count for split 'train'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_plan_prints_the_cpu_projection(tmp_path):
    # an empty datasets cache, as on a fresh clone (each local split is read and prepared
    # anew), and progress bars on, as in a user's terminal (the suite's conftest turns them off)
    env = {**{k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"},
           "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "study.grid", "plan", str(ROOT / "params/demo.yaml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "hours on cpu-2core" in result.stdout and "phase3" in result.stdout
    assert "examples/s" not in result.stderr, result.stderr[-2000:]  # no per-split progress bars
    # Every STUDY.md condition, random as two draws: 8 phase-2 ids x 4 seeds; 2 targets x 9 x 4 seeds.
    assert "107 jobs (base_model 1, select 1, phase2 32, phase3 72, report 1)" in result.stdout
    from study.conditions import CONDITIONS
    assert set(load_config(ROOT / "params/demo.yaml").conditions) == set(CONDITIONS)


def _hold_lock(params: Path) -> subprocess.Popen:
    code = ("import sys, time; from study.config import load_config; from study.grid import study_lock\n"
            "with study_lock(load_config(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(params)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_of_the_same_study_stops_with_a_message(tiny_params):
    holder = _hold_lock(tiny_params)
    try:
        start = time.time()
        result = subprocess.run([sys.executable, "-m", "study.grid", "run", str(tiny_params)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and time.time() - start < 60
        assert "study 'tiny'" in result.stderr and f"pid {holder.pid}" in result.stderr
        assert "wait for it to finish or stop it" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    # Killed, the holder leaves no stale lock.
    with grid.study_lock(load_config(tiny_params)):
        pass


def test_clean_asks_and_removes_only_its_own_study(tmp_path):
    from conftest import TINY, write_params

    mine = load_config(write_params(tmp_path, **TINY))
    other = load_config(write_params(tmp_path / "o", **{**TINY, "study": "tiny2"},
                                     output_root=str(tmp_path / "outputs")))
    assert mine.output_root.resolve() == other.output_root.resolve()
    for cfg in (mine, other):
        (cfg.study_dir / "runs").mkdir(parents=True)
        (cfg.study_dir / "runs" / "metrics.json").write_text("{}")
    assert not grid.clean(mine.source_file, ask=lambda prompt: "n")
    assert (mine.study_dir / "runs" / "metrics.json").exists()
    prompts = []
    assert grid.clean(mine.source_file, ask=lambda prompt: prompts.append(prompt) or "y")
    assert "Remove study 'tiny'" in prompts[0] and "2 files" in prompts[0]  # metrics + .lock
    assert not mine.study_dir.exists() and (other.study_dir / "runs" / "metrics.json").exists()


def test_clean_refuses_without_a_terminal_and_while_the_study_runs(tiny_params):
    cfg = load_config(tiny_params)
    cfg.study_dir.mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "study.grid", "clean", str(tiny_params)],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "Pass --yes" in result.stderr and cfg.study_dir.exists()
    holder = _hold_lock(tiny_params)
    try:
        with pytest.raises(grid.StudyLocked, match="is in use by pid"):
            grid.clean(tiny_params, yes=True)
        assert cfg.study_dir.exists()
    finally:
        holder.kill()
        holder.wait()


def test_slurm_profile_dry_run_lists_the_full_grid_with_gpus(tmp_path):
    """The README's command, as a user types it from the repository: the profile named
    relative to it, no Hub needed for a dry run; Snakemake's records go to the study's folder."""
    (tmp_path / "params").mkdir()
    params = tmp_path / "params" / "full.yaml"  # outputs go to tmp_path/outputs, not the repository's
    params.write_text(FULL.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "study.grid", "run", str(params), "--profile", "workflow/profiles/slurm",
         "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    stats = dict(line.split() for line in out.split("Job stats:")[1].splitlines()[3:9] if line.strip())
    assert stats == {"phase2": "45", "phase3": "100", "select": "1", "report": "1", "all": "1",
                     "total": "148"}
    phase3 = [block for block in out.split("rule phase3:")[1:]]
    assert len(phase3) == 100
    assert all("gpu=1" in b.split("Shell command")[0] and "-p processes 1" in b for b in phase3)
    assert "slurm_partition=gpu" in phase3[0]
    # each job's time limit is its own projection's (study.costs.runtime_minutes), not the
    # profile's default: an XNLI run asks for more than an hour, an XCOPA run for less
    cfg = load_config(params)
    limits = {target: costs.runtime_minutes(cfg, "phase3", target) for target in cfg.data.targets}
    assert limits["xnli"] > 60 > limits["xcopa"]
    for block in phase3:
        target = re.search(r"target=(\w+)", block).group(1)
        assert f"runtime={limits[target]}," in block.split("Shell command")[0], block[:600]
    assert all(f"runtime={costs.runtime_minutes(cfg, 'phase2')}," in b
               for b in out.split("rule phase2:")[1:])
    study_dir = tmp_path / "outputs" / "full"
    assert (study_dir / ".snakemake").is_dir()  # the rerun records follow the study
    assert not (study_dir / "runs").exists()  # a dry run: nothing ran


def test_per_seed_policy_wires_each_run_to_its_own_seeds_encoder_in_the_workflow(tmp_path):
    """Snakemake's plan for the demo with phase2_seed_policy per_seed: 7 conditions x 2 seeds
    phase-2 jobs, each run of seed N reading phase2/<condition>/seedN and nothing else."""
    import re

    import yaml
    from conftest import write_params

    params = write_params(tmp_path, phase2_seed_policy="per_seed", seeds=[0, 1])
    assert yaml.safe_load(params.read_text())["seeds"] == [0, 1]
    study = load_config(params).study_dir
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"), "--config",
         f"params={params}", "--cores", "2", "--dry-run"], cwd=tmp_path, capture_output=True, text=True,
        timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    blocks = {rule: re.findall(rf"rule {rule}:\n    input: (.*)\n    output: (.*)\n", out)
              for rule in ("phase2", "phase3")}
    conditions = jobgraph.phase2_conditions(load_config(params))
    assert sorted(o for _, o in blocks["phase2"]) == sorted(
        str(study / "phase2" / c / f"seed{s}") for c in conditions for s in (0, 1))
    for inputs, output in blocks["phase3"]:
        run = Path(output).relative_to(study / "runs")
        condition, seed = "/".join(run.parts[1:-1]), run.parts[-1]
        expected = study / "pretrained" if condition == "none" else study / "phase2" / condition / seed
        assert inputs == f"{expected}, {params}", (output, inputs)  # its start, and the params file
    assert len(blocks["phase3"]) == 36  # 2 targets x (none + 8 phase-2 ids) x 2 seeds


def test_local_runs_are_bounded_by_memory_as_well_as_cores(tmp_path):
    cfg = load_config(ROOT / "params" / "demo.yaml")
    assert grid.memory_mb(cfg, "phase3") == 1200 and grid.memory_mb(cfg, "report") == grid.DEFAULT_MEMORY_MB
    assert grid.local_parallelism(cfg, cores=2, memory=24000) == 2  # the cores bound it
    assert grid.local_parallelism(cfg, cores=2, memory=2000) == 1   # the memory does
    command = grid.snakemake_command(Path("p.yaml"), 2, None, [], memory=2000)
    assert command[command.index("--resources") + 1] == "mem_mb=2000"
    assert "--resources" not in grid.snakemake_command(Path("p.yaml"), 2, "prof", [])  # the profile's own
    command = grid.snakemake_command(Path("p.yaml"), 2, None, [], memory=2000, workdir=tmp_path)
    assert command[command.index("--directory") + 1] == str(tmp_path)
    assert f"params={Path('p.yaml').resolve()}" in command  # whatever directory Snakemake works in
    assert 0 < grid.available_memory_mb()
    # Each rule declares its stage's memory: Snakemake's scheduler sees it.
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"), "--config",
         f"params={ROOT / 'params' / 'demo.yaml'}", "--cores", "2", "--resources", "mem_mb=2000",
         "--dry-run", "--forceall"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    phase3 = out.split("rule phase3:")[1:]
    assert len(phase3) == len([j for j in jobgraph.jobs(cfg) if j.stage == "phase3"]) == 72  # 2 x 9 x 4 seeds
    assert all("mem_mb=1200" in block.split("rule ")[0] for block in phase3)


def test_memory_of_an_unknown_stage_is_refused(tmp_path):
    from conftest import TINY, write_params

    with pytest.raises(Exception, match="memory_mb: unknown stage 'phase4'"):
        load_config(write_params(tmp_path, **TINY, plan={"memory_mb": {"phase4": 100}}))
    with pytest.raises(Exception, match="memory_mb 'phase3': expected a positive number of MB"):
        load_config(write_params(tmp_path, **TINY, plan={"memory_mb": {"phase3": "lots"}}))


def _two_families(tmp_path, **changes):
    """The demo with two phase-2 families: NLI (demo_nli) and commonsense (demo_choice)."""
    from conftest import write_params

    families = {"nli": {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
                "commonsense": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}
    raw = load_config(write_params(tmp_path)).resolved()
    for key in ("phase2_en", "phase2_pool"):
        raw["data"].pop(key)
    raw["data"]["families"] = families
    for section, values in changes.items():
        raw[section] = {**raw[section], **values} if isinstance(values, dict) else values
    return build_config(raw, tmp_path / "params" / "test.yaml")


def test_families_multiply_the_phase2_grid_and_share_none(tmp_path):
    cfg = _two_families(tmp_path)
    ids = jobgraph.phase2_conditions(cfg)
    per_family = ["en", "diverse", "similar", "random-0", "random-1", "en+diverse", "en-replicate"]
    assert ids == ([f"nli/{c}" for c in per_family] + [f"commonsense/{c}" for c in per_family]
                   + ["translate-train"])
    names = {str(j) for j in jobgraph.jobs(cfg)}
    assert {"select nli", "select commonsense"} <= names and "select" not in names
    phase3 = [j for j in jobgraph.jobs(cfg) if j.stage == "phase3"]
    assert len(phase3) == 2 * (1 + 15) * len(cfg.seeds)  # targets x (none + 15 ids) x seeds: none once
    # Each family's slice selects from its own pool; translate-train is selected once.
    slices = cfg.phase2_families()
    assert slices["commonsense"].data.phase2_en == ("demo_choice",)
    assert "translate-train" in slices["nli"].conditions
    assert "translate-train" not in slices["commonsense"].conditions
    view, kind, family = jobgraph.slice_of(cfg, "commonsense/random-1")
    assert (view.data.phase2_pool, kind, family) == (("demo_choice",), "random-1", "commonsense")
    from study import layout
    assert layout.phase2_dir(cfg, "commonsense/diverse") == cfg.study_dir / "phase2/commonsense/diverse"
    assert layout.phase2_data_dir(cfg, "commonsense/en") == (
        cfg.study_dir / "selection" / "commonsense" / "phase2_data" / "en")
    assert layout.phase2_data_dir(cfg, "translate-train").parent.parent.name == "nli"


def test_editing_one_family_reruns_only_its_jobs(tmp_path):
    cfg = _two_families(tmp_path)
    raw = cfg.resolved()
    raw["data"]["families"]["commonsense"]["phase2_en"] = ["demo_nli"]
    after = build_config(raw, cfg.source_file)
    rerun = _rerun(cfg, after)
    assert {"select commonsense", "report"} <= rerun and "select nli" not in rerun
    others = {j for j in rerun if not j.startswith(("select", "report"))}
    # English data: its conditions (en, en+diverse, en's replicate) of that family, each
    # seed's encoder (the demo's phase2_seed_policy per_seed), and the runs from them
    english = ("en", "en+diverse", "en-replicate")
    assert others == {f"phase2 commonsense/{c}/seed{s}" for c in english for s in cfg.seeds} | {
        f"phase3 {t}/commonsense/{c}/seed{s}" for t in cfg.data.targets for c in english
        for s in cfg.seeds}


def test_families_are_given_one_way_and_named_safely(tmp_path):
    from conftest import write_params

    with pytest.raises(Exception, match="either phase2_en and phase2_pool .* or families"):
        load_config(write_params(tmp_path, data={"families": {
            "a": {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
            "b": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}}))
    with pytest.raises(Exception, match="families lists one family"):
        _two_families(tmp_path, data={"families": {"a": {"phase2_en": "demo_nli",
                                                         "phase2_pool": ["demo_nli"]}}})
    with pytest.raises(Exception, match="family name 'Q A'"):
        _two_families(tmp_path, data={"families": {
            "Q A": {"phase2_en": "demo_nli", "phase2_pool": ["demo_nli"]},
            "b": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}})
    with pytest.raises(Exception, match="unknown task 'mnlii'"):
        _two_families(tmp_path, data={"families": {
            "a": {"phase2_en": "mnlii", "phase2_pool": ["demo_nli"]},
            "b": {"phase2_en": "demo_choice", "phase2_pool": ["demo_choice"]}}})


def test_the_full_study_with_its_commented_families_is_valid_and_planned():
    """full.yaml's commented `families:` example (README's figures) parses and plans."""
    import yaml

    text = FULL.read_text()
    block = text[text.index("  #   families:"):].splitlines()
    example = "\n".join(line.replace("  #", "", 1) for line in block if line.startswith("  #   "))
    families = yaml.safe_load(example)["families"]
    raw = load_config(FULL).resolved()
    for key in ("phase2_en", "phase2_pool"):
        raw["data"].pop(key)
    raw["data"]["families"] = families
    cfg = build_config(raw, FULL)
    table, _ = costs.plan(cfg)
    assert table["jobs"].to_dict() == {"select": 3, "phase2": 125, "phase3": 260, "report": 1, "total": 389}
    assert round(table.loc["total", "hours on h100"], 1) == 52.0


def test_the_workflow_is_lint_clean_with_one_rules_file_per_stage(tmp_path):
    """The community layout (snakemake-workflows): `include:`s of workflow/rules/*.smk,
    input functions in common.smk; `snakemake --lint` finds nothing."""
    rules = sorted(p.name for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert rules == ["base_model.smk", "common.smk", "phase2.smk", "phase3.smk", "report.smk", "select.smk"]
    for params in ("params/demo.yaml", "params/full.yaml"):
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"), "--lint",
             "--config", f"params={ROOT / params}"], cwd=tmp_path, capture_output=True, text=True,
            timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert result.returncode == 0 and "in a good condition" in result.stdout + result.stderr, \
            (params, (result.stdout + result.stderr)[-3000:])


def test_phase3_chooses_its_checkpoint_on_the_targets_english_dev_as_xtreme_does():
    """XTREME's train_xnli.sh keeps the checkpoint best on XNLI's own English dev (2,490 pairs),
    not MNLI's (9,815): the default (select_on: target), which XCOPA, with no English, takes
    from COPA's validation. select_on: train keeps the train task's dev, and the plan counts
    the set each chooses on: MNLI's costs phase 3 about 4 times the selection."""
    cfg = load_config(FULL)
    assert (cfg.data.selection_task("xnli"), cfg.data.selection_task("xcopa")) == ("xnli", "copa")
    from study import preflight

    assert ("xnli", "en", "dev") in preflight.reads(cfg) and ("mnli", "en", "dev") not in preflight.reads(cfg)
    train = load_config(FULL, {"data.targets.xnli.select_on": "train"})
    assert train.data.selection_task("xnli") == "mnli" and ("mnli", "en", "dev") in preflight.reads(train)
    (tokens, xnli_dev), (_, mnli_dev) = (costs._phase3_tokens(c, "xnli") for c in (cfg, train))
    steps = -(-392_702 // 32) * 5  # MNLI train, batch 32, 5 epochs; English dev every 100 steps
    checks = steps / 100 + 1
    per_check = (mnli_dev - xnli_dev) / checks / cfg.plan.tokens_per_sequence
    assert per_check == pytest.approx(9815 - 2490)  # the two dev sets, in examples
    assert costs.job_hours(train, "phase3", "xnli") > 1.5 * costs.job_hours(cfg, "phase3", "xnli")
    with pytest.raises(ConfigError, match="select_on"):
        load_config(FULL, {"data.targets.xnli.select_on": "mnli"})


def test_a_jobs_time_limit_is_its_projection_with_a_margin_capped_by_the_params(tmp_path):
    """params/full.yaml's plan: an XNLI phase-3 run is projected at about 20 minutes on an
    H100 (0.31 h), so it asks for that times plan.runtime_safety plus the start-up minutes,
    not a profile's one-hour default; plan.max_runtime_minutes caps it; a plan with no
    hardware projects nothing and asks for the cap; an unknown hardware name is refused."""
    import math

    cfg = load_config(FULL)
    hours = costs.job_hours(cfg, "phase3", "xnli")
    assert 0.2 < hours < 1.0
    p = cfg.plan
    expected = math.ceil(hours * 60 * p.runtime_safety + p.runtime_startup_minutes)
    assert costs.runtime_minutes(cfg, "phase3", "xnli") == expected > 60
    assert costs.runtime_minutes(cfg, "phase3", "xcopa") < expected
    capped = cfg.model_copy(update={"plan": p.model_copy(update={"max_runtime_minutes": 60})})
    assert costs.runtime_minutes(capped, "phase3", "xnli") == 60
    blind = cfg.model_copy(update={"plan": p.model_copy(update={"hardware": {}})})
    assert costs.job_hours(blind, "phase3", "xnli") is None
    assert costs.runtime_minutes(blind, "phase3", "xnli") == p.max_runtime_minutes
    assert costs.runtime_minutes(cfg, "report") == p.max_runtime_minutes  # not projected
    slower = p.model_copy(update={"hardware": {"h100": 2.0e14, "a100": 1.0e14}})
    two = cfg.model_copy(update={"plan": slower})
    assert costs.job_hours(two, "phase3", "xnli") == pytest.approx(2 * hours)  # the slowest, unless named
    named = cfg.model_copy(update={"plan": slower.model_copy(update={"runtime_hardware": "h100"})})
    assert costs.job_hours(named, "phase3", "xnli") == pytest.approx(hours)
    raw = yaml.safe_load(FULL.read_text())
    raw["plan"]["runtime_hardware"] = "v100"
    bad = tmp_path / "full.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"runtime_hardware 'v100' is not a profile of plan.hardware; "
                                          r"accepted: \['h100'\]"):
        load_config(bad)


# Snakemake's log of real runs on the suite's SLURM cluster (2026-12-02): a phase-3 job that ran
# past a 1-minute limit (plan.max_runtime_minutes: 1, 150 epochs), a phase-2 job ended with
# scancel, and a report that failed on its own; paths shortened.
SLURM_LOG = """\
Job 3 has been submitted with SLURM jobid 4 (log: \
{study}/.snakemake/slurm_logs/rule_phase3/demo_nli_none_0/4.log).
[Wed Dec  2 16:02:40 2026]
Error in rule phase3:
    message: SLURM-job '4' failed, SLURM status is: 'TIMEOUT'. Detailed failure reason unavailable \
(status command is not 'sacct').For further error details see the cluster/cloud log and the log files of the \
involved rule(s).
    jobid: 3
    input: {study}/pretrained, {study}/../../params/test.yaml
    output: {study}/runs/demo_nli/none/seed0
    log: {study}/logs/phase3/demo_nli-none-seed0.log, \
{study}/.snakemake/slurm_logs/rule_phase3/demo_nli_none_0/4.log (check log file(s) for error details)
    shell:
        python -m study.warm run study.runner 03_target_training.ipynb ...
        (command exited with non-zero exit code)
    external_jobid: 4
[Wed Dec  2 16:02:41 2026]
Error in rule report:
    message: SLURM-job '6' failed, SLURM status is: 'FAILED'.
    jobid: 7
    output: {study}/report.html
    external_jobid: 6
Error in rule phase2:
    message: SLURM-job '9' failed, SLURM status is: 'CANCELLED'. Detailed failure reason unavailable \
(status command is not 'sacct').For further error details see the cluster/cloud log and the log files of the \
involved rule(s).
    jobid: 3
    input: {study}/pretrained, {study}/../../params/test.yaml
    output: {study}/phase2/en
    log: {study}/logs/phase2/en.log, {study}/.snakemake/slurm_logs/rule_phase2/en/9.log (check log file(s) \
for error details)
    shell:
        python -m study.warm run study.runner 02_intermediate_training.ipynb ...
        (command exited with non-zero exit code)
    external_jobid: 9
Exiting because a job execution failed. Look above for error messages
"""


def test_jobs_the_cluster_ended_are_named_with_the_reason_and_their_logs(tiny_params, capsys):
    """After a cluster run, `study.grid run` names each job SLURM ended (a time limit, with the
    limit it had and the settings behind it; scancel), not a job that failed on its own, and
    says that running again resumes them."""
    cfg = load_config(tiny_params)
    log = cfg.study_dir / "logs" / "snakemake.log"
    log.parent.mkdir(parents=True)
    log.write_text(SLURM_LOG.format(study=cfg.study_dir))
    stopped = grid.report_scheduler_stops(cfg, log)
    assert [(s["rule"], s["status"], s["job"]) for s in stopped] == [("phase3", "TIMEOUT", "4"),
                                                                    ("phase2", "CANCELLED", "9")]
    assert stopped[0]["logs"] == [f"{cfg.study_dir}/logs/phase3/demo_nli-none-seed0.log",
                                  f"{cfg.study_dir}/.snakemake/slurm_logs/rule_phase3/demo_nli_none_0/4.log"]
    said = capsys.readouterr().err
    limit = costs.runtime_minutes(cfg, "phase3", "demo_nli")
    assert (f"time limit: phase3 runs/demo_nli/none/seed0 (SLURM job 4) was stopped at its time limit "
            f"of {limit} min; its logs: {cfg.study_dir}/logs/phase3/demo_nli-none-seed0.log") in said
    assert (f"cancelled: phase2 phase2/en (SLURM job 9) was cancelled (scancel, or the cluster's "
            f"administrators); its logs: {cfg.study_dir}/logs/phase2/en.log") in said
    assert "plan.max_runtime_minutes (2880)" in said and "report" not in said
    assert "2 job(s) were ended by the cluster. Run the same command again" in said
    assert grid.report_scheduler_stops(cfg, log.with_name("missing.log")) == []
    # a cancelled job alone: no word on time limits
    log.write_text(SLURM_LOG.format(study=cfg.study_dir).replace("'TIMEOUT'", "'FAILED'"))
    assert [s["status"] for s in grid.report_scheduler_stops(cfg, log)] == ["CANCELLED"]
    assert "runtime_safety" not in capsys.readouterr().err
