"""The scale-out test on the compose stack (issue 18, item 3), through the real APIs.

Runs on the host against the published ports, after `deploy/local/demo.py` (its member,
Marie Dupont of org-demo-inrae-lyon, and the Pléiades Neo scene over Lyon it had acquired):

1. burst: `--burst` (300) product orders, each one clip (a distinct small field of the scene,
   Lambert-93), placed through the orders API as fast as `--concurrency` allows, while delivery
   runs 3 replicas, each limited to a share of a CPU (docker-compose.yml: `cpus`);
2. once a third of the products are ready, one delivery container is killed (`podman kill`,
   SIGKILL; its restart policy starts it again);
3. every order must end `ready`; per product exactly one `product-ready` event (counted on the
   topic from inside the compose network: deploy/containers/compose_events.py) and exactly one
   object in the delivery bucket; every download link answers (307 to a presigned URL whose
   object has the product's size and SHA-256); products per replica from each object's
   `built-by` metadata (delivery's replica id: `<hostname>-<pid>`, the hostname being the
   container's);
4. scale: `--scale-orders` more orders placed one by one while delivery goes to 1 replica
   (`podman stop` of the others: SIGTERM, as a scale-down does) and back to 3 (`podman start`);
   every one of them must end `ready` (no order lost).

Writes the JSON report to `--out` (.artifacts/containers/scale-out.json); exit status 1 if a
check failed. Needs the workspace's venv (httpx, minio) and deploy/containers/podman."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
os.environ.setdefault("DINAMIS_ENVIRONMENT", "development")
os.environ.setdefault("DINAMIS_KEYCLOAK_URL", "http://127.0.0.1:8180")
import demo  # noqa: E402  (deploy/local/demo.py: its people and password)
import keycloak  # noqa: E402  (deploy/local/keycloak.py)

ORDERS = "http://127.0.0.1:8103/v1"
CATALOG = "http://127.0.0.1:8102"
PODMAN = str(HERE / "podman")
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "dinamis-compose")
COLLECTION = "pleiades-neo-ortho"


def podman(*args: str, check: bool = True) -> str:
    return subprocess.run([PODMAN, *args], check=check, capture_output=True, text=True).stdout.strip()


def delivery_containers() -> list[str]:
    out = podman(
        "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", "label=com.docker.compose.service=delivery", "--format", "{{.Names}}",
    )  # fmt: skip
    return sorted(n for n in out.splitlines() if n)


def hostnames(names: list[str]) -> dict[str, str]:
    return {podman("inspect", "-f", "{{.Config.Hostname}}", n): n for n in names}


class Member:
    """The demo's member; one Keycloak token per minute (they live 5)."""

    def __init__(self) -> None:
        self.email = "marie.dupont@inrae.example.fr"
        self._token = ""
        self._at = 0.0

    @property
    def headers(self) -> dict[str, str]:
        if time.monotonic() - self._at > 60:
            self._token = keycloak.password_token(self.email, demo.PASSWORD)
            self._at = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}


def the_scene(member: Member) -> dict:
    r = httpx.post(
        f"{CATALOG}/search",
        json={"collections": [COLLECTION], "intersects": demo.LYON, "limit": 1},
        headers=member.headers,
        timeout=30,
    )
    r.raise_for_status()
    features = r.json()["features"]
    if not features:
        sys.exit(f"!! no {COLLECTION} scene over Lyon in the catalogue: run deploy/local/demo.py first")
    return features[0]


def fields(bbox: list[float], n: int, scale: float = 1.0) -> list[dict]:
    """n distinct small squares inside the scene's bbox (10 % margin), on a grid: each 60 % of
    its cell's side, times `scale` (> 1.67: neighbours overlap, still distinct)."""
    minx, miny, maxx, maxy = bbox
    mx, my = (maxx - minx) * 0.1, (maxy - miny) * 0.1
    minx, miny, maxx, maxy = minx + mx, miny + my, maxx - mx, maxy - my
    cols = int(n**0.5) + 1
    rows = (n + cols - 1) // cols
    dx, dy = (maxx - minx) / cols, (maxy - miny) / rows
    out = []
    for k in range(n):
        i, j = k % cols, k // cols
        x0, y0 = minx + i * dx + dx * 0.1, miny + j * dy + dy * 0.1
        x1, y1 = min(x0 + dx * 0.6 * scale, maxx), min(y0 + dy * 0.6 * scale, maxy)
        out.append({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})
    return out


async def place(client: httpx.AsyncClient, member: Member, scene_id: str, aoi: dict, key: str) -> str:
    body = {"items": [{"collection": COLLECTION, "item_id": scene_id}], "aoi": aoi, "crs": "EPSG:2154"}
    for attempt in range(5):
        try:
            r = await client.post(
                f"{ORDERS}/product-orders", json=body, headers={**member.headers, "Idempotency-Key": key}
            )
        except httpx.TransportError:
            await asyncio.sleep(1 + attempt)
            continue
        if r.status_code in (200, 201):
            return str(r.json()["order_id"])
        if r.status_code < 500:
            raise RuntimeError(f"order {key}: {r.status_code} {r.text[:300]}")
        await asyncio.sleep(1 + attempt)
    raise RuntimeError(f"order {key}: no answer")


async def statuses(client: httpx.AsyncClient, member: Member, oids: set[str]) -> dict[str, dict]:
    r = await client.get(f"{ORDERS}/product-orders", params={"limit": 500}, headers=member.headers)
    r.raise_for_status()
    got = {o["order_id"]: o for o in r.json()["orders"] if o["order_id"] in oids}
    for oid in oids - got.keys():  # older than the 500 newest: one by one
        r = await client.get(f"{ORDERS}/product-orders/{oid}", headers=member.headers)
        if r.status_code == 200:
            got[oid] = r.json()
    return got


def is_ready(order: dict | None) -> bool:
    return bool(order and order.get("products") and order["products"][0].get("status") == "ready")


def done(order: dict) -> bool:
    return order.get("status") != "processing"


async def wait_all(
    client: httpx.AsyncClient, member: Member, oids: set[str], within_s: float, on_progress=None
) -> dict[str, dict]:
    deadline = time.monotonic() + within_s
    while True:
        st = await statuses(client, member, oids)
        finished = sum(1 for o in st.values() if done(o))
        if on_progress is not None:
            await on_progress(finished)
        if finished == len(oids) or time.monotonic() > deadline:
            return st
        await asyncio.sleep(3)


def kafka_counts(topic: str, field: str) -> dict:
    registry = os.environ.get("DINAMIS_SERVICE_REGISTRY", "localhost/dinamis")
    image = f"{registry}/orders:{os.environ.get('DINAMIS_SERVICE_TAG', 'dev')}"
    env = {
        "DINAMIS_ENVIRONMENT": "development",
        "DINAMIS_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    }
    args = ["run", "--rm", "--network", f"{PROJECT}_default", "--name", f"{PROJECT}-events-probe"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    args += ["-v", f"{HERE / 'compose_events.py'}:/probe/compose_events.py:ro", "--entrypoint", "python"]
    out = podman(*args, image, "/probe/compose_events.py", topic, field)
    return json.loads(out.splitlines()[-1])


def s3():
    from dinamis_shared import clients
    from dinamis_shared.settings import ServiceSettings

    return clients.s3_client(ServiceSettings(s3_endpoint="127.0.0.1:8333"))


async def check_downloads(client: httpx.AsyncClient, member: Member, orders: dict[str, dict]) -> dict:
    ok, bad = 0, []
    sem = asyncio.Semaphore(8)

    async def one(order: dict) -> None:
        nonlocal ok
        product = order["products"][0]
        async with sem:
            r = await client.get(product["download"], headers=member.headers)
            if r.status_code != 307:
                bad.append(f"{product['product_id']}: {r.status_code}")
                return
            body = await client.get(r.headers["location"])
            digest = hashlib.sha256(body.content).hexdigest()
            if (
                body.status_code == 200
                and len(body.content) == product["size_bytes"]
                and (digest == product.get("sha256", digest))
            ):
                ok += 1
            else:
                bad.append(f"{product['product_id']}: {body.status_code}, {len(body.content)} bytes")

    await asyncio.gather(*(one(o) for o in orders.values() if o["products"][0].get("status") == "ready"))
    return {"downloadable": ok, "not_downloadable": bad[:20]}


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burst", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=12)
    ap.add_argument("--field-scale", type=float, default=1.0, help="clip side, times 60 %% of a grid cell")
    ap.add_argument("--scale-orders", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=str(ROOT / ".artifacts" / "containers" / "scale-out.json"))
    args = ap.parse_args()

    member = Member()
    scene = the_scene(member)
    containers = delivery_containers()
    if len(containers) < 3:
        sys.exit(f"!! delivery runs {len(containers)} replica(s), 3 expected")
    cpus = {c: podman("inspect", "-f", "{{.HostConfig.NanoCpus}}", c) for c in containers}
    report: dict = {
        "scene": scene["id"],
        "delivery_containers": containers,
        "delivery_cpus": {c: int(v) / 1e9 if v.isdigit() else v for c, v in cpus.items()},
        "burst": args.burst,
        "field_scale": args.field_scale,
        "started_at": datetime.now(UTC).isoformat(),
    }
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aois = fields(scene["bbox"], args.burst + args.scale_orders, args.field_scale)
    victim = containers[1]
    killed: dict = {}
    async with httpx.AsyncClient(timeout=60) as client:
        # 1. the burst
        t0 = time.monotonic()
        sem = asyncio.Semaphore(args.concurrency)

        async def placed(k: int) -> str:
            async with sem:
                return await place(client, member, scene["id"], aois[k], f"scale-{run}-{k}")

        oids = await asyncio.gather(*(placed(k) for k in range(args.burst)))
        t_placed = time.monotonic() - t0
        print(f"    {len(oids)} orders placed in {t_placed:.1f} s", flush=True)

        # 2. the kill, once a third of them are done
        async def progress(finished: int) -> None:
            if not killed and finished >= args.burst // 3:
                podman("kill", victim)
                killed.update(
                    container=victim,
                    at=datetime.now(UTC).isoformat(),
                    seconds_after_first_order=round(time.monotonic() - t0, 1),
                    products_done_before=finished,
                )
                after = killed["seconds_after_first_order"]
                print(f"    killed {victim} after {after} s ({finished} done)", flush=True)

        burst = await wait_all(client, member, set(oids), args.timeout, progress)
        t_burst = time.monotonic() - t0
        restarted = podman("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", victim, check=False)

        # 3. the checks
        ready = {oid: o for oid, o in burst.items() if o["products"][0].get("status") == "ready"}
        products = {o["products"][0]["product_id"]: o for o in burst.values() if o.get("products")}
        events = kafka_counts("dinamis.product-ready.v1", "product_id")["counts"]
        per_product_events = Counter({p: events.get(p, 0) for p in products})
        client_s3 = s3()
        by_key: Counter[str] = Counter()
        built_by: Counter[str] = Counter()
        before_kill: Counter[str] = Counter()  # objects written before the kill, per replica
        for oid, o in ready.items():
            # delivery's object keys: `<order>/<item>-<key prefix>.<ext>` (one product per order here)
            objects = list(client_s3.list_objects("delivery", prefix=f"{oid}/", recursive=True))
            by_key[o["products"][0]["product_id"]] = len(objects)
            for x in objects:
                meta = client_s3.stat_object("delivery", x.object_name).metadata
                built_by[meta.get("x-amz-meta-built-by", "?")] += 1
                if killed and x.last_modified and x.last_modified < datetime.fromisoformat(killed["at"]):
                    before_kill[meta.get("x-amz-meta-built-by", "?")] += 1
        host_of = hostnames(containers)

        def by_container(counts: Counter[str]) -> dict[str, int]:
            out: Counter[str] = Counter()
            for replica, n in counts.items():
                out[host_of.get(replica.rsplit("-", 1)[0], replica)] += n
            return dict(out)

        per_replica = by_container(built_by)
        downloads = await check_downloads(client, member, burst)
        sizes = sorted(o["products"][0]["size_bytes"] for o in ready.values())
        report["burst_result"] = {
            "orders_placed": len(oids),
            "placing_seconds": round(t_placed, 1),
            "seconds_first_order_to_last_done": round(t_burst, 1),
            "orders_ready": len(ready),
            "product_bytes": {"min": sizes[0], "median": sizes[len(sizes) // 2], "max": sizes[-1]}
            if sizes
            else {},
            "orders_not_ready": {
                oid: o["products"][0].get("status") for oid, o in burst.items() if oid not in ready
            },
            "products_per_replica": per_replica,
            "products_per_replica_before_kill": by_container(before_kill),
            "products_per_replica_id": dict(built_by),
            "kill": {**killed, "victim_after": restarted},
            "product_ready_events": {
                "products_with_exactly_one": sum(1 for n in per_product_events.values() if n == 1),
                "products_with_none": sum(1 for n in per_product_events.values() if n == 0),
                "duplicates": {p: n for p, n in per_product_events.items() if n > 1},
            },
            "objects": {
                "products_with_exactly_one": sum(1 for n in by_key.values() if n == 1),
                "duplicates": {p: n for p, n in by_key.items() if n != 1},
            },
            **downloads,
        }

        # 4. scale to 1 and back to 3 while orders are placed
        t1 = time.monotonic()
        others = [c for c in containers if c != containers[0]]
        scale_oids: list[str] = []
        steps: list[dict] = []
        for k in range(args.scale_orders):
            if k == args.scale_orders // 3:
                podman("stop", "-t", "20", *others)
                steps.append({"to_replicas": 1, "after_orders": k, "at": datetime.now(UTC).isoformat()})
                print(f"    delivery scaled to 1 ({', '.join(others)} stopped)", flush=True)
            if k == 2 * args.scale_orders // 3:
                podman("start", *others)
                steps.append({"to_replicas": 3, "after_orders": k, "at": datetime.now(UTC).isoformat()})
                print("    delivery scaled back to 3", flush=True)
            n = args.burst + k
            scale_oids.append(await place(client, member, scene["id"], aois[n], f"scale-{run}-{n}"))
            await asyncio.sleep(1)
        scaled = await wait_all(client, member, set(scale_oids), args.timeout)
        report["scale_result"] = {
            "orders_placed": len(scale_oids),
            "steps": steps,
            "orders_ready": sum(1 for o in scaled.values() if o["products"][0].get("status") == "ready"),
            "orders_lost_or_failed": [oid for oid in scale_oids if not is_ready(scaled.get(oid))],
            "seconds": round(time.monotonic() - t1, 1),
        }
    report["finished_at"] = datetime.now(UTC).isoformat()
    b, s = report["burst_result"], report["scale_result"]
    report["ok"] = (
        b["orders_ready"] == args.burst
        and b["product_ready_events"]["products_with_exactly_one"] == args.burst
        and b["objects"]["products_with_exactly_one"] == args.burst
        and b["downloadable"] == args.burst
        and bool(killed)
        and len(b["products_per_replica"]) >= 3
        and s["orders_ready"] == args.scale_orders
        and not s["orders_lost_or_failed"]
    )
    out = Path(args.out)
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(out.write_text, json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("burst_result", "scale_result", "ok")}, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
