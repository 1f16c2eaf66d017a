# The two entry points of the README. Both set the machine up first (scripts/setup.sh).
.PHONY: setup demo test

setup: .venv/.vaf-installed

# Reinstall when the build or the native sources change.
.venv/.vaf-installed: pyproject.toml CMakeLists.txt bindings/CMakeLists.txt $(wildcard bindings/src/* bindings/include/vaf/*)
	bash scripts/setup.sh
	touch $@

# Each run writes a new folder, so nothing from an earlier run is overwritten.
demo: setup
	.venv/bin/vaf demo --out demo_output/$$(date +%Y%m%d-%H%M%S)

test: setup
	.venv/bin/python -m pytest
