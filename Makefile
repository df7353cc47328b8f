# The two commands of the README are `make up` and `make test`; the rest are helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack

.PHONY: help install venv up down status test unit lint asyncapi k8s-generate k8s-validate compose-up compose-down compose-test images
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
	@echo "make k8s-validate  render the Kubernetes overlays and check them offline (kubeconform, the rules)"
	@echo "make k8s-generate  regenerate the Strimzi topics and users from the registries"
	@echo "make compose-up    the platform as containers (docker-compose.yml, podman), every /readyz 200"
	@echo "make compose-down  stop and remove the compose stack's containers (volumes kept)"
	@echo "make compose-test  compose up -> /readyz -> the demo flow -> the scale-out test -> compose down"

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

# Kubernetes (docs/kubernetes.md): the Strimzi resources generated from the registries, and
# the offline validation (also part of `make test`: tests/k8s).
K8S_KAFKA := deploy/k8s/base/kafka/generated.yaml
K8S_DEV_USERS := deploy/k8s/overlays/dev/kafka-dev-users.yaml
k8s-generate: venv
	$(VENV)/python -m dinamis_shared.strimzi > $(K8S_KAFKA).tmp && mv $(K8S_KAFKA).tmp $(K8S_KAFKA)
	$(VENV)/python -m dinamis_shared.strimzi --development > $(K8S_DEV_USERS).tmp && mv $(K8S_DEV_USERS).tmp $(K8S_DEV_USERS)

k8s-validate: venv
	@deploy/k8s/tools
	$(VENV)/python -m pytest -q -p no:cacheprovider tests/k8s shared/tests/unit/test_strimzi.py

# The compose stack (docker-compose.yml) with podman-compose, installed in a tool venv
# (~/.cache/dinamis/compose-venv); docs/containers-compose.md.
compose-up: venv
	@deploy/containers/compose up

compose-down:
	@deploy/containers/compose down

compose-test: venv
	@mkdir -p .artifacts/containers; deploy/containers/compose-test 2>&1 | tee .artifacts/containers/compose-test.log; exit $${PIPESTATUS[0]}
