# Two commands do all the set-up on a fresh machine (no GPU, no network beyond package registries):
#   make app    install into .venv (when missing) and start the app on the shipped sample traces
#   make test   install into .venv (when missing) and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.memscope-installed
PORT   ?= 8501

.PHONY: app test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch first: any other spec pulls gigabytes of CUDA packages
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

app: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/memscope app --port $(PORT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -q

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
