PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: demo test e2e browser docs-screenshot lint format bench bench-smoke clean

# The demo needs only the bot's own dependencies; tests, lint and benchmarks add the extras.
$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/python -m bot --demo

test: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/python -m pytest -q

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e -q -m "e2e and not browser"

browser: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/python -m pytest tests/e2e/test_browser.py -q

docs-screenshot: $(STAMP)
	scripts/ensure-chromium
	UPDATE_DOCS_SCREENSHOT=1 $(BIN)/python -m pytest tests/e2e/test_browser.py -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
