# emobalance: `make run` (main job) and `make test` each work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test run lint model clean

install: $(STAMP)

# torch==2.13.0 first: that exact spec takes the CPU wheel from this disk; anything else
# pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,teacher,serve,onnx,distributed,generate]"
	touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks

test: install lint
	$(BIN)/python -m pytest -q

# the main job: the quick experiment (imbalanced vs balanced vs TF-IDF) with its report
run: install
	$(BIN)/emobalance run --preset quick --out runs/quick

# the default model packaged in src/emobalance/default_model: train its recipe (the MiniLM
# teacher fine-tune and one distilled student, about 40 min on 2 CPU cores; rerunning resumes),
# then export it to int8 ONNX, calibrate it on dev, measure it and write its model card
model: install
	$(BIN)/emobalance run --config configs/default-model.yaml --out runs/default-model --resume
	$(BIN)/emobalance package runs/default-model/models/balanced-seed3 \
		--recipe "make model: emobalance run --config configs/default-model.yaml"

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
