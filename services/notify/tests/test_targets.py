"""The webhook SSRF guard (pure) and the connection-time check."""

from __future__ import annotations

import pytest

from dinamis_notify.adapters.webhook_http import GuardedBackend, WebhookClient
from dinamis_notify.domain.targets import TargetRefused, check_addresses, check_url, is_public_address


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/x",  # plain http
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://172.16.5.4/x",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[fe80::1]/x",
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://100.64.0.1/x",  # shared address space
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://localhost/x",
        "https://api.localhost/x",
        "https://user:pw@hooks.example.org/x",
        "ftp://hooks.example.org/x",
        "https:///x",
        "https://hooks.example.org:99999/x",
        "https://hooks.example.org/x#frag",
        "https://hooks.example.org/" + "a" * 3000,
    ],
)
def test_production_refuses(url):
    with pytest.raises(TargetRefused):
        check_url(url, allow_private=False)


def test_production_accepts_public_https():
    assert check_url("https://hooks.example.org/dinamis", allow_private=False) == ("hooks.example.org", 443)
    assert check_url("https://8.8.8.8:8443/x", allow_private=False) == ("8.8.8.8", 8443)


def test_development_accepts_loopback_http():
    assert check_url("http://127.0.0.1:18555/hook", allow_private=True) == ("127.0.0.1", 18555)


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.1.1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("ff02::1", False),
        ("not-an-ip", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_a_name_resolving_to_any_private_address_is_refused():
    with pytest.raises(TargetRefused):
        check_addresses("rebind.example", ["8.8.8.8", "10.0.0.5"], allow_private=False)
    with pytest.raises(TargetRefused):
        check_addresses("nowhere.example", [], allow_private=False)
    check_addresses("dev.example", ["127.0.0.1"], allow_private=True)


async def test_the_connection_itself_is_checked(monkeypatch):
    """DNS rebinding: the name resolved to a public address at registration, now to
    loopback — the connection is refused and recorded as a failed attempt."""
    import dinamis_notify.adapters.webhook_http as module

    async def rebound(host, port):
        return ["127.0.0.1"]

    monkeypatch.setattr(module, "resolve", rebound)
    with pytest.raises(TargetRefused):
        await GuardedBackend(allow_private=False).connect_tcp("hooks.example.org", 443)
    client = WebhookClient(allow_private=False, timeout_s=2)
    result = await client.post("https://hooks.example.org/x", b"{}", {})
    await client.aclose()
    assert not result.ok and "127.0.0.1" in result.error


def test_ipv6_forms_of_private_ipv4_are_not_public():
    from dinamis_notify.domain.targets import is_public_address

    for address in (
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "::7f00:1",
        "::ffff:10.0.0.1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ):
        assert not is_public_address(address), address
    for address in ("2001:4860:4860::8888", "8.8.8.8", "64:ff9b::808:808"):
        assert is_public_address(address), address
