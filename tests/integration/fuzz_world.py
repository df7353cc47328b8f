"""What the OpenAPI fuzz test (`test_fuzz_openapi.py`) calls with: Keycloak tokens of a
member in good standing and of an operator, and the member's real records (its
organisation, an acquisition request, a product order, an API key, a webhook, a
catalogue item, a registered tile search) whose ids the fuzzer puts in path parameters
for part of its examples, so the handlers behind the 404 are reached too.

Built as the authorisation matrix builds its world (`test_matrix.py`): the first admin
as the platform bootstraps it, the operator through the API, the member's organisation
applied for by its referent and approved by the operator, the member invited and
accepting with their own token."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.examples import lyon_item
from tests.integration.identity import new_user
from tests.integration.orders_api import application, ensure_staff, square, tasking, uid
from tests.integration.scenes import index_item
from tests.integration.test_matrix import Subject, call


@dataclass
class FuzzWorld:
    member: Subject
    operator: Subject
    ids: dict[str, str]  # path parameter name -> a real id of the member's records
    # The same for the operator, but another organisation: what staff do there (suspend
    # it, change its quotas) leaves the member in good standing for the rest of the run.
    staff_ids: dict[str, str]


async def announce_item(settings: ServiceSettings, catalog: str) -> dict:
    """A catalogue item (announced as ingested on Kafka, indexed by the catalog), as served."""
    doc = lyon_item()
    doc["id"] = f"FUZZ-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = square(4.80, 45.70, 0.05)
    doc["bbox"] = [4.80, 45.70, 4.85, 45.75]
    when = datetime.now(UTC) - timedelta(days=30)
    key = f"pleiades-neo-ortho/{when:%Y/%m/%d}/{doc['id']}/v1/ms.tif"
    doc["assets"]["ms"]["href"] = f"{settings.s3_public_url}/archive/{key}"
    doc["properties"].update(
        {"datetime": when.isoformat().replace("+00:00", "Z"), "constellation": "pleiades-neo"}
    )
    return await index_item(settings, catalog, doc, source="/tests/fuzz")


def build_world(base: dict[str, str], item: dict) -> FuzzWorld:
    orders = base["orders"] + "/v1"
    admin_sub, email = new_user("fuzz-admin")
    ensure_staff(admin_sub, ["admin"])
    admin = Subject("admin", email)

    def staff_account(sub: str, email: str, roles: list[str]) -> None:
        r = call(
            admin,
            "PUT",
            f"{orders}/organisations/dinamis/users/{sub}",
            json={"email": email, "display_name": "Personnel", "roles": roles},
        )
        assert r.status_code == 200, r.text

    staff_account(admin_sub, email, ["admin"])
    sub, email = new_user("fuzz-operator")
    staff_account(sub, email, ["operator"])
    operator = Subject("operator", email)

    def organisation(referent: Subject) -> str:
        """Applied for by `referent`, approved by the operator."""
        org = uid("org")
        r = call(
            referent, "POST", f"{orders}/organisations", json=application(f"Labo {org}", organisation_id=org)
        )
        assert r.status_code == 201, r.text
        r = call(operator, "POST", f"{orders}/organisations/{org}/decision", json={"decision": "approve"})
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        return org

    referent = Subject("referent", new_user("fuzz-referent")[1])
    org = organisation(referent)
    other_referent_sub, email = new_user("fuzz-other")
    other_org = organisation(Subject("other", email))
    member_sub, email = new_user("fuzz-member")
    member = Subject("member", email)
    r = call(
        referent,
        "POST",
        f"{orders}/organisations/{org}/invitations",
        json={"email": email, "display_name": "Marie", "language": "fr"},
    )
    assert r.status_code == 201, r.text
    r = call(member, "POST", f"{orders}/invitations/{r.json()['invitation_id']}/accept")
    assert r.status_code == 200, r.text

    # The member's records.
    r = call(member, "POST", f"{orders}/requests", json=tasking())
    assert r.status_code == 201, r.text
    request_id = r.json()["request_id"]
    r = call(
        member,
        "POST",
        f"{orders}/product-orders",
        json={"items": [{"collection": item["collection"], "item_id": item["id"]}]},
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    r = call(member, "POST", f"{orders}/api-keys", json={"name": "fuzz"})
    assert r.status_code == 201, r.text
    access_key = r.json()["access_key"]
    deadline = time.monotonic() + 60
    while True:  # notify learns about users from `user-changed`: wait for it
        r = call(
            member, "POST", f"{base['notify']}/v1/webhooks", json={"url": "https://hooks.example.fr/fuzz"}
        )
        if r.status_code != 403 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert r.status_code == 201, r.text
    webhook = r.json().get("endpoint_id") or r.json()["id"]
    r = call(
        member,
        "POST",
        f"{base['catalog-tiles']}/searches/register",
        json={"collections": [item["collection"]], "ids": [item["id"]]},
    )
    assert r.status_code == 200, r.text
    search_id = r.json()["id"]

    ids = {
        "org_id": org,
        "user_id": member_sub,
        "request_id": request_id,
        "order_id": order_id,
        "access_key": access_key,
        "endpoint_id": webhook,
        "family": "pleiades-neo",
        "period": "2026-Q4",
        "collection_id": item["collection"],
        "collection": item["collection"],
        "item_id": item["id"],
        "asset": next(iter(item["assets"])),
        "search_id": search_id,
        "tileMatrixSetId": "WebMercatorQuad",
        "supplier": "airbus",
    }
    staff_ids = {**ids, "org_id": other_org, "user_id": other_referent_sub}
    return FuzzWorld(member=member, operator=operator, ids=ids, staff_ids=staff_ids)
