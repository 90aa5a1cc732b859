"""Anomaly notifications as an operator sets them up: the README's automation JSON, created with
`prefect automation create --from-file` on a real Prefect server, turns the events a run emits
into notifications (a webhook block posting to a loopback HTTP server), each quoting its own
event."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from candlecast.core.anomalies.flag import AnomalyEvent, Flag
from tests.fixtures.results import KEY, make_outcome, make_results

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = "<your Slack / e-mail notification block id>"


def _readme_automation() -> str:
    """The automation JSON the README shows for `prefect automation create --from-file`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(
        r"prefect automation create --from-file`\):\n\n```json\n(.*?)\n```", readme, re.S
    )
    assert found, "the README no longer shows the automation JSON after its create command"
    return found.group(1)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP server that keeps the JSON bodies posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("content-length", 0))
            received.append(json.loads(self.rfile.read(size)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def _flag(hour: int, score: float, severity: str, reason: str) -> Flag:
    stamp = pd.Timestamp("2024-01-25", tz="UTC") + pd.Timedelta(hours=hour)
    return Flag(str(KEY), stamp, "spike", "irregular", score, 5.0, severity, reason)  # type: ignore[arg-type]


def _event(flag: Flag) -> AnomalyEvent:
    return AnomalyEvent(
        str(KEY), "spike", flag.timestamp, flag.timestamp, flag.score, flag.severity, 1, False
    )


@pytest.mark.slow
def test_the_readme_automation_notifies_each_critical_event_in_its_own_words(
    prefect_api, webhook, tmp_path
):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    from candlecast.flows.events import emit_anomaly_events

    url, received = webhook
    block = CustomWebhookNotificationBlock(
        name="candlecast-test", url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    )
    block_id = block.save("candlecast-test-hook", overwrite=True)
    text = _readme_automation()
    assert PLACEHOLDER in text
    path = tmp_path / "automation.json"
    path.write_text(text.replace(PLACEHOLDER, str(block_id)), encoding="utf-8")
    created = subprocess.run(
        [sys.executable, "-m", "prefect", "automation", "create", "--from-file", str(path)],
        env=os.environ | {"PREFECT_API_URL": prefect_api},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Created automation 'candlecast: critical anomalies'" in created.stdout
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name("candlecast: critical anomalies")
    assert automation.trigger.expect == {"candlecast.anomaly.detected"}
    assert str(automation.actions[0].block_document_id) == str(block_id)

    # one run's events: a critical spike, a warning spike, and a newer critical flag of the same
    # kind that belongs to a third event, not announced in this run
    critical = _flag(1, 14.0, "critical", "Close is +25.0% away from the 5-candle median level")
    warning = _flag(5, 7.0, "warning", "Close is -4.0% away from the 5-candle median level")
    newer = _flag(9, 12.0, "critical", "Close is +9.0% away from the 5-candle median level")
    outcome = make_outcome(flags=0)
    outcome.flags = [critical, warning, newer]
    results = make_results(series=(outcome,))
    sent = emit_anomaly_events(
        results, {outcome.id: [_event(critical), _event(warning)]}, "/data/reports/r.html"
    )
    assert sent == 2

    for _ in range(120):  # the server evaluates triggers as events arrive
        if received:
            break
        time.sleep(0.5)
    time.sleep(2)  # and nothing else follows
    assert received == [
        {
            "subject": "binance:BTC/USDT:1h: spike",
            "body": "Close is +25.0% away from the 5-candle median level (severity critical); "
            "report: /data/reports/r.html",
        }
    ]
