"""What a product reads from the archive: the window around a clip, the part of it the
bilinear kernel can reach, and GDAL's statistics by kind of read. Local files only."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.windows import Window

from dinamis_delivery.adapters import gdal_stats
from dinamis_delivery.service import builder

# A 1024 x 1024 UTM 31N image of 10 m pixels: two 512 px tiles each way.
ORIGIN_X, ORIGIN_Y, GSD = 500_000.0, 5_000_000.0, 10.0
TO_LL = Transformer.from_crs(32631, 4326, always_xy=True)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "src.tif"
    data = (np.arange(1024 * 1024, dtype=np.uint32) % 60_000 + 1).astype(np.uint16).reshape(1, 1024, 1024)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=1024,
        height=1024,
        count=1,
        dtype="uint16",
        crs="EPSG:32631",
        transform=Affine(GSD, 0, ORIGIN_X, 0, -GSD, ORIGIN_Y),
        tiled=True,
        blockxsize=512,
        blockysize=512,
    ) as dst:
        dst.write(data)
    with rasterio.open(path) as src:
        yield src


def clip(col0: float, row0: float, col1: float, row1: float) -> dict:
    """A WGS84 polygon whose box in the image's pixel grid is (col0, row0)-(col1, row1)."""
    corners = [(col0, row0), (col1, row0), (col1, row1), (col0, row1), (col0, row0)]
    ring = [TO_LL.transform(ORIGIN_X + c * GSD, ORIGIN_Y - r * GSD) for c, r in corners]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def test_the_window_keeps_its_2_px_margin_but_only_the_kernels_reach_is_needed(image):
    # Right edge 0.73 px left of the tile edge at column 512 (as a field of the bench did).
    aoi = clip(400.2, 100.5, 511.27, 200.5)
    window = builder.source_window(image, aoi)
    # floor(400.2) - 2 = 398, ceil(511.27) + 2 = 514; rows floor(100.5) - 2 = 98, ceil(200.5) + 2 = 203.
    assert (window.col_off, window.row_off, window.width, window.height) == pytest.approx((398, 98, 116, 105))
    needed = builder.needed_window(image, aoi, window)
    # floor(400.2 - 0.6) = 399; floor(511.27 + 0.6) + 1 = 512 (column 512 is not read: it
    # is 0.73 px away, beyond the kernel's half pixel and the tenth of safety);
    # rows floor(100.5 - 0.6) = 99, floor(200.5 + 0.6) + 1 = 202.
    assert (needed.col_off, needed.row_off, needed.width, needed.height) == pytest.approx((399, 99, 113, 103))
    assert needed.col_off + needed.width <= 512 < window.col_off + window.width


def test_an_edge_within_the_kernels_reach_of_a_tile_edge_needs_the_next_tile(image):
    aoi = clip(400.0, 100.0, 511.6, 200.0)  # 0.4 px from column 512: bilinear samples it
    needed = builder.needed_window(image, aoi, builder.source_window(image, aoi))
    assert needed.col_off + needed.width == pytest.approx(513)  # floor(511.6 + 0.6) + 1


def test_no_clip_reads_the_whole_window(image):
    window = builder.source_window(image, None)
    assert builder.needed_window(image, None, window) == window == Window(0, 0, 1024, 1024)


def test_the_local_window_has_the_needed_pixels_and_zeros_elsewhere(image, tmp_path):
    window, needed = Window(398, 98, 116, 105), Window(399, 99, 113, 103)
    local = tmp_path / "window.tif"
    builder.fetch_window(image, window, (1,), ("P",), local, needed)
    source = image.read(1)
    with rasterio.open(local) as got:
        assert (got.width, got.height) == (116, 105)
        assert got.transform == image.window_transform(window)
        data = got.read(1)
    inner = data[1:104, 1:114]  # the needed part, 1 px in from the window's top-left
    assert np.array_equal(inner, source[99:202, 399:512])
    assert (data[0, :] == 0).all() and (data[:, 0] == 0).all()  # row 98, column 398
    assert (data[104, :] == 0).all() and (data[:, 114:] == 0).all()  # row 202, columns 512-513
    assert (source[98:203, 398:514] != 0).all()  # the zeros are not the source's


def test_bytes_read_by_kind_of_read(monkeypatch):
    snap = {
        "methods": {"GET": {"count": 3, "downloaded_bytes": 330_000}},
        "handlers": {
            "vsis3": {
                "files": {
                    "/vsis3/archive/a/pan.tif": {
                        "actions": {
                            "GetFileSize": {"methods": {"GET": {"count": 1, "downloaded_bytes": 4096}}},
                            "Read": {"methods": {"GET": {"count": 1, "downloaded_bytes": 2048}}},
                            "ReadMultiRange": {"methods": {"GET": {"count": 1, "downloaded_bytes": 300_000}}},
                        }
                    },
                    "/vsis3/archive/a/ms.tif": {
                        "actions": {
                            "GetFileSize": {"methods": {"GET": {"count": 1, "downloaded_bytes": 4096}}},
                            "ReadMultiRange": {"methods": {"GET": {"count": 1, "downloaded_bytes": 19_760}}},
                        }
                    },
                }
            }
        },
    }
    monkeypatch.setattr(gdal_stats, "snapshot", lambda: snap)
    assert gdal_stats.downloaded_by_action() == {"GetFileSize": 8192, "Read": 2048, "ReadMultiRange": 319_760}
    assert gdal_stats.requests() == 3


def test_the_options_gdal_reads_once_per_process_go_into_its_environment():
    settings = builder.BuildSettings("s3:9000", False, "eu", "key", "secret", "delivery", "/w", 10, "r")
    env = builder.process_env(settings)
    assert env["CPL_VSIL_CURL_CHUNK_SIZE"] == "2048"
    assert env["AWS_SECRET_ACCESS_KEY"] == "secret" and env["AWS_S3_ENDPOINT"] == "s3:9000"
    options = builder.gdal_env(settings)
    # No VSI block cache (32 KiB blocks): a COG's 5 KiB header must not cost 32 KiB.
    assert options["VSI_CACHE"] == "FALSE" and options["GDAL_INGESTED_BYTES_AT_OPEN"] == "4096"


# Products built reading only the needed pixels are the products built reading the whole
# window: the pixels left at 0 are never used. Random pixels, so any use of one shows.
# (Checked the other way round: with a reach of -1 px instead of 0.6, i.e. dropping pixels
# inside the clip's box, these products differ in 40 to 156 pixels; down to -0.6 px they
# do not, so the 0.6 px read has over a pixel of slack.)
def noise_cog(path) -> None:
    data = np.random.default_rng(5).integers(1, 60_000, (1, 1024, 1024), dtype=np.uint16)
    profile = {
        "driver": "GTiff",
        "width": 1024,
        "height": 1024,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32631",
        "transform": Affine(GSD, 0, ORIGIN_X, 0, -GSD, ORIGIN_Y),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def item_for(path) -> dict:
    return {
        "id": "S1",
        "collection": "spot-6-7-ortho",
        "geometry": clip(0, 0, 1024, 1024),
        "properties": {"proj:code": "EPSG:32631"},
        "assets": {
            "pan": {
                "href": "http://127.0.0.1:8333/archive/c/s1/pan.tif",
                "roles": ["data"],
                "bands": [{"name": "P", "eo:common_name": "pan"}],
            }
        },
    }


# Clips 40 px wide with one edge `d` px from the tile edge at 512 (column or row),
# on either side of it.
def edge_clips(d: float) -> list[dict]:
    return [
        clip(512 - d - 40, 300, 512 - d, 340),  # right edge left of the tile edge
        clip(512 + d, 300, 512 + d + 40, 340),  # left edge right of it
        clip(300, 512 - d - 40, 340, 512 - d),  # bottom edge above it
        clip(300, 512 + d, 340, 512 + d + 40),  # top edge below it
    ]


@pytest.mark.parametrize("d", [0.05, 0.45, 0.62, 0.73, 1.4])
@pytest.mark.parametrize("crs", ["EPSG:2154", "native", "EPSG:4326"])
def test_reading_only_the_needed_pixels_leaves_products_unchanged(tmp_path, monkeypatch, d, crs):
    from dinamis_delivery.domain.products import plan_product
    from dinamis_shared.events import ProductSpec

    path = tmp_path / "pan.tif"
    noise_cog(path)
    monkeypatch.setattr(builder, "_vsis3", lambda image: str(path))
    item = item_for(path)
    needed = builder.needed_window
    for n, aoi in enumerate(edge_clips(d)):
        spec = ProductSpec(product_id="p1", collection=item["collection"], item_id="S1", aoi=aoi, crs=crs)
        plan = plan_product("o1", spec, item)
        with rasterio.open(path) as src:
            window = builder.source_window(src, plan.clip)
            part = needed(src, plan.clip, window)
        # Beyond 0.6 px the next tile is not read at all, within it it is.
        cols, rows = part.col_off + part.width, part.row_off + part.height
        crosses = part.col_off < 512 < cols or part.row_off < 512 < rows
        assert crosses == (d <= 0.6)
        products = []
        for rule in (needed, lambda src, clip, window: window):
            monkeypatch.setattr(builder, "needed_window", rule)
            work = tmp_path / f"w{n}-{len(products)}"
            work.mkdir()
            builder.write_product(plan, work / "out.tif", work, 10**8)
            with rasterio.open(work / "out.tif") as out:
                products.append((out.read(), out.transform, out.crs))
        (got, transform, out_crs), (expected, transform0, crs0) = products
        assert transform == transform0 and out_crs == crs0
        assert got.shape == expected.shape and np.array_equal(got, expected)
        assert (got != 0).sum() > 0.5 * got.size  # a real product, not nodata
