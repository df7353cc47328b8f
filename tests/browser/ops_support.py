"""What every test of the ops console needs: a DINAMIS operator (or admin) who logs in
through Keycloak's own form — a Keycloak user whose account in the orders service's
records is staff (the platform's own organisation, as `python -m dinamis_orders.staff`
bootstraps it) — and the same user logged into a real headless Chromium."""

from __future__ import annotations

from typing import Any

from tests.integration.identity import PASSWORD, new_user
from tests.integration.orders_api import ensure_staff


def operator(*roles: str) -> tuple[str, str, str]:
    """A Keycloak user (verified, with a password) who is DINAMIS staff in the orders
    service's records with `roles` (operator by default): (sub, e-mail, password)."""
    sub, email = new_user("operateur")
    ensure_staff(sub, list(roles or ("operator",)))
    return sub, email, PASSWORD


async def browser_login(
    page: Any, portal: str, email: str, password: str = PASSWORD, retour: str = "/ops"
) -> None:
    """Log `page` in through Keycloak's login form and land on `retour`."""
    await page.goto(f"{portal}/connexion?retour={retour}")
    await page.fill("#username", email)
    await page.fill("#password", password)
    await page.click("#kc-login")
    await page.wait_for_url(f"{portal}{retour}*")
