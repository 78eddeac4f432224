"""The contracts of the layers stated in pyproject.toml: every import arrow points down, and a
package's SQL names only its own tables; a new upward import or a foreign table fails here."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import sqlite_utils

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
PACKAGES = tuple(p.rstrip("*") for p in PROJECT["setuptools"]["packages"]["find"]["include"])
STATED = PROJECT["loa"]
# (module prefix, layer number) from the statement, bottom layer 0
LAYERS = [(prefix, n) for n, prefixes in enumerate(STATED["layers"].values()) for prefix in prefixes]
TOP = len(STATED["layers"]) - 1  # the composition layer sees everything, its modules each other too
SIDEWAYS = {tuple(pair) for pair in STATED["rules"]["sideways"]}
NO_WEB = tuple(STATED["rules"]["no-web"])
WEB_ALLOWED = set(STATED["rules"]["web-allowed"])


def layer(module: str) -> tuple[str, int] | None:
    if module.rsplit(".", 1)[-1] == "setup" and "*.setup" in dict(LAYERS):
        return "*.setup", TOP
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
        if not module.startswith(NO_WEB) or module in WEB_ALLOWED or layer(module) == ("*.setup", TOP):
            continue
        if any(module.startswith(allowed + ".") for allowed in WEB_ALLOWED):
            continue
        wrong += [f"{module}:{line}" for line, target in imports(path) if target.split(".")[0] == "aiohttp"]
    assert wrong == []


def test_the_contract_catches_an_upward_and_a_sideways_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from broadcasts.service import Broadcasts\nfrom audio import player\n", encoding="utf-8")
    known = modules() | {"gateway.core.bad": bad, "schedules.bad": bad}
    found = upward(known)
    assert f"bad.py:1: gateway.core.bad (0) → broadcasts.service ({layer('broadcasts')[1]})" in found  # type: ignore[index]
    assert "bad.py:2: schedules.bad (1) → audio.player (1)" in found


def test_create_app_reads_as_the_list_of_packages() -> None:
    """Every package is set up by its own `setup`; the composition root lists them, in the layers' order."""
    from gateway.app import PACKAGES as SET_UP

    names = [p.__name__ for p in SET_UP]
    ranks = [layer(n.removesuffix(".setup"))[1] for n in names]  # type: ignore[index]
    assert ranks == sorted(ranks), names
    assert {"gateway.sms.setup", "gateway.residents.setup", "broadcasts.setup", "gateway.web.setup"} <= set(names)


# ---- the tables: each package's SQL names only its own ----

SQL = re.compile(r"\b(?:from|join|into|update|table|exists)\s+\"?([a-z_][a-z0-9_]*)", re.IGNORECASE)


def table_owners() -> dict[str, str]:
    """Which package made each table: the migrations of each package applied in turn to a new database.
    Views are what an owner publishes for others to read: no package owns them."""
    from gateway.app import PACKAGES as SET_UP

    db = sqlite_utils.Database(memory=True)
    owners: dict[str, str] = {}
    for package in SET_UP:
        before = set(db.table_names())
        for migrations in getattr(package, "MIGRATIONS", []):
            for _, migrate in migrations:
                migrate(db)
        made = set(db.table_names())
        owners |= dict.fromkeys(made - before, package.__name__.removesuffix(".setup"))
    moved: dict[str, str] = STATED["tables"]["owners"]
    return owners | moved


def owner_of(module: str) -> str | None:
    """The package a module belongs to (the longest that sets itself up and fits), for its tables."""
    from gateway.app import PACKAGES as SET_UP

    owners = [p.__name__.removesuffix(".setup") for p in SET_UP if p.__name__.endswith(".setup")]
    found = [p for p in owners if module == p or module.startswith(p + ".")]
    return max(found, key=len) if found else None


def foreign_tables(known: dict[str, Path], owners: dict[str, str]) -> list[str]:
    """Each SQL string (and db["name"]) naming a table made by another package; migrations are history."""
    published = set(STATED["tables"]["published"])
    wrong = []
    for module, path in known.items():
        package = owner_of(module)
        if package is None or module.rsplit(".", 1)[-1] == "migrations":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = SQL.findall(node.value)
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                names = [node.slice.value] if isinstance(node.slice.value, str) else []
            for name in names:
                there = owners.get(name)
                if there is not None and there != package and name not in published:
                    wrong.append(f"{path.name}:{getattr(node, 'lineno', 0)}: {package} names {there}'s table {name}")
    return sorted(set(wrong))


def test_a_package_sql_names_only_its_own_tables() -> None:
    owners = table_owners()
    assert owners["outbox"] == "gateway.sms" and owners["contacts"] == "broadcasts"
    assert foreign_tables(modules(), owners) == []


def test_the_table_check_catches_a_foreign_table(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('Q = "select count(*) from outbox o join contacts c on c.number = o.recipient"\n', encoding="utf-8")
    found = foreign_tables({"broadcasts.bad": bad}, table_owners())
    assert found == ["bad.py:1: broadcasts names gateway.sms's table outbox"]


def drawn() -> str:
    """The layers table as docs/architecture.md draws it from the statement, the top layer first."""
    rows = [
        f"| {n} {name} | {', '.join(f'`{m}`' for m in prefixes)} |"
        for n, (name, prefixes) in reversed(list(enumerate(STATED["layers"].items())))
    ]
    return "\n".join(["| layer | modules |", "|---|---|", *rows])


def test_the_docs_draw_the_layers_from_the_statement() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("-->", text.index("<!-- layers:")) + len("-->")
    assert text[start : text.index("<!-- end of layers -->")].strip() == drawn()
