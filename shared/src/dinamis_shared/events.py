"""Versioned event contracts (pydantic v2), one class per event of ARCHITECTURE.md.

Rules for every event model:
- the class name ends with its major version (`SceneAcquiredV1`); a breaking change
  makes a new class and a new topic (`dinamis.<event>.v2`), never an edit in place;
- `EVENT` is the event name used in the topic (`dinamis.<EVENT>.v<VERSION>`) and in
  the CloudEvents `type` (`fr.dinamis.<EVENT>.v<VERSION>`);
- `PRODUCER` names the one service that publishes it (the Kafka ACLs grant WRITE on
  the topic to that service's principal only, see `dinamis_shared.acls`);
- `AGGREGATE` names the field whose value is the Kafka message key, so all events
  of one scene / request / order stay ordered on one partition;
- unknown fields are refused (`extra="forbid"`): a producer typo is a schema error
  that lands in the dead-letter topic, not a silently dropped value.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    model_validator,
)

from dinamis_shared.missions import MISSIONS, Mission, SensorFamily

# Identifiers travel in Kafka keys, object keys and URLs: keep them to a safe alphabet.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


def _safe_relative_path(value: str) -> str:
    """Refuse absolute paths, `..` segments and backslashes (path traversal)."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError(f"unsafe path {value!r}: must be relative, without backslash or NUL")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(f"unsafe path {value!r}: empty, '.' or '..' segment")
    return value


RelativePath = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_safe_relative_path)]


def _safe_prefix(value: str) -> str:
    return _safe_relative_path(value.rstrip("/")) + "/"


ObjectPrefix = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_safe_prefix)]


# The mission table lives in `missions`; the enums and the family map are re-exported
# here because event fields are typed with them.
MISSION_FAMILY: dict[Mission, SensorFamily] = {code: m.family for code, m in MISSIONS.items()}


class GeoJSONGeometry(BaseModel):
    """A GeoJSON geometry (RFC 7946, WGS84 lon/lat). Coordinates are checked for shape
    and range here; topology (validity, self-intersection) is the consumer's business."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]

    @model_validator(mode="after")
    def _check_coordinates(self) -> GeoJSONGeometry:
        polygons = [self.coordinates] if self.type == "Polygon" else self.coordinates
        if not polygons:
            raise ValueError("geometry has no polygon")
        for polygon in polygons:
            if not isinstance(polygon, list) or not polygon:
                raise ValueError("a polygon must be a non-empty list of rings")
            for ring in polygon:
                if not isinstance(ring, list) or len(ring) < 4:
                    raise ValueError("a linear ring needs at least 4 positions")
                if ring[0] != ring[-1]:
                    raise ValueError("a linear ring must be closed (first position = last)")
                for pos in ring:
                    if (
                        not isinstance(pos, list)
                        or len(pos) not in (2, 3)
                        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pos)
                        or not all(math.isfinite(c) for c in pos)
                    ):
                        raise ValueError(f"bad position {pos!r}")
                    lon, lat = pos[0], pos[1]
                    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                        raise ValueError(f"position {pos!r} is outside lon/lat range")
        return self


class Event(BaseModel):
    """Base of every event. Subclasses set EVENT, VERSION, PRODUCER, AGGREGATE and DESCRIPTION."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    EVENT: ClassVar[str]
    VERSION: ClassVar[int]
    AGGREGATE: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    # The one service allowed to write the topic (its Kafka principal): the ACLs of
    # `dinamis_shared.acls` are generated from it.
    PRODUCER: ClassVar[str]

    @classmethod
    def topic(cls) -> str:
        return f"dinamis.{cls.EVENT}.v{cls.VERSION}"

    @classmethod
    def ce_type(cls) -> str:
        return f"fr.dinamis.{cls.EVENT}.v{cls.VERSION}"

    def key(self) -> str:
        """The Kafka message key: the aggregate id."""
        return str(getattr(self, self.AGGREGATE))


class StagingLocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bucket: BucketName = "staging"
    prefix: ObjectPrefix


class SceneAcquiredV1(Event):
    EVENT: ClassVar[str] = "scene-acquired"
    PRODUCER: ClassVar[str] = "ingest"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "scene_id"
    DESCRIPTION: ClassVar[str] = "A supplier delivered a scene package to the staging bucket."

    scene_id: Identifier = Field(description="Platform scene id (supplier id + mission).")
    supplier: Identifier = Field(description="Supplier code, e.g. 'airbus'.")
    mission: Identifier = Field(
        description="Supplier mission code: PHR1A, PHR1B, PNEO3, PNEO4, SPOT6 or SPOT7. Any other"
        " value is accepted on the wire so that ingest can reject the delivery with a reason."
    )
    supplier_product_id: Identifier
    staging: StagingLocation
    acquisition_request_id: Identifier | None = None
    campaign: Identifier | None = Field(
        default=None, description="e.g. 'france-2026' for the yearly metropolitan coverage."
    )
    checksums: dict[RelativePath, Sha256Hex] | None = Field(
        default=None, description="SHA-256 per file, path relative to the staging prefix."
    )
    announced_size_bytes: PositiveInt | None = None
    delivered_at: AwareDatetime


class SceneIngestedV1(Event):
    EVENT: ClassVar[str] = "scene-ingested"
    PRODUCER: ClassVar[str] = "ingest"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "scene_id"
    DESCRIPTION: ClassVar[str] = "A scene is archived as COGs; the event carries its STAC item."

    scene_id: Identifier
    version: PositiveInt = Field(description="1 for the first delivery, +1 per corrected redelivery.")
    supersedes_version: PositiveInt | None = None
    collection: Identifier
    item: dict[str, Any] = Field(description="The STAC 1.x item, asset hrefs pointing at the archive.")
    archive_prefix: ObjectPrefix
    manifest_sha256: Sha256Hex
    acquisition_request_id: Identifier | None = None

    @model_validator(mode="after")
    def _item_matches(self) -> SceneIngestedV1:
        if self.item.get("type") != "Feature" or not isinstance(self.item.get("id"), str):
            raise ValueError("item must be a STAC item (GeoJSON Feature with an id)")
        if self.item.get("collection") not in (None, self.collection):
            raise ValueError("item.collection differs from the event's collection")
        return self


class RejectionReason(StrEnum):
    MISSING_FILE = "missing-file"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    CORRUPT_RASTER = "corrupt-raster"
    NOT_GEOREFERENCED = "not-georeferenced"
    UNKNOWN_MISSION = "unknown-mission"
    UNSAFE_PATH = "unsafe-path"
    OVERSIZED = "oversized"
    INVALID_METADATA = "invalid-metadata"


class SceneRejectedV1(Event):
    EVENT: ClassVar[str] = "scene-rejected"
    PRODUCER: ClassVar[str] = "ingest"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "scene_id"
    DESCRIPTION: ClassVar[str] = "A delivery is unusable (corrupt, incomplete); the reason is given."

    scene_id: Identifier
    supplier: Identifier
    supplier_product_id: Identifier
    staging: StagingLocation
    reason_code: RejectionReason
    reason: str = Field(max_length=4000, description="Human-readable, precise reason.")
    acquisition_request_id: Identifier | None = None


class RequestKind(StrEnum):
    ARCHIVE = "archive"
    TASKING = "tasking"


class AcquisitionWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> AcquisitionWindow:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class RequestSubmittedV1(Event):
    EVENT: ClassVar[str] = "request-submitted"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "request_id"
    DESCRIPTION: ClassVar[str] = "A new acquisition request awaits review."

    request_id: Identifier
    organisation_id: Identifier
    submitted_by: Identifier
    kind: RequestKind
    sensor_family: SensorFamily
    aoi: GeoJSONGeometry
    area_km2: float = Field(gt=0)
    window: AcquisitionWindow
    submitted_at: AwareDatetime


class RequestApprovedV1(Event):
    EVENT: ClassVar[str] = "request-approved"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "request_id"
    DESCRIPTION: ClassVar[str] = "Approved; quota charged; goes to the supplier."

    request_id: Identifier
    organisation_id: Identifier
    approved_by: Identifier
    kind: RequestKind
    sensor_family: SensorFamily
    aoi: GeoJSONGeometry
    area_km2: float = Field(gt=0)
    quota_period: Identifier = Field(description="e.g. '2026-Q3' (Pléiades) or '2026' (SPOT).")
    reserved_km2: float = Field(ge=0)
    cofinanced_km2: float = Field(ge=0, default=0.0)
    window: AcquisitionWindow
    approved_at: AwareDatetime


class RequestRejectedV1(Event):
    EVENT: ClassVar[str] = "request-rejected"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "request_id"
    DESCRIPTION: ClassVar[str] = "An acquisition request was refused, with the reason."

    request_id: Identifier
    organisation_id: Identifier
    rejected_by: Identifier
    reason: str = Field(min_length=1, max_length=4000)
    rejected_at: AwareDatetime


class OutputFormat(StrEnum):
    COG = "COG"
    JP2 = "JP2"


class ProductSpec(BaseModel):
    """One product to build: an item, clipped and processed as asked."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    product_id: Identifier
    collection: Identifier
    item_id: Identifier
    aoi: GeoJSONGeometry | None = Field(default=None, description="None = the whole scene.")
    crs: str = Field(default="EPSG:2154", pattern=r"^(EPSG:\d{4,6}|native)$")
    format: OutputFormat = OutputFormat.COG
    bands: list[Annotated[str, StringConstraints(max_length=32)]] | None = None
    pansharpen: bool = False


class DeliveryRequestedV1(Event):
    EVENT: ClassVar[str] = "delivery-requested"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "order_id"
    DESCRIPTION: ClassVar[str] = "Build these products for this user."

    order_id: Identifier
    organisation_id: Identifier
    user_id: Identifier
    products: list[ProductSpec] = Field(min_length=1, max_length=1000)
    requested_at: AwareDatetime


class ProductReadyV1(Event):
    EVENT: ClassVar[str] = "product-ready"
    PRODUCER: ClassVar[str] = "delivery"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "order_id"
    DESCRIPTION: ClassVar[str] = "A product is built and downloadable."

    order_id: Identifier
    product_id: Identifier
    organisation_id: Identifier
    user_id: Identifier | None = Field(default=None, description="Who ordered it (to notify them).")
    item_id: Identifier
    bucket: BucketName = "delivery"
    object_key: RelativePath
    size_bytes: PositiveInt
    sha256: Sha256Hex
    crs: str
    footprint: GeoJSONGeometry
    expires_at: AwareDatetime


class ProductFailureReason(StrEnum):
    AOI_OUTSIDE_SCENE = "aoi-outside-scene"
    UNSUPPORTED_OPTION = "unsupported-option"
    ITEM_NOT_FOUND = "item-not-found"
    SOURCE_UNREADABLE = "source-unreadable"


class ProductFailedV1(Event):
    EVENT: ClassVar[str] = "product-failed"
    PRODUCER: ClassVar[str] = "delivery"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "order_id"
    DESCRIPTION: ClassVar[str] = "A product could not be built; the reason is given."

    order_id: Identifier
    product_id: Identifier
    organisation_id: Identifier
    user_id: Identifier | None = Field(default=None, description="Who ordered it (to notify them).")
    item_id: Identifier
    reason_code: ProductFailureReason
    reason: str = Field(min_length=1, max_length=4000)


class OrganisationCategory(StrEnum):
    FRENCH_RESEARCH = "french-research"
    FRENCH_PUBLIC = "french-public"
    FRENCH_PRIVATE_RD = "french-private-rd"
    INTERNATIONAL_RESEARCH = "international-research"
    CONTRACTOR = "contractor"


class OrganisationStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REFUSED = "refused"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class ContractorDelegation(BaseModel):
    """A contractor works for a commissioning public body during a contract period."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    commissioning_organisation_id: Identifier
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> ContractorDelegation:
        if self.end <= self.start:
            raise ValueError("delegation end must be after its start")
        return self


class OrganisationChangedV1(Event):
    EVENT: ClassVar[str] = "organisation-changed"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "organisation_id"
    DESCRIPTION: ClassVar[str] = (
        "An organisation's membership state changed (applied, approved, refused, suspended,"
        " expired, delegation set). Carries the whole access-relevant state; `revision`"
        " grows by one per change so consumers keep the latest."
    )

    organisation_id: Identifier
    revision: PositiveInt
    name: str = Field(min_length=1, max_length=300)
    category: OrganisationCategory
    status: OrganisationStatus
    valid_until: AwareDatetime | None = None
    delegation: ContractorDelegation | None = None
    # INSEE code of the department (or overseas collectivity) of the seat, recorded at
    # application (None: a seat abroad, or an organisation recorded before it was asked).
    department: str | None = Field(default=None, pattern=r"^(\d{2,3}|2A|2B)$")
    changed_by: Identifier
    changed_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=4000)


class UserChangedV1(Event):
    EVENT: ClassVar[str] = "user-changed"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "user_id"
    DESCRIPTION: ClassVar[str] = (
        "A user was added, activated, deactivated or edited by their organisation's referent."
        " Carries contact details and language for notifications."
    )

    user_id: Identifier
    revision: PositiveInt
    organisation_id: Identifier
    email: str = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    display_name: str = Field(max_length=200)
    language: Literal["fr", "en"] = "fr"
    roles: list[Literal["member", "referent", "operator", "admin", "governance"]] = Field(max_length=5)
    active: bool
    changed_by: Identifier
    changed_at: AwareDatetime


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    NEEDS_COFINANCING = "needs_cofinancing"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RequestUpdatedV1(Event):
    EVENT: ClassVar[str] = "request-updated"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "request_id"
    DESCRIPTION: ClassVar[str] = (
        "An acquisition request changed state (every transition, including those with their"
        " own event), or its acquisition progressed (`covered_share`)."
    )

    request_id: Identifier
    organisation_id: Identifier
    submitted_by: Identifier
    status: RequestStatus
    previous_status: RequestStatus | None = None
    changed_by: Identifier
    changed_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=4000)
    covered_share: float | None = Field(default=None, ge=0, le=1)


class ProductDownloadedV1(Event):
    EVENT: ClassVar[str] = "product-downloaded"
    PRODUCER: ClassVar[str] = "delivery"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "product_id"
    DESCRIPTION: ClassVar[str] = (
        "A signed download URL of a product was issued to an entitled user (one per"
        " `/downloads/{product_id}` answer): the use of the imagery, counted by the reporting."
    )

    product_id: Identifier
    order_id: Identifier
    organisation_id: Identifier
    user_id: Identifier
    item_id: Identifier
    collection: Identifier | None = None
    size_bytes: PositiveInt
    downloaded_at: AwareDatetime


class QuotaMovement(StrEnum):
    ALLOCATE = "allocate"
    RESERVE = "reserve"
    CONSUME = "consume"
    RELEASE = "release"
    ADJUST = "adjust"


class QuotaChangedV1(Event):
    EVENT: ClassVar[str] = "quota-changed"
    PRODUCER: ClassVar[str] = "orders"
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str] = "organisation_id"
    DESCRIPTION: ClassVar[str] = (
        "One movement of an organisation's quota ledger (per sensor family and period):"
        " allocation, reservation on approval, consumption on acquisition, release, operator"
        " adjustment; with the balance after it. `seq` is the entry's rank in that ledger."
    )

    organisation_id: Identifier
    sensor_family: SensorFamily
    period: Identifier = Field(description="e.g. '2026-Q3' (Pléiades) or '2026' (SPOT).")
    seq: PositiveInt
    movement: QuotaMovement
    km2: float = Field(description="The entry's amount (km², signed for an adjustment).")
    allocated_km2: float = Field(ge=0)
    reserved_km2: float = Field(ge=0)
    consumed_km2: float = Field(ge=0)
    request_id: Identifier | None = None
    reason: str | None = Field(default=None, max_length=4000)
    changed_by: Identifier
    changed_at: AwareDatetime


EVENT_MODELS: tuple[type[Event], ...] = (
    SceneAcquiredV1,
    SceneIngestedV1,
    SceneRejectedV1,
    RequestSubmittedV1,
    RequestApprovedV1,
    RequestRejectedV1,
    DeliveryRequestedV1,
    ProductReadyV1,
    ProductFailedV1,
    OrganisationChangedV1,
    UserChangedV1,
    RequestUpdatedV1,
    ProductDownloadedV1,
    QuotaChangedV1,
)
