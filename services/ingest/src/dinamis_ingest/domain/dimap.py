"""DIMAP v2 metadata (Airbus: Pléiades, Pléiades Neo, SPOT 6/7), parsed from the
XML itself: GDAL's DIMAP driver exposes neither cloud/snow cover nor every href.

Parsed with defusedxml (a supplier file is untrusted: no entity expansion, no
external entities). Element paths follow the real deliveries in ../shared/data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from dinamis_ingest.domain.rejections import DeliveryRejected, safe_join
from dinamis_shared.events import RejectionReason
from dinamis_shared.missions import Mission, by_dimap

MAX_XML_BYTES = 20 * 1024 * 1024
PROCESSING_LEVELS = {"SENSOR", "PRIMARY", "ORTHO", "PROJECTED", "MOSAIC"}


@dataclass(frozen=True)
class Band:
    """One band of an image, at its stored position (`DimapImage.bands` is in the order
    of the bands in the data files, which is the order the metadata lists them in)."""

    id: str
    min_um: float | None = None
    max_um: float | None = None
    solar_irradiance: float | None = None
    radiance_gain: float | None = None
    radiance_bias: float | None = None


@dataclass(frozen=True)
class DimapImage:
    """One DIM_*.XML: one image (a PAN, an MS, a PMS or an MS-FS component)."""

    path: str  # of the DIM file, relative to the package root
    mission: Mission
    instrument: str
    processing_level: str
    spectral_processing: str
    acquired_at: datetime
    footprint: list[tuple[float, float]]
    cloud_cover: float | None
    snow_cover: float | None
    nrows: int
    ncols: int
    nbands: int
    nbits: int | None
    bands: list[Band]
    epsg: int | None
    gsd: float | None
    incidence_angle: float | None
    azimuth_angle: float | None
    viewing_angle: float | None
    sun_azimuth: float | None
    sun_elevation: float | None
    job_id: str | None
    dataset_name: str | None
    software: str | None
    data_files: list[str]  # relative to the package root
    referenced_files: list[str] = field(default_factory=list)  # every other local href

    @property
    def dim_dir(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


def parse_xml(data: bytes, name: str) -> Element:
    if len(data) > MAX_XML_BYTES:
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{name}: metadata file over 20 MiB")
    try:
        return SafeET.fromstring(data)  # bytes: honours the declared encoding (ISO-8859-1 for SPOT)
    except DefusedXmlException as exc:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA, f"{name}: forbidden XML construct ({exc})"
        ) from None
    except SafeET.ParseError as exc:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA, f"{name}: not well-formed XML ({exc})"
        ) from None


def _text(root: Element, path: str) -> str | None:
    el = root.find(path)
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def _float(root: Element, path: str) -> float | None:
    value = _text(root, path)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _required(root: Element, path: str, name: str) -> str:
    value = _text(root, path)
    if value is None:
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{name}: missing {path}")
    return value


def _local_hrefs(root: Element) -> list[str]:
    """Every href naming a file of the package (not a URL)."""
    out = []
    for el in root.iter():
        href = el.get("href")
        if href and "://" not in href and el.tag != "PRODUCER_URL":
            out.append(href)
    return out


def _center(root: Element) -> Element | None:
    for values in root.iterfind("Geometric_Data/Use_Area/Located_Geometric_Values"):
        if (_text(values, "LOCATION_TYPE") or "").lower() == "center":
            return values
    return None


def _epsg(root: Element) -> int | None:
    code = _text(root, "Coordinate_Reference_System/Projected_CRS/PROJECTED_CRS_CODE") or _text(
        root, "Coordinate_Reference_System/Geodetic_CRS/GEODETIC_CRS_CODE"
    )
    if code and code.rsplit(":", 1)[-1].isdigit():
        return int(code.rsplit(":", 1)[-1])
    return None


def _acquired_at(root: Element, center: Element | None, name: str) -> datetime:
    raw = _text(center, "TIME") if center is not None else None
    if raw is None:
        strip = "Dataset_Sources/Source_Identification/Strip_Source/"
        date, time = _text(root, strip + "IMAGING_DATE"), _text(root, strip + "IMAGING_TIME")
        if not date:
            raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{name}: no acquisition time")
        raw = f"{date}T{time or '00:00:00'}"
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA, f"{name}: bad acquisition time {raw!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _processing_level(root: Element, name: str) -> str:
    level = _required(root, "Processing_Information/Product_Settings/PROCESSING_LEVEL", name).upper()
    if level not in PROCESSING_LEVELS:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA, f"{name}: unknown PROCESSING_LEVEL {level[:40]!r}"
        )
    return level


def _band_ids(parent: Element | None, path: str) -> list[str]:
    return [_text(el, "BAND_ID") or "" for el in parent.iterfind(path)] if parent is not None else []


def _stored_order(root: Element, listed: list[str], name: str) -> list[str]:
    """The band ids in the order the data files store them.

    Airbus lists the bands in their stored order: a SPOT 6/7 PMS image stored red,
    green, blue, NIR lists B2 B1 B0 B3 in `Band_Measurement_List` and in
    `Histogram_Band_List`; a Pléiades image stored blue first lists B0 B1 B2 B3. When
    the bands are split over several files (Pléiades Neo MS-FS: RGB + NED), each
    `Data_Files` group's `Raster_Index_List` gives its file's bands in order, and the
    files follow one another. `Band_Display_Order` is how to *show* the image, not how
    it is stored: it is not used here. (GDAL's DIMAP driver assumes B0 is band 1 when it
    attaches the band metadata; the pixels it reads are in the stored order.)
    """
    groups = root.findall("Raster_Data/Data_Access/Data_Files")
    indexed = [i for g in groups for i in _band_ids(g, "Raster_Display/Raster_Index_List/Raster_Index")]
    histogram = _band_ids(root.find("Radiometric_Data/Histogram_Band_List"), "Histogram_Band")
    if indexed:
        order = indexed
    else:
        order = listed or histogram
        if listed and histogram and set(listed) == set(histogram) and listed != histogram:
            raise DeliveryRejected(
                RejectionReason.INVALID_METADATA,
                f"{name}: the band order is ambiguous: Band_Spectral_Range lists "
                f"{' '.join(listed)}, Histogram_Band_List {' '.join(histogram)}",
            )
    if "" in order or len(set(order)) != len(order):
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA, f"{name}: a band without id or listed twice ({order[:10]})"
        )
    return order


def _bands(root: Element, name: str) -> list[Band]:
    """The image's bands in stored order, with their spectral range, radiance and solar
    irradiance (looked up by BAND_ID, wherever they are listed)."""
    base = root.find("Radiometric_Data/Radiometric_Calibration/Instrument_Calibration/Band_Measurement_List")
    if base is None:
        base = root.find("Radiometric_Data/Radiometric_Calibration")
    ranges: dict[str, tuple[float | None, float | None]] = {}
    irradiance: dict[str | None, float | None] = {}
    radiance: dict[str | None, tuple[float | None, float | None]] = {}
    if base is not None:
        irradiance = {_text(b, "BAND_ID"): _float(b, "VALUE") for b in base.iterfind("Band_Solar_Irradiance")}
        radiance = {
            _text(b, "BAND_ID"): (_float(b, "GAIN"), _float(b, "BIAS"))
            for b in base.iterfind("Band_Radiance")
        }
        for rng in base.iterfind("Band_Spectral_Range"):
            band_id = _text(rng, "BAND_ID") or ""
            lo = _float(rng, "MIN") or _float(rng, "FWHM/MIN")
            hi = _float(rng, "MAX") or _float(rng, "FWHM/MAX")
            if (_text(rng, "MEASURE_UNIT") or "").lower().startswith("nano") and lo and hi:
                lo, hi = lo / 1000, hi / 1000
            ranges.setdefault(band_id, (lo, hi))
    listed = _band_ids(base, "Band_Spectral_Range")
    bands = []
    for band_id in _stored_order(root, listed, name):
        lo, hi = ranges.get(band_id, (None, None))
        gain, bias = radiance.get(band_id, (None, None))
        bands.append(Band(band_id, lo, hi, irradiance.get(band_id), gain, bias))
    return bands


def parse_dim(data: bytes, path: str) -> DimapImage:
    """Parse one DIM_*.XML found at `path` (relative to the package root)."""
    root = parse_xml(data, path)
    if root.tag != "Dimap_Document":
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: not a DIMAP document")
    version = root.find("Metadata_Identification/METADATA_FORMAT")
    if version is None or not (version.get("version") or "").startswith("2."):
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: not DIMAP v2")
    strip = "Dataset_Sources/Source_Identification/Strip_Source/"
    mission_name = _required(root, strip + "MISSION", path)
    mission_index = _required(root, strip + "MISSION_INDEX", path)
    known = by_dimap(mission_name, mission_index)
    if known is None:
        raise DeliveryRejected(
            RejectionReason.UNKNOWN_MISSION,
            f"{path}: mission {mission_name} {mission_index} is not one DINAMIS archives "
            f"({', '.join(m.value for m in Mission)})",
        )
    mission = known.code
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    data_files = [
        safe_join(base, el.get("href") or "")
        for el in root.iterfind("Raster_Data/Data_Access/Data_Files/Data_File/DATA_FILE_PATH")
    ]
    if not data_files:
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: no Data_File")
    referenced = sorted({safe_join(base, h) for h in _local_hrefs(root)} - set(data_files))
    footprint = [
        (lon, lat)
        for v in root.iterfind("Dataset_Content/Dataset_Extent/Vertex")
        if (lon := _float(v, "LON")) is not None and (lat := _float(v, "LAT")) is not None
    ]
    # No vertices (GDAL's stripped samples): the pipeline takes the raster bounds instead.
    if footprint and (
        len(footprint) < 3 or not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in footprint)
    ):
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: bad Dataset_Extent vertices")
    center = _center(root)
    angles = "Acquisition_Angles/"
    solar = "Solar_Incidences/"

    def at_center(p: str) -> float | None:
        return _float(center, p) if center is not None else None

    gsd = _float(root, "Processing_Information/Product_Settings/Sampling_Settings/RESAMPLING_SPACING")
    if gsd is not None and gsd < 0.01:  # degrees, not metres (geographic products)
        gsd = None
    if gsd is None and center is not None:
        across, along = (
            at_center("Ground_Sample_Distance/GSD_ACROSS_TRACK"),
            at_center("Ground_Sample_Distance/GSD_ALONG_TRACK"),
        )
        gsd = (across + along) / 2 if across and along else None
    dims = "Raster_Data/Raster_Dimensions/"
    try:
        nrows, ncols, nbands = (int(_required(root, dims + n, path)) for n in ("NROWS", "NCOLS", "NBANDS"))
    except ValueError:
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: bad raster dimensions") from None
    nbits = _text(root, "Raster_Data/Raster_Encoding/NBITS")
    bands = _bands(root, path)
    if bands and len(bands) != nbands:
        raise DeliveryRejected(
            RejectionReason.INVALID_METADATA,
            f"{path}: NBANDS is {nbands} but the metadata names {len(bands)} bands "
            f"({' '.join(b.id for b in bands)})",
        )
    return DimapImage(
        path=path,
        mission=mission,
        instrument=_text(root, strip + "INSTRUMENT") or mission_name,
        processing_level=_processing_level(root, path),
        spectral_processing=_text(root, "Processing_Information/Product_Settings/SPECTRAL_PROCESSING") or "",
        acquired_at=_acquired_at(root, center, path),
        footprint=footprint,
        cloud_cover=_float(root, "Dataset_Content/CLOUD_COVERAGE"),
        snow_cover=_float(root, "Dataset_Content/SNOW_COVERAGE"),
        nrows=nrows,
        ncols=ncols,
        nbands=nbands,
        nbits=int(nbits) if nbits and nbits.isdigit() else None,
        bands=bands,
        epsg=_epsg(root),
        gsd=gsd,
        incidence_angle=at_center(angles + "INCIDENCE_ANGLE"),
        azimuth_angle=at_center(angles + "AZIMUTH_ANGLE"),
        viewing_angle=at_center(angles + "VIEWING_ANGLE"),
        sun_azimuth=at_center(solar + "SUN_AZIMUTH"),
        sun_elevation=at_center(solar + "SUN_ELEVATION"),
        job_id=_text(root, "Product_Information/Delivery_Identification/JOB_ID"),
        dataset_name=_text(root, "Dataset_Identification/DATASET_NAME"),
        software=_text(root, "Processing_Information/Production_Facility/SOFTWARE"),
        data_files=data_files,
        referenced_files=referenced,
    )


def volume_components(data: bytes, path: str) -> list[str]:
    """The DIM files a VOL_*.XML lists (relative to the package root)."""
    root = parse_xml(data, path)
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    comps = []
    for comp in root.iter("Component"):
        if (_text(comp, "COMPONENT_TYPE") or "").upper() == "DIMAP":
            el = comp.find("COMPONENT_PATH")
            href = el.get("href") if el is not None else None
            if href:
                comps.append(safe_join(base, href))
    if not comps:
        raise DeliveryRejected(RejectionReason.INVALID_METADATA, f"{path}: lists no DIMAP component")
    return comps
