"""Jobs fixtures: a scratch database of a test's own (committed data, real
concurrency, processes), and a stand-in for the leader lock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeldLock:
    """A leader lock that is always ours, until ``held`` is set False."""

    held: bool = True

    def try_acquire(self) -> bool:
        return self.held

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False
