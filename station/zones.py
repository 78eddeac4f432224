"""Zones: which outputs each hamlet is on, written as the commune spells its hamlets."""

from __future__ import annotations

from gateway.core.text import fold


def parse_map(entries: tuple[str, ...], hamlets: list[str], key: str) -> dict[str, list[str]]:
    """ "Nà Phìn=a,b" entries under the commune's own spelling of the hamlet ("*" for all)."""
    spelling = {fold(h).lower(): h for h in hamlets}
    out: dict[str, list[str]] = {}
    for entry in entries:
        name, sep, values = entry.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ValueError(f'{key}: {entry!r} is not hamlet=value, e.g. "Nà Phìn=wired,icecast"')
        if name != "*" and fold(name).lower() not in spelling:
            raise ValueError(f"{key}: {name!r} is not in commune.hamlets")
        out.setdefault(spelling.get(fold(name).lower(), name), []).extend(v.strip() for v in values.split(","))
    return out
