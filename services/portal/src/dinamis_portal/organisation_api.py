"""The services behind "Mon organisation" (a port and its HTTP adapter): the orders
service (membership terms, the application, the organisation, its history, users,
invitations, contractor delegations, quotas and their ledger, API keys) and notify
(preferences, webhooks and their deliveries, the test event).

Every call carries the user's own access token; the services decide. A refusal comes
back as `Refused` with the service's code and French reason, for the page to show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import problem_detail

# Identifiers the services hand out (organisations, users, keys, webhooks, invitations):
# anything else never reaches a URL path.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}\Z")
Service = Literal["orders", "notify"]


@dataclass
class Refused(Exception):
    """A service's refusal: its HTTP status, code and (French) reason."""

    status: int
    code: str
    detail: str
    # A 422's field errors ("where: what"), French first as the service words them.
    errors: tuple[str, ...] = ()

    def as_error(self) -> PortalError:
        message = " ; ".join((self.detail, *self.errors))
        return PortalError(message, code=self.code, message_fr=message, status=self.status)


def field_errors(response: httpx.Response) -> tuple[str, ...]:
    try:
        body = response.json()
    except ValueError:
        return ()
    found = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(found, list):
        return ()
    out = []
    for e in found[:20]:
        if isinstance(e, dict):
            where = ".".join(str(p) for p in (e.get("loc") or []) if p != "body")
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            out.append((f"{where} : {msg}" if where else msg)[:500])
    return tuple(out)


def unavailable(service: str) -> Refused:
    names = {"orders": "le service des commandes et adhésions", "notify": "le service de notification"}
    return Refused(
        503, f"{service}-unavailable", f"{names.get(service, service)} ne répond pas pour le moment"
    )


def unknown(what: str) -> Refused:
    return Refused(404, "not-found", f"{what} introuvable")


class OrganisationApi(Protocol):
    async def terms(self) -> dict[str, Any]: ...
    async def me(self, token: str) -> dict[str, Any]: ...
    async def apply(self, token: str, application: dict[str, Any]) -> dict[str, Any]: ...
    async def organisation(self, token: str, org_id: str) -> dict[str, Any]: ...
    async def history(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def users(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def put_user(
        self, token: str, org_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...
    async def invitations(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def invite(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def revoke_invitation(self, token: str, org_id: str, invitation_id: str) -> None: ...
    async def delegations(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def decide_delegation(
        self, token: str, org_id: str, contractor_id: str, confirm: bool, reason: str | None
    ) -> None: ...
    async def quotas(self, token: str, org_id: str) -> list[dict[str, Any]]: ...
    async def ledger(self, token: str, org_id: str, family: str, period: str) -> dict[str, Any]: ...
    async def api_keys(self, token: str) -> list[dict[str, Any]]: ...
    async def create_api_key(self, token: str, name: str) -> dict[str, Any]: ...
    async def revoke_api_key(self, token: str, access_key: str) -> None: ...
    async def preferences(self, token: str) -> dict[str, Any]: ...
    async def put_preferences(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def webhooks(self, token: str) -> list[dict[str, Any]]: ...
    async def create_webhook(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def webhook(self, token: str, endpoint_id: str) -> dict[str, Any]: ...
    async def deliveries(self, token: str, endpoint_id: str) -> list[dict[str, Any]]: ...
    async def webhook_action(
        self, token: str, endpoint_id: str, action: Literal["test", "reactivate", "delete"]
    ) -> None: ...


def _path_id(value: str, what: str) -> str:
    if not SAFE_ID.match(value or ""):
        raise unknown(what)
    return value


class HttpOrganisationApi:
    def __init__(self, orders_url: str, notify_url: str, http: httpx.AsyncClient) -> None:
        self.base: dict[str, str] = {"orders": orders_url.rstrip("/"), "notify": notify_url.rstrip("/")}
        self.http = http

    async def _call(
        self,
        service: Service,
        method: str,
        path: str,
        token: str | None,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Accept-Language": "fr", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self.http.request(
                method, f"{self.base[service]}{path}", headers=headers, json=json, params=params
            )
        except httpx.HTTPError as exc:
            raise unavailable(service) from exc
        if response.status_code >= 500:
            raise unavailable(service)
        if response.status_code >= 400:
            code, detail = problem_detail(response)
            raise Refused(response.status_code, code, detail or code, field_errors(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise unavailable(service) from exc

    # --- orders: membership ---------------------------------------------------------

    async def terms(self) -> dict[str, Any]:
        return await self._call("orders", "GET", "/v1/membership/terms", None)

    async def me(self, token: str) -> dict[str, Any]:
        return await self._call("orders", "GET", "/v1/me", token)

    async def apply(self, token: str, application: dict[str, Any]) -> dict[str, Any]:
        return await self._call("orders", "POST", "/v1/organisations", token, json=application)

    async def organisation(self, token: str, org_id: str) -> dict[str, Any]:
        org = _path_id(org_id, "organisation")
        return await self._call("orders", "GET", f"/v1/organisations/{org}", token)

    async def history(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = _path_id(org_id, "organisation")
        return (await self._call("orders", "GET", f"/v1/organisations/{org}/history", token))["history"]

    async def users(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = _path_id(org_id, "organisation")
        return (await self._call("orders", "GET", f"/v1/organisations/{org}/users", token))["users"]

    async def put_user(self, token: str, org_id: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        org, user = _path_id(org_id, "organisation"), _path_id(user_id, "utilisateur")
        return await self._call("orders", "PUT", f"/v1/organisations/{org}/users/{user}", token, json=body)

    async def invitations(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = _path_id(org_id, "organisation")
        return (await self._call("orders", "GET", f"/v1/organisations/{org}/invitations", token))[
            "invitations"
        ]

    async def invite(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        org = _path_id(org_id, "organisation")
        return await self._call("orders", "POST", f"/v1/organisations/{org}/invitations", token, json=body)

    async def revoke_invitation(self, token: str, org_id: str, invitation_id: str) -> None:
        org, inv = _path_id(org_id, "organisation"), _path_id(invitation_id, "invitation")
        await self._call("orders", "DELETE", f"/v1/organisations/{org}/invitations/{inv}", token)

    async def delegations(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = _path_id(org_id, "organisation")
        return (await self._call("orders", "GET", f"/v1/organisations/{org}/delegations", token))[
            "delegations"
        ]

    async def decide_delegation(
        self, token: str, org_id: str, contractor_id: str, confirm: bool, reason: str | None
    ) -> None:
        org, contractor = _path_id(org_id, "organisation"), _path_id(contractor_id, "délégation")
        path = f"/v1/organisations/{org}/delegations/{contractor}/" + ("confirm" if confirm else "end")
        await self._call("orders", "POST", path, token, json=None if confirm else {"reason": reason or ""})

    # --- orders: quotas, API keys ----------------------------------------------------

    async def quotas(self, token: str, org_id: str) -> list[dict[str, Any]]:
        org = _path_id(org_id, "organisation")
        return (await self._call("orders", "GET", f"/v1/quotas/{org}", token))["quotas"]

    async def ledger(self, token: str, org_id: str, family: str, period: str) -> dict[str, Any]:
        org, fam, per = _path_id(org_id, "organisation"), _path_id(family, "quota"), _path_id(period, "quota")
        return await self._call("orders", "GET", f"/v1/quotas/{org}/{fam}/{per}/ledger", token)

    async def api_keys(self, token: str) -> list[dict[str, Any]]:
        return (await self._call("orders", "GET", "/v1/api-keys", token))["api_keys"]

    async def create_api_key(self, token: str, name: str) -> dict[str, Any]:
        return await self._call("orders", "POST", "/v1/api-keys", token, json={"name": name})

    async def revoke_api_key(self, token: str, access_key: str) -> None:
        key = _path_id(access_key, "clé d'API")
        await self._call("orders", "DELETE", f"/v1/api-keys/{key}", token)

    # --- notify ------------------------------------------------------------------------

    async def preferences(self, token: str) -> dict[str, Any]:
        return await self._call("notify", "GET", "/v1/preferences", token)

    async def put_preferences(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("notify", "PUT", "/v1/preferences", token, json=body)

    async def webhooks(self, token: str) -> list[dict[str, Any]]:
        return (await self._call("notify", "GET", "/v1/webhooks", token))["webhooks"]

    async def create_webhook(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("notify", "POST", "/v1/webhooks", token, json=body)

    async def webhook(self, token: str, endpoint_id: str) -> dict[str, Any]:
        hook = _path_id(endpoint_id, "webhook")
        return await self._call("notify", "GET", f"/v1/webhooks/{hook}", token)

    async def deliveries(self, token: str, endpoint_id: str) -> list[dict[str, Any]]:
        hook = _path_id(endpoint_id, "webhook")
        answer = await self._call(
            "notify", "GET", f"/v1/webhooks/{hook}/deliveries", token, params={"limit": "50"}
        )
        return answer["deliveries"]

    async def webhook_action(
        self, token: str, endpoint_id: str, action: Literal["test", "reactivate", "delete"]
    ) -> None:
        hook = _path_id(endpoint_id, "webhook")
        if action == "delete":
            await self._call("notify", "DELETE", f"/v1/webhooks/{hook}", token)
        else:
            await self._call("notify", "POST", f"/v1/webhooks/{hook}/{action}", token)
