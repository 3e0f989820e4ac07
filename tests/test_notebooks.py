"""Static checks of the committed notebooks and of the kernel they run on."""

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_stages_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_data_selection.ipynb", "02_intermediate_training.ipynb",
        "03_target_training.ipynb", "04_analysis.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin_clean_and_parametrised(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged"
    params = ast.parse(code[0].source)
    assert {t.id for n in params.body for t in getattr(n, "targets", [])} >= {
        "params_file", "params", "out_dir"}
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "commit notebooks without outputs"
        tree = ast.parse(cell.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)], \
            "no def/class in notebooks: put it in study/"
    assert nb.metadata.kernelspec.name == "xlt-study"


def test_kernel_runs_this_environment():
    from jupyter_client.kernelspec import KernelSpecManager

    from study.runner import KERNEL, check_kernel

    check_kernel()
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    assert Path(spec.resource_dir).is_relative_to(sys.prefix), "kernel spec must live in the env"


def test_stray_kernel_spec_is_refused(tmp_path, monkeypatch):
    from study.runner import check_kernel

    stray = tmp_path / "kernels" / "stray"
    stray.mkdir(parents=True)
    (stray / "kernel.json").write_text(json.dumps({
        "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "stray", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="runs /usr/bin/python3, not this environment"):
        check_kernel("stray")
