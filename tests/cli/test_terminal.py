"""What a user's terminal shows: candlecast's own output, no library chatter (TensorFlow's
retracing notices, deprecation warnings) unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TINY = [
    "--set", "model.window=12",
    "--set", "model.horizon=4",
    "--set", 'model.cells=[{name="simple", units=4}, {name="lstm", units=4}, {name="gru", units=4}, {name="bidirectional", units=4}]',
    "--set", "training.epochs=2",
    "--set", "backtest.origins_per_fold=40",
    "--set", "backtest.step=2",
    "--set", 'backtest.baselines=["naive", "seasonal_naive"]',
]  # fmt: skip


@pytest.mark.slow
def test_a_run_shows_its_summary_and_no_library_chatter(tmp_path, candles_csv):
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()"]
    done = subprocess.run(
        [*command, "run", "--csv", candles_csv, *TINY],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "report: " in done.stdout and "csv:BTC/USDT:1h" in done.stdout
    terminal = done.stdout + done.stderr
    for chatter in ("retracing", "tensorflow", "WARNING", "Warning:", "INFO"):
        assert chatter not in terminal, terminal[-3000:]
