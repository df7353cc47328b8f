"""The supplier's side, simulated over HTTP: takes acquisition orders, "acquires" scenes
over the ordered AOI and delivers them as a real supplier does (DIMAP packages in the
staging bucket, announced by `scene-acquired` carrying the request id).

    POST /orders          {reference, sensor_family, aoi, window, ...}  -> 201 {order_id}
    GET  /orders/{id}     the order and its delivered scenes
    DELETE /orders/{id}   cancel: 200 {status: cancelled} while nothing is acquired yet
                          (also for a reference never ordered: a later order for it is
                          refused, answered as the cancelled record); 409 {order_id,
                          order_status} once acquiring or delivered

Orders are idempotent by `reference` (the platform's request id) and kept as JSON in the
staging bucket (`supplier-orders/`), so a restart neither loses nor repeats one. Callers
authenticate with `X-Api-Key` (`DINAMIS_SUPPLIER_API_KEY`). Started by the
`dinamis-supplier-sim` console script (port 8109), package `dinamis-sim`.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import math
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, ClassVar

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict
from pyproj import Geod
from shapely.geometry import shape

from dinamis_shared import clients
from dinamis_shared.auth import Unauthenticated
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import AcquisitionWindow, Identifier
from dinamis_shared.health import install_problem_handlers
from dinamis_shared.logs import configure_logging
from dinamis_shared.missions import Mission, SensorFamily, mission_info
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.simulator import SimulatedScene, announce, stage_package, write_package

log = logging.getLogger(__name__)
GEOD = Geod(ellps="WGS84")
ORDERS_PREFIX = "supplier-orders/"
# Which satellite flies for each family (a scene is one swath wide: see `missions`).
FLEET = {
    SensorFamily.PLEIADES: Mission.PHR1A,
    SensorFamily.PLEIADES_NEO: Mission.PNEO4,
    SensorFamily.SPOT: Mission.SPOT7,
}


class SupplierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DINAMIS_SUPPLIER_", extra="ignore")

    SERVICE: ClassVar[str] = "supplier-sim"

    http_port: int = 8109
    api_key: SecretStr = SecretStr("dinamis-dev-supplier-key")
    acquisition_delay_s: float = 5.0
    scene_pixels: int = 256  # a reduced-size simulation: the GSD grows with the swath


class SupplierOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reference: Identifier
    sensor_family: SensorFamily
    aoi: dict
    window: AcquisitionWindow
    max_cloud_cover: float = Field(default=20.0, ge=0, le=100)


class NoSuchOrder(DinamisError):
    code = "not-found"
    http_status = 404


class AlreadyAcquiring(DinamisError):
    code = "already-acquiring"
    http_status = 409


class Refused(DinamisError):
    code = "supplier-refused"
    http_status = 400


def scene_grid(aoi: dict, swath_m: float) -> list[tuple[float, float, float]]:
    """(lon, lat, extent_m) of scenes whose squares cover the AOI's bounding box."""
    minx, miny, maxx, maxy = shape(aoi).bounds
    _, _, width = GEOD.inv(minx, (miny + maxy) / 2, maxx, (miny + maxy) / 2)
    _, _, height = GEOD.inv(minx, miny, minx, maxy)
    nx, ny = max(1, math.ceil(width / swath_m)), max(1, math.ceil(height / swath_m))
    extent = 1.1 * max(width / nx, height / ny, 1000.0)
    return [
        (minx + (maxx - minx) * (i + 0.5) / nx, miny + (maxy - miny) * (j + 0.5) / ny, extent)
        for j in range(ny)
        for i in range(nx)
    ]


def create_app(settings: SupplierSettings | None = None) -> FastAPI:
    settings = settings or SupplierSettings()
    s3 = clients.s3_client(settings)
    broker = make_broker(settings)
    publisher = EventPublisher(broker, "/supplier/airbus-sim")
    tasks: set[asyncio.Task] = set()
    # Orders being acquired in this process, by reference (the acquisition task and the
    # cancellation share the record), and one lock ordering placements and cancellations.
    live: dict[str, dict] = {}
    ordering = asyncio.Lock()

    def pending() -> list[dict]:
        """Orders accepted or being acquired when this process last stopped (or died)."""
        found = []
        for obj in s3.list_objects("staging", prefix=ORDERS_PREFIX, recursive=True):
            record = load(obj.object_name[len(ORDERS_PREFIX) : -len(".json")])
            if (
                not record
                or not record.get("order_id")
                or record.get("status") not in ("accepted", "acquiring")
            ):
                continue
            try:  # what was accepted once must still be a valid order; else it is skipped, said
                SupplierOrder.model_validate({k: record.get(k) for k in SupplierOrder.model_fields})
                datetime.fromisoformat(record["placed_at"])
                list(record["scenes"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("supplier order %s not resumed: %s", obj.object_name, exc)
                continue
            found.append(record)
        return found

    async def lifespan(app: FastAPI):
        await asyncio.to_thread(clients.ensure_buckets, s3, ("staging",))  # its only bucket
        await broker.connect()
        # A supplier does not forget its orders when one of its machines restarts: the
        # acquisitions under way resume (the scenes already delivered are skipped, the
        # others come with the same ids as they would have).
        for record in await asyncio.to_thread(pending):
            live[record["reference"]] = record
            task = asyncio.create_task(acquire(record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        yield
        for task in tasks:
            task.cancel()
        await broker.stop()

    app = FastAPI(title="Supplier simulator", lifespan=lifespan)
    install_problem_handlers(app)

    def check_key(key: str | None) -> None:
        if not key or not hmac.compare_digest(key, settings.api_key.get_secret_value()):
            raise Unauthenticated("bad or missing X-Api-Key")

    def load(reference: str) -> dict | None:
        try:
            response = s3.get_object("staging", f"{ORDERS_PREFIX}{reference}.json")
        except Exception:
            return None
        try:
            return json.loads(response.read())
        finally:
            response.close()

    def save(order: dict) -> None:
        body = json.dumps(order).encode()
        s3.put_object("staging", f"{ORDERS_PREFIX}{order['reference']}.json", io.BytesIO(body), len(body))

    async def acquire(order: dict) -> None:
        await asyncio.sleep(settings.acquisition_delay_s)
        if order["status"] == "cancelled":
            return
        order["status"] = "acquiring"  # from here on, no cancellation
        await asyncio.to_thread(save, order)
        mission = FLEET[SensorFamily(order["sensor_family"])]
        swath = mission_info(mission).swath_m
        when = datetime.fromisoformat(order["window"]["start"])
        for n, (lon, lat, extent) in enumerate(scene_grid(order["aoi"], swath)):
            if n < len(order["scenes"]):
                continue  # delivered before a restart
            scene = SimulatedScene(
                mission=mission,
                lon=lon,
                lat=lat,
                # From the order's own dates, not the clock: an acquisition resumed after a
                # restart names its scenes as the first attempt did.
                acquired_at=max(when, datetime.fromisoformat(order["placed_at"])) + timedelta(minutes=n),
                size=settings.scene_pixels,
                job_id=f"{order['order_id'][-8:]}{n:03d}",
                extent_m=extent,
                cloud_cover=min(order["max_cloud_cover"], 5.0),
                seed=n,
            )
            with tempfile.TemporaryDirectory() as tmp:
                checksums = await asyncio.to_thread(write_package, scene, Path(tmp))
                prefix = f"airbus/{scene.scene_id}/"
                size = await asyncio.to_thread(stage_package, s3, Path(tmp), "staging", prefix)
            event = announce(scene, prefix, checksums, size).model_copy(
                update={"acquisition_request_id": order["reference"]}
            )
            await publisher.publish(event, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, scene.scene_id)))
            order["scenes"].append(scene.scene_id)
            await asyncio.to_thread(save, order)
        order["status"] = "delivered"
        await asyncio.to_thread(save, order)
        live.pop(order["reference"], None)

    @app.post("/orders", status_code=201)
    async def place(
        order: SupplierOrder, request: Request, x_api_key: Annotated[str | None, Header()] = None
    ) -> dict:
        """The platform's supplier adapter places an acquisition order (idempotent by reference)."""
        check_key(x_api_key)
        geometry = shape(order.aoi)
        async with ordering:
            existing = live.get(order.reference) or await asyncio.to_thread(load, order.reference)
            if existing is not None:
                return existing  # placed before, or cancelled before it was placed
            if geometry.is_empty or not geometry.is_valid:
                raise Refused("invalid AOI")
            record = {
                **order.model_dump(mode="json"),
                "order_id": f"SIM-{uuid.uuid4().hex[:12]}",
                "status": "accepted",
                "scenes": [],
                "placed_at": datetime.now(UTC).isoformat(),
            }
            await asyncio.to_thread(save, record)
            live[order.reference] = record
        task = asyncio.create_task(acquire(record))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return record

    @app.get("/orders/{reference}")
    async def get(reference: Identifier, x_api_key: Annotated[str | None, Header()] = None) -> dict:
        """The order placed for a platform request, with the scenes delivered so far."""
        check_key(x_api_key)
        found = await asyncio.to_thread(load, reference)
        if found is None:
            raise NoSuchOrder(f"no order for {reference}")
        return found

    @app.delete("/orders/{reference}")
    async def cancel(reference: Identifier, x_api_key: Annotated[str | None, Header()] = None) -> Response:
        """Cancel the order for a platform request, if nothing is acquired yet (idempotent)."""
        check_key(x_api_key)
        async with ordering:
            record = live.get(reference) or await asyncio.to_thread(load, reference)
            if record is None:  # never ordered: remember it, so a late order is refused
                record = {"reference": reference, "order_id": None, "scenes": [], "status": "accepted"}
            if record["status"] in ("acquiring", "delivered"):
                problem = AlreadyAcquiring(f"order {record['order_id']} is already {record['status']}")
                return JSONResponse(
                    {
                        "type": "about:blank",
                        "title": "already acquiring",
                        "status": 409,
                        "code": problem.code,
                        "detail": problem.message,
                        "order_id": record["order_id"],
                        "order_status": record["status"],
                    },
                    status_code=409,
                    media_type="application/problem+json",
                )
            if record["status"] != "cancelled":
                record["status"] = "cancelled"  # acquire() sees it after its delay
                record["cancelled_at"] = datetime.now(UTC).isoformat()
                await asyncio.to_thread(save, record)
            live.pop(reference, None)
        return JSONResponse({"order_id": record["order_id"], "status": "cancelled"})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict:
        return {"status": "ready"}

    return app


def main() -> None:
    import uvicorn

    settings = SupplierSettings()
    configure_logging(settings.SERVICE, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
