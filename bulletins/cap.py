"""CAP 1.2 in and out: a document read safely (no DTD, no entities, bounded), checked against the OASIS
schema kept in this package, and the commune's own bulletins written back as CAP and as an Atom feed."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import xmlschema
from defusedxml import DefusedXmlException

from gateway.core.errors import InvalidRequest

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
SCHEMA = Path(__file__).parent / "schema" / "CAP-v1.2.xsd"
MAX_CAP = 1024 * 1024  # bytes: feeds are told to keep a CAP under 900 KB (Google's CAP feed requirements)
MAX_DEPTH = 32  # CAP nests 5 deep; anything far deeper is not CAP
RISK_NAMES = ("cap_do_rui_ro", "capdoruiro", "risk_level", "risklevel", "qd18_risk_level")
SEVERITY_LEVEL = {"Extreme": 4, "Severe": 3, "Moderate": 2, "Minor": 1, "Unknown": 1}


@dataclass(frozen=True)
class Area:
    desc: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()  # (lat, lon, radius km)
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)


@dataclass(frozen=True)
class Info:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    expires: float | None
    sender_name: str
    level: int | None  # the QĐ 18/2021 risk level (cấp độ rủi ro) when a parameter carries it
    areas: tuple[Area, ...]


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: float
    status: str
    msg_type: str
    scope: str
    references: tuple[tuple[str, str], ...]  # (sender, identifier)
    infos: tuple[Info, ...] = field(default=())

    @property
    def info(self) -> Info | None:
        """The Vietnamese info when there is one, else the first."""
        for i in self.infos:
            if i.language.lower().startswith("vi"):
                return i
        return self.infos[0] if self.infos else None


@functools.cache
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def when(text: str) -> float:
    """A CAP dateTime ("2026-12-02T14:00:00+07:00"; the schema requires the offset) as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"thời điểm không hợp lệ trong CAP: {text[:40]!r}", field="sent") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"thời điểm trong CAP thiếu múi giờ: {text[:40]!r}", field="sent")
    return moment.timestamp()


def read(data: bytes) -> ET.Element:
    """The document's root, or a clear refusal: too big, a DTD (entity bombs, external entities), not XML."""
    if len(data) > MAX_CAP:
        raise InvalidRequest(f"Bản tin CAP quá lớn: tối đa {MAX_CAP // 1024} KB", field="body")
    try:
        # forbid_dtd: a CAP never needs one, and refusing it refuses every entity trick at once
        root: ET.Element = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise InvalidRequest(f"Bản tin CAP bị từ chối: có DTD hoặc thực thể XML ({type(e).__name__})",
                             field="body") from None  # fmt: skip
    except (ET.ParseError, ValueError) as e:
        raise InvalidRequest(f"Không đọc được XML: {str(e)[:200]}", field="body") from None
    if _depth(root) > MAX_DEPTH:
        raise InvalidRequest("XML lồng nhau quá sâu (not CAP)", field="body")
    return root


def _depth(element: ET.Element) -> int:
    deepest, stack = 0, [(element, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, d + 1) for child in node)
    return deepest


def parse(data: bytes) -> Alert:
    """A CAP 1.2 alert, read safely and valid against the OASIS schema; otherwise InvalidRequest."""
    return from_element(read(data))


def from_element(root: ET.Element) -> Alert:
    if root.tag != f"{{{NS}}}alert":
        raise InvalidRequest("Không phải bản tin CAP 1.2 (cần <alert> trong urn:oasis:names:tc:emergency:cap:1.2)",
                             field="body")  # fmt: skip
    errors = [e.reason or str(e) for e in schema().iter_errors(root)]
    if errors:
        raise InvalidRequest(f"CAP không hợp lệ theo lược đồ CAP 1.2: {errors[0][:300]}", field="body")
    return Alert(
        identifier=_text(root, "identifier"),
        sender=_text(root, "sender"),
        sent=when(_text(root, "sent")),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        references=_references(_text(root, "references")),
        infos=tuple(_info(i) for i in root.findall(f"{{{NS}}}info")),
    )


def _text(node: ET.Element, name: str) -> str:
    found = node.find(f"{{{NS}}}{name}")
    return " ".join((found.text or "").split()) if found is not None else ""


def _references(raw: str) -> tuple[tuple[str, str], ...]:
    """ "sender,identifier,sent sender,identifier,sent" (CAP 1.2 §3.2.1) as (sender, identifier) pairs."""
    pairs = []
    for item in raw.split():
        parts = item.split(",")
        if len(parts) >= 2:
            pairs.append((parts[0], parts[1]))
    return tuple(pairs)


def _info(node: ET.Element) -> Info:
    level = None
    for p in node.findall(f"{{{NS}}}parameter"):
        name = _text(p, "valueName").lower().replace(" ", "_").replace("đ", "d")
        value = _text(p, "value")
        if name in RISK_NAMES and value.strip().isdigit() and 1 <= int(value) <= 5:
            level = int(value)
    expires = _text(node, "expires")
    return Info(
        language=_text(node, "language") or "en-US",
        event=_text(node, "event"),
        urgency=_text(node, "urgency"),
        severity=_text(node, "severity"),
        certainty=_text(node, "certainty"),
        headline=_text(node, "headline"),
        description=_text(node, "description"),
        instruction=_text(node, "instruction"),
        expires=when(expires) if expires else None,
        sender_name=_text(node, "senderName"),
        level=level,
        areas=tuple(_area(a) for a in node.findall(f"{{{NS}}}area")),
    )


def _area(node: ET.Element) -> Area:
    polygons, circles = [], []
    for p in node.findall(f"{{{NS}}}polygon"):
        points = tuple(_pair(pt) for pt in (p.text or "").split())
        if len(points) >= 4:  # the schema's pattern allows fewer; CAP says four or more, first = last
            polygons.append(points)
    for c in node.findall(f"{{{NS}}}circle"):
        centre, _, radius = (c.text or "").strip().partition(" ")
        lat, lon = _pair(centre)
        circles.append((lat, lon, _number(radius)))
    geocodes = tuple((_text(g, "valueName"), _text(g, "value")) for g in node.findall(f"{{{NS}}}geocode"))
    return Area(_text(node, "areaDesc"), tuple(polygons), tuple(circles), geocodes)


def _pair(text: str) -> tuple[float, float]:
    lat, _, lon = text.partition(",")
    return _number(lat), _number(lon)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"toạ độ không hợp lệ trong CAP: {text[:40]!r}", field="area") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidRequest(f"toạ độ không hợp lệ trong CAP: {text[:40]!r}", field="area")
    return value


# ---- out: the commune's own bulletins ----


def cap_time(ts: float, tz: object = UTC) -> str:
    """Epoch seconds as CAP wants them: no fraction, an explicit offset ("2026-12-02T14:00:00+07:00")."""
    return datetime.fromtimestamp(int(ts), tz).isoformat()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outgoing:
    identifier: str
    sender: str
    sent: float
    msg_type: str
    references: tuple[tuple[str, str, float], ...]
    event: str
    urgency: str
    severity: str
    headline: str
    description: str
    instruction: str
    expires: float | None
    sender_name: str
    level: int | None  # the QĐ 18/2021 risk level; None for the commune's own alerts
    area_desc: str
    geocode: tuple[str, str] | None
    circles: tuple[tuple[float, float, float], ...] = ()


def write(out: Outgoing, tz: object) -> bytes:
    """One bulletin as a CAP 1.2 document (valid against the schema: a test checks)."""
    e = escape
    refs = " ".join(f"{s},{i},{cap_time(t, tz)}" for s, i, t in out.references)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alert xmlns="{NS}">',
        f"<identifier>{e(out.identifier)}</identifier>",
        f"<sender>{e(out.sender)}</sender>",
        f"<sent>{cap_time(out.sent, tz)}</sent>",
        "<status>Actual</status>",
        f"<msgType>{out.msg_type}</msgType>",
        "<scope>Public</scope>",
    ]
    if refs:
        lines.append(f"<references>{e(refs)}</references>")
    lines += [
        "<info>",
        "<language>vi-VN</language>",
        "<category>Met</category>",
        f"<event>{e(out.event)}</event>",
        f"<urgency>{out.urgency}</urgency>",
        f"<severity>{out.severity}</severity>",
        "<certainty>Likely</certainty>",
    ]
    if out.expires is not None:
        lines.append(f"<expires>{cap_time(out.expires, tz)}</expires>")
    lines += [
        f"<senderName>{e(out.sender_name)}</senderName>",
        f"<headline>{e(out.headline)}</headline>",
        f"<description>{e(out.description)}</description>",
    ]
    if out.instruction:
        lines.append(f"<instruction>{e(out.instruction)}</instruction>")
    if out.level is not None:
        lines.append(f"<parameter><valueName>cap_do_rui_ro</valueName><value>{out.level}</value></parameter>")
    lines += ["<area>", f"<areaDesc>{e(out.area_desc)}</areaDesc>"]
    lines += [f"<circle>{lat:.5f},{lon:.5f} {r:g}</circle>" for lat, lon, r in out.circles]
    if out.geocode is not None:
        lines.append(f"<geocode><valueName>{e(out.geocode[0])}</valueName><value>{e(out.geocode[1])}</value></geocode>")
    lines += ["</area>", "</info>", "</alert>", ""]
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated: float
    summary: str
    link: str


def atom(feed_id: str, title: str, self_link: str, entries: list[Entry], updated: float) -> bytes:
    """An Atom feed whose entries link to CAP documents (the CAP feed practice: Atom indexing CAP)."""
    e = escape
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns="{ATOM}">',
        f"<id>{e(feed_id)}</id>",
        f"<title>{e(title)}</title>",
        f"<updated>{cap_time(updated)}</updated>",
        f'<link rel="self" href="{e(self_link)}"/>',
        f"<author><name>{e(title)}</name></author>",
    ]
    for entry in entries:
        lines += [
            "<entry>",
            f"<id>{e(entry.id)}</id>",
            f"<title>{e(entry.title)}</title>",
            f"<updated>{cap_time(entry.updated)}</updated>",
            f"<summary>{e(entry.summary)}</summary>",
            f'<link rel="alternate" type="application/cap+xml" href="{e(entry.link)}"/>',
            "</entry>",
        ]
    lines += ["</feed>", ""]
    return "\n".join(lines).encode("utf-8")


def feed_links(data: bytes) -> list[str]:
    """The CAP documents an Atom or RSS 2.0 feed points at, read as safely as a CAP."""
    root = read(data)
    links: list[str] = []
    if root.tag == f"{{{ATOM}}}feed":
        for entry in root.findall(f"{{{ATOM}}}entry"):
            hrefs = [(ln.get("type", ""), ln.get("href", "")) for ln in entry.findall(f"{{{ATOM}}}link")]
            cap = [h for t, h in hrefs if "cap" in t] or [h for _, h in hrefs]
            if cap and cap[0]:
                links.append(cap[0])
    elif root.tag == "rss":
        for item in root.iter("item"):
            # GDACS puts the CAP in <gdacs:cap> and a web page in <link>; others link the CAP itself
            own = [c.text or "" for c in item if c.tag.endswith("}cap")]
            enclosed = [e.get("url", "") for e in item.findall("enclosure") if "cap" in e.get("type", "")]
            link = next((x.strip() for x in (*own, *enclosed, item.findtext("link") or "") if x.strip()), "")
            if link:
                links.append(link)
    else:
        raise InvalidRequest("Nguồn không phải Atom hay RSS", field="feed")
    return links
