"""Reads locust's CSV statistics into figures per request kind (no Django: bench/load.py and its test use it).

The locustfile reports an expected version conflict as a request of type CONFLICT (its own row); locust's
"Aggregated" row counts those too, so the totals here are summed from the kinds' rows instead.
"""

import csv
from pathlib import Path


def parse_stats(stats_csv: Path, failures_csv: Path | None = None) -> dict:
    """Per kind: requests, failures, requests/s and p50/p95/p99 (ms); conflicts apart; the totals."""
    kinds, conflicts = {}, 0
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                continue
            if row["Type"] == "CONFLICT":
                conflicts += int(row["Request Count"])
                continue
            kinds[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50": float(row["50%"]),
                "p95": float(row["95%"]),
                "p99": float(row["99%"]),
            }
    failures = []
    if failures_csv is not None and failures_csv.exists():
        with failures_csv.open() as f:
            failures = [
                {"kind": r["Name"], "error": r["Error"], "count": int(r["Occurrences"])}
                for r in csv.DictReader(f)
            ]
    return {"kinds": kinds, "conflicts": conflicts, "failure_list": failures, **totals(kinds)}


def totals(kinds: dict) -> dict:
    """Requests, failures, requests/s and the error rate over every kind."""
    requests = sum(k["requests"] for k in kinds.values())
    failures = sum(k["failures"] for k in kinds.values())
    return {
        "requests": requests,
        "failures": failures,
        "rps": round(sum(k["rps"] for k in kinds.values()), 2),
        "error_rate": failures / requests if requests else 0.0,
    }
