# Every target sets itself up: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast fuzz lint format bench guides clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,oracle]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The loop while editing: everything but the tests marked slow and the Keras parity tests
# (`make test` runs those), on both cores (about 30 s here).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not oracle"

# More of the random-model fuzzer than CI runs (which takes seeds 0-499, and 0-49 against
# Keras): `make fuzz N=5000` checks N seeds from START against onnxruntime and N/10 of
# them against Keras 3; a failing seed prints its reproducer.
N ?= 2000
START ?= 500
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/test_model_fuzz.py --seeds $(N) --start $(START)
	KERAS_BACKEND=torch $(BIN)/python tests/oracle/test_keras_model_fuzz.py --seeds $$(( $(N) / 10 )) --start $(START)

# ruff (rules E, F, I, B), the formatter's check, and mypy on the typed core.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The keras.io guides and examples, cell by cell on Keras 3 (torch) and on graphc; reads
# them from GRAPHC_KERAS_IO (default /work/keras-io, keras-io's layout), which the
# repository does not hold (tests/guides/keras_io_harness.py says how they are run).
guides: $(STAMP)
	$(BIN)/python tests/guides/keras_io_harness.py $(if $(GRAPHC_KERAS_IO),--dir $(GRAPHC_KERAS_IO))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
