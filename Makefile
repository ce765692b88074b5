# The two commands of the README:  make demo  |  make test
# PY: the Python that makes .venv. streamdeblur needs 3.11 or newer (PyAV 18, its oldest supported PyAV, and
# pillow-heif have no wheels for 3.10); where python3 is older (Ubuntu 22.04's is 3.10) the first newer
# python3.X on PATH is taken, and a one-line error says what to install when there is none
PY_MIN := 3.11
PY_OK = -c 'import sys; sys.exit(sys.version_info < (3, 11))'
ifeq ($(origin PY),undefined)
PY := $(shell for p in python3 python3.14 python3.13 python3.12 python3.11; do $$p $(PY_OK) 2>/dev/null && { echo $$p; exit; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
# TORCH_INDEX: an extra package index for torch, e.g. https://download.pytorch.org/whl/cpu for the CPU build
# (PyPI's torch for Linux brings several GB of CUDA libraries); empty: pip's own configuration decides
TORCH_INDEX ?=
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	@$(if $(PY),,$(error streamdeblur needs Python $(PY_MIN) or newer; python3 here is $(or $(shell python3 --version 2>&1 | head -n1),missing), and no python$(PY_MIN) or newer is on PATH: install one (Debian/Ubuntu: apt install python$(PY_MIN)-venv) or name it: make $(or $(MAKECMDGOALS),demo) PY=/path/to/python$(PY_MIN)))
	@$(if $(shell $(PY) $(PY_OK) 2>/dev/null && echo ok),,$(error streamdeblur needs Python $(PY_MIN) or newer; $(PY) is $(or $(shell $(PY) --version 2>&1 | head -n1),not found)))
	@# a venv that failed half-way (Debian without python3-venv has no ensurepip) is removed, so the next make retries
	$(PY) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	@$(if $(shell $(BIN)/python $(PY_OK) 2>/dev/null && echo ok),,$(error $(VENV) was made with $(shell $(BIN)/python --version 2>&1 | head -n1); streamdeblur needs Python $(PY_MIN) or newer: make clean, then make $(or $(MAKECMDGOALS),demo) again))
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[test]"
	@touch $@

demo: $(VENV)/.installed
	@mkdir -p out
	$(BIN)/streamdeblur run samples/shaky_boats.mp4 -o out/shaky_boats_deblurred.mp4 --overwrite
	@echo "Deblurred video: out/shaky_boats_deblurred.mp4  (input: samples/shaky_boats.mp4, ground truth: samples/shaky_boats_sharp.mp4)"
	@echo "How much closer to the ground truth it is than the input:"
	@$(BIN)/streamdeblur eval --video out/shaky_boats_deblurred.mp4 --reference samples/shaky_boats_sharp.mp4 --input samples/shaky_boats.mp4

# ffmpeg/ffprobe judge our outputs independently in the tests; Xvfb hosts the preview-window test.
system-deps:
	@if ! command -v ffprobe >/dev/null || ! command -v Xvfb >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing ffmpeg and xvfb (Debian packages) for the tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg xvfb >/dev/null; \
	fi

test: $(VENV)/.installed-test system-deps
	$(BIN)/python -m pytest -q --durations=20  # the 20 slowest: where the 15-minute budget goes

lint: $(VENV)/.installed-test
	$(BIN)/ruff check streamdeblur tests samples
	$(BIN)/ruff format --check streamdeblur tests samples

clean:
	rm -rf $(VENV) out .pytest_cache
