"""Stop a local stack once the process that owns it has died.

    python -m services.stack.watchdog OWNER_PID STATE_DIR

The test session starts one next to its stack. A session that ends normally
stops the stack itself and then this watchdog; a session that is killed
(SIGKILL, a ``timeout`` sending SIGTERM, which pytest does not turn into
teardown) would otherwise leave a broker and a Redis running for good.
Heavy imports wait until they are needed, so the idle watchdog stays small.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from services.stack.daemon import process_exists

__all__ = ["main", "watch"]


def watch(owner_pid: int, state_dir: Path, *, poll_s: float = 1.0) -> None:
    """Block while ``owner_pid`` lives, then bring the stack in ``state_dir`` down."""
    while process_exists(owner_pid):
        time.sleep(poll_s)
    from services.stack.local import LocalStack

    LocalStack(state_dir).down(timeout_s=2)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        sys.exit("usage: python -m services.stack.watchdog OWNER_PID STATE_DIR")
    watch(int(args[0]), Path(args[1]))


if __name__ == "__main__":
    main()
