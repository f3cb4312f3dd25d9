# The two commands users need: `make run` (serves the API and its docs) and `make test` (after `make lint`:
# ruff and mypy, configured in pyproject.toml, in seconds; `make check` is its quick part, for while one works).
# `make token` prints a local access token for curl, `make dpop-token` a DPoP-bound one and
# `make dpop-proof ARGS="METHOD URL TOKEN"` the proof for one request with it; `make spec` refreshes
# the committed contract in openapi/, `make sdk` generates clients from it into build/sdk/ (needs
# Java), `make serve` is the production server (gunicorn), and `make bench`, `make soak`,
# `make slowloris`, `make profile` and `make cache-memory` measure it (loopback only, a few minutes at
# most; not part of `make test`). All set up .venv/ first when needed: the commands that serve or mint
# tokens install the runtime requirements only; `make test`, `make sdk` and the measurements add the
# test and tooling ones (requirements-dev.txt).

VENV    := .venv
PYTHON  := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime
STAMP   := $(VENV)/.installed
# The app the snapshots describe: fixed settings, whatever the environment or .env says.
SPEC_APP := 'app.snapshot:snapshot_app()'
TEST_WORKERS ?= 3
# Each worker starts on a run of consecutive tests (a module's shared set-up is made once), and one that is done
# takes over half of the longest queue left.
PARALLEL := -n $(TEST_WORKERS) --dist worksteal

.PHONY: install install-runtime run serve migrate lint test check token dpop-token dpop-proof spec sdk bench soak \
	slowloris profile cache-memory clean

install-runtime: $(RUNTIME)

install: $(STAMP)

$(RUNTIME): requirements.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: install-runtime
	$(PYTHON) -m app

serve: install-runtime
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

# Apply the database migrations by hand (make run and make serve also do it at start-up).
migrate: install-runtime
	$(PYTHON) -m storage migrate $(ARGS)

# The linter and the type checker: a misspelt or removed settings field fails here, before any test runs.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The suite runs on TEST_WORKERS processes (pytest-xdist); `make check` leaves out the browser, generated-client
# and serving tests and schemathesis, the slow ones (docs/tests.md).
test: lint
	$(PYTHON) -m pytest $(PARALLEL)

check: lint
	$(PYTHON) -m pytest $(PARALLEL) -m "not browser and not serving and not slow" \
		--ignore=tests/clients --ignore=tests/serving

# An access token from the embedded local issuer, alone on stdout (local mode only).
# Options go in ARGS, e.g. make token ARGS='--scope "" --sub robot --expires-in 600'
token: install-runtime
	@$(PYTHON) -m flask --app app token $(ARGS)

# The same, bound to the DPoP key in instance/dpop-client-key.pem (created on first use).
dpop-token: install-runtime
	@$(PYTHON) -m flask --app app dpop-token $(ARGS)

# A fresh DPoP proof for one request, signed with that key: ARGS="METHOD URL [TOKEN] [--nonce NONCE]".
dpop-proof: install-runtime
	@$(PYTHON) -m flask --app app dpop-proof $(ARGS)

spec: install-runtime
	mkdir -p openapi
	for format in swagger openapi; do \
		$(PYTHON) -m flask --app $(SPEC_APP) spec --format $$format > openapi/$$format.json.tmp \
			&& mv openapi/$$format.json.tmp openapi/$$format.json || { rm -f openapi/$$format.json.tmp; exit 1; }; \
	done

sdk: install
	rm -rf build/sdk
	$(VENV)/bin/openapi-generator-cli generate -i openapi/swagger.json -g python -o build/sdk/python \
		--package-name messages_sdk --additional-properties=projectName=messages-sdk
	$(VENV)/bin/openapi-generator-cli generate -i openapi/swagger.json -g typescript-fetch -o build/sdk/typescript \
		--additional-properties=npmName=messages-sdk,supportsES6=true

bench: install
	$(PYTHON) -m bench.bench

soak: install
	$(PYTHON) -m bench.soak

slowloris: install
	$(PYTHON) -m bench.slowloris

profile: install
	$(PYTHON) -m bench.profile

cache-memory: install
	$(PYTHON) -m bench.cache_memory

clean:
	rm -rf $(VENV) build .pytest_cache
