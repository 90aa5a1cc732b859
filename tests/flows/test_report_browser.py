"""The report of a real flow run, loaded in headless Chromium through the DevTools protocol:
every chart rendered by plotly (its `.main-svg` layers), hovering works, no console errors or
exceptions; a full-page screenshot is saved under `test-artifacts/`.

Needs Debian's `chromium` (`apt-get install chromium`; `.ci/run` installs it). Elsewhere the test
is skipped with the reason; under CI=true a missing browser fails it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from candlecast.flows.forecast import forecast_flow
from tests.fixtures.models import tiny_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to the profile
)


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = (
        f"no headless Chromium on PATH (looked for {', '.join(BROWSERS)}); apt-get install chromium"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, open_timeout=30)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=deadline - time.monotonic()))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"no answer to {method} within {timeout} s")

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            with contextlib.suppress(TimeoutError):
                self.events.append(json.loads(self.socket.recv(timeout=1)))
        raise TimeoutError(f"no {method} event within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        return found

    def close(self) -> None:
        self.socket.close()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[DevTools]:
    """Headless Chromium with a fresh profile; yields a DevTools client on its first page."""
    process = subprocess.Popen(
        [_browser(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start (exit code {process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield client
    finally:
        if client is not None:
            client.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


CHARTS = """(() => {
  const charts = [...document.querySelectorAll('.js-plotly-plot')];
  return {
    charts: charts.map(c => c.id),
    rendered: charts.filter(c => c.querySelector('.main-svg')).map(c => c.id),
    traces: charts.map(c => c.querySelectorAll('.scatterlayer .trace').length),
    axisTitles: [...document.querySelectorAll('.xtitle, .ytitle')].map(t => t.textContent),
    legend: [...document.querySelectorAll('.legendtext')].map(t => t.textContent),
    sections: document.querySelectorAll('section.series').length,
    leaderboardRows: document.querySelectorAll('tr.champion').length,
  };
})()"""

HOVER = """(() => {
  const gd = document.getElementById('%s');
  const index = gd.data.findIndex(t => t.name === %s);
  if (index < 0) return index;
  const trace = gd._fullData[index];  // a subplot's points hover on their own axes
  Plotly.Fx.hover(gd, [{curveNumber: index, pointNumber: %d}], [trace.xaxis + trace.yaxis]);
  return index;
})()"""
HOVER_TEXT = """[...document.getElementById('%s').querySelectorAll('.hoverlayer text')]
  .map(t => t.textContent).join(' | ')"""


def _hover(page: DevTools, chart: str, trace: str, point: int) -> str | None:
    """The hover label plotly shows for one point of a named trace (None: no such trace)."""
    time.sleep(0.2)  # plotly throttles hover events closer than 50 ms apart
    if page.evaluate(HOVER % (chart, json.dumps(trace), point)) < 0:
        return None
    time.sleep(0.2)
    return page.evaluate(HOVER_TEXT % chart)


def test_the_report_of_a_real_run_renders_in_chromium(prefect_harness, tmp_path, candles_csv):
    _browser()  # skip (or fail under CI) before the minute the flow takes
    config = tiny_config(
        source={"name": "csv", "path": candles_csv, "history_days": 60},
        storage={"data_home": str(tmp_path / "home")},
        publish={"formats": ["csv"]},
        model={"targets": ["close", "volume"]},
    )
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok", summary
    report = Path(summary["report"])
    assert report == tmp_path / "home" / "reports" / f"{summary['run_id']}.html"
    index = (report.parent / "index.html").read_text()
    assert f'<a href="{report.name}">{summary["run_id"]}</a>' in index
    champion = summary["series"]["csv:BTC/USDT:1h"]["targets"]["close"]["champion"]

    with chromium(tmp_path / "profile") as page:
        page.call("Runtime.enable")
        page.call("Log.enable")
        page.call("Page.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.navigate", url=report.as_uri())
        page.wait_event("Page.loadEventFired", timeout=60)
        deadline = time.monotonic() + 30
        state = page.evaluate(CHARTS)
        while len(state["rendered"]) < len(state["charts"]) and time.monotonic() < deadline:
            time.sleep(0.2)
            state = page.evaluate(CHARTS)

        price = "chart-csv-btc-usdt-1h-close"
        assert state["charts"] == [
            price,
            "chart-csv-btc-usdt-1h-volume",
            "decomp-csv-btc-usdt-1h",
        ]
        assert state["rendered"] == state["charts"]
        # history, 6 other models (4 cells, 2 baselines, the combination, less the champion),
        # 2 x 2 band edges, champion (+ flags, gap markers if any)
        assert state["traces"][0] >= 1 + 6 + 4 + 1
        assert state["traces"][1] >= 1 + 6 + 4 + 1
        assert state["traces"][2] >= 4  # trend, cycle, seasonal, irregular
        assert "time (UTC)" in state["axisTitles"]
        assert "close (USDT)" in state["axisTitles"]
        assert "volume (BTC)" in state["axisTitles"]
        assert f"{champion} forecast (champion)" in state["legend"]
        assert f"{champion} 95% interval" in state["legend"]
        assert state["sections"] == 1 and state["leaderboardRows"] == 2  # one per target

        hover = _hover(page, price, f"{champion} forecast (champion)", 1)
        assert hover is not None and f"champion {champion}" in hover
        flagged = _hover(page, price, "anomaly flag", 0)
        if flagged is not None:  # a flag within the chart's 14 days: kind, score, threshold
            assert "score" in flagged and "threshold" in flagged, flagged
        irregular = _hover(page, "decomp-csv-btc-usdt-1h", "irregular", 10)
        assert irregular is not None and "irregular" in irregular

        assert page.errors() == []

        height = int(page.call("Page.getLayoutMetrics")["cssContentSize"]["height"])
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=min(height, 12000),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-browser.png").write_bytes(shot)
