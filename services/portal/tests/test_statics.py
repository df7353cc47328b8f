"""Static files: compressed once when the browser accepts gzip, pages never compressed
(BREACH), and the portal's OpenLayers build checked against the names its scripts use."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from dinamis_portal.entrypoints import statics
from dinamis_portal.settings import PortalSettings

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/ol.js",
        "/static/dsfr/dsfr.main.min.css",
        "/static/vendor/icons.min.css",
        "/static/app/portal.js",
        "/static/app/basemap/regions-version-simplifiee.geojson",
    ],
)
async def test_text_files_are_sent_gzipped_when_accepted_and_unchanged(portal, path):
    plain = await portal.client.get(path, headers=IDENTITY)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    packed = await portal.client.get(path, headers=GZIP)
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-type"] == plain.headers["content-type"]
    assert packed.headers["cache-control"] == "public, max-age=3600"
    # httpx decodes the body: the same bytes as the file, and fewer on the wire.
    assert packed.content == plain.content
    assert int(packed.headers["content-length"]) < len(plain.content) / 2


async def test_fonts_and_images_are_not_recompressed(portal):
    response = await portal.client.get("/static/dsfr/fonts/Marianne-Regular.woff2", headers=GZIP)
    assert response.status_code == 200 and "content-encoding" not in response.headers


async def test_pages_are_never_compressed(portal):
    """A page carries the CSRF token beside text the user typed: compressing it would open
    BREACH. Only static files are compressed."""
    for path in ("/", "/rechercher", "/accessibilite"):
        response = await portal.client.get(path, headers=GZIP)
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path


async def test_a_not_modified_answer_stays_empty(portal):
    first = await portal.client.get("/static/app/portal.js", headers=GZIP)
    again = await portal.client.get(
        "/static/app/portal.js", headers={**GZIP, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_the_openlayers_build_covers_every_name_the_scripts_use():
    settings = PortalSettings()
    built = json.loads((settings.node_modules / statics.OL_NAMES).read_text())
    used = statics.ol_names_used()
    assert {"Map", "View", "layer.Vector", "source.Vector", "format.GeoJSON"} <= used
    assert used <= set(built["names"])
    # Only modules, never OpenLayers' barrels (`ol/layer.js` re-exports every layer).
    assert "ol/layer.js" not in built["modules"] and "ol/source.js" not in built["modules"]
    # And far lighter than the full build.
    ours = (settings.node_modules / statics.VENDOR_FILES["ol.js"]).stat().st_size
    assert ours < (settings.node_modules / "ol/dist/ol.js").stat().st_size / 2


def test_only_the_icons_the_templates_name_are_sent():
    settings = PortalSettings()
    css = (settings.node_modules / statics.VENDOR_FILES["icons.min.css"]).read_text()
    used = statics.icon_names_used()
    assert {"lock-line", "account-circle-line"} <= used
    core = (settings.node_modules / statics.DSFR_DIST / "dsfr.main.min.css").read_text()
    for name in used:  # ours, or drawn by the DSFR's own CSS
        assert f".fr-icon-{name}:before" in css or f".fr-icon-{name}" in core, name
    assert ".fr-icon-ancient-gate-fill" not in css  # one of the 1,000 others
    # Absolute image URLs: the file is not served from the DSFR's directory.
    assert "url(/static/dsfr/icons/system/lock-line.svg)" in css and "../" not in css
    assert len(css) < 20_000


async def test_icon_images_are_served(portal):
    response = await portal.client.get("/static/dsfr/icons/system/lock-line.svg")
    assert response.status_code == 200 and "svg" in response.headers["content-type"]


def test_the_portal_refuses_to_start_with_a_stale_openlayers_build(tmp_path: Path):
    real = PortalSettings().frontend_dir
    front = tmp_path / "frontend"
    (front / "node_modules").mkdir(parents=True)
    for name in ("@gouvfr", "ol", "htmx.org"):
        (front / "node_modules" / name).symlink_to(real / "node_modules" / name)
    shutil.copytree(real / "build", front / "build")
    settings = PortalSettings(frontend_dir=front)
    statics.check_frontend(settings)  # the real build: accepted
    names = front / "build" / "ol-portal.json"
    built = json.loads(names.read_text())
    built["names"].remove("layer.Vector")
    names.write_text(json.dumps(built))
    with pytest.raises(statics.MissingFrontend, match=r"lacks ol\.layer\.Vector.*deploy/local/install"):
        statics.check_frontend(settings)
    names.write_text(json.dumps({**built, "names": [*built["names"], "layer.Vector"]}))
    icons = front / "build" / "icons.json"
    icons.write_text(json.dumps({"names": sorted(statics.icon_names_used() - {"lock-line"})}))
    with pytest.raises(statics.MissingFrontend, match=r"DSFR icons lacks fr-icon-lock-line"):
        statics.check_frontend(settings)
    (front / "build" / "ol-portal.js").unlink()
    with pytest.raises(statics.MissingFrontend, match=r"ol-portal\.js missing"):
        statics.check_frontend(settings)


async def test_compressed_copies_are_made_once_per_file_version(portal, monkeypatch):
    statics._gzipped.clear()
    calls: list[int] = []
    real = gzip.compress

    def counting(data: bytes, **kwargs: object) -> bytes:
        calls.append(len(data))
        return real(data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(statics.gzip, "compress", counting)
    for _ in range(3):
        response = await portal.client.get("/static/app/portal.js", headers=GZIP)
        assert response.headers["content-encoding"] == "gzip"
    assert calls == [len((statics.APP_STATIC / "portal.js").read_bytes())]


async def test_a_bugs_500_still_carries_the_security_headers():
    """Starlette answers an unhandled error from its outermost middleware, outside the
    portal's: the portal answers it itself, with the headers, as a problem."""
    import httpx

    from dinamis_portal.app import create_app

    from .conftest import settings

    app = create_app(settings())

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/en-panne", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        response = await client.get("/en-panne")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal-error" and "erreur interne" in response.json()["detail"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_no_sequence_of_requests_makes_the_portal_compress_a_file_twice(portal, monkeypatch):
    """Any visitor can ask for every file of the DSFR's dist/ (hundreds): each is compressed
    once, kept, and never compressed again while it does not change."""
    statics._gzipped.clear()
    calls: list[str] = []
    real = statics._gzip_file
    monkeypatch.setattr(statics, "_gzip_file", lambda path: calls.append(str(path)) or real(path))
    dist = PortalSettings().node_modules / statics.DSFR_DIST
    files = sorted(p.relative_to(dist) for p in dist.rglob("*.css") if 1024 < p.stat().st_size < 300_000)[
        :300
    ]
    assert len(files) > 256
    for _ in range(2):
        for rel in files:
            response = await portal.client.get(f"/static/dsfr/{rel}", headers=GZIP)
            assert response.headers["content-encoding"] == "gzip", rel
    assert len(calls) == len(set(calls)) == len(files)
