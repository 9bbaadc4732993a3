"""Case 10 (`run.py --case 10`, or alone: `python benchmarks/onsale.py`): an on-sale.

A 5,000-seat hall from a seat map, one event, and 10,000 simulated buyers on 64 keep-alive
connections. Each buyer asks `POST /v1/lock` for the best 2 seats together; nine in ten then
confirm them (`POST /v1/confirm`), one in ten releases them (`POST /v1/release`), so the hall
fills, with some seats coming back, until it is sold out. Run against `seatctl serve --no-auth`
(each request names its buyer, as the prototype's clients did), on SQLite with one server, and
on PostgreSQL with one and with two `serve` processes on one database (as two hosts would run
them), each process behind its own port and the buyers' connections spread over them.

Reported: sell-out time; holds and bookings per second; the hold rate while the hall was 0-10%
sold and 80-90% sold; p50 and p99 of a pick (`best: 2`); errors (5xx, dropped connections,
answers the protocol does not allow); and the two numbers that must be zero, read from the
database afterwards: seats booked twice (a seat acknowledged as booked to two buyers) and
acknowledged bookings missing (a 200 confirm whose seat is not booked by that buyer at the
end). The server processes' CPU seconds and peak RSS say where the time went.

The load generator is a small asyncio HTTP/1.1 client (no library) so that it costs little
CPU beside the servers on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = (  # name, category, rows, seats per row (even: pairs fill them): 2,500 + 1,500 + 1,000
    ("Stalls", "premium", 25, 100),
    ("Circle", "standard", 25, 60),
    ("Balcony", "economy", 20, 50),
)
TOTAL_SEATS = sum(rows * per_row for _, _, rows, per_row in SECTIONS)
BUYERS = 10_000
CONNECTIONS = 64
RELEASE_EVERY = 10  # one buyer in ten releases instead of confirming


def hall_csv(path: Path, scale: int = 1) -> int:
    """The hall's seat map (`scale` 10: a tenth of its rows, for a quick look); its seats."""
    lines = ["label,section,row,number,category"]
    for section, category, rows, per_row in SECTIONS:
        for r in range(rows // scale):
            row = chr(ord("A") + r)
            for n in range(1, per_row + 1):
                lines.append(f"{section[0]}{row}{n},{section},{row},{n},{category}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


# --- the servers -------------------------------------------------------------------------------


SEATCTL: list[str] = []  # run.py's seatctl (installed for the run), else the one beside us


def seatctl_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m seatctl`."""
    if SEATCTL:
        return SEATCTL
    script = Path(sys.executable).with_name("seatctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "seatctl"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:.0f} s")


@contextmanager
def serving(db: str, servers: int, extra: list[str]) -> Iterator[list[tuple[int, int]]]:
    """`servers` `seatctl serve --no-auth` processes on `db`: their (port, pid)."""
    with ExitStack() as stack:
        started: list[tuple[int, int]] = []
        for _ in range(servers):
            port = free_port()
            argv = [*seatctl_command(), "--db", db, "serve", "--no-auth", "--port", str(port)]
            process = subprocess.Popen(
                [*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            stack.callback(_stop, process)
            wait_for_port(port, process)
            started.append((port, process.pid))
        yield started


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def workers_of(pid: int) -> list[int]:
    """The processes that serve: `serve --workers N`'s children, or `serve` itself."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children] or [pid]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `serve` and its workers."""
    total = 0.0
    for one in {pid, *workers_of(pid)}:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's resident set: VmHWM its peak, VmRSS now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def resident(started: list[tuple[int, int]]) -> dict[int, float]:
    """Each worker's resident set now, in MB."""
    return {w: rss_mb(w, "VmRSS") for _, pid in started for w in workers_of(pid)}


# --- the buyers --------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a JSON POST and reads the answer."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        self.reader, self.writer = reader, writer
        self.port = port  # named in `Host`, as `serve --no-auth` requires

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b"{}"
        return status, json.loads(payload)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Tally:
    seats: int
    started: float = field(default_factory=time.monotonic)
    pick_ms: list[float] = field(default_factory=list)
    hold_times: list[tuple[float, int]] = field(default_factory=list)  # (when, seats booked)
    booked: int = 0
    holds: int = 0
    bookings: int = 0
    releases: int = 0
    errors: list[str] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)  # seat -> buyer (confirm 200)
    doubled_acks: int = 0
    sold_out_at: float | None = None


async def pick(conn: Connection, user: str, tally: Tally) -> tuple[int, dict[str, object]]:
    """The best 2 together; when no 2 are left together, 2 apart, then the last 1 (as a
    buyer at a nearly sold-out hall would take them), so that the hall does sell out."""
    for body in ({"best": 2}, {"best": 2, "split": True}, {"best": 1}):
        began = time.perf_counter()
        status, answer = await conn.post("/v1/lock", {**body, "user": user})
        tally.pick_ms.append((time.perf_counter() - began) * 1000)
        if status != 409 or answer.get("error") != "not_enough":
            break
    return status, answer


async def buyer_loop(port: int, buyers: Iterator[int], tally: Tally) -> None:
    conn = await Connection.open(port)
    try:
        for n in buyers:
            if tally.sold_out_at is not None:
                return
            user = f"buyer{n}"
            status, answer = await pick(conn, user, tally)
            if status == 409 and answer.get("error") == "not_enough":
                if tally.booked >= tally.seats:
                    tally.sold_out_at = time.monotonic()
                continue  # the last seats are held by others for now
            if status != 200:
                tally.errors.append(f"lock {status} {answer}")
                continue
            seats = [seat["seat"] for seat in answer["seats"]]  # type: ignore[union-attr]
            tally.holds += 1
            tally.hold_times.append((time.monotonic(), tally.booked))
            verb = "/v1/release" if n % RELEASE_EVERY == 0 else "/v1/confirm"
            status, answer = await conn.post(verb, {"seats": seats, "user": user})
            if status != 200:
                tally.errors.append(f"{verb} {status} {answer}")
                continue
            if verb == "/v1/release":
                tally.releases += 1
                continue
            tally.bookings += 1
            tally.booked += len(seats)
            for seat in seats:
                if seat in tally.acknowledged:
                    tally.doubled_acks += 1
                tally.acknowledged[seat] = user
            if tally.booked >= tally.seats:
                tally.sold_out_at = time.monotonic()
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        tally.errors.append(f"connection: {exc!r}")
    finally:
        conn.close()


async def on_sale(ports: list[int], seats: int, buyers: int) -> Tally:
    tally = Tally(seats)
    numbers = iter(range(1, buyers + 1))
    await asyncio.gather(
        *(buyer_loop(ports[i % len(ports)], numbers, tally) for i in range(CONNECTIONS))
    )
    return tally


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    seats: int
    sell_out_s: float
    holds_per_s: float
    bookings_per_s: float
    rate_early: float
    rate_late: float
    pick_p50_ms: float
    pick_p99_ms: float
    errors: int
    doubled: int
    missing: int
    unsold: int
    server_cpu_s: float
    server_rss_mb: float
    first_errors: list[str]
    workers: int = 1
    rss_growth: float = 0.0  # the largest (worker's RSS after) / (its RSS after start + venue)
    venue_mb: float = 0.0
    waits: str = ""  # PostgreSQL: what the picks waited for (pg_waits.py)

    def lines(self) -> list[str]:
        return [
            f"{self.label}: sold {self.seats - self.unsold:,} of {self.seats:,} seats in"
            f" {self.sell_out_s:.1f} s",
            f"  holds {self.holds_per_s:,.0f}/s, bookings {self.bookings_per_s:,.0f}/s;"
            f" hold rate at 0-10% sold {self.rate_early:,.0f}/s, at 80-90% {self.rate_late:,.0f}/s"
            f" ({self.rate_late / self.rate_early if self.rate_early else 0:.2f}x)",
            f"  pick (best 2) p50 {self.pick_p50_ms:.1f} ms, p99 {self.pick_p99_ms:.1f} ms",
            f"  errors {self.errors}, seats booked twice {self.doubled},"
            f" acknowledged bookings missing {self.missing}",
            f"  servers ({self.workers} worker processes): {self.server_cpu_s:.1f} CPU s"
            f" ({self.cpu_ms_per_sale:.2f} ms per sale), peak RSS {self.server_rss_mb:.0f} MB;"
            f" RSS after / (after start-up + venue {self.venue_mb:.1f} MB):"
            f" at most {self.rss_growth:.2f}x",
            *([self.waits] if self.waits else []),
            *(f"  error: {line[:160]}" for line in self.first_errors),
        ]

    @property
    def cpu_ms_per_sale(self) -> float:
        """Server CPU per hold with its confirm or release: what a loaded machine cannot hide."""
        holds = self.holds_per_s * self.sell_out_s
        return 1000 * self.server_cpu_s / holds if holds else 0.0


def rate_between(tally: Tally, low: float, high: float) -> float:
    """Holds per second while the share of seats booked was in [low, high)."""
    times = [t for t, booked in tally.hold_times if low <= booked / tally.seats < high]
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def final_seats(db: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [*seatctl_command(), "--db", db, "seats", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout))


def run_case(
    label: str, db: str, servers: int, seats: int, extra: list[str], venue_mb: float
) -> Result:
    with serving(db, servers, extra) as started:
        time.sleep(1)  # the workers have forked and opened their databases
        at_start = resident(started)
        before = sum(cpu_seconds(pid) for _, pid in started)
        buyers = BUYERS * seats // TOTAL_SEATS
        with waits_sampled(db) as waits:
            tally = asyncio.run(on_sale([port for port, _ in started], seats, buyers))
        cpu = sum(cpu_seconds(pid) for _, pid in started) - before
        at_end = resident(started)
        rss = max(rss_mb(w) for w in at_end)
    ended = tally.sold_out_at or time.monotonic()
    elapsed = ended - tally.started
    final = {str(seat["seat"]): seat for seat in final_seats(db)}
    missing = sum(
        1
        for seat, user in tally.acknowledged.items()
        if final[seat]["status"] != "booked" or final[seat]["booked_by"] != user
    )
    unsold = sum(1 for seat in final.values() if seat["status"] != "booked")
    return Result(
        label=label,
        seats=seats,
        sell_out_s=elapsed,
        holds_per_s=tally.holds / elapsed,
        bookings_per_s=tally.bookings / elapsed,
        rate_early=rate_between(tally, 0.0, 0.1),
        rate_late=rate_between(tally, 0.8, 0.9),
        pick_p50_ms=statistics.median(tally.pick_ms) if tally.pick_ms else 0.0,
        pick_p99_ms=percentile(tally.pick_ms, 0.99),
        errors=len(tally.errors),
        doubled=tally.doubled_acks,
        missing=missing,
        unsold=unsold,
        server_cpu_s=cpu,
        server_rss_mb=rss,
        first_errors=tally.errors[:3],
        workers=len(at_end),
        rss_growth=max(at_end[w] / (at_start.get(w, at_end[w]) + venue_mb) for w in at_end),
        venue_mb=venue_mb,
        waits=waits.line() if waits is not None else "",
    )


@contextmanager
def waits_sampled(db: str) -> Iterator[Any]:
    """On PostgreSQL, what the sale waited for (`pg_waits`); None on SQLite."""
    if not db.startswith("postgresql"):
        yield None
        return
    import pg_waits

    with pg_waits.sampling(db) as waits:
        yield waits


def init_hall(db: str, csv: Path) -> None:
    subprocess.run(
        [*seatctl_command(), "--db", db, "init", "--map", str(csv)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """A fresh schema on `server`, dropped afterwards: the URL that selects it."""
    import psycopg

    schema = f"seatctl_onsale_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in server else "?"
        yield f"{server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def cases(postgres: str | None, extra: list[str], scale: int = 1) -> Iterator[Result]:
    """SQLite with one `serve` as docs/http-api.md runs it (its default --workers, unless
    `extra` says otherwise); PostgreSQL with one and with two `serve` processes of one worker
    each, as two one-process hosts would run them."""
    workdir = Path(tempfile.mkdtemp(prefix="seatctl-onsale-"))
    try:
        csv = workdir / "hall.csv"
        seats = hall_csv(csv, scale)
        db = str(workdir / "hall.db")
        init_hall(db, csv)
        venue_mb = Path(db).stat().st_size / 2**20  # the venue as stored, the same for both
        yield run_case("SQLite, 1 server", db, 1, seats, extra, venue_mb)
        if postgres:
            one = extra if "--workers" in extra else [*extra, "--workers", "1"]
            for servers in (1, 2):
                with postgres_schema(postgres) as url:
                    init_hall(url, csv)
                    label = f"PostgreSQL, {servers} server{'s' if servers > 1 else ''}"
                    yield run_case(label, url, servers, seats, one, venue_mb)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def case_onsale(bench: Any) -> list[Any]:
    """Case 10 for run.py: the rows of each run (SQLite; PostgreSQL when $SEATCTL_TEST_PG
    names a server)."""
    from rows import Row

    SEATCTL[:] = bench.seatctl
    load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    rows: list[Row] = []
    postgres = os.environ.get("SEATCTL_TEST_PG")
    results = list(cases(postgres, [], 10 if bench.settings.quick else 1))
    for result in results:
        case = f"10 on-sale {result.label}"
        note = f"{'; '.join(line.strip() for line in result.lines()[1:])}; {load}"
        sqlite = "SQLite" in result.label
        faults = result.errors + result.doubled + result.missing + result.unsold
        steady = result.rate_late / result.rate_early if result.rate_early else 0.0
        figures = [
            ("zero doubled, missing, errors", "count", faults, "0", faults == 0),
            (
                "best-available holds",
                "holds/s",
                result.holds_per_s,
                ">= 1000/s" if sqlite else "-",
                result.holds_per_s >= 1000 if sqlite else None,
            ),
            ("pick p99", "ms", result.pick_p99_ms, "<= 100 ms", result.pick_p99_ms <= 100),
            ("hold rate 80-90% / 0-10% sold", "x", steady, ">= 0.67x", steady >= 1 / 1.5),
            (
                "worker RSS after / (start + venue)",
                "x",
                result.rss_growth,
                "<= 1.2x",
                result.rss_growth <= 1.2,
            ),
        ]
        rows += [
            Row(case, m, unit, v, None, t, ok, note if i == 0 else "")
            for i, (m, unit, v, t, ok) in enumerate(figures)
        ]
    pg = [r for r in results if r.label.startswith("PostgreSQL")]
    if len(pg) == 2 and pg[0].holds_per_s:
        ratio = pg[1].holds_per_s / pg[0].holds_per_s
        rows.append(
            Row("10 on-sale PostgreSQL", "2 / 1 servers", "x", ratio, None, ">= 1.3x", ratio >= 1.3)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("SEATCTL_TEST_PG"),
                        help="a PostgreSQL server URL (default: $SEATCTL_TEST_PG)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a tenth of the hall and buyers")
    parser.add_argument("serve_options", nargs="*", help="extra options for `seatctl serve`")
    args = parser.parse_args()
    for result in cases(args.postgres, args.serve_options, 10 if args.quick else 1):
        if args.json:
            print(json.dumps(result.__dict__))
        else:
            print("\n".join(result.lines()), flush=True)


if __name__ == "__main__":
    main()
