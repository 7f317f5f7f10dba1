"""The `selfdistill` command line: `main.py` builds the app; one module per larger command group.

`start` here is the console entry point (not named `main`: the `main` submodule would
shadow it). It imports nothing heavy itself, so a Ctrl-C while
`main.py` imports torch, transformers and every command (a second or more) ends like a
Ctrl-C anywhere else: one line and exit 130, not a traceback.
"""

from __future__ import annotations

import sys

STARTUP_INTERRUPTED = "interrupted: during start-up, nothing was done."


def start() -> None:
    """Console entry point: import the app, then run it (Ctrl-C while importing: exit 130)."""
    try:
        from selfdistill.cli.main import main
    except KeyboardInterrupt:
        print(STARTUP_INTERRUPTED, file=sys.stderr)
        raise SystemExit(130) from None
    main()
