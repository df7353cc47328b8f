"""Use cases of product orders on fakes: placing (access, items, daily limit), outcomes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dinamis_orders.domain.aoi import AoiOutsideFootprint, InvalidAoi
from dinamis_orders.service import product_orders
from dinamis_orders.service.product_orders import (
    IdempotencyKeyReused,
    ItemNotFound,
    LimitReached,
    ProductOrderDraft,
)
from dinamis_shared.auth import Forbidden
from dinamis_shared.events import DeliveryRequestedV1, ProductFailedV1, ProductReadyV1

ITEM = {"collection": "pleiades-neo-ortho", "item_id": "ITEM-1"}


def order_of(*items: dict) -> ProductOrderDraft:
    return ProductOrderDraft.model_validate({"items": list(items)})


@pytest.fixture
async def member(orders):
    principal = await orders.member_org()
    orders.catalogue.items.add(("pleiades-neo-ortho", "ITEM-1"))
    return principal


async def test_place_requests_delivery_and_counts_the_daily_limit(orders, member):
    orders.settings.product_orders_per_day = 2
    placed = await product_orders.place(orders, member, order_of(ITEM, ITEM))
    assert placed["status"] == "processing" and [p["status"] for p in placed["products"]] == ["pending"] * 2
    requested = [e for e in orders.product_orders.events if isinstance(e, DeliveryRequestedV1)]
    assert requested[0].order_id == placed["order_id"] and len(requested[0].products) == 2
    await product_orders.place(orders, member, order_of(ITEM))
    with pytest.raises(LimitReached):
        await product_orders.place(orders, member, order_of(ITEM))
    orders.fake_clock.advance(timedelta(days=1))  # a new day
    await product_orders.place(orders, member, order_of(ITEM))


async def test_unknown_items_and_non_members_are_refused(orders, member):
    with pytest.raises(ItemNotFound):
        await product_orders.place(
            orders, member, order_of({"collection": "pleiades-neo-ortho", "item_id": "NOPE"})
        )
    stranger = member.model_copy(update={"organisation_id": "org-unknown"})
    with pytest.raises(Forbidden):
        await product_orders.place(orders, stranger, order_of(ITEM))


async def test_outcomes_are_recorded_once(orders, member):
    placed = await product_orders.place(orders, member, order_of(ITEM, ITEM))
    first, second = (p["product_id"] for p in placed["products"])
    common = {
        "order_id": placed["order_id"],
        "organisation_id": "org-labo",
        "user_id": member.user_id,
        "item_id": "ITEM-1",
    }
    ready = ProductReadyV1(
        **common,
        product_id=first,
        object_key=f"{placed['order_id']}/{first}.tif",
        size_bytes=1234,
        sha256="cd" * 32,
        crs="EPSG:2154",
        footprint={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        expires_at=orders.now() + timedelta(days=30),
    )
    failed = ProductFailedV1(
        **common, product_id=second, reason_code="unsupported-option", reason="bande inconnue"
    )
    for event in (ready, ready, failed):
        await product_orders.record_product(orders, event)
    order = await orders.product_orders.require(placed["order_id"])
    assert order["status"] == "partially_ready" and order["rev"] == 3
    assert order["products"][0]["download"].endswith(f"/downloads/{first}")
    assert order["products"][1]["reason_code"] == "unsupported-option"


# --- issue 12, hole 5: every option checked before a daily slot is taken -----------------


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"bands": ["X" * 32]}, "inconnue"),
        ({"bands": ["B0", "b0"]}, "deux fois"),
        ({"bands": ["P", "B1"]}, "résolutions"),
        ({"bands": ["P"], "pansharpen": True}, "multispectrale"),
        ({"crs": "EPSG:4978"}, "cartographique 2D"),  # geocentric
        ({"crs": "EPSG:99999"}, "inconnu"),
        ({"crs": "EPSG:32760"}, "prévu pour"),  # UTM 60S, far from Clermont-Ferrand
    ],
)
async def test_bad_options_are_refused_before_a_slot_is_taken(orders, member, options, why):
    orders.settings.product_orders_per_day = 1
    with pytest.raises(product_orders.UnsupportedOption) as err:
        await product_orders.place(
            orders, member, ProductOrderDraft.model_validate({"items": [ITEM], **options})
        )
    assert err.value.http_status == 422 and err.value.code == "unsupported-option"
    assert why in (err.value.message_fr or "")
    assert orders.daily_slots.taken == {} and orders.product_orders.events == []
    await product_orders.place(orders, member, order_of(ITEM))  # the slot is still there


async def test_options_the_item_allows_pass(orders, member):
    draft = ProductOrderDraft.model_validate(
        {"items": [ITEM], "bands": ["red", "B1", "nir"], "crs": "EPSG:32631", "pansharpen": True}
    )
    placed = await product_orders.place(orders, member, draft)
    assert placed["options"]["bands"] == ["red", "B1", "nir"]
    native = ProductOrderDraft.model_validate({"items": [ITEM], "crs": "native", "bands": ["P"]})
    await product_orders.place(orders, member, native)


async def test_native_needs_a_projected_scene_and_pansharpening_both_images(orders, member):
    raw = await orders.catalogue.item("pleiades-neo-ortho", "ITEM-1")
    assert raw is not None
    del raw["properties"]["proj:code"], raw["assets"]["pan"]
    orders.catalogue.documents[("pleiades-neo-ortho", "ITEM-1")] = raw
    for options, why in (({"crs": "native"}, "projection"), ({"pansharpen": True}, "PAN et une image MS")):
        with pytest.raises(product_orders.UnsupportedOption) as err:
            await product_orders.place(
                orders, member, ProductOrderDraft.model_validate({"items": [ITEM], **options})
            )
        assert why in (err.value.message_fr or "")
    assert orders.daily_slots.taken == {}


def test_band_names_are_bounded_by_the_schema():
    from pydantic import ValidationError

    for bands in (["X" * 40], [""], []):
        with pytest.raises(ValidationError):
            ProductOrderDraft.model_validate({"items": [ITEM], "bands": bands})


def clip(x: float, y: float, d: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


async def test_a_clip_aoi_off_the_scene_is_refused_at_once(orders, member):
    """The fake item covers 3.05-3.14 E, 45.75-45.80 N (Clermont-Ferrand)."""
    orders.settings.product_orders_per_day = 1
    draft = ProductOrderDraft.model_validate({"items": [ITEM], "aoi": clip(4.5, 45.75, 0.02)})
    with pytest.raises(AoiOutsideFootprint) as err:
        await product_orders.place(orders, member, draft)
    assert err.value.code == "aoi-outside-footprint" and "ITEM-1" in err.value.message_fr
    # Nothing spent, nothing asked of delivery: the day's only slot is still there.
    assert not [e for e in orders.product_orders.events if isinstance(e, DeliveryRequestedV1)]
    inside = ProductOrderDraft.model_validate({"items": [ITEM], "aoi": clip(3.08, 45.76, 0.02)})
    placed = await product_orders.place(orders, member, inside)
    assert placed["warnings"] == []


async def test_a_clip_aoi_partly_off_the_scene_is_placed_with_a_warning(orders, member):
    draft = ProductOrderDraft.model_validate({"items": [ITEM], "aoi": clip(3.13, 45.76, 0.02)})
    placed = await product_orders.place(orders, member, draft)
    [warning] = placed["warnings"]
    assert warning["code"] == "aoi-partly-outside-footprint" and "ITEM-1" in warning["message"]
    assert warning["message_en"].startswith("ITEM-1: only")


async def test_a_sliver_clip_aoi_is_refused(orders, member):
    draft = ProductOrderDraft.model_validate({"items": [ITEM], "aoi": clip(3.08, 45.76, 0.00001)})
    with pytest.raises(InvalidAoi) as err:
        await product_orders.place(orders, member, draft)
    assert err.value.code == "aoi-too-small"


async def test_an_idempotency_key_places_one_order_whatever_the_retries(orders, member):
    orders.settings.product_orders_per_day = 2
    first = await product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-1")
    again = await product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-1")
    assert again["order_id"] == first["order_id"] and again["replayed"] is True
    requested = [e for e in orders.product_orders.events if isinstance(e, DeliveryRequestedV1)]
    assert [e.order_id for e in requested] == [first["order_id"]]  # one delivery asked, not two
    # The replay spent no second slot: one more order still fits in the day's two.
    await product_orders.place(orders, member, order_of(ITEM))
    with pytest.raises(LimitReached):
        await product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-2")
    # The same key with another order is refused, the first order unchanged.
    with pytest.raises(IdempotencyKeyReused):
        await product_orders.place(orders, member, order_of(ITEM, ITEM), idempotency_key="k-1")
    # Keys are per user: another member's k-1 is another order.
    other = member.model_copy(update={"user_id": "someone-else"})
    assert product_orders.keyed_order_id(other.user_id, "k-1") != first["order_id"]


async def test_a_retry_after_the_slot_was_taken_but_the_order_lost_spends_no_second_slot(orders, member):
    """A replica killed between the slot and the order's write: the client retries with its key."""
    orders.settings.product_orders_per_day = 1
    order_id = product_orders.keyed_order_id(member.user_id, "k-crash")
    day = orders.now().date().isoformat()
    assert await orders.daily_slots.take(member.user_id, day, order_id, 1)  # the crashed attempt
    placed = await product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-crash")
    assert placed["order_id"] == order_id and "replayed" not in placed


async def test_a_catalogue_that_cannot_answer_is_a_503_not_a_500():
    """A catalog replica restarting: the item lookup says "unavailable", never "not found"."""
    from dinamis_orders.adapters.catalogue import HttpCatalogue
    from dinamis_orders.service.ports import CatalogueUnavailable

    with pytest.raises(CatalogueUnavailable) as refused:
        await HttpCatalogue("http://127.0.0.1:9", timeout_s=2).item("spot-6-7-ortho", "ITEM-1")
    assert refused.value.http_status == 503 and "127.0.0.1" not in refused.value.message


async def test_the_same_key_placed_twice_at_once_answers_one_order_to_both(orders, member):
    """A client timing out and retrying while its first call still runs."""
    import asyncio

    real_write = orders.product_orders.write

    async def slow_write(*args, **kwargs):  # both calls past their checks before either writes
        await asyncio.sleep(0.01)
        return await real_write(*args, **kwargs)

    orders.product_orders.write = slow_write
    both = await asyncio.gather(
        product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-race"),
        product_orders.place(orders, member, order_of(ITEM), idempotency_key="k-race"),
    )
    assert both[0]["order_id"] == both[1]["order_id"]
    requested = [e for e in orders.product_orders.events if isinstance(e, DeliveryRequestedV1)]
    assert len(requested) == 1


async def test_a_replay_names_the_same_order_whatever_the_order_of_its_json_keys(orders, member):
    aoi = {"type": "Polygon", "coordinates": [[[3.05, 45.75], [3.14, 45.75], [3.14, 45.80], [3.05, 45.75]]]}
    shuffled = {"coordinates": aoi["coordinates"], "type": "Polygon"}
    first = ProductOrderDraft.model_validate({"items": [ITEM], "aoi": aoi})
    again = ProductOrderDraft.model_validate({"aoi": shuffled, "items": [ITEM]})
    assert product_orders._draft_digest(first) == product_orders._draft_digest(again)
