# Two entry points for a fresh machine: `make demo` (install + the main job) and `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= demo-run

.PHONY: install demo test clean

$(BIN)/vqnat: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first (the CPU wheel), then build fairseq-fixed against that very torch.
	$(BIN)/pip install -q "torch==2.13.0" "numpy>=1.21.3,<3" cython setuptools wheel
	$(BIN)/pip install -q --no-build-isolation -e ".[test,ct2,onnx]"
	touch $(BIN)/vqnat

install: $(BIN)/vqnat

demo: install
	$(BIN)/vqnat demo --workdir $(WORKDIR)

test: install
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(WORKDIR) build *.egg-info
