# Kintsugi: set-up, run and test. Everything installs into ./.venv from the package registries,
# at the exact versions and hashes of the lock files (pylock*.toml; `make lock` rewrites them).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP_VERSION := 26.3
PIP    := $(VENV)/.pip-$(PIP_VERSION)
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
# The project itself, after its locked dependencies; hatchling comes from the lock too.
INSTALL_SELF := $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
SAMPLE := resources/samples/astronaut-portrait.png
# Pinned packages the shipped weights come from (for reconversion and live parity tests).
export KINTSUGI_PACKAGE_CACHE ?= $(abspath .cache/packages)

.PHONY: setup setup-test packages demo run test lint bench screenshots clean lock \
	wheel wheel-check bundle bundle-check metadata-check test-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip itself pinned: it reads the PEP 751 locks (pip >= 26) and writes them (make lock).
$(PIP): | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	touch $@

$(STAMP): pyproject.toml pylock.toml | $(PIP)
	$(BIN)/pip install --quiet -r pylock.toml
	$(INSTALL_SELF)
	touch $@

$(TSTAMP): pyproject.toml pylock.test.toml $(STAMP)
	$(BIN)/pip install --quiet -r pylock.test.toml
	$(INSTALL_SELF)
	touch $@

## Re-resolve the locks from pyproject.toml (after changing a requirement); review the diff.
lock: | $(PIP)
	$(BIN)/python tools/lock.py

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
test: setup-test packages test-tools
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python bench/bench_upscale.py

screenshots: setup-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py

## The wheel and sdist in dist/ (the weights go inside the wheel: docs/adr/0003).
wheel: setup-test
	rm -f dist/kintsugi-*.whl dist/kintsugi-*.tar.gz
	$(BIN)/python -m build --no-isolation --outdir dist .

## Install dist/'s wheel into a fresh venv outside the repository; upscale a photo, open the window.
wheel-check: wheel
	$(BIN)/python packaging/check_wheel.py --dist dist

## The one-folder app in dist/kintsugi/ (PyInstaller, packaging/kintsugi.spec); prints its
## build time and size. Rebuilt when the code, models or spec change.
BUNDLE_EXE := dist/kintsugi/kintsugi
bundle: $(BUNDLE_EXE)

$(BUNDLE_EXE): packaging/kintsugi.spec pyproject.toml $(shell find app models resources -type f \
		-not -path '*/__pycache__/*' 2>/dev/null) | $(STAMP)
	$(BIN)/pip install --quiet -r pylock.bundle.toml
	$(INSTALL_SELF)
	@start=$$(date +%s); \
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/kintsugi.spec && \
	echo "bundle: built in $$(( $$(date +%s) - start )) s; size $$(du -sh dist/kintsugi | cut -f1)"

## Start the bundled app offscreen: upscale a photo with its own default model, open the window.
bundle-check: $(BUNDLE_EXE) metadata-check
	$(BIN)/python packaging/check_bundle.py $(BUNDLE_EXE)

## Debian tools the tests read with: the freedesktop validators and exiftool (an independent
## reader of the metadata Kintsugi writes). Installed with apt only when one is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-tools:
	@command -v desktop-file-validate >/dev/null && command -v appstreamcli >/dev/null && \
		command -v exiftool >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq desktop-file-utils appstream libimage-exiftool-perl >/dev/null; }

## The .desktop file and AppStream metadata pass their validators.
metadata-check: test-tools
	desktop-file-validate packaging/kintsugi.desktop
	appstreamcli validate --no-net packaging/io.github.kintsugi.Kintsugi.metainfo.xml

clean:
	rm -rf $(VENV) out converted-models .pytest_cache .ruff_cache dist build
