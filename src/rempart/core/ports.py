"""Ports chosen in settings: each outside system Rempart talks to (the platform, the child
protection hotline, the DSA Transparency Database, text classification, hash banks) sits
behind a small protocol, declared with it as a ``Port``, whose implementation a setting
names (``REMPART_PLATFORM=local|matrix``, ...).

The runtime builds each port once, on first use (``rt.port(PORT)``), from the factory
registered under the setting's value. The default that works offline is registered by the
module that declares the port; other implementations that need upper layers (the Matrix
adapter) are registered by the entry points (``rempart.adapters.install``), so ``core``
never imports them. An entry point checks every choice at start (``check``): a value
nobody registered stops it with a message that names the variable and the choices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from rempart.core.errors import ConfigurationError
from rempart.core.settings import Settings

if TYPE_CHECKING:
    from rempart.core.deps import Runtime

T = TypeVar("T")


class UnknownChoice(ConfigurationError):
    """A port's setting names an implementation that nobody registered."""

    code = "unknown_implementation"


@dataclass(frozen=True)
class Port(Generic[T]):
    """A port, named by the ``Settings`` field that chooses its implementation."""

    setting: str

    @property
    def variable(self) -> str:
        return f"REMPART_{self.setting.upper()}"


_factories: dict[str, dict[str, Callable[[Any], Any]]] = {}


def register(port: Port[T], choice: str, factory: Callable[[Runtime], T]) -> None:
    _factories.setdefault(port.setting, {})[choice] = factory


def choices(port: Port[Any]) -> list[str]:
    return sorted(_factories.get(port.setting, {}))


def _factory(setting: str, choice: str) -> Callable[[Any], Any]:
    known = _factories.get(setting, {})
    if choice not in known:
        raise UnknownChoice(
            f"REMPART_{setting.upper()}={choice!r} is not an implementation this process "
            f"knows; choose one of: {', '.join(sorted(known)) or '(none registered)'}"
        )
    return known[choice]


def build(port: Port[T], rt: Runtime) -> T:
    return cast(T, _factory(port.setting, str(getattr(rt.settings, port.setting)))(rt))


def check(settings: Settings) -> None:
    """Refuse, at start, a setting that names an implementation nobody registered."""
    for setting in sorted(_factories):
        _factory(setting, str(getattr(settings, setting)))
