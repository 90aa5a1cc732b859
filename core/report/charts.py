"""The report's charts as plotly figures: the recent price with every model's forecast, the
champion's intervals and the anomaly flags; and the four-part decomposition.

Figures only: turning them into HTML is `figure_html`. All times are UTC.

A figure is plotly's figure specification as plain data (`{"data": [traces], "layout": {...}}`,
the JSON that plotly.js draws), not a `plotly.graph_objects.Figure`. Building and validating the
graph objects cost 65-80 ms per chart, 1.5-6 ms as data: with close and volume, three charts
per series, that was ~0.2 s per series (20 s of a 100-series run, in its one report task at the
end of the run). The page's JSON is the same either way. `go.Figure(spec)` validates a
specification and gives the graph objects where they are wanted (the tests do).
"""

from __future__ import annotations

import copy
import functools
import textwrap
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
from plotly.subplots import make_subplots

from candlecast.core.models.targets import target_series
from candlecast.core.report.assets import (
    BAND_80,
    BAND_95,
    CHAMPION_COLOR,
    FLAG_COLOR,
    HISTORY_COLOR,
    MODEL_COLORS,
)
from candlecast.core.report.timefmt import plot_times, utc
from candlecast.core.results import SeriesOutcome, TargetOutcome

HISTORY_DAYS = 14
"""Days of history before the forecast origin that the price chart shows."""

FLAG_SYMBOLS = {"info": "circle-open", "warning": "diamond", "critical": "x"}
CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}
TEMPLATE = "plotly_white"

Figure = dict[str, Any]
"""A plotly figure specification: {"data": [trace, ...], "layout": {...}}."""


@functools.cache
def _template() -> dict[str, Any]:
    """The look of every chart: plotly's `plotly_white` template as data (plotly.js takes the
    template itself, not its name)."""
    return pio.templates[TEMPLATE].to_plotly_json()


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    return {"data": data, "layout": {"template": _template(), **layout}}


def _scatter(**properties: Any) -> dict[str, Any]:
    return {"type": "scatter", **properties}


def figure_html(figure: Figure, div_id: str) -> str:
    """A figure as an HTML fragment that uses the page's one copy of plotly.js (numeric arrays
    written as typed arrays, as plotly writes a validated figure's)."""
    data = [dict(trace) for trace in figure["data"]]  # the caller's figure stays as it is
    _typed_arrays({"data": data})
    return pio.to_html(
        {"data": data, "layout": figure["layout"]},
        validate=False,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=CONFIG,
        default_height=f"{figure['layout'].get('height') or 480}px",
    )


def _typed_arrays(spec: dict[str, Any]) -> None:
    try:
        from _plotly_utils.utils import convert_to_base64
    except ImportError:  # another plotly: plain JSON numbers draw the same
        return
    convert_to_base64(spec)


def quote_currency(symbol: str) -> str:
    """`BTC/USDT` -> `USDT`; a symbol without a quote names itself."""
    return symbol.split("/", 1)[1].split(":")[0] if "/" in symbol else symbol


def _wrap(text: str, width: int = 70) -> str:
    return "<br>".join(textwrap.wrap(text, width)) or text


def _history(outcome: SeriesOutcome, days: float) -> pd.DataFrame | None:
    candles = outcome.candles
    if candles is None or candles.empty:
        return None
    end = utc(outcome.origin) or candles.index[-1]
    start = end - pd.Timedelta(days=days)
    return candles[(candles.index > start) & (candles.index <= end)]


def price_figure(
    outcome: SeriesOutcome,
    forecasts: TargetOutcome,
    history_days: float = HISTORY_DAYS,
    *,
    flags: bool = True,
) -> Figure:
    """One target's recent history, every model's forecast (faded), the champion's forecast
    with its 80 % and 95 % bands, the forecast origin, and (`flags`) the anomaly flags within
    the window."""
    target = forecasts.target
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    history = _history(outcome, history_days)
    origin = utc(outcome.origin)
    last_value = None
    values = target_series(history, target) if history is not None and not history.empty else None
    if history is not None and values is not None:
        times = plot_times(history.index)
        data.append(
            _scatter(
                x=times,
                y=values.to_numpy(dtype="float64"),
                name=f"{target} (history)",
                mode="lines",
                line={"color": HISTORY_COLOR, "width": 1.6},
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>" + target + " %{y:,.2f}<extra></extra>",
            )
        )
        synthetic = history[history["synthetic"].astype(bool)] if "synthetic" in history else None
        if synthetic is not None and not synthetic.empty:
            data.append(
                _scatter(
                    x=plot_times(synthetic.index),
                    y=values[synthetic.index].to_numpy(dtype="float64"),
                    name="gap-filled candle",
                    mode="markers",
                    marker={"color": "#adb5bd", "size": 6, "symbol": "square"},
                    hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>gap-filled (synthetic)<extra></extra>",
                )
            )
        last_value = float(values.iloc[-1])
    data += _forecast_traces(forecasts, origin, last_value)
    if flags and values is not None:
        data += _flag_traces(outcome, values)
    if origin is not None:
        at = plot_times([origin])[0]
        layout["shapes"] = [
            {
                "type": "line",
                "x0": at,
                "x1": at,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "y domain",
                "line": {"color": "#868e96", "dash": "dash", "width": 1},
            }
        ]
        layout["annotations"] = [
            {
                "x": at,
                "y": 1.0,
                "yref": "paper",
                "text": "forecast origin",
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "bottom",
                "font": {"size": 11, "color": "#868e96"},
            }
        ]
    return _figure(
        data,
        {
            **layout,
            "title": {
                "text": f"{outcome.id} {target}: last {history_days:g} days and the forecast",
                "x": 0.01,
            },
            "xaxis": {"title": {"text": "time (UTC)"}},
            "yaxis": {"title": {"text": _axis_title(target, outcome.key.symbol)}},
            "height": 540,
            "margin": {"l": 70, "r": 20, "t": 50, "b": 120},
            "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0},
            "hovermode": "closest",
        },
    )


def _axis_title(target: str, symbol: str) -> str:
    """`close (USDT)`, `volume (BTC)`: prices in the quote currency, volume in the base."""
    if target == "volume":
        return f"volume ({symbol.split('/', 1)[0]})"
    return f"{target} ({quote_currency(symbol)})"


def _forecast_times(frame: pd.DataFrame, origin: pd.Timestamp | None) -> np.ndarray:
    times = pd.DatetimeIndex(pd.to_datetime(frame["target_time"], utc=True))
    if origin is not None:
        times = times.insert(0, origin)
    return plot_times(times)


def _with_origin(values: np.ndarray, last_value: float | None) -> np.ndarray:
    return values if last_value is None else np.concatenate([[last_value], values])


def _forecast_traces(
    outcome: TargetOutcome, origin: pd.Timestamp | None, last_value: float | None
) -> list[dict[str, Any]]:
    """Every other model's forecast (faded), then the champion's bands and forecast."""
    traces: list[dict[str, Any]] = []
    start = origin if last_value is not None else None
    others = [
        (m, m.forecast)
        for name, m in sorted(outcome.models.items())
        if name != outcome.champion and m.forecast is not None and not m.forecast.empty
    ]
    for i, (model, frame) in enumerate(others):
        traces.append(
            _scatter(
                x=_forecast_times(frame, start),
                y=_with_origin(frame["value"].to_numpy(dtype="float64"), last_value),
                name=f"{model.model} ({model.family})",
                legendgroup="other models",
                mode="lines",
                opacity=0.45,
                line={"color": MODEL_COLORS[i % len(MODEL_COLORS)], "width": 1.2, "dash": "dot"},
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>"
                + model.model
                + " %{y:,.2f}<extra></extra>",
            )
        )
    champion = outcome.models.get(outcome.champion) if outcome.champion else None
    if champion is None or champion.forecast is None or champion.forecast.empty:
        return traces
    frame = champion.forecast
    times = _forecast_times(frame, start)
    for pct, color in ((95, BAND_95), (80, BAND_80)):
        lower, upper = f"lower_{pct}", f"upper_{pct}"
        if lower not in frame or upper not in frame or frame[[lower, upper]].isna().all().all():
            continue
        traces.append(
            _scatter(
                x=times,
                y=_with_origin(frame[upper].to_numpy(dtype="float64"), last_value),
                mode="lines",
                line={"width": 0},
                legendgroup=f"band{pct}",
                showlegend=False,
                hovertemplate=f"{pct}% upper %{{y:,.2f}}<extra></extra>",
            )
        )
        traces.append(
            _scatter(
                x=times,
                y=_with_origin(frame[lower].to_numpy(dtype="float64"), last_value),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=color,
                name=f"{champion.model} {pct}% interval",
                legendgroup=f"band{pct}",
                hovertemplate=f"{pct}% lower %{{y:,.2f}}<extra></extra>",
            )
        )
    traces.append(
        _scatter(
            x=times,
            y=_with_origin(frame["value"].to_numpy(dtype="float64"), last_value),
            name=f"{champion.model} forecast (champion)",
            mode="lines+markers",
            line={"color": CHAMPION_COLOR, "width": 2.6},
            marker={"size": 5},
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>champion "
            + champion.model
            + " %{y:,.2f}<extra></extra>",
        )
    )
    return traces


def _flag_points(flags: list[Any], values: pd.Series) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {"x": [], "y": [], "custom": [], "symbol": []}
    for flag in flags:
        when = utc(flag.timestamp)
        if when not in values.index:
            continue
        points["x"].append(plot_times([when])[0])
        points["y"].append(float(values[when]))
        points["symbol"].append(FLAG_SYMBOLS.get(flag.severity, "diamond"))
        points["custom"].append(
            [
                flag.kind,
                flag.detector,
                flag.score,
                flag.threshold,
                flag.severity,
                _wrap(flag.reason),
            ]
        )
    return points


FLAG_HOVER = (
    "<b>%{customdata[0]}</b> (%{customdata[1]}, %{customdata[4]})<br>"
    "%{x|%Y-%m-%d %H:%M} UTC<br>score %{customdata[2]:.2f} ≥ threshold %{customdata[3]:.2f}<br>"
    "%{customdata[5]}<extra>anomaly flag</extra>"
)


def _flag_traces(outcome: SeriesOutcome, values: pd.Series) -> list[dict[str, Any]]:
    points = _flag_points(outcome.flags, values)
    if not points["x"]:
        return []
    return [
        _scatter(
            x=points["x"],
            y=points["y"],
            name="anomaly flag",
            mode="markers",
            marker={
                "color": FLAG_COLOR,
                "size": 12,
                "symbol": points["symbol"],
                "line": {"width": 1.5, "color": FLAG_COLOR},
            },
            customdata=points["custom"],
            hovertemplate=FLAG_HOVER,
        )
    ]


@functools.cache
def _stacked_layout(rows: int) -> dict[str, Any]:
    """The axes and title slots of `rows` panels stacked on one shared time axis, as plotly's
    `make_subplots` lays them out (computed once; the titles are filled per figure)."""
    skeleton = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        subplot_titles=[str(i) for i in range(rows)],
    )
    layout = skeleton.to_plotly_json()["layout"]
    layout.pop("template", None)
    return layout


def _axis(name: str, row: int) -> str:
    """`xaxis` / `xaxis2` ...: the layout key of a row's axis (rows count from 1)."""
    return name if row == 1 else f"{name}{row}"


def decomposition_figure(outcome: SeriesOutcome) -> Figure | None:
    """Trend, cycle, seasonal and irregular parts as four stacked panels on one time axis (the
    flags marked on the irregular panel). None when the run did not decompose the series."""
    decomposition = outcome.decomposition
    if decomposition is None or decomposition.components.empty:
        return None
    parts = decomposition.components
    log = decomposition.scale == "log"
    target = "close"  # the decomposition is of the price (decompose_candles)
    currency = quote_currency(outcome.key.symbol)
    panels = (
        ("trend", np.exp(parts["trend"]) if log else parts["trend"], f"{target} ({currency})"),
        ("cycle", 100 * parts["cycle"] if log else parts["cycle"], "% of level" if log else ""),
        ("seasonal", 100 * parts["seasonal"] if log else parts["seasonal"], "%" if log else ""),
        ("irregular", 100 * parts["irregular"] if log else parts["irregular"], "%" if log else ""),
    )
    periods = ", ".join(str(p) for p in decomposition.periods) or "none"
    titles = (
        "trend",
        "cycle (slow swings around the trend)",
        f"seasonal (periods {periods} candles)",
        "irregular (what is left)",
    )
    layout = copy.deepcopy(_stacked_layout(len(panels)))
    for annotation, title in zip(layout["annotations"], titles, strict=True):
        annotation["text"] = title
    times = plot_times(parts.index)
    colors = ("#1c7ed6", "#2f9e44", "#7048e8", "#495057")
    data: list[dict[str, Any]] = []
    for row, ((name, values, unit), color) in enumerate(zip(panels, colors, strict=True), start=1):
        data.append(
            _scatter(
                x=times,
                y=np.asarray(values, dtype="float64"),
                name=name,
                mode="lines",
                line={"color": color, "width": 1.2},
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>" + name + " %{y:,.3f}<extra></extra>",
                xaxis=_axis("x", row),
                yaxis=_axis("y", row),
            )
        )
        layout[_axis("yaxis", row)]["title"] = {"text": unit or name}
    last = len(panels)
    irregular = pd.Series(np.asarray(panels[3][1], dtype="float64"), index=parts.index)
    points = _flag_points(outcome.flags, irregular)
    if points["x"]:
        data.append(
            _scatter(
                x=points["x"],
                y=points["y"],
                name="anomaly flag",
                mode="markers",
                marker={"color": FLAG_COLOR, "size": 10, "symbol": points["symbol"]},
                customdata=points["custom"],
                hovertemplate=FLAG_HOVER,
                xaxis=_axis("x", last),
                yaxis=_axis("y", last),
            )
        )
    layout[_axis("xaxis", last)]["title"] = {"text": "time (UTC)"}
    scale = f"log({target}): parts in % of the level" if log else f"{target}, additive parts"
    return _figure(
        data,
        {
            **layout,
            "title": {"text": f"{outcome.id}: decomposition of {scale}", "x": 0.01},
            "height": 780,
            "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
            "showlegend": False,  # each panel is titled
            "hovermode": "closest",
        },
    )
