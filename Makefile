# The two commands of the README are `make up` and `make test`; the rest are helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack

.PHONY: help install up down status test lint asyncapi

help:
	@echo "make up       install what is missing, start the stack and the five services"
	@echo "make test     install, start the stack, run every test, stop what it started"
	@echo "make down     stop the services and the stack"
	@echo "make status   what runs, on which port, and whether it answers"
	@echo "make lint     ruff"
	@echo "make asyncapi regenerate docs/asyncapi.yaml from the event contracts"

install:
	@deploy/local/install

up: install
	@$(STACK) up
	@deploy/local/services up
	@echo; echo "==> the platform is up"; $(STACK) status; echo; deploy/local/services status
	@echo; source deploy/local/stack.env && .venv/bin/python deploy/local/demo.py
	@echo; echo "==> demo: the supplier simulator delivers 6 cells of the 2026 coverage and a Pléiades Neo scene over Lyon"
	@source deploy/local/stack.env && .venv/bin/dinamis supplier simulate --coverage france --year 2026 --size 512 --limit 6 --wait 120
	@source deploy/local/stack.env && .venv/bin/dinamis supplier simulate --mission PNEO4 --lon 4.85 --lat 45.76 --size 1500 --wait 120
	@echo; echo "==> demo: the catalogue (STAC API on http://127.0.0.1:8102)"
	@.venv/bin/python deploy/local/demo_search.py

down:
	@deploy/local/services down
	@$(STACK) down

status:
	@$(STACK) status; echo; deploy/local/services status

test: install
	@deploy/local/test

lint:
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy --ignore-missing-imports shared/src/dinamis_shared services/*/src/dinamis_*/domain

asyncapi:
	uv run python -m dinamis_shared.asyncapi > docs/asyncapi.yaml.tmp && mv docs/asyncapi.yaml.tmp docs/asyncapi.yaml
