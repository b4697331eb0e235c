# The two set-up commands of the README:
#   make demo   train ResNet18 on scikit-learn's digits and render its computation graph
#   make test   run the test suite
#   make test-device   run it on every device: cpu, and cuda (a real GPU with CuPy, else a simulated one)
# Both create .venv (once) and install minigrad into it in editable mode.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-device bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/train_resnet18.py

test: $(STAMP)
	$(PY) -m pytest

# Without CuPy and a GPU, "cuda" is minigrad.testing.fake_cupy: NumPy underneath with CuPy's rules
# (no implicit host copies, no host arrays in device expressions); see tests/conftest.py.
test-device: $(STAMP)
	if $(PY) -c "import minigrad, sys; sys.exit(not minigrad.cuda.is_available())"; then \
		$(PY) -m pytest; else MINIGRAD_SIMULATED_CUDA=1 $(PY) -m pytest; fi

# Benchmarks compare with PyTorch when the Python running them has it: BENCH_PY=/path/to/python
# (with torch, torchvision, threadpoolctl and minigrad's dependencies). The OpenBLAS pins of the
# development machines are lifted for the benchmark commands only.
BENCH_PY ?= $(PY)
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 PYTHONPATH=$(CURDIR)

bench: $(STAMP)
	$(BENCH_ENV) $(BENCH_PY) -m benchmarks
	$(BENCH_ENV) $(BENCH_PY) -m benchmarks resnet --solo --no-memory

clean:
	rm -rf $(VENV) runs .pytest_cache
