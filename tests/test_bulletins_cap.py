"""CAP read safely and checked against the OASIS schema; areas that reach the commune and those that
just miss. Real documents (tests/data/cap/SOURCES.md) and hostile ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletins import cap
from bulletins.area import Place, covers, inside_polygon, play_offset, reach
from gateway import config
from gateway.core.errors import ConfigError, InvalidRequest

DATA = Path(__file__).parent / "data" / "cap"


def test_the_oasis_example_is_read_with_its_geocode_and_languages() -> None:
    alert = cap.parse((DATA / "oasis-amber-alert.xml").read_bytes())
    assert (alert.sender, alert.identifier, alert.status, alert.msg_type) == (
        "KARO@CLETS.DOJ.CA.GOV", "KAR0-0306112239-SW", "Actual", "Alert")  # fmt: skip
    assert [i.language for i in alert.infos] == ["en-US", "es-US"]
    assert alert.infos[0].areas[0].geocodes == (("SAME", "006037"),)
    assert alert.infos[0].severity == "Severe" and alert.infos[0].level is None


def test_an_update_names_what_it_replaces_and_carries_polygons() -> None:
    alert = cap.parse((DATA / "eccc-update.xml").read_bytes())
    assert alert.msg_type == "Update"
    assert alert.references[0] == ("cap-pac@canada.ca", "urn:oid:2.49.0.1.124.2009066053.2020")
    assert len(alert.references) == 3
    polygon = alert.infos[0].areas[0].polygons[0]
    assert len(polygon) >= 4 and polygon[0] == polygon[-1]


def test_a_real_polygon_holds_its_city_and_not_a_point_past_its_edge() -> None:
    city = cap.parse((DATA / "eccc-update.xml").read_bytes()).infos[0].areas[0]
    assert city.desc == "City of Thunder Bay"
    assert covers(city, Place(48.3809, -89.2477))  # Thunder Bay's city hall
    east = max(lon for _, lon in city.polygons[0])  # -89.0071, the polygon's easternmost vertex
    assert not covers(city, Place(48.4482, east + 0.0005))  # 37 m east of that vertex


def test_a_circle_is_read_in_kilometres() -> None:
    alert = cap.parse((DATA / "airnow-circle.xml").read_bytes())
    (area,) = alert.infos[0].areas
    assert area.circles == ((42.0133, -111.8092, 1.0),)
    assert covers(area, Place(42.0133, -111.8092 + 0.011))  # ~0.9 km east: inside
    assert not covers(area, Place(42.0133, -111.8092 + 0.013))  # ~1.07 km east: just outside


def test_an_atom_index_gives_the_links_to_its_cap_documents() -> None:
    links = cap.feed_links((DATA / "nws-atom-index.xml").read_bytes())
    assert len(links) == 3 and all(ln.startswith("https://alerts.weather.gov/cap/wwacapget.php?x=") for ln in links)


def test_a_gdacs_rss_gives_its_cap_links_not_its_web_pages() -> None:
    links = cap.feed_links((DATA / "gdacs-rss.xml").read_bytes())
    assert links == ["http://www.gdacs.org/cap.aspx?eventtype=EQ&eventid=1077755",
                     "http://www.gdacs.org/cap.aspx?eventtype=FL&eventid=4309"]  # fmt: skip


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""


@pytest.mark.parametrize("data", [BOMB, EXTERNAL], ids=["billion laughs", "external entity"])
def test_entities_are_refused_before_anything_is_expanded(data: bytes) -> None:
    with pytest.raises(InvalidRequest, match="DTD"):
        cap.parse(data)


def test_a_document_too_big_or_too_deep_or_not_cap_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="quá lớn"):
        cap.parse(b"<a>" + b"x" * (cap.MAX_CAP) + b"</a>")
    with pytest.raises(InvalidRequest, match="sâu"):
        cap.parse(b"<a>" * 100 + b"</a>" * 100)
    with pytest.raises(InvalidRequest, match=r"CAP 1\.2"):
        cap.parse(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>')
    missing_status = (DATA / "oasis-amber-alert.xml").read_bytes().replace(b"<status>Actual</status>", b"")
    with pytest.raises(InvalidRequest, match="lược đồ"):
        cap.parse(missing_status)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: f"<alert>{t}</alert>".encode()))
def test_any_bytes_are_taken_or_refused_with_a_clear_error(data: bytes) -> None:
    try:
        cap.parse(data)
    except InvalidRequest as e:
        assert e.message


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([b"&lol;", b'<!ENTITY x SYSTEM "http://127.0.0.1/">', b"<!DOCTYPE a>", b"%p;"]),
       st.integers(0, 400))  # fmt: skip
def test_a_dtd_anywhere_before_the_root_is_refused(trick: bytes, at: int) -> None:
    body = (DATA / "oasis-amber-alert.xml").read_bytes()
    header, _, rest = body.partition(b"\n")
    doctype = b"<!DOCTYPE alert [" + trick + b"]>" if b"DOCTYPE" not in trick else trick
    with pytest.raises(InvalidRequest):
        cap.parse(header + b"\n" + doctype + rest[: at % 5])


# ---- area ----

SQUARE = ((22.0, 105.0), (22.0, 105.1), (22.1, 105.1), (22.1, 105.0), (22.0, 105.0))


def test_a_polygon_that_just_misses_is_a_miss() -> None:
    assert inside_polygon(Place(22.05, 105.05), SQUARE)
    assert inside_polygon(Place(22.05, 105.1), SQUARE)  # on the edge counts
    assert not inside_polygon(Place(22.05, 105.10001), SQUARE)  # about a metre east
    assert not inside_polygon(Place(22.10001, 105.05), SQUARE)


def test_reach_by_code_by_the_commune_point_and_by_hamlet_points() -> None:
    by_code = cap.Area("xã", geocodes=(("ma_xa", "01234"),))
    hamlets = {1: Place(22.05, 105.05), 2: Place(22.2, 105.2), 3: None}
    assert reach([by_code], "01234", None, hamlets).whole
    assert not reach([by_code], "09999", None, hamlets).anyone
    square = cap.Area("vùng", polygons=(SQUARE,))
    some = reach([square], "", Place(23.0, 106.0), hamlets)
    assert (some.whole, some.hamlets) == (False, (1,))  # the centre is outside; hamlet 1's point inside
    centre = reach([square], "", Place(22.01, 105.01), hamlets)
    assert (centre.whole, centre.hamlets) == (False, (1, 3))  # hamlet 2's own point is outside
    assert not reach([square], "", Place(22.2, 105.3), {2: Place(22.2, 105.2)}).anyone


def test_the_cadences_of_qd_18() -> None:
    assert [play_offset("urgent", n) for n in range(3)] == [0, 7200, 14400]
    assert [play_offset("ordinary", n) for n in range(3)] == [0, 10800, 21600]
    assert [play_offset("tsunami", n) for n in range(4)] == [0, 300, 1500, 2700]
    assert play_offset("once", 1) is None


@pytest.mark.parametrize(("key", "value"), [("sender", "ubnd xa"), ("commune_code", "XA-1"), ("latitude", 123.0),
                                            ("feeds", ["file:///etc/passwd"]), ("sms_segments", 0)])  # fmt: skip
def test_a_bulletins_key_out_of_range_is_refused_by_name(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"bulletins.{key}"):
        config.from_dict({"bulletins": {key: value}})


@settings(max_examples=300, deadline=None)
@given(
    st.floats(8.0, 23.0), st.floats(102.0, 109.0), st.floats(0.001, 0.5), st.floats(0.001, 0.5),
    st.floats(-0.6, 0.6), st.floats(-0.6, 0.6),
)  # fmt: skip
def test_a_rectangle_holds_exactly_the_points_within_its_bounds(
    lat: float, lon: float, height: float, width: float, dlat: float, dlon: float
) -> None:
    corners = ((lat, lon), (lat, lon + width), (lat + height, lon + width), (lat + height, lon), (lat, lon))
    p = Place(lat + dlat, lon + dlon)
    within = lat <= p.lat <= lat + height and lon <= p.lon <= lon + width
    near_edge = min(abs(p.lat - lat), abs(p.lat - lat - height), abs(p.lon - lon), abs(p.lon - lon - width)) < 1e-9
    if not near_edge:
        assert inside_polygon(p, corners) == within
