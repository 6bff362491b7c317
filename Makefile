# rnnlab: two commands on a fresh machine.
#   make demo   fetch Shakespeare, train a character LSTM for a few minutes, print samples
#   make test   run the fast test suite (and ruff, and the import-linter layering contracts)
# The local CPU wheel of torch is pinned here, and only here: an unpinned torch would pull
# several GB of CUDA packages.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
DEMO_RUN ?= runs/demo
DEMO_MINUTES ?= 3

.PHONY: venv demo test test-slow lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/rnnlab data fetch shakespeare
	$(VENV)/bin/rnnlab train lm --data shakespeare --out $(DEMO_RUN) --minutes $(DEMO_MINUTES) --force
	@for t in 0.5 0.8 1.0; do \
		echo; echo "=== temperature $$t ==="; \
		$(VENV)/bin/rnnlab sample $(DEMO_RUN) --prime "ROMEO:" --length 400 --temperature $$t --seed 1; \
	done

test: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# the slow-marked tests (multi-process DDP across tasks, …): CI runs them after `make test`
test-slow: venv
	$(PY) -m pytest -m slow

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

# The performance suite: one table (about 45 minutes; BENCH_FLAGS=--quick for a smoke run).
bench: venv
	$(PY) benchmarks/suite.py $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) runs
