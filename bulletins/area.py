"""Whether a CAP area reaches the commune: its code in a geocode, or its point (or a hamlet's) inside a
polygon or circle; and the repeat cadences of Quyết định 18/2021/QĐ-TTg."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bulletins.cap import Area

EARTH_KM = 6371.0088  # mean radius: CAP circles are in kilometres on WGS 84


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


def inside_polygon(p: Place, polygon: Sequence[tuple[float, float]]) -> bool:
    """Ray casting on (lat, lon) pairs: a commune is a few km across, far from the poles and the
    antimeridian, so the plane is close enough; a point on an edge counts as inside."""
    x, y = p.lon, p.lat
    hit = False
    n = len(polygon)
    for i in range(n):
        (y1, x1), (y2, x2) = polygon[i], polygon[(i + 1) % n]
        if _on_segment(x, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y):
            cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross:
                hit = not hit
    return hit


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    if abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12


def km_between(a: Place, b: Place) -> float:
    """Great-circle distance (haversine)."""
    la1, la2 = math.radians(a.lat), math.radians(b.lat)
    dla, dlo = la2 - la1, math.radians(b.lon - a.lon)
    h = math.sin(dla / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlo / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def covers(area: Area, p: Place) -> bool:
    if any(inside_polygon(p, poly) for poly in area.polygons):
        return True
    return any(km_between(p, Place(lat, lon)) <= r for lat, lon, r in area.circles)


@dataclass(frozen=True)
class Reach:
    """Whom a warning concerns: nobody, the whole commune, or some hamlets (by id)."""

    whole: bool
    hamlets: tuple[int, ...] = ()
    why: str = ""

    @property
    def anyone(self) -> bool:
        return self.whole or bool(self.hamlets)


def reach(areas: Sequence[Area], code: str, commune: Place | None, hamlets: dict[int, Place | None]) -> Reach:
    """The commune's code in a geocode, or its point inside, reaches everyone (but hamlets whose own
    point is outside); otherwise the hamlets whose point is inside."""
    if code and any(value.strip() == code for a in areas for _, value in a.geocodes):
        return Reach(True, tuple(hamlets), f"mã xã {code}")
    centre = commune is not None and any(covers(a, commune) for a in areas)
    chosen = []
    for hid, point in hamlets.items():
        if point is None:
            if centre:
                chosen.append(hid)
        elif any(covers(a, point) for a in areas):
            chosen.append(hid)
    if centre and len(chosen) == len(hamlets):
        return Reach(True, tuple(chosen), "vùng cảnh báo chứa trung tâm xã")
    if chosen:
        return Reach(False, tuple(chosen), "vùng cảnh báo chứa điểm của thôn")
    if centre and not hamlets:
        return Reach(True, (), "vùng cảnh báo chứa trung tâm xã")
    return Reach(False, (), "vùng cảnh báo không chạm xã")


# ---- cadence (QĐ 18/2021: urgent typhoon/flood bulletins every 2 h, ordinary every 3 h; a tsunami
# warning at once, twice 5 minutes apart, then every 20 minutes) ----

CADENCES = {
    "urgent": "Khẩn cấp: ngay, rồi 2 giờ một lần",
    "ordinary": "Thông thường: ngay, rồi 3 giờ một lần",
    "tsunami": "Sóng thần: ngay, 5 phút sau lần nữa, rồi 20 phút một lần",
    "once": "Một lần",
}


def play_offset(cadence: str, n: int) -> float | None:
    """Seconds after the first play at which play `n` (0 = the first) falls; None: no such play."""
    if n == 0:
        return 0.0
    if cadence == "urgent":
        return n * 7200.0
    if cadence == "ordinary":
        return n * 10800.0
    if cadence == "tsunami":
        return 300.0 + (n - 1) * 1200.0
    return None
