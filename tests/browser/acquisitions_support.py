"""Helpers for the acquisition-request tests of the portal (integration and browser), on
the real stack (tests/browser/portal_stack.py): a member of a new organisation with a
Keycloak login, the orders API as that member and as an operator, the request form's
fields, and a scene delivered for a request (the orders service's own use case, as the
ingest event would record it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import httpx

from dinamis_orders.service import progress
from dinamis_shared.events import SceneIngestedV1
from dinamis_testkit.examples import lyon_item
from tests.browser.portal_stack import PortalStack
from tests.browser.portal_stack import log_in as portal_log_in
from tests.integration.identity import PASSWORD, Browser, new_user
from tests.integration.orders_api import Caller, in_records, seed_member, uid

COOKIE = "dinamis_portal_session"


@dataclass(frozen=True)
class Member:
    sub: str
    email: str
    password: str
    org: str


def new_member(prefix: str = "demandeur") -> Member:
    """A Keycloak user who is an active member of a new organisation (french-research)."""
    sub, email = new_user(prefix)
    org = uid("org")
    seed_member(org, sub)
    return Member(sub, email, PASSWORD, org)


def as_member(keyfile: Path, stack: PortalStack, member: Member) -> Caller:
    """The same member calling the orders API directly (to compare with the portal)."""
    return Caller(keyfile, member.sub, member.org, ["member"], api=f"{stack.orders}/v1")


def operator(keyfile: Path, stack: PortalStack) -> Caller:
    return Caller.staff(keyfile, api=f"{stack.orders}/v1")


def log_in(stack: PortalStack, member: Member, retour: str = "/demandes") -> tuple[Browser, httpx.Response]:
    """Keycloak's own login form, filled in as the member would."""
    return portal_log_in(stack.portal, member.email, member.password, retour)


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    }


def bbox_text(west: float, south: float, size: float) -> str:
    return f"{west:.3f},{south:.3f},{west + size:.3f},{south + size:.3f}"


def form_fields(aoi: str, start_in_days: int = 30, days: int = 60) -> dict[str, str]:
    """The request form as a member fills it: a tasking over `aoi`, starting in a month."""
    start = date.today() + timedelta(days=start_in_days)
    return {
        "kind": "tasking",
        "famille": "pleiades-neo",
        "aoi": aoi,
        "debut": start.isoformat(),
        "fin": (start + timedelta(days=days)).isoformat(),
        "nuages": "15",
        "incidence": "25",
        "priorite": "standard",
        "titre": "Haies du bocage lyonnais",
        "justification": "Cartographie des haies pour le projet ANR BOCAGE 2026-2029.",
    }


def deliver_scene(request_id: str, geometry: dict, scene_id: str) -> None:
    """A scene acquired for the request arrives (the orders service's use case for the
    `scene-ingested` event it consumes)."""
    item = {**lyon_item(), "id": scene_id, "geometry": geometry}
    event = SceneIngestedV1(
        scene_id=scene_id,
        version=1,
        collection="pleiades-neo-ortho",
        item=item,
        archive_prefix=f"pleiades-neo-ortho/x/{scene_id}/v1/",
        manifest_sha256="ab" * 32,
        acquisition_request_id=request_id,
    )

    async def work(orders):
        await progress.record_scene(orders, event)

    in_records(work)
