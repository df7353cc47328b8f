"""Raster checks on real files: GDAL's Pléiades JP2 (with RPC) and truncated copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from dinamis_ingest.domain.rejections import DeliveryRejected
from dinamis_ingest.service import raster
from dinamis_shared.events import RejectionReason

JP2 = Path(__file__).with_name("fixtures") / "gdal-jpeg2000-ple" / "IMG_md_ple_R1C1.jp2"


def test_pleiades_jp2_with_rpc_is_accepted_and_converted_losslessly(tmp_path):
    info = raster.inspect(str(JP2))
    assert info.has_rpc and (info.width, info.height, info.count) == (202, 308, 4)
    cog = tmp_path / "ms.tif"
    raster.to_cog(str(JP2), cog)
    assert cog_validate(str(cog), quiet=True)[0]
    with rasterio.open(JP2) as src, rasterio.open(cog) as out:
        assert (src.read() == out.read()).all()
        assert out.tags(ns="RPC"), "RPCs must be kept for sensor products"


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_jp2_is_a_corrupt_raster(tmp_path, keep):
    for sidecar in JP2.parent.glob("*.XML"):  # the DIM and RPC that locate the image
        shutil.copy(sidecar, tmp_path)
    broken = tmp_path / JP2.name
    data = JP2.read_bytes()
    broken.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DeliveryRejected) as err:
        raster.inspect(str(broken))
        raster.to_cog(str(broken), tmp_path / "out.tif")
    assert err.value.reason is RejectionReason.CORRUPT_RASTER


def test_garbage_named_tif_is_a_corrupt_raster(tmp_path):
    fake = tmp_path / "IMG_R1C1.TIF"
    fake.write_bytes(b"II*\x00" + b"\x00" * 100)
    with pytest.raises(DeliveryRejected) as err:
        raster.inspect(str(fake))
    assert err.value.reason is RejectionReason.CORRUPT_RASTER
