# The two set-up commands of the README:
#   make demo   train ResNet18 on scikit-learn's digits and render its computation graph
#   make test   run the test suite
# Both create .venv (once) and install minigrad into it in editable mode.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/train_resnet18.py

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# The README's gallery (docs/gallery/*.png) from the drawings and the studies at their defaults (~2-3 min)
.PHONY: gallery
gallery: $(STAMP)
	$(PY) docs/make_gallery.py
