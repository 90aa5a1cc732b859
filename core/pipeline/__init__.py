"""The stages of one run for one series, in the order a run takes them, fed by one `SeriesPlan`.

plan.py          SeriesPlan: every length derived from the configuration, once
preflight.py     what `run --check` warns about before any work (interval levels)
prepare.py       the one loader: history window, gaps filled, target, too-short refused
decompose.py     the decomposition of the look-back window (detectors and report share it)
candidates.py    networks (through the registry: networks.py, retraining.py,
                 registration.py; a reused network's backtest forecasts read back from
                 stored_backtests.py) and baselines, backtested on the same folds
evaluate.py      leaderboard, champion, intervals, the forecast tables
flagging.py      the anomaly step: detectors, events
realised.py      how the bands earlier runs published did, once their candles closed
rebuild.py       a recorded run read back from the database (for reports made later)
"""
