"""The one entitlements client (`OrdersEntitlements`) and the API-key resolver: a short
per-caller cache (5 s at most), invalidation, the caller's own credentials forwarded."""

import httpx
import pytest

from dinamis_shared.auth import Identity, OrdersApiKeyResolver, OrdersEntitlements, Principal, Unauthenticated


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def orders_answering(answers: dict[str, dict], calls: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        token = request.headers.get("authorization", "")
        if not token.startswith("Bearer "):
            return httpx.Response(401, json={"code": "unauthenticated"})
        return httpx.Response(200, json=answers[token.removeprefix("Bearer ")])

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def member(sub: str, org: str = "org-a", standing: str = "member") -> dict:
    return Principal(
        user_id=sub, organisation_id=org, roles=frozenset({"member"}), standing=standing
    ).model_dump(mode="json")


async def test_cached_per_subject_for_the_ttl_then_asked_again():
    calls: list[httpx.Request] = []
    answers = {"tok-alice": member("alice")}
    clock = Clock()
    client = OrdersEntitlements(
        "http://orders", ttl_s=5, client=orders_answering(answers, calls), clock=clock
    )
    alice = Identity(sub="alice")
    first = await client(alice, {"Authorization": "Bearer tok-alice"})
    assert first.standing == "member" and first.organisation_id == "org-a"
    assert str(calls[0].url) == "http://orders/v1/access/whoami"
    assert calls[0].headers["authorization"] == "Bearer tok-alice"  # the caller's own credentials
    clock.t += 4.9
    await client(alice, {"Authorization": "Bearer tok-alice"})
    assert len(calls) == 1
    answers["tok-alice"] = member("alice", standing="organisation-suspended")
    clock.t += 0.2  # past the TTL: the records' new answer
    again = await client(alice, {"Authorization": "Bearer tok-alice"})
    assert again.standing == "organisation-suspended" and not again.in_good_standing
    assert len(calls) == 2


async def test_invalidation_by_user_and_by_organisation():
    calls: list[httpx.Request] = []
    answers = {"a": member("alice"), "b": member("bob"), "c": member("carol", org="org-c")}
    client = OrdersEntitlements("http://orders", client=orders_answering(answers, calls), clock=Clock())
    for sub, tok in (("alice", "a"), ("bob", "b"), ("carol", "c")):
        await client(Identity(sub=sub), {"Authorization": f"Bearer {tok}"})
    assert client.invalidate(user_id="alice") == 1
    assert client.invalidate(organisation_id="org-a") == 1  # bob
    for sub, tok in (("alice", "a"), ("bob", "b"), ("carol", "c")):
        await client(Identity(sub=sub), {"Authorization": f"Bearer {tok}"})
    assert len(calls) == 5  # carol still cached


async def test_refusals_and_a_mismatched_answer():
    calls: list[httpx.Request] = []
    client = OrdersEntitlements("http://orders", client=orders_answering({"x": member("mallory")}, calls))
    with pytest.raises(Unauthenticated):
        await client(Identity(sub="alice"), {"Authorization": "Basic x"})
    with pytest.raises(Unauthenticated, match="another subject"):
        await client(Identity(sub="alice"), {"Authorization": "Bearer x"})


def test_ttl_is_five_seconds_at_most():
    with pytest.raises(ValueError, match="5 s at most"):
        OrdersEntitlements("http://orders", ttl_s=30)
    with pytest.raises(ValueError, match="5 s at most"):
        OrdersApiKeyResolver("http://orders", ttl_s=30)


async def test_api_key_answers_cached_for_the_ttl_only():
    calls: list[httpx.Request] = []
    standing = {"now": "member"}

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=member("alice", standing=standing["now"]) | {"via": "api-key"})

    clock = Clock()
    keys = OrdersApiKeyResolver(
        "http://orders", client=httpx.AsyncClient(transport=httpx.MockTransport(handle)), clock=clock
    )
    assert (await keys("dk_1", "secret")).via == "api-key"
    await keys("dk_1", "secret")
    assert len(calls) == 1
    standing["now"] = "user-inactive"
    clock.t += 5.01
    assert (await keys("dk_1", "secret")).standing == "user-inactive"
    assert len(calls) == 2
