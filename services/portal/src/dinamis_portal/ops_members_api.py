"""The orders service as the console's memberships and quotas pages see it (a port and
its HTTP adapter): every organisation and its application evidence, history, users and
contractor delegations; the operator's decisions (approve, refuse, suspend, reinstate,
renew); the staff accounts; every quota, its ledger, allocations and adjustments.

Every call carries the operator's own access token: orders decides (staff, admin) from
its records. A refusal comes back as `Refused` (organisation_api) with orders' code and
French reason, for the page to show and the journal to record."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from dinamis_portal.organisation_api import SAFE_ID, Refused, field_errors, unavailable, unknown
from dinamis_portal.upstream import call_service, problem_detail


class OpsMembersApi(Protocol):
    async def organisations(self, token: str, status: str | None = None) -> list[dict[str, Any]]: ...
    async def organisation(self, token: str, org_id: str) -> dict[str, Any]: ...
    async def history(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def users(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def delegations(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def decide(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def set_status(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def staff(self, token: str) -> dict[str, Any]: ...
    async def put_staff(self, token: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def quotas(self, token: str, filters: dict[str, str]) -> list[dict[str, Any]]: ...
    async def ledger(self, token: str, org_id: str, family: str, period: str) -> dict[str, Any]: ...
    async def allocate(
        self, token: str, org_id: str, family: str, period: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


def path_id(value: str, what: str) -> str:
    if not SAFE_ID.match(value or ""):
        raise unknown(what)
    return value


class HttpOpsMembersApi:
    def __init__(self, orders_url: str, http: httpx.AsyncClient) -> None:
        self.base = orders_url.rstrip("/")
        self.http = http

    async def _call(
        self, method: str, path: str, token: str, json: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        url = f"{self.base}{path}"
        response = await call_service(
            self.http, method, url, token, lambda: unavailable("orders"), json=json, params=params
        )
        if response.status_code >= 400:
            code, detail = problem_detail(response)
            raise Refused(response.status_code, code, detail or code, field_errors(response))
        try:
            return response.json()
        except ValueError as exc:
            raise unavailable("orders") from exc

    async def organisations(self, token: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"limit": "500", **({"status": status} if status else {})}
        return (await self._call("GET", "/v1/organisations", token, params=params))["organisations"]

    async def organisation(self, token: str, org_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/organisations/{path_id(org_id, 'organisation')}", token)

    async def history(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = path_id(org_id, "organisation")
        return (await self._call("GET", f"/v1/organisations/{org}/history", token))["history"]

    async def users(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = path_id(org_id, "organisation")
        return (await self._call("GET", f"/v1/organisations/{org}/users", token))["users"]

    async def delegations(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = path_id(org_id, "organisation")
        return (await self._call("GET", f"/v1/organisations/{org}/delegations", token))["delegations"]

    async def decide(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        org = path_id(org_id, "organisation")
        return await self._call("POST", f"/v1/organisations/{org}/decision", token, json=body)

    async def set_status(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        org = path_id(org_id, "organisation")
        return await self._call("POST", f"/v1/organisations/{org}/status", token, json=body)

    async def staff(self, token: str) -> dict[str, Any]:
        return await self._call("GET", "/v1/staff", token)

    async def put_staff(self, token: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", f"/v1/staff/{path_id(user_id, 'compte')}", token, json=body)

    async def quotas(self, token: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v}
        return (await self._call("GET", "/v1/quotas", token, params=params))["quotas"]

    async def ledger(self, token: str, org_id: str, family: str, period: str) -> dict[str, Any]:
        org, fam, per = path_id(org_id, "organisation"), path_id(family, "quota"), path_id(period, "quota")
        return await self._call("GET", f"/v1/quotas/{org}/{fam}/{per}/ledger", token)

    async def allocate(
        self, token: str, org_id: str, family: str, period: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        org, fam, per = path_id(org_id, "organisation"), path_id(family, "quota"), path_id(period, "quota")
        return await self._call("POST", f"/v1/quotas/{org}/{fam}/{per}", token, json=body)
