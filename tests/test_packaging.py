"""What `make install` puts in /opt/loa: a real (not editable) install holds every template and file."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = (".html", ".js", ".css", ".toml")


def test_every_data_file_the_packages_read_is_in_the_package_data() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    missing = []
    for folder in ("gateway", "broadcasts", "audio", "schedules"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in DATA or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT)
            covered = False
            for depth in range(1, len(rel.parts)):
                package, inside = ".".join(rel.parts[:depth]), "/".join(rel.parts[depth:])
                if any(fnmatch(inside, glob) for glob in declared.get(package, [])):
                    covered = True
            if not covered:
                missing.append(str(rel))
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"


def test_the_built_wheel_holds_the_templates(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("loa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("gateway/templates/dashboard.html", "broadcasts/templates/send.html",
                   "gateway/web/templates/login.html", "gateway/web/static/send.js",
                   "gateway/residents/procedures.toml"):  # fmt: skip
        assert needed in names, needed
