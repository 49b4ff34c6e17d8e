# swtwo: the README's commands. Each creates .venv from requirements.txt when it is missing
# (or older than requirements.txt / pyproject.toml).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The kit's tools (swtwo, jupyter) come first, also in JupyterLab terminals.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# This environment's Jupyter kernels come first, whatever else the user has installed.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
# Prepared datasets beside the repo (this workplace's offline copies), unless the user chose.
SHARED_TFDS := $(abspath ../shared/tensorflow_datasets)
ifeq ($(origin TFDS_DATA_DIR),undefined)
ifneq ($(wildcard $(SHARED_TFDS)),)
export TFDS_DATA_DIR := $(SHARED_TFDS)
endif
endif

.PHONY: help venv lab course test test-fast lint strip clean

help:
	@echo "make lab     start JupyterLab on notebooks/"
	@echo "make course  run every chapter in full mode; executed notebooks + summaries in build/"
	@echo "make test    ruff, unit tests and every notebook in quick mode"
	@echo "make test-fast  ruff and the unit tests that train nothing (the inner loop, < 2 min)"
	@echo "make strip   strip outputs from notebooks/ before committing"

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (e.g. apt-get install python3.11-venv) or run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# LAB_DIR / LAB_ARGS let the browser test start JupyterLab exactly this way on a copy.
LAB_DIR ?= notebooks
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=$(LAB_DIR) $(ROOT_FLAG) $(LAB_ARGS)

course: $(STAMP)
	$(BIN)/swtwo course --out build

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	SWTWO_QUICK=1 $(BIN)/python -m pytest -n 2 --dist loadfile --durations=12 tests notebooks --nbval-lax --nbval-current-env

# The inner loop: everything not marked slow (nothing trains, no kernel starts, no browser).
test-fast: $(STAMP)
	$(BIN)/ruff check .
	SWTWO_QUICK=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" tests

strip: $(STAMP)
	$(BIN)/nbstripout --keep-id --extra-keys "metadata.language_info.codemirror_mode metadata.language_info.file_extension metadata.language_info.mimetype metadata.language_info.nbconvert_exporter metadata.language_info.pygments_lexer metadata.language_info.version" notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache .ruff_cache
