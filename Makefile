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
	.venv/bin/python -m pytest -q
