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
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
        elif ip in NAT64 or ip in SIX_TO_FOUR or ip in TEREDO:
            return False
    return ip.is_global and not ip.is_multicast


NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, Teredo,
    IPv4-compatible): Python 3.11 calls some of these "global" although they reach
    private IPv4 networks through a translator."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in NAT64_LOCAL:
        return ipaddress.IPv4Address("0.0.0.0")  # local-use translation: never public
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


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
