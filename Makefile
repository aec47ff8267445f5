# mag-ap: every target sets up what it needs (scripts/setup.sh) on a fresh
# Debian/Ubuntu machine as root, and is quick when things are already there.

VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: all setup lint typecheck test test-unit test-netns test-vm bench ipk apk demo clean

all: test

setup:
	@bash scripts/setup.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

# Lint, type check and every test tier. Tests needing root fail (not skip) without it.
test: lint typecheck
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

test-netns: setup
	$(PY) -m pytest tests/netns

test-vm: setup
	$(PY) -m pytest tests/vm

# The main job on an embedded default (root): 802.1X, DHCP, SLAAC, ping, handover.
# Writes demo-report.json; DEMO_ARGS="--keep --handovers 20 --mode mbb" passes options
# (--handovers N walks per mode; --mode bbm|mbb|both).
demo: setup
	$(PY) -m lab.demo $(DEMO_ARGS)

# Signalling benchmarks (root, namespaces); never part of make test. Writes bench/results.json.
bench: setup
	$(PY) -m bench

# OpenWrt .ipk files of the feed (openwrt/), built without the SDK, byte-reproducible.
IPK_DIR ?= build/ipk
ipk: setup
	$(PY) -m openwrt.tools.ipk -o $(IPK_DIR)

# apk v3 packages of the same feed for OpenWrt 25.x and master (adb format, unsigned,
# byte-reproducible), built without apk-tools.
APK_DIR ?= build/apk
apk: setup
	$(PY) -m openwrt.tools.apk -o $(APK_DIR)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
