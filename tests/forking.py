"""`seatctl` processes forked from one that has already imported seatctl and its server.

A test that starts `seatctl serve` pays about 0.2 s of CPU for the imports alone (Typer, the
server stack, uvicorn, Starlette), and the suite starts some hundred servers. Here a starter
process imports all of that once per test process; each server is then a child it forks. A
child is a whole process of its own all the same: it has its own pid, its own standard
streams (pipes the test reads), its own environment and working folder, the signals at
their defaults, and it runs `python -m seatctl`'s own entry point (`seatctl.__main__.run`),
which exits with the command's code.

The same goes for `seatctl` runs to their end (`run_seatctl`, behind `helpers.run_process`)
and for scripts that drive seatctl's CLI in a loop (`start_python`, `python -c`).

What a fork cannot stand in for is a new interpreter: start-up itself, what a command imports,
settings Python reads when it starts (PYTHON* variables, the locale of the standard streams).
Tests of those start `python -m seatctl` themselves.

Where the starter cannot be started, each of these starts a new interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

# The starter: imports what `serve` and the CLI import, then forks a child per request that
# arrives on its socket (the request's argv, environment and folder, with the child's stdin,
# stdout and stderr passed along as file descriptors), and answers with the child's pid, then
# with its exit code once it ends.
STARTER = r"""
import gc, json, os, selectors, signal, socket, sys, traceback

import seatctl.__main__, seatctl.cli, seatctl.cli.serve, seatctl.server, seatctl.server.app
import seatctl.server.cache, seatctl.server.guard, seatctl.server.limits, seatctl.server.live
import seatctl.server.worker, seatctl.server.workers, seatctl.storage.postgres
import seatctl.storage.sqlite, uvicorn.config, uvicorn.loops.uvloop, uvicorn.main
import uvicorn.protocols.http.httptools_impl, uvicorn.server

listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # a request is one message
listener.bind(sys.argv[1])
listener.listen(64)
wake_read, wake_write = os.pipe()
os.set_blocking(wake_write, False)
signal.set_wakeup_fd(wake_write)
signal.signal(signal.SIGCHLD, lambda signum, frame: None)
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test process's Ctrl-C is its own to handle
selector = selectors.DefaultSelector()
selector.register(listener, selectors.EVENT_READ)
selector.register(wake_read, selectors.EVENT_READ)
selector.register(0, selectors.EVENT_READ)  # the test process's pipe: it ends when that does
waiting = {}  # child pid -> the connection to tell its exit code
gc.freeze()  # the children's exits stay cheap: nothing of this process to collect there
print("ready", flush=True)


def become(request, connection, fds):
    try:
        signal.set_wakeup_fd(-1)
        # As a new interpreter sets them up when started with the signals at their defaults.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        selector.close()
        listener.close()
        for fd in (wake_read, wake_write):
            os.close(fd)
        for other in [connection, *waiting.values()]:
            other.close()
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    if "code" in request:  # python -c CODE ARGS
        sys.argv = ["-c", *request["args"]]
        try:
            exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc()
            raise SystemExit(1)
        raise SystemExit(0)  # out of this loop: the process ends as `python -c` does
    sys.argv = [seatctl.__main__.__file__, *request["args"]]  # python -m seatctl ARGS
    try:
        seatctl.__main__.run()  # it ends the process
    except BaseException:
        traceback.print_exc()
    os._exit(1)


def reap():
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = waiting.pop(pid, None)
        if connection is not None:
            try:
                connection.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass
            connection.close()


while True:
    for key, _ in selector.select():
        if key.fileobj is listener:
            connection, _ = listener.accept()
            try:
                message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            except OSError:  # the test process went away before asking
                connection.close()
                continue
            pid = os.fork()
            if pid == 0:
                become(json.loads(message), connection, fds)
            for fd in fds:
                os.close(fd)
            waiting[pid] = connection
            try:
                connection.sendall(b"%d\n" % pid)
            except OSError:
                pass
        elif key.fileobj == 0:
            if not os.read(0, 4096):
                os._exit(0)
        else:
            os.read(wake_read, 4096)
    reap()
"""


class Forked:
    """A child of the starter, as much like a `subprocess.Popen` (text mode, stdout and stderr
    piped) as the tests need: `pid`, `stdin`, `stdout`, `stderr`, `poll`, `wait`,
    `communicate`, `send_signal`, `kill`, `returncode`."""

    def __init__(
        self,
        connection: socket.socket,
        stdin: IO[str] | None,
        stdout: IO[str] | None,
        stderr: IO[str] | None,
    ) -> None:
        self._connection = connection
        self._received = b""
        answer = self._line(None)
        if not answer:
            raise OSError("the starter ended before it started the process")
        self.pid = int(answer)
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def _line(self, timeout: float | None) -> bytes | None:
        """The starter's next line; b"" if it closed the connection, None if not in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._received:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._connection], [], [], left)[0]:
                return None
            chunk = self._connection.recv(64)
            if not chunk:
                return b""
            self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        return line

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            if self.returncode is None:
                line = self._line(timeout)
                if line is None:
                    raise subprocess.TimeoutExpired(["seatctl"], timeout or 0.0)
                self.returncode = int(line) if line else -signal.SIGKILL  # the starter died
                self._connection.close()
            return self.returncode

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str | None, str | None]:
        """As `Popen.communicate` does: `input` written to stdin, what is left of stdout and
        stderr read to their ends, and the child waited for."""
        read: dict[str, str | None] = {}

        def drain(name: str, stream: IO[str] | None) -> None:
            read[name] = None
            if stream is not None:
                with stream:
                    read[name] = stream.read()

        readers = [
            threading.Thread(target=drain, args=("out", self.stdout)),
            threading.Thread(target=drain, args=("err", self.stderr)),
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            with contextlib.suppress(BrokenPipeError), self.stdin:
                self.stdin.write(input or "")
        try:
            self.wait(timeout)
        finally:
            if self.returncode is None:
                self.kill()
                self.wait()
            for reader in readers:
                reader.join()
        return read["out"], read["err"]

    def poll(self) -> int | None:
        try:
            return self.wait(timeout=0.0)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Starter:
    """The starter process of this test process, started at its first use."""

    def __init__(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="seatctl-starter-")
        self._path = str(Path(self._folder) / "socket")
        self._process = subprocess.Popen(
            [sys.executable, "-c", STARTER, self._path],
            stdin=subprocess.PIPE,  # closed when this process ends, however it ends
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline() != "ready\n":
            raise OSError("the starter did not start")
        atexit.register(self.stop)

    def start(
        self,
        args: list[str],
        env: dict[str, str],
        stdin: bool = False,
        code: str | None = None,
        stdin_fd: int | None = None,
    ) -> Forked:
        """`python -m seatctl ARGS` (or `python -c CODE ARGS`) with `env`, here, as a child of
        the starter; its stdin a pipe (`Forked.stdin`) if `stdin`, else `stdin_fd` (a copy)
        or /dev/null."""
        if stdin:
            stdin_read, stdin_write = os.pipe()
        elif stdin_fd is not None:
            stdin_read, stdin_write = os.dup(stdin_fd), -1
        else:
            stdin_read, stdin_write = os.open(os.devnull, os.O_RDONLY), -1
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        ours, theirs = [stdin_write, out_read, err_read], [stdin_read, out_write, err_write]
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            connection.connect(self._path)
            request = {"args": args, "env": env, "cwd": os.getcwd()}
            if code is not None:
                request["code"] = code
            socket.send_fds(connection, [json.dumps(request).encode()], theirs)
            return Forked(
                connection,
                open(stdin_write, "w") if stdin else None,
                open(out_read),
                open(err_read),
            )
        except BaseException:
            connection.close()
            for fd in ours:
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


_starter: Starter | None = None
_failed = False


def starter() -> Starter | None:
    """This test process's starter, started at its first use; None if it cannot start."""
    global _starter, _failed
    if _starter is None and not _failed:
        try:
            _starter = Starter()
        except OSError:
            _failed = True
    return _starter


def start_seatctl(args: list[str], env: dict[str, str]) -> Forked | subprocess.Popen[str]:
    """`python -m seatctl ARGS` with `env`, running: stdout and stderr piped (text), stdin
    /dev/null, SIGINT at its default."""
    forking = starter()
    if forking is not None:
        return forking.start(args, env)
    return _new_interpreter(["-m", "seatctl", *args], env)


def run_seatctl(
    args: list[str],
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 120.0,
    new_interpreter: bool = False,
) -> tuple[int, str, str]:
    """`python -m seatctl ARGS` with `env` and `input` on stdin (else /dev/null), run to its
    end: its exit code, stdout and stderr. Forked, unless `new_interpreter`."""
    forking = None if new_interpreter else starter()
    piped = input is not None
    if forking is not None:
        child: Forked | subprocess.Popen[str] = forking.start(args, env, stdin=piped)
    else:
        child = _new_interpreter(["-m", "seatctl", *args], env, stdin=piped)
    try:
        out, err = child.communicate(input, timeout)
    finally:
        if child.poll() is None:  # timed out
            child.kill()
            child.wait()
    return child.wait(), out or "", err or ""


def start_python(
    code: str, args: list[str], env: dict[str, str], stdin_fd: int | None = None
) -> Forked | subprocess.Popen[str]:
    """`python -c CODE ARGS` with `env`, running, as `start_seatctl` starts seatctl: for
    scripts that import seatctl and drive it (a fresh interpreter proves nothing more). Its
    stdin reads `stdin_fd` if given (a starting pipe several share), else /dev/null."""
    forking = starter()
    if forking is not None:
        return forking.start(args, env, code=code, stdin_fd=stdin_fd)
    return _new_interpreter(["-c", code, *args], env, stdin_fd=stdin_fd)


def _new_interpreter(
    argv: list[str], env: dict[str, str], stdin: bool = False, stdin_fd: int | None = None
) -> subprocess.Popen[str]:
    """Where there is no starter: a new interpreter, set up as a forked child is."""
    from helpers import sigint_at_default

    if stdin_fd is None:
        stdin_fd = subprocess.PIPE if stdin else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, *argv],
        stdin=stdin_fd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=sigint_at_default,
    )
