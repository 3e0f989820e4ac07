"""environment.yml and pyproject.toml must name the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install the project itself"
    in_env = {_name(r) for r in pip_section if not r.startswith("-e")}
    assert in_env == declared, (
        f"only in pyproject.toml: {sorted(declared - in_env)}; "
        f"only in environment.yml: {sorted(in_env - declared)}")


def test_runtime_dependencies_have_lower_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert ">=" in requirement, f"{requirement!r} needs a lower bound"


def test_ci_runs_the_readme_test_commands_only():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == ["make test", "make test-faults"]
    readme = (ROOT / "README.md").read_text()
    assert "make test " in readme and "make test-faults" in readme
