"""Run one training stage outside a notebook, on one process or several.

The same code as the notebooks (`study.stages`), for `torchrun` / `accelerate launch`
on a multi-GPU node (or CPU processes with the gloo backend):

    python -m study.launch phase2 params/full.yaml en outputs/full/phase2/en
    torchrun --nproc_per_node 4 -m study.launch phase2 params/full.yaml en outputs/full/phase2/en
    accelerate launch -m study.launch phase3 params/full.yaml en outputs/full/runs/xnli/en/seed0 \
        --target xnli --seed 0

Every process trains; one (rank 0) writes the outputs. Phase 2's global batch is
`phase2.batch_size` whatever the number of processes (accelerate splits each batch of
the task sampler), so a run on N processes follows the same steps as on one. From a
notebook, `in_notebook(...)` starts the processes with `accelerate.notebook_launcher`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

STAGE_MODULES = {"phase2": "study.stages.intermediate_training", "phase3": "study.stages.target_training"}


def run(stage: str, params_file: str, condition: str, out_dir: str, seed: int | None = None,
        target: str | None = None) -> dict:
    import importlib

    from study import pipeline

    if stage not in STAGE_MODULES:
        raise SystemExit(f"stage {stage!r}; accepted: {', '.join(STAGE_MODULES)}")
    # Imported by name: a notebook that uses this module depends on its own stage's code
    # only (study.fingerprints hashes each stage's imports to decide what a code change reruns).
    module = importlib.import_module(STAGE_MODULES[stage])
    cfg = pipeline.configure(params_file)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if stage == "phase2":
        return module.run_phase2(cfg, condition, out, seed)
    return module.run_phase3(cfg, target or next(iter(cfg.data.targets)), condition,
                             cfg.seeds[0] if seed is None else seed, out)


def in_notebook(stage: str, params_file: str, condition: str, out_dir: str, num_processes: int,
                seed: int | None = None, target: str | None = None) -> None:
    """Start `num_processes` processes from a notebook (GPUs, or CPU with gloo), which meet
    on a port free on this machine (accelerate's default, 29500, would be one port for
    every job of a local run at once)."""
    from accelerate import notebook_launcher

    notebook_launcher(run, (stage, params_file, condition, out_dir, seed, target),
                      num_processes=num_processes, use_port=str(free_port()))


def free_port() -> int:
    """A TCP port nothing listens on now (the system's choice)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_processes(stage: str, params_file: str, condition: str, out: Path, processes: int,
                 seed: int | None = None, target: str | None = None) -> dict:
    """Run a stage on `processes` GPUs from a notebook (the workflow's `gpu` resource) and
    return the metrics rank 0 wrote."""
    import json

    in_notebook(stage, params_file, condition, str(out), processes, seed, target)
    return json.loads((Path(out) / "metrics.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=["phase2", "phase3"])
    parser.add_argument("params", help="params YAML file")
    parser.add_argument("condition")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, help="phase 3: the seed (default: the first of the params); "
                        "phase 2 with phase2_seed_policy per_seed: the phase-3 seed the encoder is for")
    parser.add_argument("--target", help="phase 3: a key of data.targets (default: the first)")
    args = parser.parse_args(argv)
    run(args.stage, args.params, args.condition, args.out_dir, args.seed, args.target)


if __name__ == "__main__":
    main()
