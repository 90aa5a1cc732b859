"""What every report page carries inline: plotly.js (from the installed plotly package, so the
page opens offline) and the style sheet."""

from __future__ import annotations

import functools

import plotly
from plotly.offline import get_plotlyjs

HISTORY_COLOR = "#1f2937"
CHAMPION_COLOR = "#d9480f"
BAND_95 = "rgba(217, 72, 15, 0.14)"
BAND_80 = "rgba(217, 72, 15, 0.30)"
FLAG_COLOR = "#c2255c"
MODEL_COLORS = ("#1c7ed6", "#2f9e44", "#7048e8", "#0c8599", "#e67700", "#868e96", "#a61e4d")


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js, minified, as shipped with the installed plotly package."""
    return get_plotlyjs()


def plotly_version() -> str:
    return str(plotly.__version__)


STYLE = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #d9480f;
        --ok: #2b8a3e; --warn: #e67700; --bad: #c92a2a; --bg: #f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); margin: 0; background: var(--bg); }
header.page { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 28px; }
header.page h1 { margin: 0 0 4px; font-size: 20px; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section.series, section.facts { background: #fff; border: 1px solid var(--line);
       border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; background: var(--muted); vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.partial { background: var(--warn); }
.badge.failed { background: var(--bad); } .badge.running { background: var(--muted); }
.badge.champion { background: var(--accent); }
.callout { border-left: 4px solid var(--accent); background: #fff4e6; padding: 8px 12px;
           margin: 8px 0 12px; }
.callout.error { border-color: var(--bad); background: #fff5f5; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; }
th { background: #f1f3f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.champion td { background: #fff4e6; font-weight: 600; }
tr.baseline td { color: #495057; }
dl.notes { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 6px 0; }
dl.notes dt { font-weight: 600; } dl.notes dd { margin: 0; }
nav.toc a { margin-right: 14px; }
details > summary { cursor: pointer; color: #1c7ed6; margin: 4px 0; }
pre { background: #f1f3f5; padding: 10px; overflow: auto; font-size: 12px; }
.chart { width: 100%; }
"""
