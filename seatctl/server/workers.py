"""`seatctl serve --workers N`: N server processes on one listening socket.

The parent binds the socket, forks N workers that each serve it with their own database
connection, database thread and change-stream watcher (a change committed through one reaches
the streams of the others through the database, as one from the CLI does), and then only
watches them: SIGTERM or SIGINT stops them all gracefully, and a worker that dies is replaced.

Why a pre-bound socket and fork rather than SO_REUSEPORT: one socket means one accept queue
that every idle worker takes from, so a slow worker never strands connections that the kernel
hashed to it, and `--port 0` names one port for all of them.

Workers run in their own process group, so that a terminal's Ctrl-C reaches only the parent,
which stops them once, gracefully (uvicorn would cut requests short at a second signal). A
worker whose parent is gone (killed with SIGKILL) notices its end of a pipe closing and stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("seatctl.serve")

_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
STOP_SECONDS = 40.0  # a worker's graceful shutdown may take 30 s (uvicorn's limit) and its close
FAILING_STARTS = 3  # workers in a row dying this soon after start: something is wrong, stop
SOON = 2.0  # seconds


SUPPORTED = hasattr(signal, "sigwaitinfo") and hasattr(os, "fork")


def default_workers(postgres: bool) -> int:
    """On PostgreSQL one worker per CPU this process may run on; on SQLite one. Measured
    (docs/performance.md): on SQLite a second worker nearly doubles reads but every write
    still takes the one write lock, each worker's group commit gathers half as many writes per
    flush, and an on-sale of best-available picks ran at 406 holds/s with two workers against
    697/s with one; one worker already serves reads at well over the prototype's rate."""
    if not SUPPORTED or not postgres:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def supervise(
    count: int,
    serve_one: Callable[[], int],
    announce: Callable[[], None],
    stop_listening: Callable[[], None],
) -> int:
    """Fork `count` workers running `serve_one` (each returns its exit code) and keep them
    running until SIGTERM or SIGINT; the exit code: 0 after a clean stop. `stop_listening`
    closes the parent's copy of the socket when they stop, so that new connections are refused
    once the workers have closed theirs."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    alive_r, alive_w = os.pipe()  # closes for the workers when the parent is gone
    workers: dict[int, float] = {}  # pid -> when it started
    failing = 0
    try:
        for _ in range(count):
            pid = _fork(serve_one, old_mask, alive_r, alive_w)
            workers[pid] = time.monotonic()
        announce()
        while True:
            info = signal.sigwaitinfo(_SIGNALS)
            if info.si_signo != signal.SIGCHLD:
                break
            for pid, code in _reaped(workers):
                soon = time.monotonic() - workers.pop(pid) < SOON
                failing = failing + 1 if soon else 0
                log.error("worker %d stopped (%s); starting another", pid, code)
                if failing >= FAILING_STARTS:
                    log.error("%d workers in a row stopped at start-up; stopping", failing)
                    stop_listening()
                    _stop(workers)
                    return 1
                workers[_fork(serve_one, old_mask, alive_r, alive_w)] = time.monotonic()
        stop_listening()
        _stop(workers)
        return 0
    finally:
        os.close(alive_r)
        os.close(alive_w)
        # A second SIGTERM while the workers were stopping has been answered by stopping:
        # taken here, it does not kill the process once the mask is lifted.
        while signal.sigtimedwait(_SIGNALS, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _fork(
    serve_one: Callable[[], int], mask: set[int | signal.Signals], alive_r: int, alive_w: int
) -> int:
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)
        os.close(alive_w)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        threading.Thread(target=_stop_when_orphaned, args=(alive_r,), daemon=True).start()
        code = serve_one()
    except BaseException as exc:  # a worker never returns into the parent's code
        log.error("worker stopped: %s: %s", type(exc).__name__, exc)
    finally:
        sys.stderr.flush()
        os._exit(code)


def _stop_when_orphaned(alive_r: int) -> None:
    while os.read(alive_r, 1):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _reaped(workers: dict[int, float]) -> list[tuple[int, str]]:
    done = []
    for pid in list(workers):
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            done.append((pid, _described(status)))
    return done


def _described(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _stop(workers: dict[int, float]) -> None:
    """SIGTERM every worker and wait for them (SIGKILL any still running after STOP_SECONDS)."""
    for pid in workers:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while workers:
        left = deadline - time.monotonic()
        if left <= 0:
            for pid in workers:
                log.error("worker %d did not stop in %.0f s; killing it", pid, STOP_SECONDS)
                _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_SECONDS
            left = STOP_SECONDS
        signal.sigtimedwait({signal.SIGCHLD}, min(left, 0.5))
        for pid, _ in _reaped(workers):
            workers.pop(pid)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just stopped by itself
        os.kill(pid, signum)
