"""Reading a TOML configuration file, for every command that takes one (train, sweep, explain).

It sits at the bottom of the layering (it imports only `chainrule.errors`), so `explain` can read
its config file without importing `chainrule.runs`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError


def load_toml(path: str | Path) -> dict[str, Any]:
    """The table in a TOML file (a clear ConfigError for a missing or malformed file)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give the path of a TOML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
