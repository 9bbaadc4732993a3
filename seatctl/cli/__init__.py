"""The `seatctl` command: a thin shell that parses arguments, calls `seatctl.service.Venue` and
writes its results (`seatctl.cli.output`); one module per group of commands."""

from seatctl.cli import deferred

deferred.defer()  # before the app imports Typer

from seatctl.cli.app import main  # noqa: E402

__all__ = ["main"]
