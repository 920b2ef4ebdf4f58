from xml.etree import ElementTree

from leads.reports import charts
from leads.reports.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own generated SVG)
    return [t.text for t in root.iter(f"{SVG}text")]


def test_line_chart_has_title_axis_labels_legend_and_reference_line():
    svg = charts.line_chart(
        title="Calibration",
        series=[Series("Model", [(0.1, 0.12), (0.5, 0.45)], labels=["n=40", "n=60"])],
        x_label="Predicted (%)",
        y_label="Observed (%)",
        x_range=(0, 1),
        y_range=(0, 1),
        x_format=charts.pct,
        y_format=charts.pct,
        diagonal="Perfect calibration",
    )
    texts = _texts(svg)
    for expected in ("Calibration", "Predicted (%)", "Observed (%)", "Model", "Perfect calibration", "n=40", "100%"):
        assert expected in texts
    assert svg.count("<polyline") == 1 and "stroke-dasharray" in svg


def test_bar_chart_escapes_category_names_and_prints_values():
    svg = charts.bar_chart(
        title="By source",
        categories=["<script>alert(1)</script>", "Google"],
        series=[("Rate", [0.5, 0.25])],
        value_label="Conversion (%)",
        value_format=charts.pct,
        reference=("All leads", 0.3),
    )
    assert "<script>" not in svg
    texts = _texts(svg)  # parses: the markup is well-formed
    assert "<script>alert(1)</script>" in texts and "50%" in texts and "All leads" in texts


def test_grouped_bars_have_a_legend_entry_per_series():
    svg = charts.bar_chart(
        title="Follow-ups",
        categories=["Alice", "Bob"],
        series=[("On time", [1, 2]), ("Late", [0, 1]), ("Overdue", [3, None])],
        value_label="Follow-ups (count)",
    )
    texts = _texts(svg)
    assert {"On time", "Late", "Overdue", "Follow-ups (count)"} <= set(texts)


def test_column_chart_and_empty_chart():
    svg = charts.column_chart(
        title="Lift", categories=["1", "2"], values=[2.0, 0.5], value_label="Lift", category_label="Decile"
    )
    assert {"Lift", "Decile", "1", "2"} <= set(_texts(svg))
    empty = charts.line_chart(title="ROC", series=[Series("Model", [])], x_label="x", y_label="y")
    assert "No data for this selection." in _texts(empty)
    assert "No data" in charts.bar_chart(title="t", categories=[], series=[], value_label="v")


def test_nice_ticks_cover_the_range_with_round_steps():
    assert charts.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = charts.nice_ticks(0, 0.54)
    assert ticks[0] == 0 and ticks[-1] >= 0.54
    assert charts.nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
