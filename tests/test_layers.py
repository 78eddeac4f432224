"""The import contract: every arrow points down the layers the README draws; a new upward one fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "broadcasts", "audio", "schedules")

# (module prefix, layer); the longest prefix that fits a module names its layer
LAYERS = [
    ("gateway.core", 0),
    ("schedules", 1),
    ("audio", 1),
    ("gateway.sms", 2),
    ("gateway.testing.emulator", 3),
    ("gateway.web", 3),
    ("gateway.sms.views", 4),
    ("gateway.residents", 4),
    ("gateway.ussd", 4),
    ("broadcasts", 4),
    ("gateway.app", 5),
    ("gateway.cli", 5),
    ("gateway.config", 5),
    ("gateway.dashboard", 5),
    ("gateway.doctor", 5),
    ("gateway.service", 5),
    ("gateway.metrics", 5),
    ("gateway.testing", 5),
]
# side by side on one layer, only these may use each other (the USSD menu is over the residents' service)
SIDEWAYS = {("gateway.ussd", "gateway.residents")}
TOP = 5  # the composition root, the CLI, the config and the dashboard see everything, each other too
# the floor, time and sound know nothing of HTTP (core.keys holds the floor's web.AppKeys, nothing else)
NO_WEB = ("gateway.core", "schedules", "audio", "gateway.sms")
WEB_ALLOWED = ("gateway.core.keys", "gateway.sms.keys", "gateway.sms.views", "schedules.keys")


def layer(module: str) -> tuple[str, int] | None:
    found = [(p, n) for p, n in LAYERS if module == p or module.startswith(p + ".")]
    return max(found, key=lambda f: len(f[0])) if found else None


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[tuple[int, str]]:
    """Every import, at the top, inside functions and under TYPE_CHECKING alike."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if layer(m) is None and m not in PACKAGES] == []


def upward(known: dict[str, Path]) -> list[str]:
    wrong = []
    for module, path in known.items():
        here = layer(module)
        if here is None:
            continue
        for line, target in imports(path):
            if target not in known:
                continue
            there = layer(target)
            if there is None or there[0] == here[0] or there[1] == here[1] == TOP:
                continue
            if there[1] > here[1] or (there[1] == here[1] and (here[0], there[0]) not in SIDEWAYS):
                wrong.append(f"{path.name}:{line}: {module} ({here[1]}) → {target} ({there[1]})")
    return wrong


def test_no_import_points_up_or_sideways() -> None:
    assert upward(modules()) == []


def test_the_floor_time_sound_and_the_sms_core_do_not_import_aiohttp() -> None:
    wrong = []
    for module, path in modules().items():
        if not module.startswith(NO_WEB) or module in WEB_ALLOWED or module.startswith(WEB_ALLOWED):
            continue
        wrong += [f"{module}:{line}" for line, target in imports(path) if target.split(".")[0] == "aiohttp"]
    assert wrong == []


def test_the_contract_catches_an_upward_and_a_sideways_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from broadcasts.service import Broadcasts\nfrom audio import player\n", encoding="utf-8")
    known = modules() | {"gateway.core.bad": bad, "schedules.bad": bad}
    found = upward(known)
    assert "bad.py:1: gateway.core.bad (0) → broadcasts.service (4)" in found
    assert "bad.py:2: schedules.bad (1) → audio.player (1)" in found
