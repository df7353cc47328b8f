"""One realistic example of every event, for contract tests, docs and demos.

The footprint is the Pléiades Neo 4 scene over Lyon of GDAL's DIMAP test product
(`dimap2/vhr2020_ms_fs`, 4.9192 E 45.7678 N, 1663 x 1366 px of 1.079e-5 deg).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dinamis_shared.events import (
    AcquisitionWindow,
    ContractorDelegation,
    DeliveryRequestedV1,
    Event,
    GeoJSONGeometry,
    Mission,
    OrganisationCategory,
    OrganisationChangedV1,
    OrganisationStatus,
    ProductDownloadedV1,
    ProductFailedV1,
    ProductFailureReason,
    ProductReadyV1,
    ProductSpec,
    QuotaChangedV1,
    QuotaMovement,
    RejectionReason,
    RequestApprovedV1,
    RequestKind,
    RequestRejectedV1,
    RequestStatus,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneAcquiredV1,
    SceneIngestedV1,
    SceneRejectedV1,
    SensorFamily,
    StagingLocation,
    UserChangedV1,
)

T0 = datetime(2026, 6, 12, 10, 31, 4, tzinfo=UTC)
LYON = GeoJSONGeometry(
    type="Polygon",
    coordinates=[
        [[4.9192, 45.7678], [4.9371, 45.7678], [4.9371, 45.7531], [4.9192, 45.7531], [4.9192, 45.7678]]
    ],
)
SCENE_ID = "PNEO4-202606121031043-MS-FS"
STAGING = StagingLocation(bucket="staging", prefix="airbus/PNEO4_5881313101/")


def lyon_item() -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": SCENE_ID,
        "collection": "pleiades-neo-ortho",
        "geometry": LYON.model_dump(),
        "bbox": [4.9192, 45.7531, 4.9371, 45.7678],
        "properties": {"datetime": T0.isoformat().replace("+00:00", "Z"), "platform": "pleiades-neo-4"},
        "links": [],
        "assets": {
            "ms": {
                "href": f"s3://archive/pleiades-neo-ortho/2026/06/12/{SCENE_ID}/v1/ms.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            }
        },
    }


def example_events() -> list[Event]:
    window = AcquisitionWindow(start=T0, end=T0 + timedelta(days=60))
    return [
        SceneAcquiredV1(
            scene_id=SCENE_ID,
            supplier="airbus",
            mission=Mission.PNEO4,
            supplier_product_id="5881313101",
            staging=STAGING,
            acquisition_request_id="req-2026-0042",
            checksums={"MS-FS/IMG_RGB_R1C1.TIF": "ab" * 32},
            announced_size_bytes=27_262_976,
            delivered_at=T0 + timedelta(hours=5),
        ),
        SceneIngestedV1(
            scene_id=SCENE_ID,
            version=1,
            collection="pleiades-neo-ortho",
            item=lyon_item(),
            archive_prefix=f"pleiades-neo-ortho/2026/06/12/{SCENE_ID}/v1/",
            manifest_sha256="cd" * 32,
            acquisition_request_id="req-2026-0042",
        ),
        SceneRejectedV1(
            scene_id=SCENE_ID,
            supplier="airbus",
            supplier_product_id="5881313101",
            staging=STAGING,
            reason_code=RejectionReason.CHECKSUM_MISMATCH,
            reason="MS-FS/IMG_RGB_R1C1.TIF: SHA-256 differs from the supplier's checksum",
        ),
        RequestSubmittedV1(
            request_id="req-2026-0042",
            organisation_id="org-inrae-lyon",
            submitted_by="user-marie",
            kind=RequestKind.TASKING,
            sensor_family=SensorFamily.PLEIADES_NEO,
            aoi=LYON,
            area_km2=2.9,
            window=window,
            submitted_at=T0,
        ),
        RequestApprovedV1(
            request_id="req-2026-0042",
            organisation_id="org-inrae-lyon",
            approved_by="operator-paul",
            kind=RequestKind.TASKING,
            sensor_family=SensorFamily.PLEIADES_NEO,
            aoi=LYON,
            area_km2=2.9,
            quota_period="2026-Q2",
            reserved_km2=2.9,
            window=window,
            approved_at=T0 + timedelta(days=1),
        ),
        RequestRejectedV1(
            request_id="req-2026-0043",
            organisation_id="org-inrae-lyon",
            rejected_by="operator-paul",
            reason="Zone déjà couverte par une acquisition de 2026 / area already covered in 2026",
            rejected_at=T0 + timedelta(days=1),
        ),
        DeliveryRequestedV1(
            order_id="ord-7f3a",
            organisation_id="org-inrae-lyon",
            user_id="user-marie",
            products=[
                ProductSpec(
                    product_id="prd-7f3a-1", collection="pleiades-neo-ortho", item_id=SCENE_ID, aoi=LYON
                )
            ],
            requested_at=T0 + timedelta(days=3),
        ),
        ProductReadyV1(
            order_id="ord-7f3a",
            product_id="prd-7f3a-1",
            organisation_id="org-inrae-lyon",
            user_id="user-marie",
            item_id=SCENE_ID,
            object_key="ord-7f3a/prd-7f3a-1.tif",
            size_bytes=1_234_567,
            sha256="ef" * 32,
            crs="EPSG:2154",
            footprint=LYON,
            expires_at=T0 + timedelta(days=33),
        ),
        ProductFailedV1(
            order_id="ord-7f3a",
            product_id="prd-7f3a-2",
            organisation_id="org-inrae-lyon",
            user_id="user-marie",
            item_id=SCENE_ID,
            reason_code=ProductFailureReason.AOI_OUTSIDE_SCENE,
            reason="La zone demandée ne recoupe pas la scène / the AOI does not intersect the scene",
        ),
        OrganisationChangedV1(
            organisation_id="org-geo-conseil",
            revision=2,
            name="Géo Conseil SARL",
            category=OrganisationCategory.CONTRACTOR,
            status=OrganisationStatus.ACTIVE,
            valid_until=T0 + timedelta(days=365),
            delegation=ContractorDelegation(
                commissioning_organisation_id="org-ddt-69", start=T0, end=T0 + timedelta(days=180)
            ),
            department="69",
            changed_by="operator-paul",
            changed_at=T0,
        ),
        UserChangedV1(
            user_id="user-marie",
            revision=1,
            organisation_id="org-inrae-lyon",
            email="marie.dupont@inrae.example.fr",
            display_name="Marie Dupont",
            language="fr",
            roles=["member"],
            active=True,
            changed_by="user-referent-inrae",
            changed_at=T0,
        ),
        RequestUpdatedV1(
            request_id="req-2026-0042",
            organisation_id="org-inrae-lyon",
            submitted_by="user-marie",
            status=RequestStatus.IN_PROGRESS,
            previous_status=RequestStatus.APPROVED,
            changed_by="orders",
            changed_at=T0 + timedelta(days=2),
            covered_share=0.0,
        ),
        ProductDownloadedV1(
            product_id="prd-2026-0007-1",
            order_id="ord-2026-0007",
            organisation_id="org-inrae-lyon",
            user_id="user-marie",
            item_id=SCENE_ID,
            collection="pleiades-neo-ortho",
            size_bytes=52_428_800,
            downloaded_at=T0 + timedelta(days=3),
        ),
        QuotaChangedV1(
            organisation_id="org-inrae-lyon",
            sensor_family=SensorFamily.PLEIADES_NEO,
            period="2026-Q2",
            seq=3,
            movement=QuotaMovement.RESERVE,
            km2=120.0,
            allocated_km2=500.0,
            reserved_km2=120.0,
            consumed_km2=0.0,
            request_id="req-2026-0042",
            changed_by="operator-paul",
            changed_at=T0 + timedelta(days=1),
        ),
    ]
