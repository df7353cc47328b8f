"""An AOI in the page's URL: the search state is the URL (shareable, back button), so a
drawn, pasted or uploaded area must fit in it.

Format `p1.<base64url(zlib(rings))>`: each polygon's rings written with the encoded
polyline algorithm (precision 1e-5 degree, about 1 m; characters 63-126), rings joined
by `,`, polygons by `;`, then deflated and base64url-encoded without padding. A
rectangle is about 40 characters, a 500-vertex outline about 2,000. Codes longer than
`MAX_URL_CODE` are refused: the review offers to simplify the area first (a page address
beyond about 8 kB is cut by some servers and proxies)."""

from __future__ import annotations

import base64
import binascii
import re
import zlib

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dinamis_portal.aoi.parsers import AoiProblem

PREFIX = "p1."
PRECISION = 1e5
MAX_URL_CODE = 6_000
MAX_DECODED = 512 * 1024
MAX_DECODED_VERTICES = 250_000  # what the parsers read at most (200,000), and a margin
TERMINAL = re.compile(r"[?-^]")


def _encode_number(value: int) -> str:
    value = ~(value << 1) if value < 0 else value << 1
    out = []
    while value >= 0x20:
        out.append(chr((0x20 | (value & 0x1F)) + 63))
        value >>= 5
    out.append(chr(value + 63))
    return "".join(out)


def _encode_ring(coords: list[tuple[float, float]]) -> str:
    out = []
    last_x = last_y = 0
    for x, y in coords:
        ix, iy = round(x * PRECISION), round(y * PRECISION)
        out.append(_encode_number(ix - last_x))
        out.append(_encode_number(iy - last_y))
        last_x, last_y = ix, iy
    return "".join(out)


def _decode_ring(text: str) -> list[tuple[float, float]]:
    numbers = []
    value = shift = 0
    for char in text:
        code = ord(char) - 63
        if not 0 <= code < 64:
            raise _bad()
        value |= (code & 0x1F) << shift
        shift += 5
        if shift > 60:
            raise _bad()
        if code < 0x20:
            numbers.append(~(value >> 1) if value & 1 else value >> 1)
            value = shift = 0
    if shift or len(numbers) % 2:
        raise _bad()
    coords = []
    x = y = 0
    for i in range(0, len(numbers), 2):
        x += numbers[i]
        y += numbers[i + 1]
        coords.append((x / PRECISION, y / PRECISION))
    return coords


def _bad() -> AoiProblem:
    return AoiProblem(
        "aoi-url-code",
        "zone de l'adresse illisible (paramètre zone) : dessinez ou importez-la de nouveau",
        "unreadable area in the address (zone parameter): draw or import it again",
    )


def polygons(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return []


def encode(geometry: BaseGeometry) -> str:
    parts = []
    for polygon in polygons(geometry):
        rings = [polygon.exterior, *polygon.interiors]
        parts.append(",".join(_encode_ring(list(r.coords)) for r in rings))
    raw = ";".join(parts).encode("ascii")
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii").rstrip("=")


def decode(code: str, max_len: int = MAX_URL_CODE, max_decoded: int = MAX_DECODED) -> BaseGeometry:
    """The geometry of a code (a Polygon or a MultiPolygon), not yet checked against the
    AOI rules; a malformed code is an `AoiProblem`. A code posted back by the review step
    (to simplify) may be longer than one in a URL: the caller says how long."""
    if not code.startswith(PREFIX) or len(code) > max_len:
        raise _bad()
    body = code[len(PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, max_decoded)
        if inflater.unconsumed_tail:
            raise _bad()
        text = raw.decode("ascii")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
        raise _bad() from None
    # A number ends with a character below `_` (63 + 32): count the numbers before
    # building rings, so that a code of many zeros cannot make a huge polygon.
    if len(TERMINAL.findall(text)) > 2 * MAX_DECODED_VERTICES:
        raise _bad()
    found = []
    for part in text.split(";"):
        rings = [_decode_ring(r) for r in part.split(",")]
        if not rings or any(len(r) < 4 for r in rings):
            raise _bad()
        try:
            found.append(Polygon(rings[0], rings[1:]))
        except (ValueError, shapely.errors.GEOSException):
            raise _bad() from None
    if not found:
        raise _bad()
    return found[0] if len(found) == 1 else MultiPolygon(found)
