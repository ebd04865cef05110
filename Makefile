# Two entry points that do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build that ships on this machine's disk
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

venv: $(STAMP)

# the discovery preset at a size that finishes in about ten minutes on two cores
run: $(STAMP)
	$(BIN)/gpnas run --preset discovery --generations 10 --population 30 \
	    --evolution-nets 80 --validation-nets 40 --sample-nets 40 --test-nets 150

test: $(STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) runs .gpnas-cache
