"""The hotline port, chosen in settings (``REMPART_HOTLINE_REPORTER``) and reached through
the runtime (``rt.port(PORT)``). A platform registers its own (NCMEC's CyberTipline API,
an INHOPE hotline); the local default (``directory``) writes each report as a JSON file
in a directory (setting ``hotline_directory``) for the platform's team to forward, so
Rempart works offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from rempart.core import ports
from rempart.core.ports import Port
from rempart.hotline.schemas import CyberTiplineReport


class HotlineReporter(Protocol):
    def submit(self, report: CyberTiplineReport) -> str:
        """Send the report; return the hotline's receipt (its report id)."""
        ...


PORT: Port[HotlineReporter] = Port("hotline_reporter")


class DirectoryHotline:
    """One file per report, named by its reference, written whole or not at all (a
    temporary file renamed), readable by the owner only. Sending again overwrites the
    same file: a retry after a crash does not make a second report."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def submit(self, report: CyberTiplineReport) -> str:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.directory / f"{report.reference}.json"
        partial = final.with_suffix(".json.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(report.model_dump(mode="json"), handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
        return f"local:{final.name}"


ports.register(PORT, "directory", lambda rt: DirectoryHotline(rt.settings.hotline_directory))
