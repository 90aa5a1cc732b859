"""Credentials come from the environment or a Prefect Secret block and never appear in logs,
the database, published files, reports, artifacts or Prefect's own records; the database
unreachable at start is one redacted line; SQL is never built from strings; the sandbox
exchange serves loopback only."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from candlecast.core.errors import ConfigError
from candlecast.core.storage.migrations import complete_metadata
from candlecast.flows.forecast import forecast_flow
from candlecast.flows.secret_refs import resolve_secrets
from tests.faults.conftest import cli, table_rows, tiny_toml
from tests.fixtures.models import tiny_config

pytestmark = pytest.mark.faults

PASSWORD = "s3cret-Pw0rd"
REPO = Path(__file__).resolve().parents[2]


def _with_password(url: str) -> str:
    """`url` with a password (PostgreSQL here trusts loopback: it is ignored, and must never
    show up anywhere)."""
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _leaks_in_tree(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and PASSWORD.encode() in p.read_bytes()
    ]


def _leaks_in_database(url: str) -> list[str]:
    engine = sa.create_engine(url)
    found = []
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            for table in complete_metadata().sorted_tables:
                if table.name in names:
                    for row in conn.execute(sa.select(table)):
                        if PASSWORD in repr(tuple(row)):
                            found.append(f"{table.name}: {tuple(row)!r:.200}")
    finally:
        engine.dispose()
    return found


@pytest.mark.slow
def test_a_secret_block_url_is_resolved_at_run_time_and_never_shown(
    prefect_harness, tmp_path, pg_url, candles_csv, caplog
):
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client

    secret_url = _with_password(pg_url)
    Secret(value=secret_url).save("candlecast-faults-db", overwrite=True)
    config = tiny_config(
        source={"name": "csv", "path": candles_csv, "history_days": 60},
        model={"cells": [{"name": "gru", "units": 4}]},
        anomalies={"enabled": False},
        publish={"formats": ["csv", "json"]},
        storage={
            "data_home": str(tmp_path / "home"),
            "database_url": "secret:candlecast-faults-db",
        },
    )
    caplog.set_level(logging.DEBUG)
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok"

    engine = sa.create_engine(pg_url)  # the rows are where the secret URL points
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select run_id, config from runs")).all()
    engine.dispose()
    assert [r[0] for r in runs] == [summary["run_id"]]
    assert "postgres:***@127.0.0.1" in runs[0][1]  # the runs table shows it redacted

    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(summary)
    assert _leaks_in_database(pg_url) == []
    assert _leaks_in_tree(tmp_path / "home") == []  # outputs, report, model sidecars
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs()
        assert flow_runs and PASSWORD not in repr([r.parameters for r in flow_runs])
        artifacts = client.read_artifacts()
        assert artifacts and PASSWORD not in repr([(a.key, a.data) for a in artifacts])
        assert PASSWORD not in repr([log.message for log in client.read_logs()])


def test_a_missing_secret_block_names_the_block(prefect_harness):
    config = tiny_config(storage={"database_url": "secret:no-such-block"})
    with pytest.raises(ConfigError) as missing:
        resolve_secrets(config)
    assert "Prefect Secret block 'no-such-block' does not exist" in str(missing.value)
    with pytest.raises(ConfigError, match="only a Prefect flow run or the candlecast CLI"):
        _ = config.storage.resolved_database_url  # an unresolved reference is never a URL


@pytest.mark.slow
def test_the_cli_takes_the_password_from_the_environment_and_shows_it_nowhere(
    tmp_path, pg_url, series_csv
):
    """Everything a CLI run leaves: its output, the database, the files, and the Prefect
    database of its temporary API (flow-run parameters, logs, artifacts)."""
    tiny_toml(tmp_path / "candlecast.toml", series_csv)
    prefect_home = tmp_path / "prefect-home"
    result = cli(
        "run",
        cwd=tmp_path,
        CANDLECAST_DATABASE_URL=_with_password(pg_url),
        PREFECT_HOME=str(prefect_home),
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert _leaks_in_database(pg_url) == []
    assert len(table_rows(pg_url, "runs")) == 1  # the run went where the variable points
    assert _leaks_in_tree(tmp_path / "home") == []
    assert list(prefect_home.rglob("*.db")), "the run used the isolated Prefect home"
    assert _leaks_in_tree(prefect_home) == []


@pytest.mark.parametrize("command", ["run", "fetch"])
def test_an_unreachable_database_at_start_is_one_redacted_line(tmp_path, series_csv, command):
    tiny_toml(tmp_path / "candlecast.toml", series_csv)
    url = f"postgresql+psycopg2://candle:{PASSWORD}@127.0.0.1:9/nowhere?connect_timeout=3"
    result = cli(command, cwd=tmp_path, CANDLECAST_DATABASE_URL=url)
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert PASSWORD not in output and "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: database postgresql+psycopg2://candle:***@127.0.0.1:9/")
    assert "is unreachable: " in errors[0] and "offline" not in errors[0]
    assert not (tmp_path / "home" / "outputs").exists()


def test_an_unusable_sqlite_location_is_one_line(tmp_path, series_csv):
    (tmp_path / "home").write_text("a file where the data folder should be")
    tiny_toml(tmp_path / "candlecast.toml", series_csv)
    result = cli("fetch", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is unreachable: cannot create its folder" in result.stderr


def test_passwords_never_appear_in_configuration_errors():
    from candlecast.core.config import build_config

    with pytest.raises(ConfigError) as bad:
        build_config({"storage": {"database_url": ["postgresql://u:hunter2@db/x"]}})
    assert "hunter2" not in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        build_config({"publish": {"sql_url": f"postgresql://u:{PASSWORD}@db/x", "nope": 1}})
    assert PASSWORD not in str(bad.value)


def test_the_sandbox_exchange_refuses_to_listen_beyond_loopback(tmp_path):
    result = cli("sandbox-exchange", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the sandbox exchange binds to loopback only" in result.stderr
    assert "got host '0.0.0.0'" in result.stderr


# -- SQL is built by SQLAlchemy with bound values, never from strings -------------------------

SQL_CALLS = {"text", "exec_driver_sql", "execute", "executescript"}
PRODUCT = ("core", "plugins", "flows", "deploy")


def _built_strings(tree: ast.AST) -> list[int]:
    """Lines where a SQL-executing call gets a string built at run time (f-string, %, +,
    .format): the way values or identifiers get spliced into SQL."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if name not in SQL_CALLS:
            continue
        first = node.args[0]
        built = isinstance(first, ast.JoinedStr | ast.BinOp) or (
            isinstance(first, ast.Call) and getattr(first.func, "attr", None) == "format"
        )
        if built:
            lines.append(node.lineno)
    return lines


def test_no_sql_is_assembled_from_strings_in_the_product_code():
    offenders = {}
    for folder in PRODUCT:
        for path in (REPO / folder).rglob("*.py"):
            lines = _built_strings(ast.parse(path.read_text(encoding="utf-8")))
            if lines:
                offenders[str(path.relative_to(REPO))] = lines
    assert offenders == {}


def test_the_audit_catches_spliced_sql():
    sample = 'conn.execute(sa.text(f"select * from {table}"))\nconn.exec_driver_sql("x" + y)'
    assert sorted(_built_strings(ast.parse(sample))) == [1, 2]
