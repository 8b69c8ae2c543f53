"""bench/plot.py: the SVG chart of a benchmark's results file."""

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SVG = "{http://www.w3.org/2000/svg}"
spec = importlib.util.spec_from_file_location(
    "bench_plot", Path(__file__).parent.parent / "bench" / "plot.py"
)
plot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot)

LOAD = {
    "benchmark": "load",
    "title": "Load: gunicorn under locust",
    "series": [
        {
            "label": "throughput",
            "x_label": "users",
            "y_label": "requests/s",
            "points": [[10, 9.5], [30, 25], [50, 27]],
        },
        {
            "label": "review page p95",
            "x_label": "users",
            "y_label": "ms",
            "points": [[10, 80], [30, 190], [50, 420]],
        },
        {
            "label": "score change <p95>",
            "x_label": "users",
            "y_label": "ms",
            "points": [[10, 40], [30, 110], [50, 300]],
        },
    ],
    "ratios": [{"name": "error rate", "target": "0", "value": "0.00%", "met": True}],
}


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own output)


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text") if t.get("class") == cls]


def series_group(root: ET.Element, label: str) -> ET.Element:
    return next(
        g for g in root.iter(f"{SVG}g") if g.get("class") == "series" and g.get("data-label") == label
    )


def test_one_panel_per_unit_with_its_axis_labels():
    root = parse(plot.render(LOAD))
    panels = [g for g in root.iter(f"{SVG}g") if g.get("class") == "panel"]
    assert [p.get("data-unit") for p in panels] == ["requests/s", "ms"]
    assert texts(root, "y-label") == ["requests/s", "ms"]
    assert texts(root, "x-label") == ["users", "users"]
    assert root.find(f"{SVG}title").text == "Load: gunicorn under locust"


def test_every_series_is_a_line_with_a_marker_per_point_and_a_legend_entry():
    root = parse(plot.render(LOAD))
    assert texts(root, "legend") == ["throughput", "review page p95", "score change <p95>"]
    for one in LOAD["series"]:
        group = series_group(root, one["label"])
        line = group.find(f"{SVG}polyline")
        assert len(line.get("points").split()) == len(one["points"])
        tips = [t.text for t in group.iter(f"{SVG}title") if "→" in t.text]
        assert len(tips) == len(one["points"])
    tips = [t.text for t in series_group(root, "review page p95").iter(f"{SVG}title")]
    assert "review page p95: 30 → 190 ms" in tips


def test_points_are_placed_by_value():
    root = parse(plot.render(LOAD))
    coords = [
        tuple(float(v) for v in pair.split(","))
        for pair in series_group(root, "review page p95").find(f"{SVG}polyline").get("points").split()
    ]
    xs, ys = [x for x, _ in coords], [y for _, y in coords]
    assert xs == sorted(xs) and len(set(xs)) == 3  # more users further right
    assert ys[0] > ys[1] > ys[2]  # a larger time higher up (SVG y grows downwards)
    # 30 users sits halfway between the 10 and 50 ticks of a linear axis
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)


def test_ticks_are_round_numbers_covering_the_values():
    root = parse(plot.render(LOAD))
    ms_panel = [g for g in root.iter(f"{SVG}g") if g.get("data-unit") == "ms"][0]
    ticks = [
        float(t.text.replace(",", "")) for t in ms_panel.iter(f"{SVG}text") if t.get("class") == "y-tick"
    ]
    assert ticks[0] == 0 and ticks[-1] >= 420
    steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and steps.pop() in (50, 100, 200)
    assert plot.nice_ticks(0, 0.77) == [0, 0.2, 0.4, 0.6, 0.8]


def test_log_scale_uses_powers_of_ten():
    result = {
        "benchmark": "pdf",
        "series": [
            {
                "label": "render",
                "x_label": "evidence",
                "y_label": "s",
                "scale": "log",
                "points": [[16, 0.38], [1000, 2.32]],
            }
        ],
    }
    root = parse(plot.render(result))
    assert texts(root, "y-tick") == ["0.1", "1", "10"]
    assert texts(root, "y-label") == ["s (log scale)"]


def test_named_x_values_are_spread_evenly_in_order():
    result = {
        "benchmark": "probes",
        "series": [
            {
                "label": "suite",
                "x_label": "run",
                "y_label": "s",
                "points": [["quiet", 0.34], ["load 5", 0.77]],
            },
            {
                "label": "floor",
                "x_label": "run",
                "y_label": "s",
                "points": [["quiet", 0.32], ["load 5", 0.73]],
            },
        ],
    }
    root = parse(plot.render(result))
    assert texts(root, "x-tick") == ["quiet", "load 5"]
    tips = [t.text for t in series_group(root, "suite").iter(f"{SVG}title")]
    assert "suite: load 5 → 0.77 s" in tips


def test_a_single_point_and_no_series_still_draw():
    one = {"benchmark": "x", "series": [{"label": "a", "x_label": "n", "y_label": "s", "points": [[5, 2]]}]}
    root = parse(plot.render(one))
    assert series_group(root, "a").find(f"{SVG}polyline") is None
    assert len(list(series_group(root, "a").iter(f"{SVG}circle"))) == 2  # the point and its legend marker
    empty = parse(plot.render({"benchmark": "portfolio", "series": []}))
    assert "No figures yet." in [t.text for t in empty.iter(f"{SVG}text")]


def test_main_writes_an_svg_beside_each_results_file(tmp_path):
    (tmp_path / "load.json").write_text(json.dumps(LOAD))
    (tmp_path / "pdf.json").write_text(json.dumps({"benchmark": "pdf", "series": []}))
    plot.main([str(p) for p in sorted(tmp_path.glob("*.json"))])
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == ["load.svg", "pdf.svg"]
    svg = (tmp_path / "load.svg").read_text()
    assert "<script" not in svg and "@import" not in svg and "href" not in svg  # self-contained
    parse(svg)


def test_the_stored_results_files_all_draw():
    results = Path(plot.RESULTS)
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        assert {"benchmark", "command", "machine", "date", "series", "ratios"} <= data.keys(), path.name
        parse(plot.render(data))
