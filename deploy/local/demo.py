"""Part of `make up`: the institution's workflow on the running platform, through the
services' HTTP APIs, as real people would do it: each one is a Keycloak user (realm
`dinamis`) with tokens from Keycloak; what they may do comes from the orders service's
records (the operator is bootstrapped as staff the way an installation's first staff is,
with `python -m dinamis_orders.staff`):

1. an organisation applies (charter and licence accepted), an operator approves it, its
   referent invites a member who accepts, the operator allocates a Pléiades Neo quota;
2. the member asks for an acquisition over Lyon (a quote first), the operator approves,
   the supplier simulator acquires and delivers, ingest archives, the request is fulfilled;
3. the member orders a clipped Lambert-93 product of the delivered scene and gets its
   download link; notify has e-mailed the member along the way.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keycloak  # deploy/local/keycloak.py

ORDERS = "http://127.0.0.1:8103/v1"
DELIVERY = "http://127.0.0.1:8104"
PASSWORD = "demo-dinamis-2026-lyon"
ORG = "org-demo-inrae-lyon"
LYON = {
    "type": "Polygon",
    "coordinates": [[[4.80, 45.72], [4.88, 45.72], [4.88, 45.77], [4.80, 45.77], [4.80, 45.72]]],
}


class Person:
    """A Keycloak user of the realm; a fresh access token (they live 5 minutes) per call."""

    def __init__(self, email: str, first: str, last: str) -> None:
        self.email = email
        self.sub = keycloak.ensure_user(email, PASSWORD, first, last)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {keycloak.password_token(self.email, PASSWORD)}"}


def call(method: str, path: str, who: Person, ok: tuple[int, ...] = (200, 201), **kw) -> dict:
    r = httpx.request(method, ORDERS + path, headers=who.headers, timeout=60, **kw)
    if r.status_code not in ok:
        sys.exit(f"!! {method} {path}: {r.status_code} {r.text[:400]}")
    return r.json()


def wait(what: str, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            sys.exit(f"!! timed out waiting for {what}")
        time.sleep(1.0)
    return result


def main() -> None:
    print("==> demo: membership, quota, acquisition request, product order (Keycloak identities)")
    operator = Person("paul.operateur@dinamis.example.fr", "Paul", "Opérateur")
    referent = Person("jeanne.martin@inrae.example.fr", "Jeanne", "Martin")
    member = Person("marie.dupont@inrae.example.fr", "Marie", "Dupont")
    # DINAMIS_DEMO_STAFF: how to run `python -m dinamis_orders.staff` where the orders
    # service's database is reachable (the compose stack: inside the orders container).
    staff = shlex.split(os.environ.get("DINAMIS_DEMO_STAFF", ""))
    staff = staff or [sys.executable, "-m", "dinamis_orders.staff"]
    subprocess.run(
        [*staff, operator.sub, operator.email, "--role", "operator"], check=True, stdout=subprocess.DEVNULL
    )
    org = call(
        "POST",
        "/organisations",
        referent,
        ok=(201, 409),
        json={
            "organisation_id": ORG,
            "name": "INRAE Lyon (démo)",
            "category": "french-research",
            "legal_representative": {
                "name": "Jeanne Martin",
                "email": "direction@inrae.example.fr",
                "title": "Directrice d'unité",
            },
            "accept_charter": "charte-dinamis-2024",
            "accept_licence": "licence-produits-dinamis-2024",
            "referent_email": "jeanne.martin@inrae.example.fr",
            "referent_name": "Jeanne Martin",
        },
    )
    if org.get("status") == "pending":
        call("POST", f"/organisations/{ORG}/decision", operator, json={"decision": "approve"})
    if call("GET", "/me", member)["principal"].get("organisation_id") != ORG:
        # The referent invites Marie by e-mail; she accepts with her own login (no account
        # is bound to an organisation without its owner's consent).
        invitation = call(
            "POST",
            f"/organisations/{ORG}/invitations",
            referent,
            json={"email": member.email, "display_name": "Marie Dupont", "language": "fr"},
        )
        call("POST", f"/invitations/{invitation['invitation_id']}/accept", member)
    start = datetime.now(UTC) + timedelta(days=1)
    draft = {
        "kind": "tasking",
        "sensor_family": "pleiades-neo",
        "aoi": LYON,
        "window": {"start": start.isoformat(), "end": (start + timedelta(days=60)).isoformat()},
        "title": "Îlots de chaleur, Lyon",
        "justification": "Cartographie de la végétation urbaine (projet démo).",
    }
    quote = call("POST", "/requests/quote", member, json=draft)
    period = quote["quota"]["period"]
    call(
        "POST", f"/quotas/{ORG}/pleiades-neo/{period}", operator, json={"km2": 500, "reason": "dotation démo"}
    )
    print(
        f"    organisation {ORG} active; quote: {quote['area_km2']:.1f} km²,"
        f" {len(quote['warnings'])} warning(s)"
    )
    req = call("POST", "/requests", member, json=draft)
    rid = req["request_id"]
    call("POST", f"/requests/{rid}/actions", operator, json={"action": "start_review"})
    call("POST", f"/requests/{rid}/actions", operator, json={"action": "approve"})
    print(f"    request {rid} approved; the supplier simulator acquires...")
    done = wait(
        "the request to be fulfilled",
        lambda: (
            (s := call("GET", f"/requests/{rid}", member))["status"] in ("fulfilled", "partially_fulfilled")
            and s
        ),
    )
    print(
        f"    request {rid} {done['status']}: {len(done['scenes'])} scene(s),"
        f" {done['covered_share']:.0%} covered"
    )
    balance = call("GET", f"/quotas/{ORG}/pleiades-neo/{period}", member)
    print(
        f"    quota {period}: {balance['consumed_km2']:.1f} km² consumed,"
        f" {balance['available_km2']:.1f} available"
    )
    scene = done["scenes"][0]
    clip = {
        "type": "Polygon",
        "coordinates": [[[4.82, 45.73], [4.85, 45.73], [4.85, 45.75], [4.82, 45.75], [4.82, 45.73]]],
    }
    order = call(
        "POST",
        "/product-orders",
        member,
        json={
            "items": [{"collection": "pleiades-neo-ortho", "item_id": scene}],
            "aoi": clip,
            "crs": "EPSG:2154",
        },
    )
    oid = order["order_id"]
    ready = wait(
        "the product",
        lambda: (o := call("GET", f"/product-orders/{oid}", member))["status"] != "processing" and o,
    )
    product = ready["products"][0]
    if product["status"] != "ready":
        sys.exit(f"!! product {product['product_id']}: {product.get('reason')}")
    r = httpx.get(product["download"], headers=member.headers, timeout=30)
    print(
        f"    product order {oid} ready: {product['size_bytes']} bytes, {product['crs']}; "
        f"GET {product['download']} -> {r.status_code} (presigned redirect)"
    )


if __name__ == "__main__":
    main()
