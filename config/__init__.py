"""Reading settings from environment-like variables: the helpers every package's ``settings.py`` shares.

Each package declares the variables it reads in its own ``settings.py`` (a frozen dataclass and the
function that parses it), with these helpers; ``app/settings.py`` composes them into the app's
``Settings``. A bad value raises ConfigError, one line naming the variable, at start-up rather than on
a request. This package imports no other of the project's, so every one of them may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, TypeVar

__all__ = ["INSTANCE_PATH", "ROOT", "ConfigError", "Env", "read_list", "read_number", "read_text", "read_whole_number"]

#: The variables settings are read from: ``os.environ``, or a plain dict in tests.
Env = Mapping[str, str]

Number = TypeVar("Number", int, float)

ROOT = Path(__file__).resolve().parent.parent  # the repository: where `.env` is read from
#: the local issuer's key and the default SQLite database, unless told otherwise (gitignored)
INSTANCE_PATH = ROOT / "instance"


class ConfigError(SystemExit):
    """A bad setting. A SystemExit, so an uncaught one prints its single line and exits 1."""

    def __init__(self, message: str):
        super().__init__(f"configuration error: {message}")
        self.message = message


def read_text(env: Env, name: str) -> str | None:
    """The variable's value, stripped; None when it is unset or blank."""
    value = env.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def read_number(env: Env, name: str, default: float, *, minimum: float = 0) -> float:
    """A finite number, at least ``minimum``; ``default`` when unset."""
    return _number(env, name, default, float, minimum)


def read_whole_number(env: Env, name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number, at least ``minimum``; ``default`` when unset."""
    return _number(env, name, default, int, minimum)


def _number(env: Env, name: str, default: Number, kind: type[Number], minimum: float) -> Number:
    raw = read_text(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {noun}, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def read_list(env: Env, name: str) -> tuple[str, ...]:
    """A comma-separated variable's items, stripped, duplicates dropped, in order."""
    raw = read_text(env, name)
    if raw is None:
        return ()
    return tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
