"""The `seatctl` command: a thin shell that parses arguments, calls `seatctl.service.Venue` and
writes its results (`seatctl.cli.output`); one module per group of commands."""

from seatctl.cli.app import main

__all__ = ["main"]
