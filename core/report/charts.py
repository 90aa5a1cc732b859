"""The report's charts as plotly figures: the recent price with every model's forecast, the
champion's intervals and the anomaly flags; and the four-part decomposition.

Figures only: turning them into HTML is `figure_html`. All times are UTC.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
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


def figure_html(figure: go.Figure, div_id: str) -> str:
    """A figure as an HTML fragment that uses the page's one copy of plotly.js."""
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=CONFIG,
        default_height=f"{figure.layout.height or 480}px",
    )


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
) -> go.Figure:
    """One target's recent history, every model's forecast (faded), the champion's forecast
    with its 80 % and 95 % bands, the forecast origin, and (`flags`) the anomaly flags within
    the window."""
    target = forecasts.target
    figure = go.Figure()
    history = _history(outcome, history_days)
    origin = utc(outcome.origin)
    last_value = None
    values = target_series(history, target) if history is not None and not history.empty else None
    if history is not None and values is not None:
        times = plot_times(history.index)
        figure.add_trace(
            go.Scatter(
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
            figure.add_trace(
                go.Scatter(
                    x=plot_times(synthetic.index),
                    y=values[synthetic.index].to_numpy(dtype="float64"),
                    name="gap-filled candle",
                    mode="markers",
                    marker={"color": "#adb5bd", "size": 6, "symbol": "square"},
                    hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>gap-filled (synthetic)<extra></extra>",
                )
            )
        last_value = float(values.iloc[-1])
    _add_forecasts(figure, forecasts, origin, last_value)
    if flags and values is not None:
        _add_flags(figure, outcome, values)
    if origin is not None:
        figure.add_vline(
            x=plot_times([origin])[0],
            line={"color": "#868e96", "dash": "dash", "width": 1},
        )
        figure.add_annotation(
            x=plot_times([origin])[0],
            y=1.0,
            yref="paper",
            text="forecast origin",
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
            font={"size": 11, "color": "#868e96"},
        )
    figure.update_layout(
        title={
            "text": f"{outcome.id} {target}: last {history_days:g} days and the forecast",
            "x": 0.01,
        },
        xaxis_title="time (UTC)",
        yaxis_title=_axis_title(target, outcome.key.symbol),
        template="plotly_white",
        height=540,
        margin={"l": 70, "r": 20, "t": 50, "b": 120},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0.0},
        hovermode="closest",
    )
    return figure


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


def _add_forecasts(
    figure: go.Figure,
    outcome: TargetOutcome,
    origin: pd.Timestamp | None,
    last_value: float | None,
) -> None:
    start = origin if last_value is not None else None
    others = [
        (m, m.forecast)
        for name, m in sorted(outcome.models.items())
        if name != outcome.champion and m.forecast is not None and not m.forecast.empty
    ]
    for i, (model, frame) in enumerate(others):
        figure.add_trace(
            go.Scatter(
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
        return
    frame = champion.forecast
    times = _forecast_times(frame, start)
    for pct, color in ((95, BAND_95), (80, BAND_80)):
        lower, upper = f"lower_{pct}", f"upper_{pct}"
        if lower not in frame or upper not in frame or frame[[lower, upper]].isna().all().all():
            continue
        figure.add_trace(
            go.Scatter(
                x=times,
                y=_with_origin(frame[upper].to_numpy(dtype="float64"), last_value),
                mode="lines",
                line={"width": 0},
                legendgroup=f"band{pct}",
                showlegend=False,
                hovertemplate=f"{pct}% upper %{{y:,.2f}}<extra></extra>",
            )
        )
        figure.add_trace(
            go.Scatter(
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
    figure.add_trace(
        go.Scatter(
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


def _add_flags(figure: go.Figure, outcome: SeriesOutcome, values: pd.Series) -> None:
    points = _flag_points(outcome.flags, values)
    if not points["x"]:
        return
    figure.add_trace(
        go.Scatter(
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
    )


def decomposition_figure(outcome: SeriesOutcome) -> go.Figure | None:
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
    figure = make_subplots(
        rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=titles
    )
    times = plot_times(parts.index)
    colors = ("#1c7ed6", "#2f9e44", "#7048e8", "#495057")
    for row, ((name, values, unit), color) in enumerate(zip(panels, colors, strict=True), start=1):
        figure.add_trace(
            go.Scatter(
                x=times,
                y=np.asarray(values, dtype="float64"),
                name=name,
                mode="lines",
                line={"color": color, "width": 1.2},
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>" + name + " %{y:,.3f}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text=unit or name, row=row, col=1)
    irregular = pd.Series(np.asarray(panels[3][1], dtype="float64"), index=parts.index)
    points = _flag_points(outcome.flags, irregular)
    if points["x"]:
        figure.add_trace(
            go.Scatter(
                x=points["x"],
                y=points["y"],
                name="anomaly flag",
                mode="markers",
                marker={"color": FLAG_COLOR, "size": 10, "symbol": points["symbol"]},
                customdata=points["custom"],
                hovertemplate=FLAG_HOVER,
            ),
            row=4,
            col=1,
        )
    figure.update_xaxes(title_text="time (UTC)", row=4, col=1)
    scale = f"log({target}): parts in % of the level" if log else f"{target}, additive parts"
    figure.update_layout(
        title={"text": f"{outcome.id}: decomposition of {scale}", "x": 0.01},
        template="plotly_white",
        height=780,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        showlegend=False,  # each panel is titled
        hovermode="closest",
    )
    return figure
