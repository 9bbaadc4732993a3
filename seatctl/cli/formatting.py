"""How seatctl's help reads: each command's purpose whole, its examples, plain metavars.

A command's help is its docstring (or a group's `help=`): a one-line purpose, then any
paragraphs, then an `Examples:` paragraph of command lines. A new command needs nothing more:
the classes below are the default for every command of `SeatctlTyper`, and the test in
tests/test_help.py holds each command's help and its section of docs/commands.md together.

Only names are defined here at start-up; the work is done when help is printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

from seatctl.cli.parsing import Context, HelpFormatter, TyperCommand, TyperGroup

EXAMPLES_HEADING = "Examples:"


def split_help(text: str) -> tuple[str, list[str]]:
    """The help without its `Examples:` paragraph, and the example command lines."""
    head, marker, tail = text.partition(f"\n{EXAMPLES_HEADING}\n")
    if not marker:
        return text, []
    return head.rstrip(), [line.strip() for line in tail.splitlines() if line.strip()]


def purpose(text: str) -> str:
    """The first paragraph, on one line: what the command list shows, never cut off."""
    return " ".join(text.split("\n\n", 1)[0].split())


class _Teaching:
    """What commands and groups share: the purpose as short help, examples after options."""

    help: str | None
    short_help: str | None
    examples: list[str]

    def _take_examples(self) -> None:
        self.help, self.examples = split_help(self.help or "")
        if not self.short_help:
            self.short_help = purpose(self.help)

    def _format_examples(self, formatter: HelpFormatter) -> None:
        if self.examples:
            with formatter.section(EXAMPLES_HEADING.rstrip(":")):
                for line in self.examples:  # verbatim: a command line must not be rewrapped
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


def _plain(piece: str) -> str:
    """Typer writes a required argument as `{SEAT...}`; the docs write `SEAT...`."""
    return piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece


class SeatctlCommand(_Teaching, TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._take_examples()

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return [_plain(piece) for piece in super().collect_usage_pieces(ctx)]

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._format_examples(formatter)
        super().format_epilog(ctx, formatter)


class SeatctlGroup(_Teaching, TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._take_examples()

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._format_examples(formatter)
        super().format_epilog(ctx, formatter)


Decorated = TypeVar("Decorated", bound=Callable[..., Any])


class SeatctlTyper(typer.Typer):
    """A Typer whose commands are `SeatctlCommand`s unless told otherwise."""

    def command(  # the same parameters as Typer.command, passed on as they are
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Decorated], Decorated]:
        kwargs.setdefault("cls", SeatctlCommand)
        decorator: Callable[[Decorated], Decorated] = super().command(*args, **kwargs)
        return decorator
