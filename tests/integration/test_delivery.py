"""Delivery against the real stack: a scene made by the supplier simulator, archived by
`dinamis-ingest`, catalogued by `dinamis-catalog`; products ordered on Kafka, built by
`dinamis-delivery` processes, downloaded through presigned URLs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import shape

from dinamis_shared import clients
from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import (
    DeliveryRequestedV1,
    ProductFailedV1,
    ProductReadyV1,
    ProductSpec,
    SceneIngestedV1,
)
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import ensure_staff, seed_member
from tests.ports import free_ports

PORT, INGEST_PORT, CATALOG_PORT = free_ports(3)
ORDERS_PORT = 18407
API = f"http://127.0.0.1:{PORT}"
ORG, OTHER_ORG = "org-lyon", "org-brest"
TOPICS = [ProductReadyV1.topic(), ProductFailedV1.topic(), DeliveryRequestedV1.topic() + ".dlq"]
LON, LAT = 4.85, 45.75


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]],
    }


async def publish(settings, *events) -> None:
    broker = make_broker(settings)
    await broker.connect()
    try:
        publisher = EventPublisher(broker, "/test/orders")
        for e in events:
            await publisher.publish(e)
    finally:
        await broker.stop()


async def item_of(settings, collection: str, item_id: str) -> dict | None:
    conn = await clients.pg_connect(settings)
    async with conn:
        cur = await conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection))
        row = await cur.fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "signing-key.pem"
    ensure_local_signing_key(path)
    return path


def token(key_file: Path, org: str = ORG, roles=("member",), user: str = "u-alice") -> dict:
    """A token for `user` of `org` with `roles` — as the orders service's records say:
    members are seeded there, operators are staff accounts (the token only says who)."""
    if {"operator", "admin"} & set(roles):
        user = f"op-{user}"
        ensure_staff(user, [r for r in roles if r in ("operator", "admin")])
    else:
        user = user if org == ORG else f"{user}-{org}"
        seed_member(org, user, roles)
    return {
        "Authorization": "Bearer "
        + mint_token(ensure_local_signing_key(key_file), user_id=user, organisation_id=org, roles=list(roles))
    }


@pytest.fixture(scope="module")
def scene(settings, tmp_path_factory) -> dict:
    """A Pléiades Neo PAN + MS scene near Lyon, ingested and catalogued for real."""
    logs = tmp_path_factory.mktemp("scene")
    ingest = start_service("ingest", INGEST_PORT, logs)
    catalog = start_service(
        "catalog", CATALOG_PORT, logs, env={"DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG_PORT}"}
    )
    try:
        s3 = clients.s3_client(settings)
        sim = SimulatedScene(
            mission="PNEO4",
            lon=LON,
            lat=LAT,
            acquired_at=datetime(2026, 6, 2, 10, 20, tzinfo=UTC),
            size=800,
            job_id=str(uuid.uuid4().int)[:10],
            seed=3,
        )
        root = logs / "pkg"
        checksums = write_package(sim, root)
        prefix = f"airbus/{sim.scene_id}/"
        event = announce(sim, prefix, checksums, stage_package(s3, root, "staging", prefix))

        async def go() -> dict:
            async with EventWatcher(settings.kafka_bootstrap_servers, [SceneIngestedV1.topic()]) as w:
                await publish(settings, event)
                await w.wait(lambda: w.events(SceneIngestedV1, sim.scene_id), 120)
            for _ in range(100):
                if found := await item_of(settings, "pleiades-neo-ortho", sim.scene_id):
                    return found
                await asyncio.sleep(0.3)
            raise AssertionError("item not catalogued")

        return asyncio.run(go())
    finally:
        stop_service(ingest)
        stop_service(catalog)


@pytest.fixture(scope="module")
def orders(key_file, tmp_path_factory):
    """The authority on who may do what (delivery asks it about every caller)."""
    env = {"DINAMIS_AUTH_LOCAL_KEY_FILE": str(key_file), "DINAMIS_ORDERS_SUPPLIER_URL": ""}
    proc = start_service("orders", ORDERS_PORT, tmp_path_factory.mktemp("orders"), env=env)
    yield f"http://127.0.0.1:{ORDERS_PORT}"
    stop_service(proc)


@pytest.fixture(scope="module")
def delivery(scene, key_file, orders, tmp_path_factory):
    logs = tmp_path_factory.mktemp("delivery")
    env = {
        "DINAMIS_ORDERS_URL": orders,
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(key_file),
        "DINAMIS_DELIVERY_EXPIRY_SWEEP_S": "1",
        "DINAMIS_DELIVERY_SESSION_TIMEOUT_MS": "6000",
        "DINAMIS_DELIVERY_REPLICA_ID": "replica-a",
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        # These tests play the orders service: they publish the requests themselves, so
        # delivery does not ask orders whether it issued them (test_provenance.py does).
        "DINAMIS_DELIVERY_VERIFY_EVENT_ISSUER": "false",
    }
    procs = {"a": start_service("delivery", PORT, logs, env=env)}
    yield {"procs": procs, "env": env, "logs": logs}
    for proc in procs.values():
        stop_service(proc)


def request(products: list[ProductSpec], org: str = ORG, order_id: str | None = None) -> DeliveryRequestedV1:
    return DeliveryRequestedV1(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:10]}",
        organisation_id=org,
        user_id="u-alice",
        products=products,
        requested_at=datetime.now(UTC),
    )


def spec(scene: dict, **kw) -> ProductSpec:
    return ProductSpec(
        product_id=kw.pop("product_id", f"p-{uuid.uuid4().hex[:10]}"),
        collection=scene["collection"],
        item_id=scene["id"],
        **kw,
    )


async def outcomes(settings, order: DeliveryRequestedV1, *more, wait_s: float = 90) -> dict[str, list]:
    """Publish the requests; wait for one ready/failed event per product line."""
    ids = {p.product_id for r in (order, *more) for p in r.products}
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        await publish(settings, order, *more)

        def done():
            got = {}
            for model in (ProductReadyV1, ProductFailedV1):
                for r in (order, *more):
                    for e in w.events(model, r.order_id):
                        got.setdefault(e.product_id, []).append(e)
            return got if ids <= set(got) else None

        return await w.wait(done, wait_s)


def fetch(settings, key: str, path: Path) -> Path:
    clients.s3_client(settings).fget_object("delivery", key, str(path))
    return path


def source_path(settings, scene: dict, asset: str, tmp_path: Path) -> Path:
    href = scene["assets"][asset]["href"]
    key = href.split("/archive/", 1)[1]
    out = tmp_path / f"source-{asset}.tif"
    clients.s3_client(settings).fget_object("archive", key, str(out))
    return out


def bilinear(src: np.ndarray, transform, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Independent reference: bilinear interpolation at map coordinates (pixel centres)."""
    inv = ~transform
    cols, rows = inv * (xs, ys)
    c, r = cols - 0.5, rows - 0.5
    c0, r0 = np.floor(c).astype(int), np.floor(r).astype(int)
    fc, fr = c - c0, r - r0
    c0, r0 = np.clip(c0, 0, src.shape[1] - 2), np.clip(r0, 0, src.shape[0] - 2)
    a, b = src[r0, c0].astype(float), src[r0, c0 + 1].astype(float)
    d, e = src[r0 + 1, c0].astype(float), src[r0 + 1, c0 + 1].astype(float)
    return a * (1 - fc) * (1 - fr) + b * fc * (1 - fr) + d * (1 - fc) * fr + e * fc * fr


def inner_aoi(scene: dict, shrink: float = 0.2) -> dict:
    """An irregular pentagon well inside the scene."""
    w, s, e, n = shape(scene["geometry"]).bounds
    dx, dy = (e - w), (n - s)
    x0, y0 = w + dx * shrink, s + dy * shrink
    x1, y1 = e - dx * shrink, n - dy * shrink
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [x0, y0],
                [x1, y0 + dy * 0.05],
                [x1, y1],
                [(x0 + x1) / 2, y1 + dy * 0.1],
                [x0, y1 - dy * 0.1],
                [x0, y0],
            ]
        ],
    }


async def test_clipped_reprojected_product_matches_the_source(settings, scene, delivery, key_file, tmp_path):
    aoi = inner_aoi(scene)
    order = request([spec(scene, aoi=aoi, bands=["P"])])
    (ready,) = (await outcomes(settings, order))[order.products[0].product_id]
    assert isinstance(ready, ProductReadyV1), ready
    assert ready.crs == "EPSG:2154" and ready.bucket == "delivery" and ready.user_id == "u-alice"
    assert ready.object_key.startswith(f"{order.order_id}/")
    assert shape(ready.footprint.model_dump()).symmetric_difference(shape(aoi)).area < 1e-12

    # Downloaded through the API: 307 to a presigned URL, bytes = the announced checksum.
    r = httpx.get(f"{API}/downloads/{ready.product_id}", headers=token(key_file), timeout=10)
    assert r.status_code == 307, r.text
    body = httpx.get(r.headers["location"], timeout=30).content
    assert len(body) == ready.size_bytes and hashlib.sha256(body).hexdigest() == ready.sha256
    product = tmp_path / "product.tif"
    product.write_bytes(body)
    assert cog_validate(str(product), quiet=True)[0]

    with rasterio.open(source_path(settings, scene, "pan", tmp_path)) as src:
        source, src_transform, src_crs = src.read(1), src.transform, src.crs
    with rasterio.open(product) as out:
        assert out.crs.to_epsg() == 2154 and out.nodata == 0 and out.count == 1
        assert out.descriptions == ("P",)
        assert abs(out.res[0] - abs(src_transform.a)) < 1e-9
        data = out.read(1)
        aoi_l93 = shape(transform_geom("EPSG:4326", "EPSG:2154", aoi))
        left, bottom, right, top = aoi_l93.bounds
        assert out.bounds.left <= left < out.bounds.left + out.res[0]
        assert out.bounds.top >= top > out.bounds.top - out.res[0]
        assert out.bounds.right >= right > out.bounds.right - out.res[0]
        assert out.bounds.bottom <= bottom < out.bounds.bottom + out.res[0]
        inside = ~geometry_mask([aoi_l93], out.shape, out.transform)
        rows, cols = np.nonzero(inside)
        xs, ys = out.transform * (cols + 0.5, rows + 0.5)
        sx, sy = Transformer.from_crs(2154, src_crs.to_epsg(), always_xy=True).transform(xs, ys)
        reference = bilinear(source, src_transform, np.asarray(sx), np.asarray(sy))
        diff = np.abs(data[rows, cols].astype(float) - reference)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3, (diff.mean(), diff.max())
        # Outside the AOI: nodata, except along its edge (pixel-centre rule).
        outside = geometry_mask([aoi_l93.buffer(out.res[0] * 1.5)], out.shape, out.transform)
        assert outside.any() and (data[outside] == 0).all()
        assert (data[inside] != 0).mean() > 0.999


async def test_native_jpeg2000_copies_source_pixels_exactly(settings, scene, delivery, tmp_path):
    aoi = inner_aoi(scene, 0.3)
    order = request([spec(scene, aoi=aoi, crs="native", format="JP2", bands=["NIR", "red", "G"])])
    (ready,) = (await outcomes(settings, order))[order.products[0].product_id]
    assert isinstance(ready, ProductReadyV1), ready
    assert ready.object_key.endswith(".jp2") and ready.crs == scene["properties"]["proj:code"]
    product = fetch(settings, ready.object_key, tmp_path / "p.jp2")
    with rasterio.open(source_path(settings, scene, "ms", tmp_path)) as src, rasterio.open(product) as out:
        assert out.driver == "JP2OpenJPEG" and out.crs == src.crs and out.res == src.res
        ms_asset = scene["assets"]["ms"]
        names = [b["name"] for b in ms_asset.get("bands") or ms_asset["eo:bands"]]
        window = rasterio.windows.from_bounds(*out.bounds, src.transform)
        col, row = window.col_off, window.row_off
        assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6, "on the source grid"
        expected = src.read(
            [names.index(n) + 1 for n in ("NIR", "R", "G")], window=window.round_offsets().round_lengths()
        )
        got = out.read()
        inside = ~geometry_mask([transform_geom("EPSG:4326", src.crs, aoi)], out.shape, out.transform)
        assert inside.sum() > 100
        assert (got[:, inside] == expected[:, inside]).all(), "lossless, no resampling in the native grid"
        assert (got[:, ~inside] == 0).all()


async def test_pansharpened_product_is_sane(settings, scene, delivery, tmp_path):
    aoi = inner_aoi(scene, 0.25)
    sharp, pan = (
        spec(scene, aoi=aoi, pansharpen=True, bands=["R", "G", "B"]),
        spec(scene, aoi=aoi, bands=["P"]),
    )
    ms = spec(scene, aoi=aoi, bands=["R", "G", "B"])
    order = request([sharp, pan, ms])
    got = await outcomes(settings, order)
    files = {}
    for s in (sharp, pan, ms):
        (event,) = got[s.product_id]
        assert isinstance(event, ProductReadyV1), event
        files[s.product_id] = fetch(settings, event.object_key, tmp_path / f"{s.product_id}.tif")
    with (
        rasterio.open(files[sharp.product_id]) as out,
        rasterio.open(files[pan.product_id]) as p,
        rasterio.open(files[ms.product_id]) as m,
    ):
        assert out.count == 3 and out.descriptions == ("R", "G", "B")
        assert out.res == p.res and out.transform == p.transform, "PAN resolution, same grid"
        assert m.res[0] == pytest.approx(4 * p.res[0])
        panchro = p.read(1).astype(float)
        valid = panchro > 0
        sharpened = out.read().astype(float)
        assert (sharpened[:, valid] > 0).mean() > 0.99
        for band in range(3):
            ms_band = m.read(band + 1).astype(float)
            ms_mean = ms_band[ms_band > 0].mean()
            assert sharpened[band][valid].mean() == pytest.approx(ms_mean, rel=0.15)
            # PAN detail injected: the sharpened band follows the PAN image closely.
            assert np.corrcoef(sharpened[band][valid], panchro[valid])[0, 1] > 0.8


async def test_bad_options_and_geometries_are_refused_with_their_reason(settings, scene, delivery):
    w, s, e, n = shape(scene["geometry"]).bounds
    bow_tie = {"type": "Polygon", "coordinates": [[[w, s], [e, n], [e, s], [w, n], [w, s]]]}
    cases = {
        "aoi-outside-scene": [spec(scene, aoi=box(-30.0, 40.0, -29.9, 40.1))],
        "unsupported-option": [
            spec(scene, aoi=bow_tie),
            spec(scene, bands=["SWIR"]),
            spec(scene, bands=["P", "R"]),
            spec(scene, bands=["P"], pansharpen=True),
            spec(scene, bands=["R", "r"]),
            spec(scene, bands=[]),
            spec(scene, crs="EPSG:99999"),
            spec(scene, crs="EPSG:4978"),
            spec(scene, crs="EPSG:32620"),
            spec(scene, crs="EPSG:2975"),
        ],
    }
    missing = ProductSpec(product_id="p-missing", collection="pleiades-neo-ortho", item_id="PNEO4-NOPE-1")
    cases["item-not-found"] = [missing]
    order = request([p for ps in cases.values() for p in ps])
    got = await outcomes(settings, order)
    for code, products in cases.items():
        for p in products:
            (event,) = got[p.product_id]
            assert isinstance(event, ProductFailedV1), (p, event)
            assert event.reason_code == code, (p, event.reason)
            assert " / " in event.reason and event.user_id == "u-alice"
    reasons = {p.product_id: got[p.product_id][0].reason for ps in cases.values() for p in ps}
    unsupported = cases["unsupported-option"]
    assert (
        "invalide" in reasons[unsupported[0].product_id] and "invalid" in reasons[unsupported[0].product_id]
    )
    assert "SWIR" in reasons[unsupported[1].product_id] and "NIR" in reasons[unsupported[1].product_id]
    assert "pansharpening" in reasons[unsupported[2].product_id]
    assert "EPSG:99999" in reasons[unsupported[6].product_id]
    assert "UTM" in reasons[unsupported[8].product_id]


async def test_malformed_request_is_dead_lettered(settings, delivery):
    key = f"ord-{uuid.uuid4().hex[:8]}"
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        broker = make_broker(settings)
        await broker.connect()
        try:
            await broker.publish(
                b'{"order_id": "x"',
                topic=DeliveryRequestedV1.topic(),
                key=key.encode(),
                headers={
                    "ce_specversion": "1.0",
                    "ce_id": "1",
                    "ce_source": "/t",
                    "ce_type": DeliveryRequestedV1.ce_type(),
                },
            )
        finally:
            await broker.stop()
        (letter,) = await w.wait(lambda: w.dead_letters(DeliveryRequestedV1.topic(), key), 60)
    assert letter["dlq_consumer_group"] == "delivery" and letter["dlq_error_code"] == "bad-json"


async def _group_caught_up(settings, topic: str, timeout: float = 60) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await admin.start()
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets("delivery")
            if all(committed.get(tp) and committed[tp].offset >= ends[tp] for tp in parts if ends[tp]):
                return
            assert time.monotonic() < deadline, "delivery group did not catch up"
            await asyncio.sleep(0.3)
    finally:
        await consumer.stop()
        await admin.close()


async def test_duplicate_requests_make_one_product(settings, scene, delivery):
    line = spec(scene, aoi=inner_aoi(scene, 0.35))
    order = request([line])
    again = order.model_copy()  # the same request, redelivered (a new event id)
    renamed = order.model_copy(
        update={"products": [line.model_copy(update={"product_id": "p-renamed-" + uuid.uuid4().hex[:6]})]}
    )
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        await publish(settings, order, again, renamed)
        await w.wait(lambda: len({e.product_id for e in w.events(ProductReadyV1, order.order_id)}) == 2, 90)
        await _group_caught_up(settings, DeliveryRequestedV1.topic())
        await asyncio.sleep(0.5)
        ready = w.events(ProductReadyV1, order.order_id)
        ids = [
            h["ce_id"]
            for t, h, k, _ in w.records
            if t == ProductReadyV1.topic() and k == order.order_id.encode()
        ]
    assert sorted(e.product_id for e in ready) == sorted([line.product_id, renamed.products[0].product_id])
    assert len(set(ids)) == 2
    assert len({(e.object_key, e.sha256) for e in ready}) == 1, "one object for both lines"
    objects = list(
        clients.s3_client(settings).list_objects("delivery", prefix=f"{order.order_id}/", recursive=True)
    )
    assert len(objects) == 1


async def test_downloads_are_for_the_ordering_organisation_until_expiry(settings, scene, delivery, key_file):
    order = request([spec(scene, aoi=inner_aoi(scene, 0.4))])
    (ready,) = (await outcomes(settings, order))[order.products[0].product_id]
    url = f"{API}/downloads/{ready.product_id}"
    assert httpx.get(url, timeout=10).status_code == 401
    other = httpx.get(url, headers=token(key_file, OTHER_ORG), timeout=10)
    assert other.status_code == 403 and other.headers["content-type"].startswith("application/problem+json")
    assert "organisation" in other.json()["detail"]
    assert (
        httpx.get(url, headers=token(key_file, OTHER_ORG, roles=("operator",)), timeout=10).status_code == 307
    )
    ok = httpx.get(url, headers=token(key_file), timeout=10)
    assert ok.status_code == 307 and "X-Amz-Expires=900" in ok.headers["location"]
    assert httpx.get(f"{API}/downloads/p-unknown-1", headers=token(key_file), timeout=10).status_code == 404
    assert httpx.get(f"{API}/downloads/..%2Fetc", headers=token(key_file), timeout=10).status_code in (
        404,
        422,
    )

    listing = httpx.get(f"{API}/orders/{order.order_id}/products", headers=token(key_file), timeout=10)
    assert listing.status_code == 200
    (entry,) = listing.json()["products"]
    assert (
        entry["status"] == "ready"
        and entry["sha256"] == ready.sha256
        and entry["download"].endswith(ready.product_id)
    )
    assert (
        httpx.get(
            f"{API}/orders/{order.order_id}/products", headers=token(key_file, OTHER_ORG), timeout=10
        ).status_code
        == 403
    )
    meta = httpx.get(f"{API}/orders/{order.order_id}/products.meta4", headers=token(key_file), timeout=10)
    assert meta.status_code == 200 and ready.sha256 in meta.text and "X-Amz-Signature" in meta.text

    # Time passes: the record's expiry is moved into the past; the sweep deletes the object.
    mongo = clients.mongo_client(settings)
    products = mongo[settings.mongo_database]["delivery_products"]
    await products.update_one(
        {"product_ids": ready.product_id}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    gone = httpx.get(url, headers=token(key_file), timeout=10)
    assert gone.status_code == 410, gone.text
    s3 = clients.s3_client(settings)
    for _ in range(50):
        record = await products.find_one({"product_ids": ready.product_id})
        if record["status"] == "expired" and not list(
            s3.list_objects("delivery", prefix=f"{order.order_id}/")
        ):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("expired product not deleted")
    assert httpx.get(url, headers=token(key_file), timeout=10).status_code == 410
    await mongo.close()


def _metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_replica_killed_mid_product_is_replaced_by_another(settings, scene, delivery):
    """Two replicas share the group; the one building is SIGKILLed; the other builds the
    unfinished products once; nothing is announced twice."""
    env = {**delivery["env"], "DINAMIS_DELIVERY_REPLICA_ID": "replica-b"}
    b = start_service("delivery", PORT + 1, delivery["logs"], env=env)
    delivery["procs"]["b"] = b
    ports = {"a": PORT, "b": PORT + 1}
    for _ in range(100):  # both in the group, partitions shared
        if all(_metric(p, "dinamis_delivery_assigned_partitions") > 0 for p in ports.values()):
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError("replicas did not share the partitions")
    lines = [spec(scene, crs=crs, format="JP2") for crs in ("EPSG:4326", "native")] + [
        spec(scene, crs="EPSG:4326", bands=[band]) for band in ("R", "G", "B", "NIR", "RE", "DB")
    ]
    order = request(lines)
    async with EventWatcher(settings.kafka_bootstrap_servers, TOPICS) as w:
        await publish(settings, order)
        victim = None
        for _ in range(300):
            busy = [n for n, p in ports.items() if _metric(p, "dinamis_delivery_products_in_flight") > 0]
            if busy:
                victim = busy[0]
                break
            await asyncio.sleep(0.05)
        assert victim, "no replica started building"
        proc = delivery["procs"][victim]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # Taken once the process is gone (not before the signal: under load the victim
        # could still finish a product between the two, which is built before dying).
        killed_at = datetime.now(UTC)
        # What the victim announced before dying (the survivor takes over only after the
        # session timeout, 6 s).
        await asyncio.sleep(1.0)
        announced_before = {e.product_id for e in w.events(ProductReadyV1, order.order_id)}
        survivor = "b" if victim == "a" else "a"
        await w.wait(
            lambda: (
                {e.product_id for e in w.events(ProductReadyV1, order.order_id)}
                >= {p.product_id for p in lines}
            ),
            120,
        )
        await asyncio.sleep(1.0)
        records = [
            (t, h) for t, h, k, _ in w.records if t == ProductReadyV1.topic() and k == order.order_id.encode()
        ]
    assert len(announced_before) < len(lines), "killed before it finished"
    by_product: dict[str, set] = {}
    for event, (_, headers) in zip(w.events(ProductReadyV1, order.order_id), records, strict=True):
        by_product.setdefault(event.product_id, set()).add(headers["ce_id"])
    assert all(len(ids) == 1 for ids in by_product.values()), "each product announced once"
    mongo = clients.mongo_client(settings)
    docs = [
        d
        async for d in mongo[settings.mongo_database]["delivery_products"].find({"order_id": order.order_id})
    ]
    await mongo.close()
    assert len(docs) == len(lines)
    survivor_id, victim_id = f"replica-{survivor}", f"replica-{victim}"
    # Built once: what the victim built, it built before dying (the survivor then only
    # announced it); what the survivor built, the victim had not announced.
    by_victim = [d for d in docs if d["built_by"] == victim_id]
    by_survivor = [d for d in docs if d["built_by"] == survivor_id]
    assert len(by_victim) + len(by_survivor) == len(docs)
    assert all(d["built_at"] < killed_at for d in by_victim)
    # (If the victim had built every product before dying, the survivor only announces:
    # still built once. Which case happens depends on the machine's load.)
    assert not any(set(d["product_ids"]) & announced_before for d in by_survivor)
    objects = list(
        clients.s3_client(settings).list_objects("delivery", prefix=f"{order.order_id}/", recursive=True)
    )
    assert len(objects) == len(lines)
    if victim == "a":  # the module's main replica is gone: restart it for any later test
        delivery["procs"]["a"] = start_service("delivery", PORT, delivery["logs"], env=delivery["env"])
