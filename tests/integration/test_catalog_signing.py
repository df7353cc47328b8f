"""Signed URLs for archive assets: the public DINAMIS SDK's `sign_inplace` against our
`/sign_urls`, producing URLs rasterio reads pixels from; refusals for non-members,
suspended organisations and contractors outside their delegation; bad URLs refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.testing import running_services
from tests.integration.orders_api import Caller, new_member_org, orders_api, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

CATALOG, ORDERS, INGEST = free_ports(3)
API = f"http://127.0.0.1:{CATALOG}"
# Where users reach the object store (archive hrefs, signed URLs).
STORE = ServiceSettings().s3_public_url


@pytest.fixture(scope="module")
def stack_services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_CATALOG_SIGN_MAX_SECONDS": "86400",
        "DINAMIS_CATALOG_UPLOAD_URLS_PER_HOUR": "6",
        "DINAMIS_CATALOG_UPLOAD_MAX_OBJECTS": "3",
        "DINAMIS_ORDERS_CATALOG_URL": API,
    }
    with running_services((("orders", ORDERS), ("catalog", CATALOG), ("ingest", INGEST)), logs, env):
        yield


@pytest.fixture(autouse=True)
def _orders_api(operator):
    """The operator (and the members it creates) call this module's orders service."""
    operator.api = orders_api(ORDERS)


@pytest.fixture(scope="module")
def operator(keyfile, stack_services):
    return Caller.staff(keyfile)


@pytest.fixture(scope="module")
async def scene(settings, stack_services, tmp_path_factory):
    """A real scene archived by ingest and indexed by the catalog."""
    return await ingest_scene(
        settings, API, tmp_path_factory.mktemp("scene"), 4.85, 45.75, datetime(2026, 6, 1, 10, 30, tzinfo=UTC)
    )


SDK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import pystac, rasterio
    from rasterio.windows import Window
    import dinamis_sdk.signing
    # The SDK signs only hosts under its storage domain (a constant): point it at ours.
    dinamis_sdk.signing.S3_STORAGE_DOMAIN = sys.argv[2]
    item = pystac.Item.from_dict(json.loads(sys.argv[1]))
    dinamis_sdk.sign_inplace(item)
    href = item.assets["pan"].href
    with rasterio.open(href) as src:
        block = src.read(1, window=Window(0, 0, 64, 64))
    print(json.dumps({"href": href, "mean": float(block.mean()), "shape": list(block.shape)}))
    """
)


def run_sdk(item: dict, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, json.dumps(item), urlsplit(STORE).netloc],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "DINAMIS_SDK_SIGNING_ENDPOINT": f"{API}/",
            "DINAMIS_SDK_RETRY_TOTAL": "1",
            "DINAMIS_SDK_CONFIG_DIR": "/nonexistent",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dinamis_sdk_sign_inplace_gives_urls_rasterio_reads(keyfile, operator, scene):
    _, member = new_member_org(keyfile, operator)
    pair = member.call("POST", "/api-keys", json={"name": "sdk"}).json()
    done = run_sdk(
        scene, {"DINAMIS_SDK_ACCESS_KEY": pair["access_key"], "DINAMIS_SDK_SECRET_KEY": pair["secret_key"]}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "X-Amz-Signature=" in out["href"] and out["shape"] == [64, 64] and out["mean"] > 0
    # The unsigned href is refused by the object store.
    assert httpx.get(scene["assets"]["pan"]["href"]).status_code == 403


def sign(caller_headers: dict, urls: list[str], **params) -> httpx.Response:
    return httpx.post(f"{API}/sign_urls", params={"urls": urls, **params}, headers=caller_headers, timeout=30)


def test_expiry_defaults_and_cap(keyfile, operator, scene):
    _, member = new_member_org(keyfile, operator)
    href = scene["assets"]["pan"]["href"]
    r = sign(member.headers, [href])
    assert r.status_code == 200, r.text
    expiry = datetime.fromisoformat(r.json()["expiry"].replace("Z", "+00:00"))
    # Default 7 days, capped here at 1 day by DINAMIS_CATALOG_SIGN_MAX_SECONDS.
    assert timedelta(hours=23) < expiry - datetime.now(UTC) <= timedelta(days=1)
    r = sign(member.headers, [href], duration_seconds=600)
    expiry = datetime.fromisoformat(r.json()["expiry"].replace("Z", "+00:00"))
    assert expiry - datetime.now(UTC) <= timedelta(seconds=600)
    assert "X-Amz-Expires=600" in r.json()["hrefs"][href]


def test_signing_refused_with_reasons(keyfile, operator, scene):
    href = scene["assets"]["pan"]["href"]
    # Not a member: a token for an organisation DINAMIS does not know.
    outsider = Caller(keyfile, uid("usr"), uid("org"), ["member"])
    r = sign(outsider.headers, [href])
    assert r.status_code == 403 and r.json()["code"] == "not-a-member", r.text
    # Suspended organisation.
    _, member = new_member_org(keyfile, operator)
    operator.call(
        "POST", f"/organisations/{member.org}/status", json={"status": "suspended", "reason": "audit"}
    )
    r = sign(member.headers, [href])
    assert r.status_code == 403 and r.json()["code"] == "organisation-suspended", r.text
    # A contractor whose delegation is over; and one whose body never obtained this scene.
    _, body = new_member_org(keyfile, operator, category="french-public")
    now = datetime.now(UTC)
    for start, end, code in (
        (now - timedelta(days=60), now - timedelta(days=1), "delegation-expired"),
        (now - timedelta(days=1), now + timedelta(days=60), "not-licensed"),
    ):
        _, contractor = new_member_org(
            keyfile,
            operator,
            category="contractor",
            commissioning_organisation_id=body.org,
            contract_start=start.isoformat(),
            contract_end=end.isoformat(),
        )
        r = sign(contractor.headers, [href])
        assert r.status_code == 403 and r.json()["code"] == code, r.text
    # No credentials; bad URLs.
    assert sign({}, [href]).status_code == 401
    _, ok = new_member_org(keyfile, operator)
    bad = {
        "https://evil.example.com/archive/x.tif": "foreign-host",
        f"{STORE}/delivery/ord-1/p.tif": "outside-archive",
        f"{STORE}/archive/../staging/x": "signing-refused",
        href.replace("/pan.tif", "/manifest.json"): "unknown-object",
        href.replace(scene["id"], "PNEO4-NOPE"): "unknown-object",
        href + "?X-Amz-Signature=1": "signing-refused",
    }
    for url, code in bad.items():
        r = sign(ok.headers, [url])
        assert 400 <= r.status_code < 500 and r.json()["code"] == code, (url, r.text)
    assert sign(ok.headers, []).status_code == 400
    assert sign(ok.headers, [href] * 2).status_code == 200  # duplicates signed once


def test_sign_urls_put_only_under_own_upload_prefix(keyfile, operator):
    _, member = new_member_org(keyfile, operator)
    mine = f"{STORE}/uploads/{member.org}/{member.user}/field/labels.geojson"
    r = httpx.post(f"{API}/sign_urls_put", params={"urls": [mine]}, headers=member.headers, timeout=30)
    assert r.status_code == 200, r.text
    put = httpx.put(r.json()["hrefs"][mine], content=b'{"type": "FeatureCollection", "features": []}')
    assert put.status_code == 200, put.text
    theirs = f"{STORE}/uploads/other-org/{member.user}/x.json"
    r = httpx.post(f"{API}/sign_urls_put", params={"urls": [theirs]}, headers=member.headers, timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "outside-upload-prefix"


def test_upload_urls_are_short_lived_counted_and_capped(keyfile, operator):
    """PUT URLs live 15 minutes at most whatever is asked; a user's folder holds at most
    DINAMIS_CATALOG_UPLOAD_MAX_OBJECTS (3 here) objects; at most
    DINAMIS_CATALOG_UPLOAD_URLS_PER_HOUR (6 here) URLs an hour."""
    _, member = new_member_org(keyfile, operator)
    base = f"{STORE}/uploads/{member.org}/{member.user}"

    def sign_put(name: str, **params) -> httpx.Response:
        return httpx.post(
            f"{API}/sign_urls_put",
            params={"urls": [f"{base}/{name}"], **params},
            headers=member.headers,
            timeout=30,
        )

    issued = 0
    for n in range(3):
        r = sign_put(f"f{n}.json", duration_seconds=7 * 24 * 3600)
        assert r.status_code == 200, r.text
        issued += 1
        href = r.json()["hrefs"][f"{base}/f{n}.json"]
        assert int(re.search(r"X-Amz-Expires=(\d+)", href).group(1)) <= 900
        assert httpx.put(href, content=b"{}").status_code == 200
    full = sign_put("f3.json")
    assert full.status_code == 429 and full.json()["code"] == "upload-limit", full.text
    assert "plein" in full.json()["detail"] or "full" in full.json()["detail"]
    # Another member of the same organisation has their own folder and their own count.
    _, other = new_member_org(keyfile, operator)
    other_base = f"{STORE}/uploads/{other.org}/{other.user}"
    answers = [
        httpx.post(
            f"{API}/sign_urls_put",
            params={"urls": [f"{other_base}/g{n}.json"]},
            headers=other.headers,
            timeout=30,
        ).status_code
        for n in range(7)
    ]
    assert answers == [200] * 6 + [429], answers
