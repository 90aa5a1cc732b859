"""What `candlecast serve` tells its operator: what Ctrl-C does to the schedules, and with
--once how each run ended (tests/deploy/test_deployments.py runs it against a real server)."""

from __future__ import annotations

from candlecast.cli.commands.serve import print_finished
from candlecast.core.config import Config, build_config
from candlecast.deploy.serve import FinishedRun, shutdown_note


def test_ctrl_c_says_whether_the_schedules_are_paused():
    assert shutdown_note(Config()) == (
        "Ctrl-C stops serving and pauses both schedules (schedule.late_runs = 'skip': runs "
        "missed meanwhile are not made up; serving again resumes them)"
    )
    catch_up = build_config({"schedule": {"late_runs": "catch_up"}})
    assert shutdown_note(catch_up).startswith("Ctrl-C stops serving; the schedules stay active")


def test_once_prints_each_run_or_that_nothing_was_due(capsys):
    print_finished([], ["forecast-binance-1h-btcusdt", "retrain-binance-1h-btcusdt"])
    print_finished(
        [
            FinishedRun("forecast-binance-1h-btcusdt", "calm-otter", "Completed", ""),
            FinishedRun(
                "retrain-binance-1h-btcusdt", "shy-heron", "Cancelled", "skipped: started late"
            ),
        ],
        [],
    )
    assert capsys.readouterr().out.splitlines() == [
        "nothing was due: no run of forecast-binance-1h-btcusdt or retrain-binance-1h-btcusdt "
        "was scheduled to start by now",
        "2 flow run(s) ended:",
        "  forecast-binance-1h-btcusdt: flow run 'calm-otter' Completed",
        "  retrain-binance-1h-btcusdt: flow run 'shy-heron' Cancelled: skipped: started late",
    ]
