# The first two targets are all a fresh machine needs: `make demo`, `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Test files run in parallel, one file per worker (a file shares its servers); most tests wait on servers and
# clocks, so two workers a core. JOBS=1 runs them in order.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$((n * 2)))

.PHONY: demo test lint bench lab rehearse import-fidelity clean

demo: $(STAMP)  # the demo's canary goes bad on purpose: a rollback (exit 3) is the happy ending
	$(VENV)/bin/shipdeck demo || [ $$? -eq 3 ]
	@echo "Rehearse the demo's guards on the simulator's history: make rehearse"

# The demo plan's guards judged on the simulator's last hour, as `shipdeck rehearse` judges a real plan's.
rehearse: $(STAMP)
	$(VENV)/bin/shipdeck rehearse examples/demo.yaml --last 1h

test: $(STAMP)
	$(VENV)/bin/ruff check tui widgets backends tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n $(JOBS) --dist loadfile

# Figures through a real pty against a plain Textual baseline (needs haproxy for the shift figure);
# BENCH=terminal (or logpane, engine) runs one part.
bench: $(STAMP)
	$(PY) -m bench $(BENCH)

# HAProxy + Prometheus + two sample apps + load on loopback, and the command center on them.
lab: $(STAMP)
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { echo "lab needs haproxy and prometheus: apt-get install haproxy prometheus"; exit 1; }
	@command -v prometheus >/dev/null || { echo "lab needs prometheus: apt-get install prometheus"; exit 1; }
	$(PY) examples/haproxy-lab/lab.py $(LAB_ARGS) || [ $$? -eq 3 ]  # a rollback is a lab night that worked

# Precision and recall of `shipdeck import` on a folder of runbooks, each NAME.md beside NAME.expected.md.
DIR ?= tests/fixtures/runbooks
import-fidelity: $(STAMP)
	$(PY) -m tui.engine.runbook.fidelity $(DIR)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
