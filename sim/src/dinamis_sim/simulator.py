"""Supplier simulator: writes realistic Airbus DIMAP v2 packages (a PAN and an MS
image, each with its DIM_*.XML, GeoTIFF tiles, quality masks and previews, under a
VOL_*.XML), uploads them to the `staging` bucket and announces them with
`scene-acquired`, like a supplier would.

The XML follows the structure of the real deliveries in ../shared/data/dimap
(element names, units, encodings); the pixels are synthetic 12-bit terrain.

    dinamis supplier simulate --mission SPOT6 --lon 2.35 --lat 48.85 --size 2000
    dinamis supplier simulate --coverage france --year 2026 --size 512
"""

from __future__ import annotations

import math
import random
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.windows import Window

from dinamis_shared.events import SceneAcquiredV1, StagingLocation
from dinamis_shared.hashing import sha256_file
from dinamis_shared.missions import Mission, SensorFamily, mission_info

# Spectral ranges (µm) and solar irradiance (W/m²/µm), as in the real metadata.
SPECTRAL = {
    "P": (0.47, 0.83, 1549.0),
    "B0": (0.43, 0.55, 1915.0),
    "B1": (0.50, 0.62, 1830.0),
    "B2": (0.59, 0.71, 1594.0),
    "B3": (0.74, 0.94, 1060.0),
    "R": (0.62, 0.69, 1553.1),
    "G": (0.49, 0.61, 1829.3),
    "B": (0.45, 0.52, 1982.8),
    "NIR": (0.76, 0.89, 1040.6),
    "RE": (0.70, 0.75, 1414.8),
    "DB": (0.40, 0.45, 1869.3),
}
TILE_PX = 8192  # Airbus splits large images into R<row>C<col> tiles
# The MS bands in the order the image files store them, as Airbus delivers them: a real
# SPOT 6 PMS delivery stores red, green, blue, NIR (B2 B1 B0 B3) and lists them so in
# its metadata; the Pléiades ones in ../shared/data list (and store) B0 first.
STORED_ORDER = {SensorFamily.SPOT: ("B2", "B1", "B0", "B3")}


@dataclass
class SimulatedScene:
    mission: Mission
    lon: float
    lat: float
    acquired_at: datetime
    size: int  # PAN width and height in pixels; MS is size / (ms_gsd / pan_gsd)
    job_id: str
    cloud_cover: float = 5.0
    seed: int = 0
    extra_files: dict[str, bytes] = field(default_factory=dict)
    # For tests of bad deliveries: edit each DIM's XML text, write tiles without georeferencing.
    dim_transform: Callable[[str], str] | None = None
    georeferenced: bool = True
    # Ground extent of the PAN image; by default size x the mission's GSD. The coverage
    # grid sets it to the cell size (the GSD then grows: a reduced-size simulation).
    extent_m: float | None = None
    # Which images the product holds: a PAN + MS bundle by default; ("MS",) for an MS
    # product whose MS image is `size` pixels wide (as the ingest benchmark uses).
    components: tuple[str, ...] = ("P", "MS")
    # ORTHO: map-projected tiles (UTM). SENSOR: tiles in image geometry, located by
    # their RPC model only (geodetic CRS, no geotransform), as Airbus primary products.
    level: str = "ORTHO"
    # The MS bands in stored order (None: as the mission's deliveries store them, see
    # STORED_ORDER); the metadata lists them in this order too.
    band_order: tuple[str, ...] | None = None
    # Pixels of one band's block instead of the synthetic terrain, for tests that must
    # tell bands apart: (band id, rows, cols, first row, first col) -> uint16 array.
    band_pixels: Callable[[str, int, int, int, int], np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.mission = Mission(self.mission)

    @property
    def ms_bands(self) -> list[str]:
        info = mission_info(self.mission)
        order = self.band_order or STORED_ORDER.get(info.family) or info.ms_bands
        if sorted(order) != sorted(info.ms_bands):
            raise ValueError(f"{self.mission_code} MS bands are {info.ms_bands}, not {order}")
        return list(order)

    @property
    def mission_code(self) -> str:
        return self.mission.value

    @property
    def scene_id(self) -> str:
        return f"{self.mission_code}-{self.acquired_at:%Y%m%d%H%M%S}-{self.job_id}"

    @property
    def epsg(self) -> int:
        return (32600 if self.lat >= 0 else 32700) + int((self.lon + 180) // 6) + 1


def _terrain(rows: int, cols: int, row0: int, col0: int, scale: float, band: int, seed: int) -> np.ndarray:
    """Smooth 12-bit 'landscape' with fields and noise, continuous across tiles."""
    y = (np.arange(rows, dtype="float32")[:, None] + row0) * scale
    x = (np.arange(cols, dtype="float32")[None, :] + col0) * scale
    rng = np.random.default_rng(seed * 7919 + band * 104729 + row0 * 31 + col0)
    base = (
        900
        + 400 * np.sin(x / 173.0 + band) * np.cos(y / 211.0)
        + 250 * np.sin((x + y) / 57.0 + seed)
        + 150 * (((x // 120) + (y // 90)) % 3)
    )
    return np.clip(base + rng.normal(0, 25, (rows, cols)), 0, 4095).astype("uint16")


def _write_tiles(
    directory: Path,
    stem: str,
    size: int,
    bands: list[str],
    gsd: float,
    ulx: float,
    uly: float,
    epsg: int | None,
    seed: int,
    scale: float,
    pixels: Callable[[str, int, int, int, int], np.ndarray] | None = None,
) -> list[tuple[int, int, str]]:
    tiles = []
    n = math.ceil(size / TILE_PX)
    for r in range(n):
        for c in range(n):
            rows, cols = min(TILE_PX, size - r * TILE_PX), min(TILE_PX, size - c * TILE_PX)
            name = f"{stem}_R{r + 1}C{c + 1}.TIF"
            transform = from_origin(ulx + c * TILE_PX * gsd, uly - r * TILE_PX * gsd, gsd, gsd)
            georef = {"crs": f"EPSG:{epsg}", "transform": transform} if epsg else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                dst = rasterio.open(
                    directory / name,
                    "w",
                    driver="GTiff",
                    width=cols,
                    height=rows,
                    count=len(bands),
                    dtype="uint16",
                    tiled=True,
                    blockxsize=512,
                    blockysize=512,
                    **georef,
                )
            with dst:
                step = 1024
                for row in range(0, rows, step):
                    h = min(step, rows - row)
                    for b, band in enumerate(bands):
                        row0, col0 = r * TILE_PX + row, c * TILE_PX
                        block = (
                            pixels(band, h, cols, row0, col0).astype("uint16")
                            if pixels
                            else _terrain(h, cols, row0, col0, scale, b, seed)
                        )
                        dst.write(block, b + 1, window=Window(0, row, cols, h))
            tiles.append((r + 1, c + 1, name))
    return tiles


def _dim_xml(
    scene: SimulatedScene,
    kind: str,
    size: int,
    gsd: float,
    bands: list[str],
    tiles: list[tuple[int, int, str]],
    ulx: float,
    uly: float,
    stem: str,
) -> str:
    info = mission_info(scene.mission)
    mission, index, instrument = info.dimap_mission, info.dimap_index, info.instrument
    to_wgs84 = Transformer.from_crs(scene.epsg, 4326, always_xy=True)
    extent = size * gsd
    corners = [
        (ulx, uly, 1, 1),
        (ulx + extent, uly, size, 1),
        (ulx + extent, uly - extent, size, size),
        (ulx, uly - extent, 1, size),
    ]
    vertices = "".join(
        f"<Vertex><LON>{lon:.9f}</LON><LAT>{lat:.9f}</LAT><X>{x:.2f}</X><Y>{y:.2f}</Y>"
        f"<COL>{col}</COL><ROW>{row}</ROW></Vertex>"
        for x, y, col, row in corners
        for lon, lat in [to_wgs84.transform(x, y)]
    )
    clon, clat = to_wgs84.transform(ulx + extent / 2, uly - extent / 2)
    rnd = random.Random(scene.seed)
    t = scene.acquired_at
    day = t.timetuple().tm_yday
    sun_elev = 90 - abs(clat - 23.44 * math.sin(math.radians(360 * (284 + day) / 365)))
    band_xml = "".join(
        f"<Band_Spectral_Range><BAND_ID>{b}</BAND_ID><MEASURE_UNIT>micrometers</MEASURE_UNIT>"
        f"<MIN>{SPECTRAL[b][0]}</MIN><MAX>{SPECTRAL[b][1]}</MAX></Band_Spectral_Range>"
        f"<Band_Radiance><BAND_ID>{b}</BAND_ID><GAIN>{rnd.uniform(8, 12):.4f}</GAIN><BIAS>0</BIAS>"
        f"<MEASURE_UNIT>watt/m2/sr/micrometers</MEASURE_UNIT></Band_Radiance>"
        f"<Band_Solar_Irradiance><BAND_ID>{b}</BAND_ID><VALUE>{SPECTRAL[b][2]}</VALUE>"
        f"<MEASURE_UNIT>watt/m2/micrometers</MEASURE_UNIT></Band_Solar_Irradiance>"
        for b in bands
    )
    histograms = "".join(
        f"<Histogram_Band><BAND_ID>{b}</BAND_ID><STX_MIN>0</STX_MIN><STX_MAX>4095</STX_MAX></Histogram_Band>"
        for b in bands
    )
    display = {"B2": "RED", "B1": "GREEN", "B0": "BLUE", "B3": "ALPHA", "R": "RED", "G": "GREEN", "B": "BLUE"}
    shown = sorted((c, b) for b in bands if (c := display.get(b)))
    display_order = "".join(f"<{c}_CHANNEL>{b}</{c}_CHANNEL>" for c, b in shown)
    raster_display = (
        f"<Raster_Display><Band_Display_Order>{display_order}</Band_Display_Order></Raster_Display>"
        if display_order
        else ""
    )
    n = math.ceil(size / TILE_PX)
    tiling = (
        f'<Tile_Set><NTILES>{n * n}</NTILES><Regular_Tiling><NTILES_SIZE nrows="{TILE_PX}" '
        f'ncols="{TILE_PX}"/><NTILES_COUNT ntiles_R="{n}" ntiles_C="{n}"/><OVERLAP_ROW>0</OVERLAP_ROW>'
        f"<OVERLAP_COL>0</OVERLAP_COL></Regular_Tiling></Tile_Set>"
        if n > 1
        else ""
    )
    files = "".join(
        f'<Data_File tile_R="{r}" tile_C="{c}"><DATA_FILE_PATH href="{escape(name)}"/></Data_File>'
        for r, c, name in tiles
    )
    masks = "".join(
        f"<Imaging_Quality_Measurement><MEASURE_NAME>{m}</MEASURE_NAME><Quality_Mask><Component>"
        f'<COMPONENT_TITLE>{m} mask</COMPONENT_TITLE><COMPONENT_PATH href="MASKS/{m}_{stem}_MSK.GML"/>'
        f"</Component></Quality_Mask></Imaging_Quality_Measurement>"
        for m in ("ROI", "CLD")
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Dimap_Document name="DIM_{stem}.XML">
 <Metadata_Identification><METADATA_FORMAT version="2.15">DIMAP</METADATA_FORMAT><METADATA_PROFILE>{mission}_{scene.level}</METADATA_PROFILE><METADATA_SUBPROFILE>PRODUCT</METADATA_SUBPROFILE><METADATA_LANGUAGE>en</METADATA_LANGUAGE></Metadata_Identification>
 <Dataset_Identification><DATASET_TYPE>RASTER_{scene.level}</DATASET_TYPE><DATASET_NAME version="1.0">DS_{scene.mission_code}_{t:%Y%m%d%H%M%S}{t.microsecond // 100000}_SIM</DATASET_NAME><DATASET_TN_PATH href="ICON_{stem}.JPG"/><DATASET_QL_PATH href="PREVIEW_{stem}.JPG"/></Dataset_Identification>
 <Dataset_Content><CLOUD_COVERAGE unit="percent">{scene.cloud_cover:.2f}</CLOUD_COVERAGE><SNOW_COVERAGE unit="percent">0.00</SNOW_COVERAGE>
  <Dataset_Extent><EXTENT_TYPE>Bounding_Polygon</EXTENT_TYPE>{vertices}<Center><LON>{clon:.9f}</LON><LAT>{clat:.9f}</LAT></Center></Dataset_Extent></Dataset_Content>
 <Product_Information><Delivery_Identification><PRODUCTION_DATE>{(t + timedelta(hours=6)):%Y-%m-%dT%H:%M:%S.000Z}</PRODUCTION_DATE><JOB_ID>{scene.job_id}</JOB_ID><PRODUCT_TYPE>STANDARD</PRODUCT_TYPE><PRODUCT_CODE>{mission}</PRODUCT_CODE></Delivery_Identification></Product_Information>
 <Coordinate_Reference_System><Projected_CRS><PROJECTED_CRS_NAME>WGS 84 / UTM zone {scene.epsg % 100}N</PROJECTED_CRS_NAME><PROJECTED_CRS_CODE>urn:ogc:def:crs:EPSG::{scene.epsg}</PROJECTED_CRS_CODE></Projected_CRS></Coordinate_Reference_System>
 <Geoposition><Raster_CRS><RASTER_GEOMETRY>GROUND</RASTER_GEOMETRY><PIXEL_ORIENTATION>UL</PIXEL_ORIENTATION><PIXEL_CRS_TYPE>CELL</PIXEL_CRS_TYPE><PIXEL_ORIGIN>1</PIXEL_ORIGIN></Raster_CRS>
  <Geoposition_Insert><ULXMAP>{ulx}</ULXMAP><ULYMAP>{uly}</ULYMAP><XDIM>{gsd}</XDIM><YDIM>{gsd}</YDIM></Geoposition_Insert>
  <Geoposition_Models><Rational_Function_Model><Component><COMPONENT_TITLE>RPC Model</COMPONENT_TITLE><COMPONENT_CONTENT>Geoposition Model</COMPONENT_CONTENT><COMPONENT_TYPE>DIMAP</COMPONENT_TYPE><COMPONENT_PATH href="RPC_{stem}.XML"/></Component></Rational_Function_Model></Geoposition_Models></Geoposition>
 <Processing_Information><Production_Facility><SOFTWARE version="V3.1">DINAMIS supplier simulator</SOFTWARE></Production_Facility>
  <Product_Settings><PROCESSING_LEVEL>{scene.level}</PROCESSING_LEVEL><SPECTRAL_PROCESSING>{kind}</SPECTRAL_PROCESSING><Sampling_Settings><RESAMPLING_SPACING unit="m">{gsd}</RESAMPLING_SPACING></Sampling_Settings>
   <Geometric_Settings><GEOMETRIC_PROCESSING>{"SYSTEM_SENSOR" if scene.level == "SENSOR" else "ORTHO"}</GEOMETRIC_PROCESSING></Geometric_Settings></Product_Settings></Processing_Information>
 <Raster_Data><Data_Access><DATA_FILE_ORGANISATION>BAND_COMPOSITE</DATA_FILE_ORGANISATION><DATA_FILE_FORMAT version="1.0">image/tiff</DATA_FILE_FORMAT><DATA_FILE_TILES>{"true" if n > 1 else "false"}</DATA_FILE_TILES><Data_Files>{files}</Data_Files></Data_Access>
  <Raster_Dimensions><NROWS>{size}</NROWS><NCOLS>{size}</NCOLS><NBANDS>{len(bands)}</NBANDS>{tiling}</Raster_Dimensions>
  <Raster_Encoding><DATA_TYPE>INTEGER</DATA_TYPE><NBITS>12</NBITS><SIGN>UNSIGNED</SIGN></Raster_Encoding>{raster_display}</Raster_Data>
 <Radiometric_Data><Dynamic_Range><ACQUISITION_RANGE>12</ACQUISITION_RANGE><PRODUCT_RANGE>12</PRODUCT_RANGE></Dynamic_Range><Histogram_Band_List>{histograms}</Histogram_Band_List><Radiometric_Calibration><Instrument_Calibration><Band_Measurement_List>{band_xml}</Band_Measurement_List></Instrument_Calibration></Radiometric_Calibration></Radiometric_Data>
 <Geometric_Data><Use_Area><Located_Geometric_Values><LOCATION_TYPE>Center</LOCATION_TYPE><TIME>{t:%Y-%m-%dT%H:%M:%S.%f}Z</TIME><SATELLITE_ALTITUDE>{694000 if mission != "PNEO" else 620000}.0</SATELLITE_ALTITUDE>
  <Acquisition_Angles><AZIMUTH_ANGLE>{rnd.uniform(0, 360):.3f}</AZIMUTH_ANGLE><VIEWING_ANGLE unit="deg">{rnd.uniform(0, 25):.3f}</VIEWING_ANGLE><INCIDENCE_ANGLE>{rnd.uniform(0, 30):.3f}</INCIDENCE_ANGLE></Acquisition_Angles>
  <Solar_Incidences><SUN_AZIMUTH unit="deg">{rnd.uniform(140, 200):.3f}</SUN_AZIMUTH><SUN_ELEVATION unit="deg">{max(5.0, min(80.0, sun_elev)):.3f}</SUN_ELEVATION></Solar_Incidences>
  <Ground_Sample_Distance><GSD_ACROSS_TRACK unit="m">{gsd * 1.02:.3f}</GSD_ACROSS_TRACK><GSD_ALONG_TRACK unit="m">{gsd * 1.04:.3f}</GSD_ALONG_TRACK></Ground_Sample_Distance></Located_Geometric_Values></Use_Area></Geometric_Data>
 <Quality_Assessment>{masks}</Quality_Assessment>
 <Dataset_Sources><Source_Identification><SOURCE_ID>DS_{scene.mission_code}_{t:%Y%m%d%H%M%S}_SIM</SOURCE_ID><SOURCE_TYPE>Strip_Source</SOURCE_TYPE><Strip_Source><MISSION>{mission}</MISSION><MISSION_INDEX>{index}</MISSION_INDEX><INSTRUMENT>{instrument}</INSTRUMENT><INSTRUMENT_INDEX>{index}</INSTRUMENT_INDEX><IMAGING_DATE>{t:%Y-%m-%d}</IMAGING_DATE><IMAGING_TIME>{t:%H:%M:%S}.0Z</IMAGING_TIME></Strip_Source></Source_Identification></Dataset_Sources>
</Dimap_Document>
"""


# RPC00B term order: 1, L, P, H, LP, LH, PH, L², P², H², PLH, L³, LP², LH², L²P, P³, PH², L²H, P²H, H³
# (L = longitude, P = latitude, H = height, all normalised). At H = 0 only 6 terms matter.
_RPC_TERMS = [0, 1, 2, 4, 7, 8]


def _rpc_xml(scene: SimulatedScene, size: int, gsd: float, ulx: float, uly: float) -> str:
    """An RPC00B model (ground -> image) fitted by least squares to the image's true
    geometry on a 9 x 9 grid: what the DIM's 'RPC Model' component points to."""
    to_wgs84 = Transformer.from_crs(scene.epsg, 4326, always_xy=True)
    rows, cols = (
        g.ravel()
        for g in np.meshgrid(np.linspace(0, size - 1, 9), np.linspace(0, size - 1, 9), indexing="ij")
    )
    lon, lat = (np.asarray(v) for v in to_wgs84.transform(ulx + (cols + 0.5) * gsd, uly - (rows + 0.5) * gsd))
    off = {
        "LONG_OFF": lon.mean(),
        "LAT_OFF": lat.mean(),
        "LONG_SCALE": max((lon.max() - lon.min()) / 2 * 1.05, 1e-6),
        "LAT_SCALE": max((lat.max() - lat.min()) / 2 * 1.05, 1e-6),
        "HEIGHT_OFF": 0.0,
        "HEIGHT_SCALE": 500.0,
        "LINE_OFF": (size - 1) / 2 + 1,
        "SAMP_OFF": (size - 1) / 2 + 1,  # 1-based, as Airbus writes them
        "LINE_SCALE": size / 2,
        "SAMP_SCALE": size / 2,
    }
    L, P = (lon - off["LONG_OFF"]) / off["LONG_SCALE"], (lat - off["LAT_OFF"]) / off["LAT_SCALE"]
    basis = np.stack([np.ones_like(L), L, P, L * P, L * L, P * P], axis=1)
    coeffs = {}
    for name, target, offset, scale in (
        ("LINE", rows + 1, "LINE_OFF", "LINE_SCALE"),
        ("SAMP", cols + 1, "SAMP_OFF", "SAMP_SCALE"),
    ):
        fitted, *_ = np.linalg.lstsq(basis, (target - off[offset]) / off[scale], rcond=None)
        num = np.zeros(20)
        num[_RPC_TERMS] = fitted
        den = np.zeros(20)
        den[0] = 1.0
        coeffs[name] = (num, den)
    model = "".join(
        f"<{name}_{part}_COEFF_{i + 1}>{value:.15e}</{name}_{part}_COEFF_{i + 1}>"
        for name in ("SAMP", "LINE")
        for part, values in zip(("NUM", "DEN"), coeffs[name], strict=True)
        for i, value in enumerate(values)
    )
    validity = "".join(f"<{k}>{float(v)!r}</{k}>" for k, v in off.items())
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Dimap_Document>
 <Metadata_Identification><METADATA_FORMAT version="2.15">DIMAP</METADATA_FORMAT><METADATA_PROFILE>{mission_info(scene.mission).dimap_mission}_{scene.level}</METADATA_PROFILE><METADATA_SUBPROFILE>RPC</METADATA_SUBPROFILE></Metadata_Identification>
 <Rational_Function_Model><Resource_Reference><RESOURCE_TITLE version="2.1">NITF</RESOURCE_TITLE><RESOURCE_ID>RPC00B</RESOURCE_ID></Resource_Reference>
  <Global_RFM><Inverse_Model>{model}</Inverse_Model>
   <RFM_Validity><Inverse_Model_Validity_Domain><FIRST_LON>{float(lon.min())!r}</FIRST_LON><FIRST_LAT>{float(lat.min())!r}</FIRST_LAT><LAST_LON>{float(lon.max())!r}</LAST_LON><LAST_LAT>{float(lat.max())!r}</LAST_LAT></Inverse_Model_Validity_Domain>{validity}</RFM_Validity>
  </Global_RFM></Rational_Function_Model>
</Dimap_Document>
"""


def _vol_xml(scene: SimulatedScene, components: list[tuple[str, str]]) -> str:
    mission = mission_info(scene.mission).dimap_mission
    comps = "".join(
        f"<Component><COMPONENT_TITLE>{title}</COMPONENT_TITLE><COMPONENT_TYPE>DIMAP</COMPONENT_TYPE>"
        f'<COMPONENT_PATH href="{escape(path)}"/></Component>'
        for title, path in components
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Dimap_Document name="VOL_{mission}.XML">
 <Metadata_Identification><METADATA_FORMAT version="2.15">DIMAP</METADATA_FORMAT><METADATA_PROFILE>{mission}_VOLUME</METADATA_PROFILE></Metadata_Identification>
 <Dataset_Identification><DATASET_NAME>{scene.job_id}</DATASET_NAME></Dataset_Identification>
 <Dataset_Content><Dataset_Components>{comps}</Dataset_Components></Dataset_Content>
</Dimap_Document>
"""


def _tiny_jpeg(path: Path, seed: int) -> None:
    data = _terrain(64, 64, 0, 0, 4.0, 0, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="JPEG", width=64, height=64, count=1, dtype="uint8") as dst:
            dst.write((data >> 4).astype("uint8"), 1)
    for aux in path.parent.glob(path.name + ".aux.xml"):
        aux.unlink()


def write_package(scene: SimulatedScene, root: Path) -> dict[str, str]:
    """Write the package under `root`; return {relative path: sha256} of every file."""
    info = mission_info(scene.mission)
    mission, ms_bands = info.dimap_mission, scene.ms_bands
    pan_gsd, ms_gsd = info.pan_gsd_m, info.ms_gsd_m
    if scene.extent_m:
        pan_gsd, ms_gsd = scene.extent_m / scene.size, scene.extent_m / scene.size * (ms_gsd / pan_gsd)
    to_utm = Transformer.from_crs(4326, scene.epsg, always_xy=True)
    cx, cy = to_utm.transform(scene.lon, scene.lat)
    extent = scene.size * pan_gsd
    ulx, uly = round(cx - extent / 2, 1), round(cy + extent / 2, 1)
    t = scene.acquired_at
    if root.exists():
        shutil.rmtree(root)
    components = []
    if scene.components == ("MS",):
        ms_gsd = pan_gsd  # the MS image is `size` pixels wide
    images = (("P", pan_gsd, ["P"], 1), ("MS", ms_gsd, ms_bands, 2))
    for kind, gsd, bands, index in (i for i in images if i[0] in scene.components):
        size = max(1, round(extent / gsd))
        code = "SEN" if scene.level == "SENSOR" else "ORT"
        stem = f"{scene.mission_code}_{kind}_{t:%Y%m%d%H%M%S}{t.microsecond // 100000}_{code}_{scene.job_id}-{index}"
        directory = root / f"IMG_{scene.mission_code}_{kind}_{index:03d}"
        (directory / "MASKS").mkdir(parents=True)
        sensor = scene.level == "SENSOR"
        epsg = scene.epsg if scene.georeferenced and not sensor else None
        tiles = _write_tiles(
            directory,
            f"IMG_{stem}",
            size,
            bands,
            gsd,
            ulx,
            uly,
            epsg,
            scene.seed,
            gsd / pan_gsd,
            scene.band_pixels,
        )
        dim = _dim_xml(scene, kind, size, gsd, bands, tiles, ulx, uly, stem)
        (directory / f"RPC_{stem}.XML").write_text(_rpc_xml(scene, size, gsd, ulx, uly), encoding="utf-8")
        if sensor:
            dim = re.sub(r"<Geoposition_Insert>.*?</Geoposition_Insert>", "", dim, flags=re.S)
            dim = re.sub(
                r"<Projected_CRS>.*?</Projected_CRS>",
                "<Geodetic_CRS><GEODETIC_CRS_CODE>urn:ogc:def:crs:EPSG::4326</GEODETIC_CRS_CODE></Geodetic_CRS>",
                dim,
                flags=re.S,
            )
        if not scene.georeferenced:
            dim = re.sub(r"<(Coordinate_Reference_System|Geoposition)>.*?</\1>", "", dim, flags=re.S)
        if scene.dim_transform:
            dim = scene.dim_transform(dim)
        (directory / f"DIM_{stem}.XML").write_text(dim, encoding="utf-8")
        for m in ("ROI", "CLD"):
            (directory / "MASKS" / f"{m}_{stem}_MSK.GML").write_text(
                f'<?xml version="1.0" encoding="UTF-8"?>\n<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml">'
                f"<gml:name>{m}</gml:name></gml:FeatureCollection>\n"
            )
        _tiny_jpeg(directory / f"ICON_{stem}.JPG", scene.seed)
        _tiny_jpeg(directory / f"PREVIEW_{stem}.JPG", scene.seed + 1)
        components.append((f"{kind} image", f"{directory.name}/DIM_{stem}.XML"))
    (root / f"VOL_{mission}.XML").write_text(_vol_xml(scene, components), encoding="utf-8")
    for rel, data in scene.extra_files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(p for p in root.rglob("*") if p.is_file())
    }


def announce(
    scene: SimulatedScene, prefix: str, checksums: dict[str, str], size: int, campaign: str | None = None
) -> SceneAcquiredV1:
    return SceneAcquiredV1(
        scene_id=scene.scene_id,
        supplier="airbus",
        mission=scene.mission_code,
        supplier_product_id=scene.job_id,
        staging=StagingLocation(bucket="staging", prefix=prefix),
        checksums=checksums,
        announced_size_bytes=size,
        campaign=campaign,
        delivered_at=datetime.now(UTC),
    )


def coverage_scene(cell, size: int, job_prefix: str) -> SimulatedScene:
    """The SPOT 6/7 scene of one yearly-coverage cell (see coverage.py), `size` px wide
    over the whole cell (a reduced-size simulation: the GSD grows with the cell)."""
    from dinamis_sim.coverage import CELL_M

    return SimulatedScene(
        mission=Mission.SPOT6 if cell.index % 2 else Mission.SPOT7,
        lon=cell.lon,
        lat=cell.lat,
        acquired_at=cell.acquired_at,
        size=size,
        job_id=f"{job_prefix}{cell.index:05d}",
        seed=cell.index,
        cloud_cover=(cell.index * 7) % 30,
        extent_m=CELL_M,
    )


def stage_package(client, root: Path, bucket: str, prefix: str) -> int:
    """Upload a written package to the staging bucket; return its total size."""
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.fput_object(
            bucket, prefix + path.relative_to(root).as_posix(), str(path), part_size=64 * 1024 * 1024
        )
        total += path.stat().st_size
    return total
