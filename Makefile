# `make run` and `make test` are all a fresh machine needs: each creates the virtual
# environment on first use (and again when pyproject.toml or constraints.txt change).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MPLBACKEND := Agg

.PHONY: setup run lecture test test-fast test-cuda lint viz mlflow-ui tracking-server ddp notebooks demo docs benchmark time-to-accuracy clean-outputs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $@

run: setup  ## the default pipeline: the lecture's table on the shipped MNIST
	$(BIN)/kedro run

lecture: setup  ## every part of the lecture, then its page (data/08_reporting/lecture.md, lecture.html); run again after a stop, it skips what is done and up to date
	$(BIN)/kedro run --pipelines lecture --only-missing-outputs

TEST_WORKERS ?= 2
test: setup  ## the whole test suite (unit and integration) on TEST_WORKERS pytest-xdist workers (docs/testing.md)
	$(BIN)/pytest -n $(TEST_WORKERS)

test-fast: setup  ## everything but the integration tests, for the edit-test loop (about a minute)
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not integration"

test-cuda: setup  ## the tests that need a CUDA GPU (skipped, with the reason, without one)
	$(BIN)/pytest -m cuda -rs

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports

viz: setup  ## kedro-viz on http://127.0.0.1:4141
	$(BIN)/kedro viz run

mlflow-ui: setup  ## the MLflow UI on http://127.0.0.1:5000; open the address it prints first (the runs, each model's test error)
	$(BIN)/python -m practical_dl.tools.mlflow_view
	$(BIN)/kedro mlflow ui

tracking-server: setup  ## a shared MLflow tracking server to try on this machine: PostgreSQL + `mlflow server` on http://127.0.0.1:5050 (`kedro run --env remote` tracks on it; needs Debian's postgresql); Ctrl-C stops it
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[server]"
	$(BIN)/python -m practical_dl.tools.tracking_server

NPROC ?= 2
PIPELINES ?= training
ddp: setup  ## data-parallel training with torchrun: NPROC processes of this machine (NPROC=gpu: one per GPU) run `kedro run --pipelines $(PIPELINES)`; rank 0 writes (docs/scale-out.md)
	$(BIN)/torchrun --standalone --nproc-per-node $(NPROC) --local-ranks-filter 0 -m kedro run --pipelines $(PIPELINES)

notebooks: setup  ## JupyterLab on the project (catalog, context, session loaded), notebooks/ (after the pipelines they read have run)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[notebooks]"
	$(BIN)/kedro jupyter lab --notebook-dir notebooks

demo: setup  ## the draw-a-digit page on http://127.0.0.1:8000 (after `make run` has trained the models)
	$(BIN)/practical-dl-demo

docs: setup  ## redraw the README's pictures (docs/*.png), after `kedro run` and `kedro run --pipelines adversarial` / `gan`
	$(BIN)/python -m practical_dl.tools.preprocess data/01_raw/my_digits/two_red_on_yellow.png --figure docs/preprocessing_steps.png
	$(BIN)/python -m practical_dl.tools.readme_pictures --reporting data/08_reporting --out docs

benchmark: setup  ## training throughput of the engine against plain PyTorch loops
	$(BIN)/python -m practical_dl.tools.benchmark

time-to-accuracy: setup  ## epochs and seconds until each default model reaches its target error (after data_ingestion,standardisation)
	$(BIN)/python -m practical_dl.tools.time_to_accuracy

clean-outputs:  ## delete run outputs (data/02..08, mlflow.db), keep the raw data
	find data -mindepth 2 -path 'data/01_raw' -prune -o -type f ! -name .gitkeep -print -delete
	rm -f mlflow.db
