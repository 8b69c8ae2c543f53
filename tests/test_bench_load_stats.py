"""bench/load/stats.py: locust's CSV statistics per request kind, version conflicts apart."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_load_stats", Path(__file__).parent.parent / "bench" / "load" / "stats.py"
)
stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stats)

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%"
)
# Rows as locust 2.47 writes them (from a run of the scenario), with one failure added to the gate API.
ROWS = """\
GET,gate api,26,1,870,1050,313,3252,2595,1.37,0.05,870,1000,1100,1300,2500,2800,3300,3300,3300,3300,3300
POST,login,7,0,3400,3240.3,1924.3,4069.3,0.0,0.37,0.0,3400,3400,3500,3500,4100,4100,4100,4100,4100,4100,4100
POST,score change,15,0,1100,1144,592,1656,1064,0.79,0.0,1100,1300,1500,1500,1500,1700,1700,1700,1700,1700,1700
CONFLICT,score change,4,0,0,0.0,0,0,0.0,0.21,0.0,0,0,0,0,0,0,0,0,0,0,0
,Aggregated,52,1,1000,1255.0,46.1,4069.3,15974.0,2.74,0.05,1000,1300,1400,1500,3100,3400,3800,4100,4100,4100,4100
"""


def test_kinds_conflicts_and_totals(tmp_path):
    (tmp_path / "u_stats.csv").write_text(HEADER + "\n" + ROWS)
    (tmp_path / "u_failures.csv").write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        "GET,gate api,HTTPError('500 Server Error'),1,2026-12-03,2026-12-03\n"
    )
    result = stats.parse_stats(tmp_path / "u_stats.csv", tmp_path / "u_failures.csv")
    assert sorted(result["kinds"]) == ["gate api", "login", "score change"]
    assert result["kinds"]["score change"] == {
        "requests": 15,
        "failures": 0,
        "rps": 0.79,
        "p50": 1100.0,
        "p95": 1700.0,
        "p99": 1700.0,
    }
    assert result["conflicts"] == 4
    # the conflict rows are not requests of their own: 26 + 7 + 15, not locust's aggregated 52
    assert result["requests"] == 48
    assert result["rps"] == 2.53
    assert result["failures"] == 1
    assert result["error_rate"] == 1 / 48
    assert result["failure_list"] == [
        {"kind": "gate api", "error": "HTTPError('500 Server Error')", "count": 1}
    ]


def test_no_failures_file_and_no_requests(tmp_path):
    (tmp_path / "u_stats.csv").write_text(HEADER + "\n")
    result = stats.parse_stats(tmp_path / "u_stats.csv", tmp_path / "missing.csv")
    assert result["requests"] == 0 and result["error_rate"] == 0.0 and result["failure_list"] == []
