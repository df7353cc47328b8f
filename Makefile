# The two commands of the README are `make up` and `make test`; the rest are helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack

.PHONY: help install venv up down status test unit lint asyncapi images
VENV := .venv/bin

help:
	@echo "make up       install what is missing, start the stack, the five services, the portal and the reporting"
	@echo "make test     install, start the stack, run every test, stop what it started"
	@echo "make down     stop the services and the stack"
	@echo "make status   what runs, on which port, and whether it answers"
	@echo "make unit     the unit tests only: no server needed, under a minute"
	@echo "make lint     ruff, ruff format --check, mypy over all source"
	@echo "make asyncapi regenerate docs/asyncapi.yaml from the event contracts"
	@echo "make images   build every container image (servers, services) from the local Debian base (podman)"

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
	@echo; echo "==> demo: two years of simulated activity (120 organisations) for the reporting's figures"; source deploy/local/stack.env && .venv/bin/dinamis activity simulate --years 2025-2026 --organisations 120 --until now --archive
	@echo; echo "==> the members' portal: http://127.0.0.1:8107  (search: http://127.0.0.1:8107/rechercher)"

down:
	@deploy/local/services down
	@$(STACK) down

status:
	@$(STACK) status; echo; deploy/local/services status

test: install
	@deploy/local/test

# The tools come from the workspace's virtualenv (`make install` creates it): no global
# uv, ruff or mypy is needed.
venv:
	@[ -x $(VENV)/python ] || deploy/local/install

# Every server address points at a closed port: a unit test that reaches for one fails.
NO_SERVERS := DINAMIS_ENVIRONMENT=development DINAMIS_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9 DINAMIS_MONGO_URL=mongodb://127.0.0.1:9/ \
	DINAMIS_S3_ENDPOINT=127.0.0.1:9 DINAMIS_POSTGRES_DSN=postgresql://none:none@127.0.0.1:9/none \
	DINAMIS_SMTP_PORT=9 DINAMIS_KEYCLOAK_URL=http://127.0.0.1:9 DINAMIS_ORDERS_URL=http://127.0.0.1:9 \
	DINAMIS_AUTH_TOKEN_URL=http://127.0.0.1:9/token

unit: venv
	$(NO_SERVERS) $(VENV)/python -m pytest -m "not integration" -q $(wildcard shared/tests services cli sim campaign)

lint: venv
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

# Every container image, built with podman from a local Debian base (docs/containers.md).
images: install
	@deploy/containers/install
	@deploy/containers/images

asyncapi: venv
	$(VENV)/python -m dinamis_shared.asyncapi > docs/asyncapi.yaml.tmp && mv docs/asyncapi.yaml.tmp docs/asyncapi.yaml
