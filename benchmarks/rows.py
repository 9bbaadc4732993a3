"""What every case of the benchmark shares: the finished process, the result row, the failure.

run.py and the cases in their own modules (http_case.py, stream_case.py) all import these from
here, so that no case module imports run.py back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple


@dataclass
class Row:
    """One line of the results table. `ratio` is seatctl / floor, for times and rates alike."""

    case: str
    measure: str
    unit: str
    seatctl: float
    floor: float | None
    target: str
    passed: bool | None
    note: str = ""
    seatctl_samples: list[float] = field(default_factory=list)
    floor_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.seatctl / self.floor if self.floor else None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "result": verdict(self.passed)}


class Run(NamedTuple):
    """One finished child process: wall time from spawn to exit, its own CPU time and peak
    resident set size, and what it printed."""

    seconds: float
    exit_code: int
    cpu_seconds: float
    peak_rss_mb: float
    stdout: bytes = b""
    stderr: bytes = b""
    output_size: int = 0

    def slim(self) -> Run:
        """The same without the output held in memory (a 100,000-seat listing is 12 MB)."""
        return self._replace(stdout=b"", stderr=b"", output_size=len(self.stdout))

    @property
    def output_bytes(self) -> int:
        return self.output_size or len(self.stdout)


class BenchmarkError(Exception):
    """A command failed where it must succeed: the figures would mean nothing."""


def verdict(passed: bool | None) -> str:
    return "-" if passed is None else "PASS" if passed else "MISS"
