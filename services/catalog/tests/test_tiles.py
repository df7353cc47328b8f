"""Tiles: which hrefs the tiler may read, and how tiles may be cached (no server needed)."""

from __future__ import annotations

import pytest

from dinamis_catalog.entrypoints.tiles import archive_path, cache_control
from dinamis_catalog.tiles_app import TilesSettings, gdal_environment

ARCHIVE = "http://127.0.0.1:8333"


@pytest.mark.parametrize(
    ("href", "path"),
    [
        (
            f"{ARCHIVE}/archive/pleiades-neo-ortho/2026/06/01/S1/v1/pan.tif",
            "/vsis3/archive/pleiades-neo-ortho/2026/06/01/S1/v1/pan.tif",
        ),
        (
            "s3://archive/spot-6-7-ortho/2026/06/01/S2/v1/ms.tif",
            "/vsis3/archive/spot-6-7-ortho/2026/06/01/S2/v1/ms.tif",
        ),
        (f"{ARCHIVE}/staging/airbus/S1/pan.tif", None),
        (f"{ARCHIVE}/delivery/ord-1/p.tif", None),
        (f"{ARCHIVE}/archive/../staging/x.tif", None),
        (f"{ARCHIVE}/archive/a//b.tif", None),
        (f"{ARCHIVE}/archive/x.tif?X-Amz-Signature=1", None),
        (f"{ARCHIVE}/archive/", None),
        ("https://evil.example.com/archive/x.tif", None),
        ("http://127.0.0.1:18102/previews/c/i/thumbnail", None),
        ("/vsis3/archive/x.tif", None),
        ("file:///etc/passwd", None),
    ],
)
def test_only_archive_objects_are_read(href, path):
    assert archive_path(href, ARCHIVE) == path


def test_public_tiles_are_shared_full_resolution_ones_private():
    assert cache_control("/searches/abc/tiles/WebMercatorQuad/12/1/2.png", 200, 13) == "public, max-age=3600"
    assert cache_control("/searches/abc/tiles/WebMercatorQuad/14/1/2.png", 200, 13).startswith("private")
    assert cache_control("/searches/abc/tiles/WebMercatorQuad/14/1/2.png", 401, 13) is None
    assert cache_control("/searches/register", 200, 13) is None


def test_gdal_reads_the_archive_with_the_service_credentials():
    settings = TilesSettings(s3_endpoint="s3.example:9000", s3_secure=True)
    env = gdal_environment(settings)
    assert env["AWS_S3_ENDPOINT"] == "s3.example:9000" and env["AWS_HTTPS"] == "YES"
    assert env["AWS_VIRTUAL_HOSTING"] == "FALSE" and env["AWS_ACCESS_KEY_ID"] == settings.s3_access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == settings.s3_secret_key.get_secret_value()
    assert TilesSettings().http_port == 8106 and TilesSettings().tiles_public_max_zoom == 13
