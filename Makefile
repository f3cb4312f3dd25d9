# The two commands users need: `make run` (serves the API and its docs) and `make test`.
# `make token` prints a local access token for curl.
# Both set up .venv/ first when needed.

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test token clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: install
	$(PYTHON) -m app

test: install
	$(PYTHON) -m pytest

# An access token from the embedded local issuer, alone on stdout (local mode only).
# Options go in ARGS, e.g. make token ARGS='--scope "" --sub robot --expires-in 600'
token: install
	@$(PYTHON) -m flask --app app token $(ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache
