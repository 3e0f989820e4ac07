"""The notebooks as a researcher opens them by hand: each runs from its defaults (papermill
injects nothing), and the data-selection notebook runs in JupyterLab in a real browser.

They run in a checkout's layout in a temporary folder (`notebooks/`, `params/demo.yaml`,
outputs beside them), so the defaults' relative path `../params/demo.yaml` is the one
resolved. Notebook 04 runs on a finished study in tests/test_workflow.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from study import warm

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
KERNEL = "xlt-study"


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory) -> Path:
    """A checkout's layout: the four notebooks and params/demo.yaml, the demo's params with its
    model and data sizes made small (conditions, seeds, phase2_seed_policy per_seed and every
    other setting as the demo's) and its outputs inside the folder."""
    from conftest import TINY, write_params

    tree = tmp_path_factory.mktemp("by-hand")
    shutil.copytree(ROOT / "notebooks", tree / "notebooks")
    write_params(tree, "demo.yaml", model=TINY["model"], data=TINY["data"])
    return tree


def _errors(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def _by_hand(tree: Path, name: str):
    """Execute a notebook as opened by hand: its own parameter cell, nothing injected."""
    import papermill as pm

    done = tree / "executed" / name
    done.parent.mkdir(exist_ok=True)
    pm.execute_notebook(str(tree / "notebooks" / name), str(done), kernel_name=KERNEL,
                        cwd=str(tree / "notebooks"), progress_bar=False,
                        kernel_manager_class=warm.kernel_manager_class())
    nb = nbformat.read(done, as_version=4)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert not _errors(nb)
    return nb


def test_notebooks_02_and_03_run_from_their_defaults_on_the_demo(by_hand):
    """02 trains phase 2's default condition for the study's first seed (the demo trains an
    encoder per seed: opened by hand, `seed = None` used to stop with "give the phase-3 seed"),
    03 trains and evaluates `none`; both write under outputs/<study>/interactive/."""
    interactive = by_hand / "outputs" / "demo" / "interactive"
    nb = _by_hand(by_hand, "02_intermediate_training.ipynb")
    metrics = json.loads((interactive / "phase2-diverse-seed0" / "metrics.json").read_text())
    assert metrics["steps"] > 0 and metrics["examples"] > 0 and len(metrics["languages"]) == 3
    assert _figures(nb) >= 1  # the loss curve
    nb = _by_hand(by_hand, "03_target_training.ipynb")
    metrics = json.loads((interactive / "run-demo_nli-none-0" / "metrics.json").read_text())
    assert set(metrics["evaluation"]) == {"demo_nli", "demo_americas"}
    assert 0 < metrics["dev_en_accuracy"] <= 1 and _figures(nb) >= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, every: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture
def jupyterlab(by_hand, tmp_path):
    """`jupyter lab` on the notebooks folder (as `make lab` starts it), headless, on a free port,
    with its config, runtime and settings in tmp_path. Notebooks render every cell (windowing
    off), so the figures below the fold are in the page. Yields (url, token, log)."""
    import urllib.request

    port, token = _free_port(), os.urandom(16).hex()
    settings = tmp_path / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))  # no "get notified of Jupyter news?" (nor its fetch)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={by_hand / 'notebooks'}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
           *(["--allow-root"] if os.geteuid() == 0 else [])]
    with log.open("w") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        if server.poll() is not None:
            raise AssertionError(f"jupyter lab exited ({server.returncode}): {log.read_text()[-2000:]}")
        try:
            return urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait("jupyter lab answering", up, 60)
        yield url, token, log
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


NOTEBOOK = "01_data_selection.ipynb"
STATE = """
const panel = window.jupyterapp && jupyterapp.shell.currentWidget;
const session = panel && panel.sessionContext && panel.sessionContext.session;
if (!session || !session.kernel || !panel.content) return null;
const cells = panel.content.widgets.filter(c => c.model.type === "code");
return {kernel: session.kernel.name, status: session.kernel.status,
        counts: cells.map(c => c.model.executionCount), notebook: panel.content.model.toJSON()};
"""


def test_the_data_selection_notebook_runs_in_jupyterlab_in_chromium(jupyterlab, by_hand, tmp_path,
                                                                    short_tmpdir):
    """Opened in JupyterLab in Chromium and run with the Run menu's "Run All Cells": the
    kernel is the project's, every code cell ran without an error output, and the figures are
    drawn in the page. The screenshot's path is printed (pytest -s, or -rA)."""
    from conftest import chromedriver, chromium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    url, token, log = jupyterlab
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()  # found, or installed where root and apt are; else skipped
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,2000"):
        options.add_argument(flag)
    service = Service(executable_path=chromedriver(), env={**os.environ, "TMPDIR": short_tmpdir})
    driver = webdriver.Chrome(options=options, service=service)  # its folders there, not in /tmp
    try:
        driver.get(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
        state = _wait("the notebook open with an idle kernel",
                      lambda: (s := driver.execute_script(STATE)) and s["status"] == "idle" and s, 120)
        assert state["kernel"] == KERNEL
        assert not any(state["counts"])  # nothing ran before the click
        menu = "//li[contains(@class, 'lm-MenuBar-item')][normalize-space(.)='Run']"
        driver.find_element(By.XPATH, menu).click()
        run_all = "//li[contains(@class, 'lm-Menu-item')][normalize-space(.)='Run All Cells']"
        _wait("the Run menu open", lambda: driver.find_elements(By.XPATH, run_all), 10)[0].click()
        state = _wait("every code cell executed and the kernel idle",
                      lambda: (s := driver.execute_script(STATE)) and s["status"] == "idle"
                      and all(s["counts"]) and s, 300, every=1)
        nb = nbformat.from_dict(state["notebook"])
        assert nb.metadata.kernelspec.name == KERNEL
        assert not _errors(nb), f"{_errors(nb)}; server log {log}"
        figures = _figures(nb)
        assert figures >= 3  # the distance heatmap, the language map, the lengths
        drawn = driver.execute_script(
            "return [...document.querySelectorAll('.jp-OutputArea-output img')]"
            ".filter(i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100).length")
        assert drawn == figures, f"{drawn} of {figures} figures drawn in the page"
        assert driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output table")  # the summary tables
        interactive = by_hand / "outputs" / "demo" / "interactive"
        written = json.loads((interactive / "selection" / "metrics.json").read_text())
        assert set(written["languages"]) >= {"diverse", "similar", "en"}  # where it writes, opened by hand
        driver.execute_script("document.querySelector('.jp-OutputArea-output img')"
                              ".scrollIntoView({block: 'center'})")  # the first figure, in view
        shot = tmp_path / "jupyterlab-01_data_selection.png"
        driver.save_screenshot(str(shot))
        print(f"JupyterLab screenshot: {shot} ({figures} figures, kernel {state['kernel']})")
    finally:
        driver.quit()
