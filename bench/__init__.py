"""Benchmarks: `python -m bench` runs them all and writes one table (Markdown) and a JSON file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: which benchmark, what, the number, its unit, and how it was measured."""

    bench: str
    name: str
    value: float
    unit: str
    detail: str = ""
