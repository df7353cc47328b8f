"""The public DINAMIS SDK (`dinamis-sdk`, unchanged) logs in as its users do — the OAuth
2.0 device flow against Keycloak, found through the catalog's OpenAPI — then signs a real
archived scene's asset and rasterio reads pixels through the signed URL. No API key is
involved: the SDK has none (no environment variable, an empty configuration directory),
and every request it sends to the catalog is recorded and checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.identity import approve_device, keycloak_url, new_user
from tests.integration.orders_api import seed_member, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

CATALOG, ORDERS, INGEST = free_ports(3)
API = f"http://127.0.0.1:{CATALOG}"
# Where users reach the object store (archive hrefs, signed URLs).
STORE = ServiceSettings().s3_public_url
TOKEN_URL = f"{keycloak_url()}/realms/dinamis/protocol/openid-connect/token"


@pytest.fixture(scope="module")
def stack_services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_CATALOG_PUBLIC_URL": API,
        "DINAMIS_ORDERS_CATALOG_URL": API,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
    }
    procs = []
    try:
        for name, port in (("orders", ORDERS), ("catalog", CATALOG), ("ingest", INGEST)):
            procs.append(start_service(name, port, logs, env=env))
        yield
    finally:
        for proc in reversed(procs):
            stop_service(proc)


@pytest.fixture(scope="module")
async def scene(settings, stack_services, tmp_path_factory):
    """A real scene archived by ingest and indexed by the catalog."""
    return await ingest_scene(
        settings, API, tmp_path_factory.mktemp("scene"), 4.87, 45.76, datetime(2026, 6, 2, 10, 30, tzinfo=UTC)
    )


SDK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import requests
    sent = []  # every request the SDK sends: (method, url, header names, authorization scheme)
    _send = requests.Session.send
    def send(self, request, **kwargs):
        auth = request.headers.get("Authorization", "")
        names = sorted(k.lower() for k in request.headers)
        sent.append([request.method, request.url, names, auth.split(" ")[0]])
        return _send(self, request, **kwargs)
    requests.Session.send = send

    import pystac, rasterio
    from rasterio.windows import Window
    import dinamis_sdk, dinamis_sdk.signing
    # The SDK signs only hosts under its storage domain (a constant): point it at ours.
    dinamis_sdk.signing.S3_STORAGE_DOMAIN = sys.argv[2]
    item = pystac.Item.from_dict(json.loads(sys.argv[1]))
    dinamis_sdk.sign_inplace(item)
    href = item.assets["pan"].href
    with rasterio.open(href) as src:
        block = src.read(1, window=Window(32, 32, 64, 64))
    print(json.dumps({
        "href": href, "shape": list(block.shape), "mean": float(block.mean()),
        "distinct": int(len(set(block.flatten().tolist()))), "sent": sent,
    }))
    """
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_sdk_logs_in_with_the_device_flow_signs_and_reads_pixels(stack_services, scene, tmp_path):
    # The catalog says where to log in, where the SDK looks.
    spec = httpx.get(f"{API}/openapi.json", timeout=30).json()
    flows = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == TOKEN_URL
    assert spec["paths"]["/sign_urls"]["post"]["security"] == [{"OAuth2PasswordBearer": []}]

    # A Keycloak user, a member of an active organisation (members read the whole archive).
    sub, email = new_user("sdk")
    seed_member(uid("org"), sub, ["member"])

    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "DINAMIS_SDK_CONFIG_DIR": str(home / "config" / "dinamis"),
        "DINAMIS_SDK_SIGNING_ENDPOINT": f"{API}/",
        "DINAMIS_SDK_RETRY_TOTAL": "2",
        "LOGLEVEL": "INFO",
    }
    assert not [k for k in env if "ACCESS_KEY" in k or "SECRET_KEY" in k]  # no API key to find
    proc = subprocess.Popen(
        [sys.executable, "-c", SDK_SCRIPT, json.dumps(scene), urlsplit(STORE).netloc],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    found = threading.Event()
    url: dict[str, str] = {}

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)
            match = re.search(r"(https?://\S+/device\S*)", ANSI.sub("", line))
            if match and not found.is_set():
                url["verification"] = match.group(1)
                found.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert found.wait(60), "the SDK printed no verification URL:\n" + "".join(stderr)[-3000:]
        # The user opens it, logs in to Keycloak and grants access, as they would.
        page = approve_device(url["verification"], email)
        assert "error" not in page.lower() or "success" in page.lower(), page[:300]
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    assert proc.returncode == 0, "".join(stderr)[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])

    # Pixels, read through the signed URL.
    assert "X-Amz-Signature=" in out["href"] and out["shape"] == [64, 64]
    assert out["mean"] > 0 and out["distinct"] > 1, out
    # The SDK found the token endpoint in the catalog's OpenAPI, used the device grant,
    # and signed with the bearer token: no API key header anywhere.
    methods_urls = [(m, u.split("?")[0]) for m, u, _, _ in out["sent"]]
    print("\nthe SDK's requests:", *[f"{m} {u} ({a or '-'})" for m, u, _, a in out["sent"]], sep="\n  ")
    print(f"pixels: mean {out['mean']:.1f}, {out['distinct']} distinct values in a 64x64 window")
    assert ("GET", f"{API}/openapi.json") in methods_urls
    assert ("POST", TOKEN_URL.rsplit("/", 1)[0] + "/auth/device") in methods_urls
    signing = [s for s in out["sent"] if s[1].startswith(f"{API}/sign_urls")]
    assert signing and all(s[3].lower() == "bearer" for s in signing), signing
    for _, sent_url, headers, _ in out["sent"]:
        assert not {"access-key", "secret-key"} & set(headers), (sent_url, headers)
    # The device flow's tokens were saved where the SDK keeps them; no API key there.
    saved = sorted(p.name for p in (home / "config" / "dinamis").iterdir())
    assert saved == [".jwt"], saved
