"""Ask each local-stack server a real protocol question (not just "is the port open").

python deploy/local/probe.py [server...]           print a status table
python deploy/local/probe.py --quiet SERVER        exit 0 if it answers
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from dinamis_shared import clients
from dinamis_shared.settings import ServiceSettings

TIMEOUT = 3.0


async def kafka(s: ServiceSettings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=s.kafka_bootstrap_servers, request_timeout_ms=3000, **s.kafka_auth()
    )
    await admin.start()
    try:
        topics = await admin.list_topics()
        return f"{sum(t.startswith('dinamis.') for t in topics)} dinamis topics"
    finally:
        await admin.close()


async def ferretdb(s: ServiceSettings) -> str:
    client = clients.mongo_client(s, timeout_s=TIMEOUT)
    try:
        info = await client.admin.command("buildInfo")
        if "ferretdbVersion" in info:
            return f"FerretDB {info['ferretdbVersion']} (MongoDB {info.get('version')} wire protocol)"
        return f"MongoDB {info.get('version')}"
    finally:
        await client.close()


async def postgres(s: ServiceSettings) -> str:
    conn = await clients.pg_connect(s, timeout_s=TIMEOUT)
    async with conn:
        cur = await conn.execute("SELECT current_setting('server_version')")
        (version,) = await cur.fetchone()
        cur = await conn.execute(
            "SELECT coalesce((SELECT pgstac.get_version()), 'no pgSTAC') "
            "WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname='pgstac')"
        )
        row = await cur.fetchone()
        return f"PostgreSQL {version}, pgSTAC {row[0] if row else 'not migrated'}"


async def s3(s: ServiceSettings) -> str:
    import urllib3

    # SeaweedFS serves anonymous requests when it has no identity loaded: refuse to
    # call such a server "ready".
    unsigned = await asyncio.to_thread(
        urllib3.request, "GET", f"http://{s.s3_endpoint}/", timeout=TIMEOUT, retries=False
    )
    if unsigned.status != 403:
        raise PermissionError(f"unsigned request answered {unsigned.status}, expected 403")
    client = clients.s3_client(s, timeout_s=TIMEOUT, retries=0)
    buckets = await asyncio.to_thread(client.list_buckets)
    return "signed request ok, buckets: " + (", ".join(b.name for b in buckets) or "none")


async def smtp(s: ServiceSettings) -> str:
    reader, writer = await asyncio.open_connection(s.smtp_host, s.smtp_port)
    try:
        banner = (await reader.readline()).decode(errors="replace").strip()
        if not banner.startswith("220"):
            raise ConnectionError(banner)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return banner[:60]
    finally:
        writer.close()


async def keycloak(s: ServiceSettings) -> str:
    import httpx

    base = os.environ.get("DINAMIS_KEYCLOAK_URL", "http://127.0.0.1:8180")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        found = await client.get(f"{base}/realms/dinamis/.well-known/openid-configuration")
        found.raise_for_status()
        issuer = found.json()["issuer"]
        keys = (await client.get(found.json()["jwks_uri"])).json()["keys"]
    return f"realm dinamis, issuer {issuer}, {sum(k.get('alg') == 'RS256' for k in keys)} RS256 key(s)"


PROBES = {
    "postgres": postgres,
    "kafka": kafka,
    "ferretdb": ferretdb,
    "s3": s3,
    "smtp": smtp,
    "keycloak": keycloak,
}
PORT_ENV = {
    "postgres": "DINAMIS_PG_PORT",
    "kafka": "DINAMIS_KAFKA_PORT",
    "ferretdb": "DINAMIS_MONGO_PORT",
    "s3": "DINAMIS_S3_PORT",
    "smtp": "DINAMIS_SMTP_PORT",
    "keycloak": "DINAMIS_KEYCLOAK_PORT",
}


async def check(name: str, s: ServiceSettings) -> tuple[bool, str, float]:
    t0 = time.perf_counter()
    try:
        detail = await asyncio.wait_for(PROBES[name](s), TIMEOUT + 1)
        return True, detail, time.perf_counter() - t0
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:100], time.perf_counter() - t0


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("servers", nargs="*", default=list(PROBES))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # aiokafka logs each refused connection; the table says it
    s = ServiceSettings()
    results = await asyncio.gather(*(check(n, s) for n in args.servers))
    if not args.quiet:
        print(f"{'server':<9} {'address':<16} {'answers':<8} detail")
        for name, (ok, detail, dt) in zip(args.servers, results, strict=True):
            addr = f"127.0.0.1:{os.environ.get(PORT_ENV[name], '?')}"
            print(f"{name:<9} {addr:<16} {'yes' if ok else 'NO':<8} {detail} ({dt * 1000:.0f} ms)")
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
