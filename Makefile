# Two entry points for people: `make run` (serve the shipped model) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test model browser mutation clean

$(VENV)/.serve: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.all: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(VENV)/.serve $@

run: $(VENV)/.serve  ## serve the game on http://127.0.0.1:5000
	$(PY) -m server

browser:  ## Debian's Chromium, nginx, PostgreSQL and Redis for the browser, balancer, store and room tests (root and apt; else skipped)
	@if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/bin/redis-server ] \
		|| ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
		&& command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q chromium fonts-dejavu-core nginx-light postgresql redis-server; fi

test: $(VENV)/.all browser  ## install everything; lint, check the layers, run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy  # strict on core/ and the rule modules: [tool.mypy] in pyproject.toml
	$(PY) -m pytest  # no tests collected (exit 5) fails too: a suite that runs nothing proves nothing

# The shipped model's recipe (docs/MODEL.md says why each flag).
RECIPE ?= --data ../shared/quickdraw --stroke-classes grapes pineapple --partials 0.2 --seed 99

model: $(VENV)/.all  ## retrain the shipped model from ../shared/quickdraw: its time on this machine first, then the seed baseline, then the model
	$(PY) -m training train $(RECIPE) --project-only --out build/projection
	$(PY) -m training train --data ../shared/quickdraw --stroke-classes grapes pineapple --arch seed --no-mirror-average --ensemble 1 --epochs 16 --out build/seed
	$(PY) -m training train $(RECIPE) --baseline-card build/seed/model_card.json --out model

mutation: $(VENV)/.all  ## mutation-test core/ and the protocol, session, guard and flow rules (slow); then `mutmut results`
	$(VENV)/bin/pip install -q mutmut
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache mutants
