# The two commands of the README:  make demo  |  make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# TORCH_INDEX: an extra package index for torch, e.g. https://download.pytorch.org/whl/cpu for the CPU build
# (PyPI's torch for Linux brings several GB of CUDA libraries); empty: pip's own configuration decides
TORCH_INDEX ?=
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
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
