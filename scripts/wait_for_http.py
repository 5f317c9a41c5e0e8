"""Wait until a URL answers, while the process that should answer it is alive.

    python scripts/wait_for_http.py URL PID [TIMEOUT_SECONDS]

`make demo` starts the seed only once the server answers: started together, the seed took
the CPU the web processes needed to import the app, and on a busy machine the first answer
came about ten seconds later. Exits 0 when the URL answers (any HTTP status), 1 when the
process has exited, and 0 after the timeout (the seed then starts anyway).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    url, pid = sys.argv[1], int(sys.argv[2])
    if not url.startswith("http://"):
        print("Give the server's http:// address.", file=sys.stderr)
        return 2
    deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 300.0)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - http:// checked above
                return 0
        except urllib.error.HTTPError:
            return 0
        except OSError:
            if not alive(pid):
                print(f"The server (process {pid}) exited before answering.", file=sys.stderr)
                return 1
            time.sleep(0.2)
    print(f"{url} did not answer in time; seeding anyway.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
