# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: setup demo test lint typecheck check

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/anju demo

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

check: lint typecheck

test: setup check
	# One retry for tests that race real brokers and killed processes on a loaded machine; a
	# test that fails twice fails the run, and every retry is listed in the summary (-ra).
	.venv/bin/python -m pytest -q --reruns 1 --reruns-delay 2
