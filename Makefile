# Quick start: `make demo` (generate the default 50,000 masks) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench gpu-check clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/qdimd generate --n 50000 --size 256 --out out/masks --resume
	$(BIN)/qdimd preview out/masks -o out/preview.png
	@echo "masks: out/masks/  manifest: out/masks/manifest.csv  contact sheet: out/preview.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The CUDA paths on a GPU machine, one table in at most 8 minutes (benchmarks/gpu_check.py, docs/benchmarks.md).
# GPU_PYTHON: the machine's own Python with a CUDA torch (>= 2.1) and numpy, pillow, opencv-python-headless, click,
# tqdm, scikit-image; nothing is installed (the checkout is on PYTHONPATH). Without CUDA it says so, exit 0.
GPU_PYTHON ?= python3
gpu-check:
	PYTHONPATH=.$${PYTHONPATH:+:$$PYTHONPATH} timeout -k 30 480 $(GPU_PYTHON) -m benchmarks.gpu_check

clean:
	rm -rf out build *.egg-info .pytest_cache
