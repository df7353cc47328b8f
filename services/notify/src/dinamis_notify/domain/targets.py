"""Which webhook URLs notify may call (SSRF guard), pure.

Outside development a webhook target must be `https://`, without credentials in
the URL, and every address its host resolves to must be a public unicast address:
no loopback, private (RFC 1918, ULA), link-local (cloud metadata at 169.254.169.254),
shared (CGNAT), multicast, reserved or unspecified address. The check is made at
registration and again on every connection (`adapters/webhook_http.py`), on the
very address connected to, so a DNS answer that changes later (rebinding) is caught.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from dinamis_shared.errors import DinamisError

MAX_URL_LENGTH = 2048


class TargetRefused(DinamisError):
    code = "webhook-target-refused"
    http_status = 422
    message_fr = "Adresse de webhook refusée."


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The (host, port) of an acceptable webhook URL, or TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused("URL too long", message_fr="URL trop longue.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"invalid URL: {exc}", message_fr="URL invalide.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise TargetRefused(
            "the URL must use https" + (" or http" if allow_private else ""),
            message_fr="L'URL doit utiliser https.",
        )
    if not parts.hostname:
        raise TargetRefused("the URL has no host", message_fr="L'URL n'a pas d'hôte.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "credentials in the URL are not accepted (the signature authenticates notify)",
            message_fr="Pas d'identifiants dans l'URL.",
        )
    if parts.fragment:
        raise TargetRefused(
            "the URL must not have a fragment", message_fr="L'URL ne doit pas avoir de fragment."
        )
    host = parts.hostname
    if not allow_private:
        literal = _ip_literal(host)
        if literal is not None and not is_public_address(literal):
            raise refused_address(host, literal)
        if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
            raise refused_address(host, "127.0.0.1")
    return host, port or (443 if parts.scheme == "https" else 80)


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> None:
    if not addresses:
        raise TargetRefused(f"{host} does not resolve", message_fr=f"{host} ne se résout pas.")
    if allow_private:
        return
    for address in addresses:
        if not is_public_address(address):
            raise refused_address(host, address)


def refused_address(host: str, address: str) -> TargetRefused:
    return TargetRefused(
        f"{host} resolves to {address}, a private, loopback, link-local or reserved address",
        message_fr=f"{host} désigne {address}, une adresse privée, locale ou réservée.",
    )


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
