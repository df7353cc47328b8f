"""Static checks of docker-compose.yml (no container runs): what issue 18 asks of the file."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APPS = ["ingest", "catalog", "catalog-tiles", "orders", "delivery", "notify", "supplier-sim", "portal"]
APPS += ["reporting"]
JOBS = ["kafka-scram", "s3-config", "topics", "acls", "buckets", "pgstac-migrate", "keycloak-realm"]


def test_every_published_port_is_on_the_loopback_and_the_native_one() -> None:
    published = {}
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            host_ip, rest = port.split(":", 1)
            host_port = rest.rsplit(":", 1)[0]  # (a variable's default holds a colon)
            assert host_ip == "127.0.0.1", (name, port)
            published[host_port] = name
    assert published == {
        "${DINAMIS_S3_PORT:-8333}": "s3",
        "${DINAMIS_KEYCLOAK_PORT:-8180}": "keycloak",
        "8101": "gateway",
        "8102": "catalog",
        "8103": "orders",
        "8104": "gateway",
        "8105": "notify",
        "8106": "catalog-tiles",
        "8107": "portal",
        "8108": "reporting",
        "8109": "supplier-sim",
    }


def test_every_image_is_a_variable_with_a_local_default() -> None:
    for name, svc in SERVICES.items():
        assert svc["image"].startswith("${DINAMIS_"), (name, svc["image"])
        assert ":-localhost/dinamis" in svc["image"], (name, svc["image"])


def test_services_start_after_healthy_servers_and_finished_jobs() -> None:
    for name in APPS:
        deps = SERVICES[name]["depends_on"]
        for server in ("kafka", "ferretdb", "postgres", "s3", "smtp", "keycloak"):
            assert deps[server] == {"condition": "service_healthy"}, (name, server)
        for job in ("topics", "acls", "buckets", "pgstac-migrate", "keycloak-realm"):
            assert deps[job] == {"condition": "service_completed_successfully"}, (name, job)
        assert "/readyz" in " ".join(SERVICES[name]["healthcheck"]["test"])
    for job in JOBS:
        assert SERVICES[job]["restart"] == "no"


def test_delivery_and_ingest_are_replicated_delivery_with_a_share_of_a_cpu() -> None:
    delivery, ingest = SERVICES["delivery"]["deploy"], SERVICES["ingest"]["deploy"]
    assert delivery["mode"] == ingest["mode"] == "replicated"
    assert delivery["replicas"] == "${DINAMIS_DELIVERY_REPLICAS:-3}"
    assert ingest["replicas"] == "${DINAMIS_INGEST_REPLICAS:-2}"
    assert delivery["resources"]["limits"]["cpus"] == "${DINAMIS_DELIVERY_CPUS:-0.5}"
    assert "ports" not in SERVICES["delivery"] and "ports" not in SERVICES["ingest"]


def test_no_service_is_given_the_admin_identity() -> None:
    # Identities are read under each service's own prefix only; none is set to admin's.
    for name in APPS:
        env = SERVICES[name]["environment"]
        for key, value in env.items():
            if key.endswith(("_SASL_USERNAME", "_S3_ACCESS_KEY")):
                assert value != "admin", (name, key)
            assert "kafka-admin" not in str(value) and "s3-admin" not in str(value), (name, key)


def test_named_volumes_hold_the_state() -> None:
    assert set(COMPOSE["volumes"]) == {
        "postgres-data", "ferretdb-pg-data", "kafka-data", "kafka-scram", "s3-data", "s3-config", "mail",
        "reporting-lake",
    }  # fmt: skip
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "kafka-data:/var/lib/kafka/data" in SERVICES["kafka"]["volumes"]
