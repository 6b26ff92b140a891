# Gatehouse: `make run` runs the platform, `make test` runs the checks. Both set up the
# environment first (Python >= 3.12 venv in .venv, locked dependencies from uv.lock).
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint bootstrap bench

bootstrap: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock .python-version
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "gatehouse needs Python >= 3.12: install it (pyenv install 3.12) or run make PYTHON=python3.12")'
	@test -x $(VENV)/bin/python && $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) sync --frozen --python $(VENV)/bin/python
	@touch $@

run: bootstrap
	$(VENV)/bin/python manage.py run_platform

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

test: bootstrap lint
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	  test -x /usr/sbin/pgbouncer || missing="$$missing pgbouncer"; \
	  command -v wrk >/dev/null || missing="$$missing wrk"; \
	  if [ -n "$$missing" ]; then echo "installing Debian packages for the tests:$$missing"; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi
	$(VENV)/bin/python -m pytest

# Gatehouse and its peers (bench/peers/) in one run; BENCH_ARGS=--quick to try it
# (see bench/run.py). The peers' venvs are built under bench/.venvs/ from pinned requirements.
bench: bootstrap
	@command -v wrk >/dev/null || { echo "installing wrk (Debian) for the benchmark"; \
	  apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)
