"""The local identity provider: Keycloak's `dinamis` realm, kept as the repository says.

python deploy/local/keycloak.py realm
    Create the realm from deploy/keycloak/dinamis-realm.json, or bring its clients up
    to date (partial import, overwrite). Idempotent; run by `deploy/local/stack up`.
python deploy/local/keycloak.py user EMAIL [--password P] [--first F --last L]
    Create (or reset) a verified user; print its `sub` (the id the platform knows).
python deploy/local/keycloak.py token EMAIL --password P
    A development convenience: an access token for a user, obtained from Keycloak with
    the `dinamis-dev` client (password grant, created in development only).

Placeholders in the realm file: @SMTP_PORT@, @PORTAL_URL@ and @SECRET_<SERVICE>@ (each
service's client secret: DINAMIS_KEYCLOAK_SECRET_<SERVICE> or, in development only,
`dinamis-dev-<service>`).

Added here (not in the realm file): `dinamis-portal`, the web portal's confidential
client (authorization code + PKCE S256, secret DINAMIS_KEYCLOAK_SECRET_PORTAL_WEB or, in
development only, `dinamis-dev-portal-web`), redirect URI $DINAMIS_PORTAL_URL/auth/callback;
in development also any port of 127.0.0.1 (the tests start portals on free ports).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
REALM_FILE = ROOT / "deploy" / "keycloak" / "dinamis-realm.json"
REALM = "dinamis"
DEV_CLIENT = "dinamis-dev"
PORTAL_CLIENT = "dinamis-portal"


def base() -> str:
    return os.environ.get("DINAMIS_KEYCLOAK_URL", "http://127.0.0.1:8180")


def development() -> bool:
    """Only when said so (stack.env does): elsewhere the realm gets no development client
    and no development secret, like the services' own default."""
    return os.environ.get("DINAMIS_ENVIRONMENT", "production") in ("development", "test")


def _retrying(method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request to Keycloak, retried for a minute while it answers 5xx or not at all:
    right after its database restarted (tests stop PostgreSQL), its first answers are 500."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.request(method, url, **kwargs)  # type: ignore[arg-type]
            if response.status_code < 500 or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1)


def admin_client() -> httpx.Client:
    done = _retrying(
        "POST",
        f"{base()}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": os.environ.get("DINAMIS_KEYCLOAK_ADMIN", "admin"),
            "password": os.environ.get("DINAMIS_KEYCLOAK_ADMIN_PASSWORD", "dinamis-dev-admin"),
        },
        timeout=30,
    )
    done.raise_for_status()
    return httpx.Client(
        base_url=f"{base()}/admin/realms",
        headers={"Authorization": f"Bearer {done.json()['access_token']}"},
        timeout=60,
    )


def realm_document() -> dict:
    text = REALM_FILE.read_text(encoding="utf-8")
    text = text.replace("@SMTP_PORT@", os.environ.get("DINAMIS_SMTP_PORT", "1025"))
    text = text.replace("@PORTAL_URL@", os.environ.get("DINAMIS_PORTAL_URL", "http://127.0.0.1:8107"))

    def secret(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(f"DINAMIS_KEYCLOAK_SECRET_{name}")
        if value:
            return value
        if not development():
            sys.exit(
                f"DINAMIS_KEYCLOAK_SECRET_{name} is unset (development secrets are refused in production)"
            )
        return f"dinamis-dev-{name.lower()}"

    document = json.loads(re.sub(r"@SECRET_([A-Z]+)@", secret, text))
    if development():
        document["clients"].append(
            {
                "clientId": DEV_CLIENT,
                "name": "Development only: tokens for `dinamis token` and the tests",
                "publicClient": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": True,
                "protocolMappers": document["clients"][0]["protocolMappers"],
            }
        )
    document["clients"].append(portal_client(document["clients"][0]["protocolMappers"]))
    # Service accounts of the confidential clients (client credentials grant): Keycloak
    # creates them only when a client is created one by one, not by a realm import.
    document["users"] = [
        {
            "username": f"service-account-{c['clientId']}",
            "enabled": True,
            "serviceAccountClientId": c["clientId"],
        }
        for c in document["clients"]
        if c.get("serviceAccountsEnabled")
    ]
    return document


def portal_client(protocol_mappers: list) -> dict:
    """The web portal's confidential client (services/portal): authorization code with
    PKCE (S256 required), tokens with the `dinamis` audience the services accept."""
    portal_url = os.environ.get("DINAMIS_PORTAL_URL", "http://127.0.0.1:8107").rstrip("/")
    secret = os.environ.get("DINAMIS_KEYCLOAK_SECRET_PORTAL_WEB")
    if not secret:
        if not development():
            sys.exit(
                "DINAMIS_KEYCLOAK_SECRET_PORTAL_WEB is unset (development secrets are refused in production)"
            )
        secret = "dinamis-dev-portal-web"
    redirects = [f"{portal_url}/auth/callback"]
    logout = [f"{portal_url}/"]
    if development():
        # Tests start portals on free ports of the loopback interface.
        redirects.append("http://127.0.0.1:*")
        logout.append("http://127.0.0.1:*")
    return {
        "clientId": PORTAL_CLIENT,
        "name": "DINAMIS — portail web (serveur)",
        "description": "The members' web portal, a confidential client: authorization code + PKCE, "
        "tokens kept server-side (services/portal).",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "frontchannelLogout": False,
        "redirectUris": redirects,
        "webOrigins": [],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": "##".join(logout),
        },
        "protocolMappers": protocol_mappers,
    }


def ensure_realm() -> str:
    document = realm_document()
    with admin_client() as admin:
        if admin.get(f"/{REALM}").status_code == 404:
            admin.post("", json=document).raise_for_status()
            return f"realm {REALM} created ({len(document['clients'])} clients)"
        settings = {k: v for k, v in document.items() if k not in ("clients",)}
        admin.put(f"/{REALM}", json=settings).raise_for_status()
        done = admin.post(
            f"/{REALM}/partialImport",
            json={
                "ifResourceExists": "OVERWRITE",
                "clients": document["clients"],
                "users": document["users"],
            },
        )
        done.raise_for_status()
        return f"realm {REALM} up to date ({len(document['clients'])} clients)"


def ensure_user(email: str, password: str, first: str = "Test", last: str = "User") -> str:
    with admin_client() as admin:
        found = admin.get(f"/{REALM}/users", params={"email": email, "exact": "true"}).json()
        if found:
            user_id = found[0]["id"]
        else:
            done = admin.post(
                f"/{REALM}/users",
                json={
                    "username": email,
                    "email": email,
                    "firstName": first,
                    "lastName": last,
                    "enabled": True,
                    "emailVerified": True,
                },
            )
            done.raise_for_status()
            user_id = done.headers["Location"].rsplit("/", 1)[1]
        admin.put(
            f"/{REALM}/users/{user_id}/reset-password",
            json={"type": "password", "value": password, "temporary": False},
        ).raise_for_status()
        return user_id


def password_token(email: str, password: str) -> str:
    done = _retrying(
        "POST",
        f"{base()}/realms/{REALM}/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": DEV_CLIENT, "username": email, "password": password},
        timeout=30,
    )
    done.raise_for_status()
    return done.json()["access_token"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("realm")
    user = sub.add_parser("user")
    user.add_argument("email")
    user.add_argument("--password", default="dinamis-dev-password")
    user.add_argument("--first", default="Test")
    user.add_argument("--last", default="User")
    token = sub.add_parser("token")
    token.add_argument("email")
    token.add_argument("--password", default="dinamis-dev-password")
    args = parser.parse_args()
    if args.command == "realm":
        print(ensure_realm())
    elif args.command == "user":
        print(ensure_user(args.email, args.password, args.first, args.last))
    else:
        print(password_token(args.email, args.password))


if __name__ == "__main__":
    main()
