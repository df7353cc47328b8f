"""What every page of the console shares: its menu, its context (the operator, the
journal's "done" notices), the required reason of an action, the redirect after one."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from dinamis_portal import ops  # noqa: F401
from dinamis_portal.bootstrap import PortalContainer
from dinamis_portal.entrypoints.pages import format_datetime, page_context
from dinamis_portal.errors import PortalError
from dinamis_portal.i18n import Lang, text
from dinamis_portal.ops import texts  # noqa: F401  (registers the texts)
from dinamis_portal.ops.staff import Staff

BASE = "/ops"
# (key, path, label): the console's sections, in the menu's order.
SECTIONS = (
    ("home", BASE, "ops.menu.home"),
    ("review", f"{BASE}/demandes", "ops.menu.review"),
    ("members", f"{BASE}/adhesions", "ops.menu.members"),
    ("quotas", f"{BASE}/quotas", "ops.menu.quotas"),
    ("coverage", f"{BASE}/couverture", "ops.menu.coverage"),
    ("pipeline", f"{BASE}/chaine", "ops.menu.pipeline"),
    ("announcements", f"{BASE}/annonces", "ops.menu.announcements"),
    ("journal", f"{BASE}/journal", "ops.menu.journal"),
)
# The success notices a redirect may name (`?fait=`), each with its text `ops.done.<key>`;
# a section adds its own with `done_notices`.
DONE: set[str] = {"announcement", "announcement-withdrawn", "maintenance-on", "maintenance-off"}


def done_notices(*keys: str) -> None:
    DONE.update(keys)


async def ops_context(
    request: Request, container: PortalContainer, staff: Staff, section: str
) -> dict[str, Any]:
    context = await page_context(request, container, "ops")
    lang: Lang = context["lang"]
    done = request.query_params.get("fait")
    context.update(
        section=section,
        ops_sections=SECTIONS,
        staff=staff,
        staff_roles=", ".join(text(f"ops.role.{r}", lang) for r in sorted(staff.roles)),
        done=done if done in DONE else None,
        refusal=None,
        when=lambda value: when(value, lang),
    )
    return context


def when(value: Any, lang: Lang) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return format_datetime(str(value), lang) if value else ""


def done(path: str, what: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'fait': what, **params})}", status_code=303)


def field(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def reason_missing() -> PortalError:
    return PortalError(
        "give a reason: it is written to the actions journal",
        code="reason-required",
        message_fr="indiquez un motif : il est enregistré au journal des actions",
        status=400,
    )


def required_reason(form: FormData, name: str = "reason") -> str:
    reason = field(form, name, 2000)
    if not reason:
        raise reason_missing()
    return reason
