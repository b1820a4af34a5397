# make demo / make test work on a fresh machine with only Python, apt and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench bench-scale lint format clean browser wrk soak constraints

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

# constraints.txt afresh: the newest versions pyproject.toml admits, in a throwaway venv.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet -e '.[test,bench]'
	{ sed -n '1,3p' constraints.txt; .venv-constraints/bin/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-constraints

# Browser tests drive Debian's Chromium; Noto CJK so Japanese and Korean render (no tofu).
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); }

# Three pytest workers (on two cores: tests wait on their servers), each test file on one
# (its module fixtures, e.g. the world, built once).
test: $(STAMP) lint browser
	$(BIN)/mypy
	$(BIN)/pytest -q -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

demo: $(STAMP)
	$(BIN)/gsoia demo

# Each benchmark runs the peer it is compared with in the same run and prints the ratio.
# The scale benchmark (1,000,000 items: about an hour on 2 cores) also runs alone as
# `make bench-scale`. Each writes a row per target to $(BENCH_RESULTS); the last step prints
# them as one table (a target's median over the three runs of the decision, node,
# federation and witnessing benchmarks) and writes it into docs/performance.md.
BENCH_RESULTS := benchmarks/out/results.jsonl
bench: export GSOIA_BENCH_RESULTS := $(abspath $(BENCH_RESULTS))
bench: $(STAMP)
	rm -f $(BENCH_RESULTS)
	for run in 1 2 3; do $(BIN)/python benchmarks/bench_decision.py || exit 1; done
	for run in 1 2 3; do $(BIN)/python benchmarks/bench_node.py || exit 1; done
	for run in 1 2 3; do $(BIN)/python benchmarks/bench_federation.py --quick || exit 1; done
	for run in 1 2 3; do $(BIN)/python benchmarks/bench_witnessing.py || exit 1; done
	$(BIN)/python benchmarks/bench_taxii.py
	$(BIN)/python benchmarks/bench_flood.py
	$(MAKE) bench-scale
	$(BIN)/python benchmarks/summary.py $(BENCH_RESULTS) --docs docs/performance.md

bench-scale: $(STAMP) wrk
	$(BIN)/python benchmarks/bench_scale.py --generator wrk

# The scale benchmark's load generator, from Debian.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

# Long runs that CI does not make: SIGKILL under load, 10,000 items, on SQLite and PostgreSQL
# (tests/faults; `make test` runs the same test with 400 items), and every Hypothesis
# property with its full budget (`make test` gives each a third: tests/budget.py; schemathesis
# about half its examples).
# -s prints progress.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -q -n 2 --dist loadfile tests/decision tests/audit tests/crypto tests/labels_xml tests/hostile/test_fuzz.py tests/hostile/test_http_hostile.py tests/hostile/test_schemathesis.py tests/node/test_authority_routes.py
	GSOIA_CRASH_ITEMS=10000 $(BIN)/pytest tests/faults -q -s
	GSOIA_WORLD_ITEMS=20000 GSOIA_WORLD_READS=0.2 $(BIN)/pytest tests/world -q -s

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
