"""Builders the checks share: a verdict from the items found, and numbers people can read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..registry import Item, Status, Verdict


def fail(obj: str, message: str, **data: Any) -> Item:
    return Item(object=obj, status=Status.FAIL, message=message, data=data)


def warn(obj: str, message: str, **data: Any) -> Item:
    return Item(object=obj, status=Status.WARN, message=message, data=data)


def verdict(items: Iterable[Item], *, ok: str, found: str) -> Verdict:
    """PASS with `ok` when nothing was found; else the worst item's status and `found`.

    `found` may use {n} (how many items), {s} (plural suffix) and {first} (the first object).
    """
    items = tuple(items)
    if not items:
        return Verdict(Status.PASS, ok)
    status = Status.FAIL if any(i.status is Status.FAIL for i in items) else Status.WARN
    # replace, not str.format: `found` may carry object names or SQL text with braces in them
    summary = found.replace("{n}", str(len(items))).replace("{s}", "" if len(items) == 1 else "s")
    return Verdict(status, summary.replace("{first}", items[0].object), items)


def skipped(summary: str, fix: str = "") -> Verdict:
    return Verdict(Status.SKIPPED, summary, fix=fix)


def table(row: dict[str, Any]) -> str:
    return f"{row['schema']}.{row['table']}"


def num(value: Any, default: float = 0.0) -> float:
    """A number from a row value that may be None, a string or a Decimal turned JSON-safe."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def size(n: Any) -> str:
    value = num(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def duration(seconds: Any) -> str:
    s = num(seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"
