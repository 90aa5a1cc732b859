"""Credentials from Prefect Secret blocks: `storage.database_url = "secret:candlecast-db"`.

A configuration may name a Prefect Secret block instead of holding a database URL (with its
password): `secret:<block-name>` in `storage.database_url` or `publish.sql_url`. The reference
is resolved here, in the process that runs the flow (or the CLI command), through
`prefect.blocks.system.Secret.load`; the configuration a deployment stores, Prefect's flow-run
parameters and the runs table keep the reference (a plain URL's password is shown as `***`
there, see `core/config/sections.py`).

Create the block once, on the Prefect server the runs use:

    from prefect.blocks.system import Secret
    Secret(value="postgresql+psycopg2://candle:PASSWORD@db:5432/candles").save("candlecast-db")
"""

from __future__ import annotations

from candlecast.core.config import SECRET_PREFIX, Config
from candlecast.core.errors import ConfigError

FIELDS = (("storage", "database_url"), ("publish", "sql_url"))


def load_secret(name: str) -> str:
    """The value of the Prefect Secret block `name`, or a ConfigError saying what is wrong."""
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError as exc:  # Prefect: no block document with this name
        raise ConfigError(
            f"Prefect Secret block {name!r} does not exist on the Prefect server this run uses "
            f"({str(exc).splitlines()[0]}); create it with "
            f"Secret(value=...).save({name!r}) or change the reference"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"could not load the Prefect Secret block {name!r}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"Prefect Secret block {name!r} must hold a non-empty string (a database URL), "
            f"got a {type(value).__name__}"
        )
    return value


def resolve_secrets(config: Config) -> Config:
    """`config` with every `secret:<block>` reference replaced by the block's value (a copy;
    `config` itself is returned when it has none)."""
    resolved = config
    for section, key in FIELDS:
        value = getattr(getattr(config, section), key)
        if not (isinstance(value, str) and value.startswith(SECRET_PREFIX)):
            continue
        name = value.removeprefix(SECRET_PREFIX).strip()
        if not name:
            raise ConfigError(f"{section}.{key} = {value!r} names no Secret block")
        if resolved is config:
            resolved = config.model_copy(deep=True)
        setattr(getattr(resolved, section), key, load_secret(name))
    return resolved
