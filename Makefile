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

# the default model packaged in src/emobalance/default_model, from configs/default-model.yaml
# (its comment has the five steps; about 2 hours on 2 CPU cores; rerunning resumes)
MODEL_RUNS := runs/default-model
STUDENTS := $(MODEL_RUNS)/students/models
DEFAULT_TEACHER := minilm+minilm+minilm+tfidf+tfidf+tfidf+$(MODEL_RUNS)/minilm-s1+$(MODEL_RUNS)/minilm-s1+$(STUDENTS)/balanced-seed3+$(STUDENTS)/balanced-seed3+$(STUDENTS)/balanced-seed2+$(STUDENTS)/balanced-seed2+$(STUDENTS)/balanced-seed4+$(MODEL_RUNS)/distilled/models/distilled-seed3
model: install
	$(BIN)/emobalance run --config configs/default-model.yaml --seeds 2,3,4 \
		--out $(MODEL_RUNS)/students --resume
	$(BIN)/emobalance run --config configs/default-model.yaml --seeds 3 \
		--set 'run.variants=[distilled]' --out $(MODEL_RUNS)/distilled --resume
	test -f $(MODEL_RUNS)/minilm-s1/emobalance_transformer.json || \
		$(BIN)/emobalance teacher train --seed 1 --out $(MODEL_RUNS)/minilm-s1
	$(BIN)/emobalance run --config configs/default-model.yaml --out $(MODEL_RUNS)/student \
		--resume --set 'distill.teacher=$(DEFAULT_TEACHER)'
	$(BIN)/emobalance package $(MODEL_RUNS)/student/models/balanced-seed1 \
		--recipe "make model (Makefile, configs/default-model.yaml)"

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
