# Two commands for a fresh machine (both create .venv themselves):
#   make demo   install, then the whole paper on the embedded synthetic cohort: generate, train, predict,
#               classify slides, stage patients, write the submission and score the held-out patients
#   make test   install, then run the linter, build the documentation site and run the test suite
# CPU build of torch by default, with PyPI's torchvision of the same release (timm and smp need it; its CUDA-built
# C++ operators do not load beside the CPU torch, which `python -m wsiseg.compat` makes harmless). A GPU machine
# installs the CUDA builds of both with e.g.
#   make test TORCH_SPEC="torch==2.13.0 torchvision==0.28.0" PIP_TORCH_ARGS="--index-url <your CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0 torchvision==0.28.0
PIP_TORCH_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC) $(PIP_TORCH_ARGS)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m wsiseg.compat
	touch $(STAMP)

setup: $(STAMP)

DEMO_CKPT := outputs/demo/train/checkpoints/last.ckpt

demo: $(STAMP)
	$(PY) synth.py synth=demo
	test -f $(DEMO_CKPT) || $(PY) train.py experiment=demo hydra.run.dir=outputs/demo/train
	$(PY) predict.py ckpt_path=$(DEMO_CKPT) slides=data/demo out_dir=outputs/demo/heatmaps hydra.run.dir=outputs/demo/predict
	$(PY) stage.py heatmaps=outputs/demo/heatmaps cohort=data/demo hydra.run.dir=outputs/demo/stage

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# the documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link or a missing API name fails it
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

test: lint docs
	$(PY) -m pytest -q -m "not slow"

test-all: lint docs
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_tile_read.py
	$(PY) benchmarks/bench_loader.py
	$(PY) benchmarks/bench_predict.py --checkpoint $(DEMO_CKPT) --slides 20
	$(PY) benchmarks/bench_stage.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
