"""Live streams' slots (Server-Sent Events relays): how many one session, one user or the
whole process holds at once, counted in a page's own table (`key -> open streams`). A
slot is taken before the answer exists (the check and the count are one step, with no
wait between them) and given back once, when the stream ends; over a limit, 429."""

from __future__ import annotations

from collections.abc import Iterable

from dinamis_portal.errors import PortalError


def too_many_streams() -> PortalError:
    return PortalError(
        "too many live streams open: close a tab, or retry in a moment",
        code="too-many-streams",
        message_fr="trop de flux en direct ouverts : fermez un onglet, ou réessayez dans un instant",
        status=429,
    )


class StreamSlot:
    """One open stream, counted under each of its keys until `release()` (idempotent)."""

    def __init__(self, counts: dict[str, int], keys: tuple[str, ...]) -> None:
        self.counts = counts
        self.keys = keys
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        for key in self.keys:
            left = self.counts.get(key, 1) - 1
            if left <= 0:
                self.counts.pop(key, None)
            else:
                self.counts[key] = left


def take_slot(counts: dict[str, int], limits: Iterable[tuple[str, int]]) -> StreamSlot:
    """A slot under every key, or 429 (nothing taken) when one of them is at its limit."""
    limits = tuple(limits)
    for key, limit in limits:
        if counts.get(key, 0) >= limit:
            raise too_many_streams()
    for key, _ in limits:
        counts[key] = counts.get(key, 0) + 1
    return StreamSlot(counts, tuple(key for key, _ in limits))
