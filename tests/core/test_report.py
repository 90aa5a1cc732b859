"""The HTML report: one self-contained page per run, its charts, tables and facts, the index,
the per-series artifacts, and a report rebuilt from the database alone."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from candlecast.core.errors import ConfigError, StorageError
from candlecast.core.pipeline.rebuild import index_entries, results_from_store
from candlecast.core.report import (
    IndexEntry,
    SeriesEntry,
    charts,
    entry_from_results,
    publish_report,
    render_index,
    render_run_report,
    report_name,
    series_artifact_key,
    series_markdown,
)
from candlecast.core.report.assets import plotly_js
from candlecast.core.report.tables import leaderboard_table, quality_items
from candlecast.core.results import TargetOutcome
from candlecast.core.storage.runs import run_row
from candlecast.core.storage.store import Store
from tests.fixtures.results import HORIZON, KEY, MODELS, make_outcome, make_results


@pytest.fixture(scope="module")
def outcome():
    return make_outcome(decomposition=True, targets=("close", "volume"))


@pytest.fixture(scope="module")
def html(outcome):
    return render_run_report(make_results(series=(outcome,)))


def price_figure(*args, **kwargs) -> go.Figure:
    """The chart's specification, validated by plotly (an unknown or invalid property raises)
    and as its graph objects."""
    return go.Figure(charts.price_figure(*args, **kwargs))


def decomposition_figure(outcome) -> go.Figure | None:
    spec = charts.decomposition_figure(outcome)
    return None if spec is None else go.Figure(spec)


def _traces(figure) -> dict[str, object]:
    return {trace.name: trace for trace in figure.data if trace.name}


def _naive(times) -> list[pd.Timestamp]:
    return [pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in times]


# --- the page --------------------------------------------------------------------------------


def test_the_page_is_self_contained_with_plotly_embedded_once(html):
    assert html.startswith("<!DOCTYPE html>")
    assert html.count(plotly_js()[:500]) == 1
    # plotly.js, a chart per target (close, volume) and the decomposition
    assert len(re.findall(r"<script[ >]", html)) == 1 + 3
    page = html.replace(plotly_js(), "")
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"(src|href|url)[=(]\"?(https?:)?//", page)  # nothing from a network


def test_the_page_names_run_champion_reason_and_links_the_index(html):
    assert "candlecast run 20240126T000000Z-abcdef" in html
    assert "Champion: lstm." in html
    assert "lstm (MASE 0.90) beats naive (MASE 1.00)" in html
    assert 'href="index.html"' in html
    assert 'id="binance-btc-usdt-1h"' in html
    assert 'id="chart-binance-btc-usdt-1h-close"' in html
    assert 'id="chart-binance-btc-usdt-1h-volume"' in html
    assert 'id="decomp-binance-btc-usdt-1h"' in html
    assert "close: lstm, volume: lstm" in html  # the champions in the page's header


def test_the_run_facts_show_versions_timings_and_a_redacted_config():
    results = make_results()
    results.config["publish"] = {"sql_url": "postgresql://warehouse:hunter2@db:5432/dw"}
    page = render_run_report(results)
    assert "0123456789abcdef" in page  # config hash
    assert "42.0 s" in page  # duration
    assert "timing: total_seconds" in page
    assert "<td>keras</td><td>3.3.0</td>" in page
    assert "warehouse:***@db:5432/dw" in page
    assert "hunter2" not in page


def test_text_from_the_data_is_escaped():
    outcome = make_outcome()
    outcome.targets["close"].champion_reason = "<script>alert('reason')</script>"
    outcome.quality["gaps"] = "<img src=x onerror=alert(1)>"
    page = render_run_report(make_results(series=(outcome,)))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_a_failed_series_is_reported_without_charts():
    failed = make_outcome(KEY)
    failed.error = "fetch failed: HTTP 451"
    failed.candles, failed.targets, failed.flags = None, {}, []
    page = render_run_report(make_results(series=(failed,)))
    assert "<b>Failed:</b> fetch failed: HTTP 451" in page
    assert "chart-binance-btc-usdt-1h" not in page
    assert "No decomposition" in page


def test_a_failed_target_is_reported_beside_the_others():
    outcome = make_outcome(targets=("close", "volume"))
    outcome.targets["volume"] = TargetOutcome("volume", error="volume: the baselines failed")
    page = render_run_report(make_results(series=(outcome,)))
    assert "<b>Failed:</b> volume: the baselines failed" in page
    assert "No backtest leaderboard for volume" in page
    assert 'id="chart-binance-btc-usdt-1h-close"' in page and "Champion: lstm." in page


# --- charts ----------------------------------------------------------------------------------


def test_price_chart_shows_14_days_every_model_faded_and_the_champion_with_bands(outcome):
    figure = price_figure(outcome, outcome.targets["close"])
    traces = _traces(figure)
    assert set(traces) == {
        "close (history)",
        "naive (baseline)",
        "drift (baseline)",
        "lstm 95% interval",
        "lstm 80% interval",
        "lstm forecast (champion)",
        "anomaly flag",
    }
    history = traces["close (history)"]
    assert len(history.x) == 14 * 24
    assert pd.Timestamp(history.x[-1]) == _naive([outcome.origin])[0]
    last_close = float(outcome.candles["close"].iloc[-1])
    champion = traces["lstm forecast (champion)"]
    # starts at the last close, then the forecast: lstm is model 3, level 102, value 102 + step
    assert list(champion.y) == pytest.approx([last_close, 103, 104, 105, 106])
    assert list(map(pd.Timestamp, champion.x)) == _naive(
        pd.date_range(outcome.origin, periods=HORIZON + 1, freq="h")
    )
    assert list(traces["lstm 95% interval"].y)[1:] == pytest.approx([101, 102, 103, 104])
    assert traces["lstm 80% interval"].fill == "tonexty"
    assert traces["lstm 80% interval"].fillcolor != traces["lstm 95% interval"].fillcolor
    assert champion.line.width > 2 and champion.line.color != history.line.color
    for name in ("naive (baseline)", "drift (baseline)"):
        assert traces[name].opacity < 0.5 and traces[name].line.dash == "dot"
    assert figure.layout.xaxis.title.text == "time (UTC)"
    assert figure.layout.yaxis.title.text == "close (USDT)"
    # the forecast origin: a dashed line across the plot, named
    (line,) = figure.layout.shapes
    assert pd.Timestamp(line.x0) == pd.Timestamp(line.x1) == _naive([outcome.origin])[0]
    assert line.line.dash == "dash" and line.yref == "y domain"
    assert [a.text for a in figure.layout.annotations] == ["forecast origin"]
    assert figure.layout.template.layout.plot_bgcolor == "white"  # plotly_white, as data


def test_flags_are_marked_on_the_price_with_kind_score_threshold_and_reason(outcome):
    flags = _traces(price_figure(outcome, outcome.targets["close"]))["anomaly flag"]
    times = [f.timestamp for f in outcome.flags]
    assert list(map(pd.Timestamp, flags.x)) == _naive(times)
    assert list(flags.y) == pytest.approx([outcome.candles.at[t, "close"] for t in times])
    first = list(flags.customdata[0])
    assert first[:5] == ["spike", "irregular", 6.0, 5.0, "warning"]
    assert "robust z 6" in first[5]
    for word in ("customdata[0]", "score", "threshold", "customdata[5]"):
        assert word in flags.hovertemplate


def test_decomposition_has_four_stacked_parts_in_readable_units(outcome):
    figure = decomposition_figure(outcome)
    parts = outcome.decomposition.components
    traces = _traces(figure)
    assert [a.text.split(" ")[0] for a in figure.layout.annotations] == [
        "trend",
        "cycle",
        "seasonal",
        "irregular",
    ]
    assert np.allclose(traces["trend"].y, np.exp(parts["trend"]))  # log scale back to prices
    assert np.allclose(traces["irregular"].y, 100 * parts["irregular"])  # percent of level
    assert {traces[n].yaxis for n in ("trend", "cycle", "seasonal", "irregular")} == {
        "y",
        "y2",
        "y3",
        "y4",
    }
    assert figure.layout.xaxis4.title.text == "time (UTC)"
    assert figure.layout.yaxis.title.text == "close (USDT)"
    assert figure.layout.yaxis4.title.text == "%"
    assert len(traces["anomaly flag"].x) == len(outcome.flags)


def test_each_target_gets_its_own_chart_in_its_own_units(outcome):
    figure = price_figure(outcome, outcome.targets["volume"], flags=False)
    traces = _traces(figure)
    assert "volume (history)" in traces and "anomaly flag" not in traces
    assert list(traces["volume (history)"].y)[-1] == outcome.candles["volume"].iloc[-1]
    assert figure.layout.yaxis.title.text == "volume (BTC)"
    champion = traces["lstm forecast (champion)"]
    assert list(champion.y)[1:] == pytest.approx([1003, 1004, 1005, 1006])


def test_no_decomposition_no_figure():
    assert decomposition_figure(make_outcome()) is None


def test_leaderboard_ranks_by_mase_and_highlights_the_champion(outcome):
    table = leaderboard_table(outcome.targets["close"])
    rows = re.findall(r"<tr( class=\"(\w+)\")?><td class=\"num\">(\d)</td><td>(\w+)", table)
    assert [(r[2], r[3], r[1]) for r in rows] == [
        ("1", "lstm", "champion"),
        ("2", "naive", "baseline"),
        ("3", "drift", "baseline"),
    ]
    assert '<span class="badge champion">champion</span>' in table
    assert '<td class="num">0.9</td>' in table  # lstm's MASE
    assert "<th>coverage 80%</th>" in table and "<th>interval score 80%</th>" in table


def test_quality_notes_name_gaps_rejections_failures_and_model_notes():
    outcome = make_outcome()
    outcome.quality["decomposition"] = "decomposition failed: too short"
    outcome.targets["close"].notes = ["theta: no intervals (too few origins)"]
    outcome.targets["close"].models["lstm"].error = "NaN loss"
    items = dict(quality_items(outcome))
    assert items["gaps"] == "2 candle(s) filled in 1 gap(s)"
    assert "rejected 3" in items["fetch"]
    assert items["decomposition"] == "decomposition failed: too short"
    assert items["close intervals"] == "theta: no intervals (too few origins)"
    assert items["close model lstm"] == "failed: NaN loss"


# --- index, files, artifacts -----------------------------------------------------------------


def test_index_lists_runs_newest_first_with_status_series_and_links():
    entries = [
        IndexEntry(
            "old",
            pd.Timestamp("2024-01-01", tz="UTC"),
            "ok",
            report="old.html",
            series=(SeriesEntry("a:B/C:1h", "naive"),),
        ),
        IndexEntry(
            "new",
            pd.Timestamp("2024-02-01", tz="UTC"),
            "partial",
            series=(SeriesEntry("a:B/C:1h", "lstm"), SeriesEntry("a:D/C:1h", None, "boom")),
        ),
    ]
    page = render_index(entries)
    assert page.index(">new<") < page.index(">old<")
    assert '<a href="old.html">old</a>' in page
    assert 'href="new.html"' not in page  # no report file, no link
    assert '<span class="badge partial">partial</span>' in page
    assert 'a:D/C:1h: <span class="badge failed">failed</span> boom' in page
    assert "2 run(s), newest first" in page


def test_publish_report_writes_the_page_and_the_index_atomically(tmp_path):
    older = IndexEntry("20240101T000000Z-aaaaaa", pd.Timestamp("2024-01-01", tz="UTC"), "ok")
    results = make_results()
    path = publish_report(results, tmp_path / "reports", [older])
    assert path == tmp_path / "reports" / "20240126T000000Z-abcdef.html"
    assert path.read_text().startswith("<!DOCTYPE html>")
    index = (tmp_path / "reports" / "index.html").read_text()
    assert f'<a href="{path.name}">' in index
    assert ">20240101T000000Z-aaaaaa<" in index  # listed, no link: its file is missing
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [path.name, "index.html"]


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200])
def test_a_run_id_that_is_not_a_file_name_is_refused(bad):
    with pytest.raises(ConfigError, match="cannot name a report file"):
        report_name(bad)


@pytest.mark.parametrize(
    ("series", "key"),
    [
        ("binance:BTC/USDT:1h", "candlecast-binance-btc-usdt-1h-close"),
        ("kraken:XBT/EUR:PERP:4h", "candlecast-kraken-xbt-eur-perp-4h-close"),
        ("ÉX:Ä/B__:1d", "candlecast-x-b-1d-close"),
    ],
)
def test_series_artifact_keys_are_stable_lowercase_slugs(series, key):
    assert series_artifact_key(series, "close") == key
    assert re.fullmatch(r"[a-z0-9-]+", series_artifact_key(series, "volume"))
    assert series_artifact_key(series, "volume") == key.removesuffix("close") + "volume"


def test_series_markdown_has_champion_forecast_leaderboard_and_flags(outcome):
    text = series_markdown(make_results(series=(outcome,)), outcome, "volume", "file:///r.html")
    assert text.startswith("# binance:BTC/USDT:1h volume")
    assert "Report: file:///r.html" in text
    assert "Champion **lstm**: lstm (MASE 0.90) beats naive (MASE 1.00)" in text
    assert len(re.findall(r"^\| \d \| 2024-01-26", text, re.M)) == HORIZON
    assert "| **lstm** | network | 0.9 |" in text
    assert "| 1 | 2024-01-26 00:00 | 1,003.00 | 1,002.00 – 1,004.00 |" in text  # as prices
    assert "2 anomaly flag(s) on binance:BTC/USDT:1h." in text


# --- from the database alone -----------------------------------------------------------------


def _record(store: Store, results) -> None:
    with store.engine.begin() as conn:
        store.runs.record(results, conn)
        store.anomalies.record(results, conn)
    for outcome in results.series:
        store.candles.upsert(outcome.key, outcome.candles)


def test_run_summary_keeps_what_the_report_needs(outcome):
    summary = json.loads(run_row(make_results(series=(outcome,)))["summary"])
    series = summary["series"][0]
    assert set(series["targets"]) == {"close", "volume"}
    assert series["targets"]["volume"]["champion"] == "lstm"
    assert series["targets"]["close"]["model_details"]["lstm"] == {
        "family": "network",
        "version": "m-1",
        "trained": True,
        "fit_seconds": None,
        "epochs": None,
        "note": "trained: no registered model",
        "error": None,
    }
    assert series["decomposition"]["periods"] == [24, 168]
    assert series["decomposition"]["end"] == str(outcome.origin)


def test_a_report_rebuilt_from_the_database_matches_the_run(db_url, outcome):
    results = make_results(series=(outcome,))
    store = Store(db_url).create()
    try:
        _record(store, results)
        rebuilt = results_from_store(store, results.run_id)
    finally:
        store.close()
    assert (rebuilt.run_id, rebuilt.status, rebuilt.config_hash) == (
        results.run_id,
        "ok",
        results.config_hash,
    )
    assert rebuilt.started == results.started and rebuilt.versions == results.versions
    got, want = rebuilt.series[0], results.series[0]
    assert got.origin == want.origin and set(got.targets) == {"close", "volume"}
    for target in ("close", "volume"):
        mine, theirs = got.targets[target], want.targets[target]
        assert (mine.champion, mine.champion_reason) == (theirs.champion, theirs.champion_reason)
        assert set(mine.models) == set(MODELS)
        for name, model in theirs.models.items():
            pd.testing.assert_frame_equal(
                mine.models[name].forecast, model.forecast, check_dtype=False, check_like=True
            )
            assert mine.models[name].family == model.family
        board = mine.leaderboard.set_index("model")
        assert board["mase"].to_dict() == pytest.approx({"lstm": 0.9, "naive": 1.0, "drift": 1.05})
        assert list(mine.leaderboard["model"]) == ["lstm", "naive", "drift"]
    assert got.targets["volume"].models["naive"].forecast["value"].iloc[0] == 1001
    assert [(f.timestamp, f.kind, f.score, f.reason) for f in got.flags] == sorted(
        (f.timestamp, f.kind, f.score, f.reason) for f in want.flags
    )
    assert got.quality["gaps"] == want.quality["gaps"]
    assert got.candles.index[-1] == want.origin
    assert len(got.candles) == len(want.candles)  # the decomposition window, back to its start
    assert np.allclose(
        got.decomposition.components["trend"], want.decomposition.components["trend"]
    )
    page = render_run_report(rebuilt)
    for needle in (
        'id="chart-binance-btc-usdt-1h-volume"',
        'id="decomp-binance-btc-usdt-1h"',
        "lstm (MASE 0.90) beats naive",
        "robust z 6",
    ):
        assert needle in page


def test_index_entries_come_from_the_runs_table_newest_first(sqlite_url):
    store = Store(sqlite_url).create()
    try:
        for run_id, started in (("r-old", "2024-01-01"), ("r-new", "2024-03-01")):
            store.runs.record(make_results(run_id, started=started))
        entries = index_entries(store.engine)
    finally:
        store.close()
    assert [e.run_id for e in entries] == ["r-new", "r-old"]
    assert entries[0].series == (SeriesEntry("binance:BTC/USDT:1h", "close: lstm", None),)
    assert entries[0] == entry_from_results(make_results("r-new", started="2024-03-01"))


def test_an_unknown_run_names_the_database(sqlite_url):
    store = Store(sqlite_url).create()
    try:
        with pytest.raises(StorageError, match=r"run 'nope' is not in database sqlite:///"):
            results_from_store(store, "nope")
    finally:
        store.close()
