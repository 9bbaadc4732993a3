"""`seatctl batch`: many commands, one process, one database connection.

Each input line is parsed by the same command definitions as the command line and runs as its
own transaction; each produces one JSON line with the same codes and shapes as the single
commands, so a script pays start-up once instead of once per operation.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import typer

from seatctl import render
from seatctl.errors import ExitCode, Reason, SeatctlError, usage_error

# A database problem that every later line would meet too ends the batch; "busy" does not.
_STOPPING = {Reason.NO_DATABASE, Reason.BAD_DATABASE, Reason.NEWER_SCHEMA, Reason.READ_ONLY}

Lookup = Callable[[str], Any]  # a command name -> its parsed-command object, or None


def run_lines(lines: Iterable[str], out: TextIO, invocation: Any, lookup: Lookup) -> int:
    """Run every line; return 0 when all were read, 6 when a database problem stopped it."""
    for number, line in enumerate(lines, 1):
        try:
            args = _split(line)
        except ValueError as exc:
            args, parse_error = None, usage_error(f"cannot split line: {exc}")
        else:
            parse_error = None
        if args == []:
            continue  # blank or a comment
        result, error = _run(args, invocation, lookup) if args else ({}, parse_error)
        code = error.exit_code if error else ExitCode.OK
        record = {"line": number, "exit": int(code), **result}
        if error:
            record.update(render.error_fields(error))
        out.write(json.dumps(record) + "\n")
        out.flush()
        if error and error.reason in _STOPPING:
            return ExitCode.DATABASE
    return ExitCode.OK


def _split(line: str) -> list[str]:
    """Words as a shell would split them; plain lines skip shlex, which costs more per line
    than the rest of parsing them."""
    if _SHELL_SYNTAX.isdisjoint(line):
        return line.split()
    return shlex.split(line, comments=True)


_SHELL_SYNTAX = frozenset("'\"\\#")


def _run(args: list[str], invocation: Any, lookup: Lookup) -> tuple[dict, SeatctlError | None]:
    command = lookup(args[0])
    if command is None:
        return {}, usage_error(f"no such command in a batch: {args[0]!r}")
    try:
        output = command.main(
            args=args[1:], prog_name=f"seatctl {args[0]}", obj=invocation, standalone_mode=False
        )
        if isinstance(output, int):  # --help
            return {}, usage_error("--help is not available in a batch")
        return output.fields(), output.error()
    except SeatctlError as error:
        return {}, error
    except typer.TyperException as error:
        return {}, usage_error(f"{error.format_message()}")
