"""prefect.yaml's pull step and where a run given no configuration finds it: read on the
machine that runs the flow, failing with what to set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from candlecast.core.config.locate import locate_config
from candlecast.core.errors import ConfigError
from candlecast.deploy.steps import enter_checkout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cwd():
    before = Path.cwd()
    try:
        yield
    finally:
        os.chdir(before)


def test_the_pull_step_enters_the_checkout_the_worker_names(cwd, monkeypatch):
    monkeypatch.setenv("CANDLECAST_DIR", str(REPO))
    assert enter_checkout("CANDLECAST_DIR") == {"directory": str(REPO.resolve())}
    assert Path.cwd() == REPO.resolve()


def test_the_pull_step_without_the_variable_names_what_to_set(cwd, monkeypatch, tmp_path):
    monkeypatch.delenv("CANDLECAST_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        enter_checkout("CANDLECAST_DIR")
    assert str(error.value) == (
        "CANDLECAST_DIR is not set on this worker: set it in the environment of `prefect worker "
        "start` to the folder of the candlecast checkout (the one holding flows/forecast.py), "
        "e.g. `export CANDLECAST_DIR=/srv/candlecast`"
    )
    monkeypatch.setenv("CANDLECAST_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"does not hold flows/forecast.py, the deployments'"):
        enter_checkout("CANDLECAST_DIR")
    assert Path.cwd() == tmp_path  # it stays where it was


def test_a_run_without_configuration_reads_candlecast_config_or_the_checkouts_file(tmp_path):
    site = tmp_path / "etc" / "forecast.toml"
    site.parent.mkdir()
    site.write_text("[model]\nwindow = 24\n")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert locate_config({"CANDLECAST_CONFIG": str(site)}, checkout) == site
    (checkout / "candlecast.toml").write_text("")
    assert locate_config({}, checkout) == checkout / "candlecast.toml"
    assert locate_config({"CANDLECAST_CONFIG": str(site)}, checkout) == site  # it wins


def test_a_run_without_any_configuration_says_what_to_set(tmp_path):
    with pytest.raises(ConfigError) as error:
        locate_config({}, tmp_path)
    assert str(error.value).startswith(
        f"this run was given no configuration and there is no candlecast.toml in its working "
        f"directory {tmp_path}: set CANDLECAST_CONFIG to the configuration file"
    )
    with pytest.raises(ConfigError, match=r"CANDLECAST_CONFIG=/nowhere.toml names no file"):
        locate_config({"CANDLECAST_CONFIG": "/nowhere.toml"}, tmp_path)


def test_the_flow_reads_the_located_file(tmp_path, monkeypatch):
    from candlecast.flows.runtime import resolve_config

    site = tmp_path / "forecast.toml"
    site.write_text('[model]\nwindow = 24\n[source]\nsymbols = ["ETH/USDT"]\n')
    monkeypatch.setenv("CANDLECAST_CONFIG", str(site))
    config = resolve_config(None, None)
    assert config.model.window == 24 and config.source.symbols == ["ETH/USDT"]
