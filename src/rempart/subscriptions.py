"""Where the hooks are wired. Domains low in the layers call hooks that domains above them
subscribe to when imported: reports, hotline and legal to moderation's decisions
(``moderation/hooks.py``), moderation to ingest (``platform/hooks.py``). Every entry point
(the app, the worker, the CLI, the demo) imports this module, so that no process ingests or
decides with a subscriber missing; the hooks fail loudly if one is."""

import rempart.adapters
import rempart.hotline
import rempart.legal
import rempart.moderation.tasks
import rempart.reports

# The ports' implementations that sit with the entry points (the Matrix adapter).
rempart.adapters.install()
