"""Quota arithmetic: examples and properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dinamis_orders.domain.quota import Balance, EntryKind, InsufficientQuota, QuotaError, period_of
from dinamis_shared.events import SensorFamily


def test_periods():
    when = datetime(2026, 8, 14, tzinfo=UTC)
    assert period_of(SensorFamily.PLEIADES, when) == "2026-Q3"
    assert period_of(SensorFamily.PLEIADES_NEO, when) == "2026-Q3"
    assert period_of(SensorFamily.SPOT, when) == "2026"


def test_reserve_consume_release():
    b = Balance()
    b.apply(EntryKind.ALLOCATE, 100)
    b.apply(EntryKind.RESERVE, 60, "r1")
    b.apply(EntryKind.RESERVE, 60, "r1")  # the same approval twice
    assert (b.reserved, b.available) == (60, 40)
    with pytest.raises(InsufficientQuota) as err:
        b.apply(EntryKind.RESERVE, 50, "r2")
    assert err.value.shortfall == 10 and "co-financement" in err.value.message
    b.apply(EntryKind.CONSUME, 45, "r1")
    b.apply(EntryKind.RELEASE, 15, "r1")
    assert (b.reserved, b.consumed, b.available, b.reservations) == (0, 45, 55, {})
    with pytest.raises(QuotaError):
        b.apply(EntryKind.RELEASE, 1, "r1")


@pytest.mark.parametrize("km2", [0, -5, float("inf"), float("nan"), True, "10"])
def test_absurd_areas_are_refused(km2):
    with pytest.raises(QuotaError):
        Balance().apply(EntryKind.ALLOCATE, km2)


operations = st.lists(
    st.tuples(
        st.sampled_from(list(EntryKind)),
        st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False),
        st.sampled_from(["r1", "r2", "r3"]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_no_sequence_of_entries_makes_the_balance_negative(ops):
    b = Balance()
    for kind, km2, request in ops:
        before = (b.allocated, b.reserved, b.consumed, dict(b.reservations))
        try:
            b.apply(kind, km2, request)
        except QuotaError:
            assert (b.allocated, b.reserved, b.consumed, b.reservations) == before, (
                "a refused entry changed state"
            )
        assert b.available >= -1e-6 and b.reserved >= -1e-6 and b.consumed >= -1e-6
        assert abs(sum(b.reservations.values()) - b.reserved) < 1e-6


def test_a_consumption_with_a_reference_counts_once():
    from dinamis_orders.domain.quota import Balance, EntryKind

    b = Balance()
    b.apply(EntryKind.ALLOCATE, 100)
    b.apply(EntryKind.RESERVE, 40, "r1")
    b.apply(EntryKind.CONSUME, 10, "r1", ref="r1|scene-a")
    b.apply(EntryKind.CONSUME, 10, "r1", ref="r1|scene-a")  # the same scene, retried
    assert (b.consumed, b.reserved, b.available) == (10, 30, 60)
    b.apply(EntryKind.CONSUME, 5, "r1", ref="r1|scene-b")
    assert b.consumed == 15
