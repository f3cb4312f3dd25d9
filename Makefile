# The two commands users need: `make run` (serves the API and its docs) and `make test`.
# `make serve` is the production server (gunicorn); `make bench`, `make soak` and `make profile`
# measure it (loopback only, a few minutes at most; not part of `make test`).
# All set up .venv/ first when needed.

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run serve test bench soak profile clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: install
	$(PYTHON) -m app

serve: install
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

test: install
	$(PYTHON) -m pytest

bench: install
	$(PYTHON) -m bench.bench

soak: install
	$(PYTHON) -m bench.soak

profile: install
	$(PYTHON) -m bench.profile

clean:
	rm -rf $(VENV) build .pytest_cache
