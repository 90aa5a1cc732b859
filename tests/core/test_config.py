"""Config: defaults, TOML, overrides, environment URLs, and errors that name field, value, allowed."""

from __future__ import annotations

import tomllib

import pytest

from candlecast.core.config import (
    Config,
    build_config,
    default_config_text,
    load_config,
    parse_override,
)
from candlecast.core.errors import ConfigError


def test_default_file_is_the_default_config():
    assert build_config(tomllib.loads(default_config_text())) == Config()


def test_defaults_are_the_documented_ones():
    config = Config()
    assert [c.name for c in config.model.cells] == ["simple", "lstm", "gru", "bidirectional"]
    assert config.source.name == "ccxt" and config.source.symbols == ["BTC/USDT"]
    assert config.model.targets == ["close", "volume"]
    assert config.model.transform_for("close") == "log_return"
    assert config.model.transform_for("volume") == config.model.transform_for("range") == "log1p"
    assert config.model.for_target("volume").resolved_transform == "log1p"
    # the older one-target spelling still reads
    assert build_config({"model": {"target": "volume"}}).model.targets == ["volume"]
    assert config.backtest.combination == "skill" and config.backtest.intervals == "normalised"
    assert {"ets", "theta", "garch"} <= set(config.backtest.baselines)
    assert config.storage.resolved_database_url.endswith("candlecast-data/candlecast.db")


def test_unknown_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError) as err:
        build_config({"model": {"windw": 10}})
    message = str(err.value)
    assert "`model.windw` is not a known setting" in message
    assert "did you mean `window`" in message
    assert "horizon" in message  # lists what is allowed


def test_bad_value_names_field_value_and_allowed():
    with pytest.raises(ConfigError) as err:
        build_config({"model": {"head": "vec2vec", "window": 0}})
    message = str(err.value)
    assert "`model.head` = 'vec2vec'" in message and "'seq2seq'" in message
    assert "`model.window` = 0" in message and "greater than or equal to 2" in message


def test_nested_list_errors_point_at_the_item():
    with pytest.raises(ConfigError, match=r"`model.cells.1.units` = -3"):
        build_config({"model": {"cells": [{"name": "lstm"}, {"name": "gru", "units": -3}]}})


def test_cross_field_rules():
    with pytest.raises(ConfigError, match=r"source\.path is not set"):
        build_config({"source": {"name": "csv"}})
    with pytest.raises(ConfigError, match="only use inputs known in advance"):
        build_config({"model": {"head": "seq2seq", "features": ["calendar", "volume"]}})
    with pytest.raises(ConfigError, match="distinct labels"):
        build_config({"model": {"cells": [{"name": "lstm"}, {"name": "lstm"}]}})
    with pytest.raises(ConfigError, match="not a timeframe"):
        build_config({"source": {"timeframe": "7x"}})


def test_wrong_types_are_reported():
    with pytest.raises(ConfigError, match=r"`training.epochs` = 'many'"):
        build_config({"training": {"epochs": "many"}})
    with pytest.raises(ConfigError, match=r"`source.symbols` = 'BTC/USDT'"):
        build_config({"source": {"symbols": "BTC/USDT"}})


def test_toml_file_overrides_and_relative_paths(tmp_path):
    path = tmp_path / "conf" / "candlecast.toml"
    path.parent.mkdir()
    path.write_text(
        '[source]\nname = "csv"\npath = "data.csv"\n[model]\nwindow = 30\n'
        '[storage]\ndata_home = "home"\n'
    )
    config = load_config(path, {("model", "horizon"): 6, ("model", "window"): 20})
    assert config.model.window == 20 and config.model.horizon == 6
    assert config.source.path == path.parent / "data.csv"
    assert config.storage.data_home == path.parent / "home"


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nwindow=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_parse_override_values():
    assert parse_override("model.window=72") == (["model", "window"], 72)
    assert parse_override("source.name=csv") == (["source", "name"], "csv")
    assert parse_override('source.symbols=["A/B","C/D"]') == (["source", "symbols"], ["A/B", "C/D"])
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("model.window")


def test_database_urls_come_from_the_environment_when_the_file_has_none(tmp_path):
    env = {"CANDLECAST_DATABASE_URL": "postgresql://u:secret@h/db"}
    assert load_config(None, environ=env).storage.database_url == "postgresql://u:secret@h/db"
    path = tmp_path / "c.toml"
    path.write_text('[storage]\ndatabase_url = "sqlite:///x.db"\n')
    assert load_config(path, environ=env).storage.database_url == "sqlite:///x.db"
