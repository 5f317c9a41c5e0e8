"""Adapters: implementations of Rempart's ports that need the domains above the port (the
Matrix adapter reads moderation's items and decisions and files reports), so they sit with
the entry points. The Matrix connector also pulls a homeserver's records into Rempart
through the same ingest service as ``POST /v1/ingest/events``; see ``matrix/``.

``install`` registers them, after importing every module that declares a port (each
registers its local default), so that the runtime's start-up check (``core/ports.py``)
sees every choice; every entry point calls it, through ``rempart.subscriptions``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rempart.core import ports

if TYPE_CHECKING:
    from rempart.core.deps import Runtime
    from rempart.platform.actions import PlatformActions


def install() -> None:
    import rempart.hotline.reporter
    import rempart.moderation.signal_types
    import rempart.moderation.tasks
    import rempart.transparency.dsa  # noqa: F401
    from rempart.platform import actions

    ports.register(actions.PORT, "matrix", _matrix)


def _matrix(rt: Runtime) -> PlatformActions:
    # Loaded when chosen: the app starts without the Matrix client and its HTTP library.
    from rempart.adapters.matrix.port import MatrixPlatformActions

    return MatrixPlatformActions(rt.settings)
