"""Least privilege on the bus and the store, generated from the registries.

Kafka (SASL/SCRAM-SHA-512, `StandardAuthorizer`, `allow.everyone.if.no.acl.found=false`):
one principal per service (`User:<service>`), the stack tools' `admin` super user. A
service may
- WRITE the topics of the events it produces (`Event.PRODUCER`) and the dead-letter
  topics (`.dlq`) of those it consumes;
- READ the topics it consumes (`topics.CONSUMES`) and its consumer group (its name);
- nothing else: a forged `delivery-requested` or `user-changed` from any other principal
  is refused by the broker (TOPIC_AUTHORIZATION_FAILED).
Idempotent producers need no IDEMPOTENT_WRITE on the cluster since Kafka 3.0 (KIP-679:
WRITE on a topic implies it); no service uses transactions.

S3 (SeaweedFS identities, `Action:bucket`): `S3_RIGHTS` below, one key per service.

python -m dinamis_shared.acls scram            SCRAM credentials of every principal (stack)
python -m dinamis_shared.acls principals       the principals, one a line
python -m dinamis_shared.acls unknown          principals that cannot log in (exit 1: no answer)
python -m dinamis_shared.acls apply            create the missing ACLs, delete stale ones
python -m dinamis_shared.acls s3-config        SeaweedFS identities (JSON, development keys)
python -m dinamis_shared.acls table            the ACL and S3 tables in Markdown (docs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from enum import IntEnum

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from dinamis_shared.events import EVENT_MODELS
from dinamis_shared.settings import ADMIN_PRINCIPAL, ServiceSettings, dev_kafka_password, dev_s3_secret
from dinamis_shared.topics import CONSUMES, DEVELOPMENT_WRITERS, topic_for

log = logging.getLogger(__name__)

# Principals that neither produce nor consume (the catalog's tiles process: it never logs
# in to Kafka, `dinamis_shared.service`). The local stack still formats a SCRAM user for
# it, granted nothing; Kubernetes creates none (`dinamis_shared.strimzi`).
CONNECT_ONLY = ("catalog-tiles",)

# The reporting's event archive (`dinamis_reporting.archive`): READ every registry topic
# (never a dead-letter topic: a letter is not a fact) in its own group, nothing else.
ARCHIVE = "reporting"
ARCHIVE_GROUP = "reporting-archive"

# The ops console (the portal's staff pages, `dinamis_portal.ops`), the one principal
# besides a producer that may write a registry topic:
# - READ the scene events of the yearly coverage board, in its own group;
# - DESCRIBE every topic and every service's consumer group (consumer lag);
# - READ every dead-letter topic (browse) and WRITE every event topic: the replay of a
#   dead letter to its topic. The console writes back only the bytes and headers it read
#   from a dead-letter topic (never a record composed by a user), every consumer is
#   idempotent by event id, and the events the orders service issues are checked with it
#   before any consumer acts (`provenance`), so a replay cannot forge them.
OPS_CONSOLE = "portal"
OPS_CONSOLE_GROUP = "portal-coverage"
OPS_CONSOLE_READS = ("dinamis.scene-acquired.v1", "dinamis.scene-ingested.v1", "dinamis.scene-rejected.v1")


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Operation(IntEnum):
    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ANY = 1
LITERAL = 3
ALLOW = 3


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # the service name (the Kafka principal is User:<name>)
    operation: Operation
    resource: Resource
    name: str

    def describe(self) -> str:
        return f"User:{self.principal} {self.operation.name} {self.resource.name.lower()} {self.name}"


def service_principals(*, development: bool = True) -> list[str]:
    names = {m.PRODUCER for m in EVENT_MODELS} | set(CONSUMES) | set(CONNECT_ONLY) | {OPS_CONSOLE, ARCHIVE}
    if development:
        names |= set(DEVELOPMENT_WRITERS)
    return sorted(names)


def principals(*, development: bool = True) -> list[str]:
    """Every principal the stack creates: `admin` first, then the services."""
    return [ADMIN_PRINCIPAL, *service_principals(development=development)]


def acls(*, development: bool = True) -> list[Acl]:
    """The ACLs of every service principal, from the event and consumer registries."""
    out: set[Acl] = set()
    for model in EVENT_MODELS:
        out.add(Acl(model.PRODUCER, Operation.WRITE, Resource.TOPIC, topic_for(model).name))
    if development:
        for writer, models in DEVELOPMENT_WRITERS.items():
            out |= {Acl(writer, Operation.WRITE, Resource.TOPIC, topic_for(m).name) for m in models}
    for service, models in CONSUMES.items():
        for model in models:
            spec = topic_for(model)
            out.add(Acl(service, Operation.READ, Resource.TOPIC, spec.name))
            out.add(Acl(service, Operation.WRITE, Resource.TOPIC, spec.dlq))
        out.add(Acl(service, Operation.READ, Resource.GROUP, service))
    return sorted(out | ops_console_acls() | archive_acls())


def archive_acls() -> set[Acl]:
    """The event archive's rights (see ARCHIVE)."""
    out = {Acl(ARCHIVE, Operation.READ, Resource.GROUP, ARCHIVE_GROUP)}
    return out | {Acl(ARCHIVE, Operation.READ, Resource.TOPIC, topic_for(m).name) for m in EVENT_MODELS}


def ops_console_acls() -> set[Acl]:
    """The ops console's rights (see OPS_CONSOLE)."""
    out = {Acl(OPS_CONSOLE, Operation.READ, Resource.GROUP, OPS_CONSOLE_GROUP)}
    out |= {Acl(OPS_CONSOLE, Operation.READ, Resource.TOPIC, name) for name in OPS_CONSOLE_READS}
    for model in EVENT_MODELS:
        spec = topic_for(model)
        out |= {
            Acl(OPS_CONSOLE, Operation.DESCRIBE, Resource.TOPIC, spec.name),
            Acl(OPS_CONSOLE, Operation.DESCRIBE, Resource.TOPIC, spec.dlq),
            Acl(OPS_CONSOLE, Operation.READ, Resource.TOPIC, spec.dlq),
            Acl(OPS_CONSOLE, Operation.WRITE, Resource.TOPIC, spec.name),
        }
    out |= {
        Acl(OPS_CONSOLE, Operation.DESCRIBE, Resource.GROUP, group) for group in (*CONSUMES, ARCHIVE_GROUP)
    }
    return out


# --- S3 ------------------------------------------------------------------------------

# bucket -> SeaweedFS actions (`Read` = GET/HEAD, `Write` = PUT/DELETE/multipart, `List`).
S3_RIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    # reads the staged packages, writes the archive (COGs, STAC item, manifest)
    "ingest": {"staging": ("Read", "List"), "archive": ("Read", "Write", "List")},
    # presigns archive GETs (assets, previews) and upload PUTs (the SDK's upload helper);
    # lists a user's upload folder to cap what it holds
    "catalog": {"archive": ("Read", "List"), "uploads": ("Write", "List")},
    # GDAL reads the archive COGs to render tiles
    "catalog-tiles": {"archive": ("Read",)},
    # reads the archive, writes, presigns and expires products in the delivery bucket
    "delivery": {"archive": ("Read",), "delivery": ("Read", "Write", "List")},
    # stages packages and keeps its orders under staging/orders/
    "supplier-sim": {"staging": ("Read", "Write", "List")},
    # the event archive: writes, compacts and reads the Parquet files of every topic
    "reporting": {"events": ("Read", "Write", "List")},
    # orders, notify: no object storage
}


def s3_identities() -> dict:
    """SeaweedFS' identity file for the local stack: `admin` plus one key per service,
    with the development secrets (`settings.dev_s3_secret`)."""

    def identity(name: str, actions: list[str]) -> dict:
        return {
            "name": name,
            "credentials": [{"accessKey": name, "secretKey": dev_s3_secret(name)}],
            "actions": actions,
        }

    out = [identity(ADMIN_PRINCIPAL, ["Admin", "Read", "List", "Tagging", "Write"])]
    for name, buckets in sorted(S3_RIGHTS.items()):
        out.append(identity(name, [f"{a}:{b}" for b, actions in sorted(buckets.items()) for a in actions]))
    return {"identities": out}


# --- applying the Kafka ACLs ------------------------------------------------------------


async def _current(admin: AIOKafkaAdminClient) -> set[Acl]:
    response = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
    if response.error_code:
        raise KafkaError(f"DescribeAcls failed: {response.error_code} {response.error_message}")
    found = set()
    for rtype, rname, pattern, entries in response.resources:
        for principal, host, operation, permission in entries:
            if (
                rtype in {r.value for r in Resource}
                and operation in {o.value for o in Operation}
                and pattern == LITERAL
                and host == "*"
                and permission == ALLOW
                and principal.startswith("User:")
            ):
                found.add(Acl(principal[5:], Operation(operation), Resource(rtype), rname))
            else:
                found.add(Acl(principal, Operation.ANY, Resource.CLUSTER, f"unmanaged:{rtype}:{rname}"))
    return found


async def apply_acls(settings: ServiceSettings, *, development: bool = True) -> tuple[list[Acl], list[Acl]]:
    """Create the missing ACLs and delete the stale ones of the service principals
    (idempotent); return (created, deleted)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="dinamis-acls", **settings.kafka_auth()
    )
    await admin.start()
    try:
        wanted = set(acls(development=development))
        managed = set(service_principals(development=development))
        current = await _current(admin)
        missing = sorted(wanted - current)
        stale = sorted(a for a in current - wanted if a.principal in managed)
        for acl in missing:
            r = await admin._send_request(
                CreateAclsRequest(
                    acl.resource, acl.name, LITERAL, f"User:{acl.principal}", "*", acl.operation, ALLOW
                )
            )
            for error_code, message in r.creation_responses:
                if error_code:
                    raise KafkaError(f"CreateAcls {acl.describe()}: {error_code} {message}")
        for acl in stale:
            r = await admin._send_request(
                DeleteAclsRequest(
                    acl.resource, acl.name, LITERAL, f"User:{acl.principal}", "*", acl.operation, ALLOW
                )
            )
            for error_code, message, _ in r.filter_responses:
                if error_code:
                    raise KafkaError(f"DeleteAcls {acl.describe()}: {error_code} {message}")
        return missing, stale
    finally:
        await admin.close()


async def can_log_in(settings: ServiceSettings, principal: str, password: str) -> bool:
    """Whether `principal` authenticates on the first bootstrap server (raises when the
    server does not answer: unknown is not the same as unreachable)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed

    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    auth = {**settings.kafka_auth(), "sasl_plain_username": principal, "sasl_plain_password": password}
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=5000, **auth)
    except SaslAuthenticationFailed:
        return False
    conn.close()
    return True


# --- documentation ---------------------------------------------------------------------


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def markdown() -> str:
    rows = [
        "| principal | WRITE (topics) | READ (topics) | READ (group) | DESCRIBE (topics, groups) |",
        "|---|---|---|---|---|",
    ]
    table = acls(development=False)
    for p in service_principals(development=False):
        write = [a.name for a in table if a.principal == p and a.operation is Operation.WRITE]
        read = [
            a.name
            for a in table
            if a.principal == p and a.operation is Operation.READ and a.resource is Resource.TOPIC
        ]
        group = [
            a.name
            for a in table
            if a.principal == p and a.resource is Resource.GROUP and a.operation is Operation.READ
        ]
        described = sorted({a.name for a in table if a.principal == p and a.operation is Operation.DESCRIBE})
        describe = (
            "every topic and dead-letter topic, the groups "
            + _names([n for n in described if not n.startswith("dinamis.")])
            if described
            else "—"
        )
        rows.append(f"| `{p}` | {_names(write)} | {_names(read)} | {_names(group)} | {describe} |")
    for writer, models in DEVELOPMENT_WRITERS.items():
        topics = ", ".join(f"`{topic_for(m).name}`" for m in models)
        rows.append(f"| `{writer}` (development only) | {topics} | — | — | — |")
    rows += ["", "| S3 key | bucket: actions |", "|---|---|"]
    for name, buckets in sorted(S3_RIGHTS.items()):
        rows.append(
            f"| `{name}` | " + "; ".join(f"`{b}`: {', '.join(a)}" for b, a in sorted(buckets.items())) + " |"
        )
    rows.append("| `orders`, `notify`, `portal` | none |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="DINAMIS Kafka principals, ACLs and S3 identities.")
    parser.add_argument("command", choices=["scram", "principals", "unknown", "apply", "s3-config", "table"])
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # aiokafka logs each refused login: the output says it
    if args.command == "scram":
        for p in principals():
            print(f"SCRAM-SHA-512=[name={p},password={dev_kafka_password(p)}]")
    elif args.command == "principals":
        print("\n".join(principals()))
    elif args.command == "unknown":
        settings = ServiceSettings()

        async def unknown() -> list[str]:
            checks = [can_log_in(settings, p, dev_kafka_password(p)) for p in principals()]
            return [p for p, ok in zip(principals(), await asyncio.gather(*checks), strict=True) if not ok]

        try:
            print("\n".join(asyncio.run(unknown())))
        except (OSError, KafkaError) as exc:
            sys.exit(f"kafka does not answer: {exc}")
    elif args.command == "apply":
        created, deleted = asyncio.run(apply_acls(ServiceSettings()))
        print(
            f"ACLs: {len(acls())} for {len(service_principals())} principals,"
            f" {len(created)} created, {len(deleted)} deleted"
        )
    elif args.command == "s3-config":
        json.dump(s3_identities(), sys.stdout, indent=1)
        print()
    else:
        print(markdown())


if __name__ == "__main__":
    main()
