# One entry point for users and CI. Every target creates the environment on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU wheel lies on this machine's disk; GPU users pass their CUDA build, e.g.
#   make demo TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
KERNEL := xlt-study
PARAMS ?= params/demo.yaml
CORES  ?= $(shell nproc 2>/dev/null || echo 2)
# The suites run test files side by side, one worker per core (pytest-xdist; a file's tests
# share its fixtures, so they stay together): a test mostly waits on the studies it starts.
XDIST  ?= -n $(CORES) --dist loadfile

.PHONY: demo study report plan check clean test test-faults bench bench-gpu lab lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	# The kernel spec lives inside the environment (not ~/.local), and papermill names it.
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (xlt-study)"
	touch $(STAMP)

## demo: the offline demo study (CPU, tiny model, shipped data) -> outputs/demo/report.html
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m study.grid run params/demo.yaml --cores $(CORES)

## study: any params file, e.g. make study PARAMS=params/full.yaml (needs the Hub or a filled cache);
## on a SLURM cluster: make study PARAMS=params/full.yaml PROFILE=workflow/profiles/slurm
study: $(STAMP)
	$(BIN)/python -m study.grid run $(PARAMS) --cores $(CORES) $(if $(PROFILE),--profile $(PROFILE))

## report: render the report again from the finished runs (after editing a figure or the report), no training;
## prints its path, and opens it in the browser where a desktop exists
report: $(STAMP)
	$(BIN)/python -m study.grid run $(PARAMS) --cores $(CORES) --forcerun report --open

## plan: the jobs per stage and the projected compute of a study, without running it
plan: $(STAMP)
	$(BIN)/python -m study.grid plan $(PARAMS)

## check: the params, every data file and the Hub needs of a study, without running it
check: $(STAMP)
	$(BIN)/python -m study.grid check $(PARAMS)

## clean: remove one study's outputs (outputs/<study>/), after asking
clean: $(STAMP)
	$(BIN)/python -m study.grid clean $(PARAMS)

## test: unit tests, params and data fault injection, notebook/workflow tests (offline)
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not faults" $(XDIST)

## test-faults: the long fault-injection suite (10 kills and restarts of a study, a failing notebook)
test-faults: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m faults $(XDIST)

## bench: the study's training core side by side with the run_xnli recipe -> benchmarks/results.json
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

## bench-gpu: the core at xlm-roberta-large's shape on a GPU, against the recipe -> benchmarks/results-gpu.json
bench-gpu: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_gpu.py $(BENCH_ARGS)

## lab: JupyterLab on the notebooks, with the project's kernel
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

lint: $(STAMP)
	$(BIN)/ruff check study tests workflow
