"""The `pause` image: sleep until told to stop (SIGTERM or SIGINT), then exit 0.

It installs handlers on purpose: as PID 1 of a PID namespace a process without a handler
ignores SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
