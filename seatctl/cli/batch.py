"""`seatctl batch`: many commands, one process, one database connection.

Each input line is parsed by the same command definitions as the command line and runs as its
own transaction; each produces one JSON line with the same codes and shapes as the single
commands, so a script pays start-up once instead of once per operation.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import typer

from seatctl import wire
from seatctl.cli.output import as_options
from seatctl.core.errors import ExitCode, Reason, SeatctlError, usage_error

# A database problem that every later line would meet too ends the batch; "busy" does not.
_STOPPING = {Reason.NO_DATABASE, Reason.BAD_DATABASE, Reason.NEWER_SCHEMA, Reason.READ_ONLY}

Lookup = Callable[[str], Any]  # a command name -> its parsed-command object, or None


def run_lines(
    lines: Iterable[str | bytes],
    out: TextIO,
    invocation: Any,
    lookup: Lookup,
    encoding: str = "utf-8",
) -> int:
    """Run every line; return 0 when all were read, 6 when a database problem stopped it.

    Lines may be bytes, decoded here one at a time, so that one undecodable line fails alone
    instead of ending the whole batch."""
    for number, line in enumerate(lines, 1):
        parse_error: SeatctlError | None = None
        try:
            args = _split(_decoded(line, encoding))
        except SeatctlError as bad_line:
            args, parse_error = None, bad_line
        if args == []:
            continue  # blank or a comment
        result, error = _run(args, invocation, lookup) if args else ({}, parse_error)
        code = error.exit_code if error else ExitCode.OK
        record = {"line": number, "exit": int(code), **result}
        if error:
            record.update(wire.error_fields(error))
        out.write(json.dumps(record) + "\n")
        out.flush()
        if error and error.reason in _STOPPING:
            return ExitCode.DATABASE
    return ExitCode.OK


def _decoded(line: str | bytes, encoding: str) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        raise usage_error(
            f"line is not valid {_encoding_name(encoding)}:"
            f" byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
        ) from None


def _encoding_name(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _split(line: str) -> list[str]:
    """Words as a shell would split them: blanks are space, tab, CR and LF only, and `#`
    starts a comment only at the start of a word. Plain lines skip shlex, which costs more
    per line than the rest of parsing them."""
    line = _without_comment(line)
    if _QUOTING.isdisjoint(line):
        return _BLANKS.split(line.strip(_BLANK_CHARS)) if line.strip(_BLANK_CHARS) else []
    try:
        return shlex.split(line, comments=False)
    except ValueError as exc:
        raise usage_error(f"cannot split line: {exc}") from None


_BLANK_CHARS = " \t\r\n"  # what shlex (and a shell) splits words on; str.split() splits on more
_BLANKS = re.compile(f"[{_BLANK_CHARS}]+")
_QUOTING = frozenset("'\"\\")


def _without_comment(line: str) -> str:
    """`line` up to a `#` that starts a word outside quotes (shlex would also end a word at a
    `#` inside it, so `--user alice#2` would mean alice)."""
    if "#" not in line:
        return line
    quote, escaped, word_start = "", False, True
    for index, char in enumerate(line):
        if escaped:  # the character after a backslash is always part of a word
            escaped, word_start = False, False
        elif quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                escaped = True
        elif char == "\\":
            escaped, word_start = True, False
        elif char in "'\"":
            quote, word_start = char, False
        elif char in _BLANK_CHARS:
            word_start = True
        elif char == "#" and word_start:
            return line[:index]
        else:
            word_start = False
    return line


def _run(
    args: list[str], invocation: Any, lookup: Lookup
) -> tuple[dict[str, Any], SeatctlError | None]:
    command = lookup(args[0])
    if command is None:
        return {}, usage_error(f"no such command in a batch: {args[0]!r}")
    try:
        # Whatever the parser itself prints (the help text) would come between the JSON lines.
        with contextlib.redirect_stdout(io.StringIO()):
            output = command.main(
                args=args[1:],
                prog_name=f"seatctl {args[0]}",
                obj=invocation,
                standalone_mode=False,
                help_option_names=_HELP_OPTIONS,  # as on the command line: -h is help too
            )
        if isinstance(output, int):  # --help
            return {}, usage_error("--help is not available in a batch")
        return output.fields(), output.error()
    except SeatctlError as error:
        return {}, as_options(error)
    except typer.TyperException as error:
        from seatctl.cli.messages import rewrite

        return {}, usage_error(rewrite(error))


_HELP_OPTIONS = ["-h", "--help"]
