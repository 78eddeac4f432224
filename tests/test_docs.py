"""The docs keep up with the code: every route and config key documented, the README short, links in the clone."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.app import create_app
from gateway.config import Config
from gateway.testing import make_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# a route in a table's first cell or anywhere in the text: `GET /api/v1/inbox`
ROUTE = re.compile(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`\s]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, canonical path) of every route the real app serves; HEAD (one per GET) and static left out."""
    app = create_app(make_config(tmp_path, "emulator"))
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource) or route.method == "HEAD":
            continue
        found.add((route.method, resource.canonical))
    return found


def _is_api(path: str) -> bool:
    """The API and the machine-facing paths are in docs/api.md; the console's pages in docs/console.md."""
    return path.startswith(("/api/", "/ussd/", "/cgi-bin/", "/rapidpro/", "/jasmin/")) or path in (
        "/healthz",
        "/metrics",
    )


def _table_routes(text: str) -> set[tuple[str, str]]:
    """The routes named in the first cell of a table row: what the doc claims exists."""
    found: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if line.startswith("|"):
            first = line.split("|")[1]
            found.update((m.group(1), m.group(2)) for m in ROUTE.finditer(first))
    return found


def test_every_route_is_documented(tmp_path: Path) -> None:
    routes = _app_routes(tmp_path)
    assert len(routes) > 50  # the app really was built and walked
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    console = (DOCS / "console.md").read_text(encoding="utf-8")
    missing = sorted(
        f"{method} {path} (in docs/{'api' if _is_api(path) else 'console'}.md)"
        for method, path in routes
        if f"`{method} {path}`" not in (api if _is_api(path) else console)
    )
    stale = sorted(f"{m} {p}" for m, p in _table_routes(api) | _table_routes(console) if (m, p) not in routes)
    problems = [*(f"missing: {route}" for route in missing), *(f"not served by the app: {route}" for route in stale)]
    assert not problems, "the docs are out of step with the app's routes:\n" + "\n".join(problems)


def _config_keys() -> dict[str, dict[str, Any]]:
    """Every config key with its default, by section: [[modems]] tables are a section of their own."""
    sections: dict[str, dict[str, Any]] = {}
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        hint = hints[f.name]
        if typing.get_origin(hint) is tuple:  # [[modems]]: a list of tables
            hint = typing.get_args(hint)[0]
        if not dataclasses.is_dataclass(hint):
            continue  # `source` says where the config came from; no file sets it
        sections[f.name] = _fields(hint)
    return sections


def _fields(cls: Any, prefix: str = "") -> dict[str, Any]:
    keys: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys.update(_fields(hints[f.name], f"{prefix}{f.name}."))
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        keys[prefix + f.name] = list(default) if isinstance(default, tuple) else default
    return keys


def _doc_sections(text: str) -> dict[str, dict[str, str]]:
    """The key tables of docs/configuration.md: a `## [name]` heading (several names may share one,
    `## [modem] and [[modems]]`), then rows `| `key` | `default` | meaning |`."""
    sections: dict[str, dict[str, str]] = {}
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            names = re.findall(r"\[\[?([a-z_]+)\]\]?", line)
            for name in names:
                sections.setdefault(name, {})
        elif line.startswith("| `") and names:
            cells = [c.strip() for c in line.split("|")[1:-1]]
            for name in names:
                sections[name][cells[0].strip("`")] = cells[1] if len(cells) > 1 else ""
    return sections


def _toml_value(cell: str) -> Any:
    """`"aplay"`, `[]`, `0.0` as TOML reads them (a cell that is not one value is kept as text)."""
    try:
        return tomllib.loads(f"v = {cell.strip('`')}")["v"]
    except tomllib.TOMLDecodeError:
        return cell


def _same(value: Any, default: Any) -> bool:
    """Equal as TOML values: 0 is 0.0, but true is not 1."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return bool(value == default)


def test_every_config_key_is_documented_with_its_default() -> None:
    keys = _config_keys()
    docs = _doc_sections((DOCS / "configuration.md").read_text(encoding="utf-8"))
    missing, wrong, stale = [], [], []
    for section, fields in keys.items():
        documented = docs.get(section, {})
        for key, default in fields.items():
            if key not in documented:
                missing.append(f"{section}.{key}")
            elif not _same(_toml_value(documented[key]), default):
                wrong.append(f"{section}.{key}: documented {documented[key]}, the code says {default!r}")
        stale += [f"{section}.{key}" for key in documented if key not in fields]
    stale += [f"[{section}]" for section in docs if section not in keys]
    problems = [
        *(f"missing: {key}" for key in missing),
        *(f"wrong default: {what}" for what in wrong),
        *(f"not a config key: {key}" for key in stale),
    ]
    assert not problems, "docs/configuration.md is out of step with the config:\n" + "\n".join(problems)


def test_readme_stays_short_and_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= 250, f"README.md has {lines} lines: the rest belongs in docs/"
    for command in ("make run", "make test"):  # CI runs `make test` as the README says
        assert f"{command} " in text or f"{command}\n" in text, command


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings: lowercased, punctuation dropped, spaces as
    hyphens, a repeated one numbered."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")  # a `# comment` in a shell example is no heading
        if not fenced and (m := re.match(r"#{1,6} (.+)", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n, anchor = 0, slug
            while anchor in found:
                n += 1
                anchor = f"{slug}-{n}"
            found.add(anchor)
    return found


def test_links_stay_inside_the_clone_and_lead_somewhere() -> None:
    files = [README, *sorted(DOCS.glob("*.md"))]
    assert len(files) > 10
    bad = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        if "../shared" in text:
            bad.append(f"{file.relative_to(ROOT)}: mentions ../shared (outside the clone)")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            where, _, anchor = target.partition("#")
            path = (file.parent / where).resolve() if where else file
            if not path.is_relative_to(ROOT):
                bad.append(f"{file.relative_to(ROOT)}: {target} is outside the clone")
            elif not path.exists():
                bad.append(f"{file.relative_to(ROOT)}: {target} does not exist")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                bad.append(f"{file.relative_to(ROOT)}: {target} names no heading of {path.name}")
    assert not bad, "\n".join(bad)
