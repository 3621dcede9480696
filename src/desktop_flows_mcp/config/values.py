"""Reading settings by variable name, and the two types every settings module shares.

A value comes from a command-line flag first, then the environment; blanks and unfilled host placeholders count as
unset. A bad value raises one ``ConfigError`` that names the variable and shows a valid example.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and shows a valid example."""

    def __init__(self, variable: str, problem: str, example: str) -> None:
        super().__init__(f"{variable}: {problem} Example: {variable}={example}")
        self.variable = variable


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class EnvReader:
    """Reads settings by variable name: flags first, then the environment; blanks and placeholders are unset."""

    def __init__(self, env: Mapping[str, str], overrides: Mapping[str, str | bool | None]) -> None:
        self._env = env
        self._overrides = overrides

    def _raw(self, name: str) -> str | bool | None:
        if self._overrides.get(name) is not None:
            return self._overrides[name]
        return self._env.get(name)

    def get(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None or isinstance(value, bool):
            return None
        value = value.strip()
        # MCP hosts pass "${user_config.x}" through when an optional field is left empty.
        if not value or (value.startswith("${") and value.endswith("}")):
            return None
        return value

    def flag(self, name: str) -> bool:
        raw = self._raw(name)
        if isinstance(raw, bool):
            return raw
        value = self.get(name)
        if value is None:
            return False
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false (got {value!r}).", "true")

    def choice(self, name: str, options: tuple[str, ...], default: str | None) -> str | None:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in options:
            raise ConfigError(name, f"must be one of {', '.join(options)} (got {value!r}).", options[0])
        return value.lower()

    def csv(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            raise ConfigError(name, f"must be a number from {low:g} to {high:g} (got {value!r}).", str(default))
        return number


def user_folder(env: Mapping[str, str], platform: str, *, darwin: str, xdg: tuple[str, str]) -> str | None:
    """This program's folder under a per-user base (Windows: %LOCALAPPDATA%; macOS: ``~/<darwin>``; others: the XDG
    variable ``xdg[0]``, else ``~/<xdg[1]>``); None when the environment names no home."""
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA")
        return f"{base}\\desktop-flows-mcp" if base else None
    home = env.get("HOME")
    if platform == "darwin":
        return f"{home}/{darwin}/desktop-flows-mcp" if home else None
    if base := env.get(xdg[0]):
        return f"{base}/desktop-flows-mcp"
    return f"{home}/{xdg[1]}/desktop-flows-mcp" if home else None
