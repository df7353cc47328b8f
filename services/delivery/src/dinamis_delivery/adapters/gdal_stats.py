"""GDAL's own network statistics (bytes downloaded through /vsis3/, /vsicurl/...).

GDAL keeps them when `CPL_VSIL_NETWORK_STATS_ENABLED=YES`; rasterio does not expose
the C functions, so they are called through ctypes on the libgdal this process has
already loaded (the one rasterio bundles or links).
"""

from __future__ import annotations

import ctypes
import json
from functools import cache


@cache
def _lib() -> ctypes.CDLL | None:
    import rasterio  # noqa: F401  (make sure libgdal is loaded)

    with open("/proc/self/maps") as maps:
        paths = [line.split()[-1] for line in maps if "libgdal" in line and ".so" in line]
    if not paths:
        return None
    lib = ctypes.CDLL(paths[0])
    lib.VSINetworkStatsGetAsSerializedJSON.restype = ctypes.c_void_p
    lib.VSINetworkStatsGetAsSerializedJSON.argtypes = [ctypes.c_void_p]
    lib.VSIFree.argtypes = [ctypes.c_void_p]
    return lib


def reset() -> None:
    """Zero the statistics and empty GDAL's HTTP cache, so that a product's bytes read
    are its own (a worker builds products of many scenes: little to reuse anyway)."""
    lib = _lib()
    if lib is not None:
        lib.VSINetworkStatsReset()
        lib.VSICurlClearCache()


def snapshot() -> dict:
    lib = _lib()
    if lib is None:
        return {}
    pointer = lib.VSINetworkStatsGetAsSerializedJSON(None)
    if not pointer:
        return {}
    try:
        return json.loads(ctypes.string_at(pointer).decode())
    finally:
        lib.VSIFree(pointer)


def downloaded_bytes() -> int:
    """Bytes GDAL downloaded since the last reset (0 where the statistics are unavailable)."""
    methods = snapshot().get("methods", {})
    return sum(int(m.get("downloaded_bytes", 0)) for m in methods.values())


def downloaded_by_action() -> dict[str, int]:
    """Bytes downloaded since the last reset, by GDAL's kind of read: `GetFileSize` (the
    first read at open, GDAL_INGESTED_BYTES_AT_OPEN), `Read` (plain reads: the rest of
    the header and tile index, or tiles read one by one), `ReadMultiRange` (tiles of a
    window, in merged ranges)."""
    out: dict[str, int] = {}
    for handler in snapshot().get("handlers", {}).values():
        for file in handler.get("files", {}).values():
            for action, stats in file.get("actions", {}).items():
                got = sum(int(m.get("downloaded_bytes", 0)) for m in stats.get("methods", {}).values())
                out[action] = out.get(action, 0) + got
    return out


def requests() -> int:
    """HTTP requests made since the last reset."""
    return sum(int(m.get("count", 0)) for m in snapshot().get("methods", {}).values())
