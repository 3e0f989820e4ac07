"""Execute one notebook of the study with papermill, atomically (the workflow's rules call this).

    python -m study.runner notebooks/03_target_training.ipynb outputs/demo/runs/demo_nli/en/seed0 \\
        --params params/demo.yaml -p target demo_nli -p condition en -p seed 0

The params file is read and validated once, before anything runs. The notebook receives
the resolved config (`params`: every setting, defaults filled in), the file's path
(`params_file`), its output folder (`out_dir`) and the stage's own parameters. It runs
in `<out_dir>.partial`, which is renamed to `out_dir` only when the notebook succeeded;
a failed run leaves the executed notebook, with its error, in the `.partial` folder and
exits non-zero. With --html, the executed notebook
is also rendered to HTML without code cells (the report).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from study.config import ConfigError, load_config
from study.io import atomic_dir, atomic_write_json, atomic_write_text
from study.jobgraph import NOTEBOOKS
from study.timing import ENV, JOB_FILE, KERNEL_FILE, forked, notebook_timing, process_started
from study.warm import kernel_manager_class

RUNNER_STARTED = time.time()
KERNEL = "xlt-study"

# papermill -> nbformat -> jsonschema imports jsonschema's optional IRI format checker,
# rfc3987_syntax, where it is installed (jupyterlab's dependencies bring it): it compiles
# about 40 grammars on import, 3 s of every job, for formats that notebook validation never
# checks. This process does without it.
sys.modules.setdefault("rfc3987_syntax", None)


def check_kernel(name: str = KERNEL) -> None:
    """The kernel must run this environment's Python, not a stray one elsewhere."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise RuntimeError(f"Jupyter kernel {name!r} is not installed; run `make` targets (they "
                           f"install it) or `{sys.executable} -m ipykernel install --sys-prefix "
                           f"--name {name}`") from None
    kernel_python = Path(spec.argv[0])
    if kernel_python.name.startswith("python") and kernel_python.parent != Path(sys.executable).parent:
        raise RuntimeError(f"kernel {name!r} ({spec.resource_dir}) runs {kernel_python}, not this "
                           f"environment's {sys.executable}; remove that kernel spec or reinstall")


def render_html(notebook: Path, html: Path) -> Path:
    """The executed notebook as one self-contained HTML file without code cells: figures are
    embedded PNGs, styles are inline, and the template's network scripts (MathJax and
    require.js from a CDN, unused by the report) are dropped, so it reads offline."""
    import re

    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    body = re.sub(r'<script[^>]*\bsrc="(?:https?:)?//[^"]*"[^>]*>\s*</script>', "", body)
    remote = re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', body)
    if remote:
        raise RuntimeError(f"{html}: the report would load {remote[:3]} from the network")
    return atomic_write_text(html, body)


def run_notebook(notebook: Path, out_dir: Path, params_file: Path, parameters: dict[str, Any],
                 kernel: str = KERNEL, html: Path | None = None) -> Path:
    import papermill as pm

    # read and checked once, before a kernel starts; the kernel gets the resolved config
    # (every default filled in, paths absolute), which gives the same config there
    cfg = load_config(params_file)
    check_kernel(kernel)
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    os.environ.setdefault("TQDM_MININTERVAL", "5")
    with atomic_dir(out_dir) as tmp:
        executed = tmp / notebook.name
        previous = os.environ.get(ENV)
        os.environ[ENV] = str(tmp / KERNEL_FILE)  # the kernel inherits it (study.timing)
        try:
            pm.execute_notebook(
                str(notebook), str(executed), kernel_name=kernel, cwd=str(notebook.parent),
                parameters={"params_file": str(params_file.resolve()), "params": cfg.resolved(),
                            "out_dir": str(tmp), **parameters},
                progress_bar=False, kernel_manager_class=kernel_manager_class(),
            )
        except pm.PapermillExecutionError as exc:
            mark_failed(tmp, notebook, executed, f"{exc.ename}: {exc.evalue}")
            raise SystemExit(f"{notebook.name} failed ({exc.ename}: {exc.evalue}); the executed "
                             f"notebook with the error is {executed}") from None
        except Exception as exc:  # the kernel died (out of memory, killed) or papermill failed
            mark_failed(tmp, notebook, executed, f"{type(exc).__name__}: {exc}")
            raise SystemExit(f"{notebook.name} did not finish ({type(exc).__name__}: {exc}); what "
                             f"it ran is in {executed}") from None
        finally:  # this process may run more than one notebook (a test, a library user)
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
        render_start = time.time()
        if html:
            render_html(executed, html)
        started, finished = process_started(), time.time()
        atomic_write_json(tmp / JOB_FILE, {
            "job": round(finished - started, 3), "started": started, "finished": finished,
            # the runner's own start on the wall clock that `finished` reads: the process's
            # start (psutil, from the boot clock) can disagree with it by seconds on a VM
            "runner_started": RUNNER_STARTED, "forked": forked(),
            **notebook_timing(executed),
            "render_html": round(time.time() - render_start, 3) if html else 0.0})
    return out_dir / notebook.name


FAILED = "FAILED.json"


def mark_failed(partial: Path, notebook: Path, executed: Path, error: str) -> None:
    """Mark a run failed: `<out_dir>.partial/FAILED.json` names the error and the executed
    notebook that shows it (`study.grid run` lists these when the workflow stops)."""
    import time

    atomic_write_text(partial / FAILED, json.dumps(
        {"notebook": str(executed), "source": str(notebook), "error": error,
         "time": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1) + "\n")


def failed_runs(root: Path) -> list[dict]:
    """Every run under `root` whose last attempt failed (its FAILED.json), oldest first."""
    found = []
    for marker in sorted(Path(root).rglob(f"*.partial/{FAILED}")):
        try:
            found.append({"run": str(marker.parent.with_suffix("")), **json.loads(marker.read_text())})
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda r: r.get("time", ""))


def _value(text: str) -> Any:
    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path, help="a notebook file, or the name of one of the study's "
                        "(01_data_selection.ipynb ... 04_analysis.ipynb, in notebooks/)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--params", type=Path, required=True, help="params YAML file")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter (value read as YAML)")
    parser.add_argument("--html", type=Path, help="also render the executed notebook here")
    args = parser.parse_args(argv)
    if args.notebook.parent == Path() and not args.notebook.exists():  # one of the study's, by name
        args.notebook = NOTEBOOKS / args.notebook
    try:
        run_notebook(args.notebook, args.out_dir, args.params,
                     {k: _value(v) for k, v in args.p}, html=args.html)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
