# Two commands (see README.md):
#   make bicycle   set up .venv if needed, train the bicycle DDPM and write its figures
#   make test      set up .venv if needed, run the test suite
# Extra flags for the training script: make bicycle ARGS="--epochs 400 --out outputs/long"
# More: make sprites (the sprite UNet), make benchmark (speed of training and sampling)

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-requirements

.PHONY: bicycle test setup sprites benchmark

setup: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

bicycle: $(STAMP)
	$(VENV)/bin/python train_bicycle.py $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests

sprites: $(STAMP)
	$(VENV)/bin/python train_sprites.py --preset cpu --evaluate $(ARGS)

benchmark: $(STAMP)
	$(VENV)/bin/python -m benchmarks.speed $(ARGS)
