"""Everything seatctl does around its parser framework, in one place.

Typer (and the click vendored in it as `typer._click`) parses the command line. What seatctl
needs beyond Typer's public API lives here and nowhere else: the framework's internal names the
other CLI modules use, building only the one command a run needs, moving global options given
after the command before it, the lookup of a `batch` line's command, and the completion hooks.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click import exceptions as parser_errors
from typer.core import TyperCommand, TyperGroup

from seatctl.core.errors import usage_error

__all__ = [
    "Command",
    "Context",
    "HelpFormatter",
    "Parsers",
    "TyperCommand",
    "TyperGroup",
    "from_environment",
    "parser_errors",
]


def from_environment(ctx: typer.Context, name: str) -> bool:
    """Whether the parameter `name` took its value from its environment variable."""
    from typer._click.core import ParameterSource

    return ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT


_NO_COMMAND = "--version"  # not a command name: the key of the parser without commands
_COMPLETION_OPTIONS = frozenset({"-h", "--help", "--install-completion", "--show-completion"})
_GLOBAL_VALUE_OPTIONS = {"--db"}  # the global options that take a value


class Parsers:
    """The parsers of one Typer app, each built when first needed, with only the commands it
    needs: the command definitions live in modules imported only by the runs that use them.

    Typer turns every command's signature into options on each run; building just the one
    that runs saves several milliseconds of start-up (the same idea as click's lazy groups).
    """

    def __init__(
        self,
        root: typer.Typer,
        settings: dict[str, Any],
        package: str,
        commands: dict[str, tuple[str, str]],
    ) -> None:
        self.root = root  # the global options, without commands
        self.settings = settings
        self.package = package
        self.commands = commands  # name -> (module of `package`, function or Typer), in order
        self.command_names = frozenset(commands)
        self.built: dict[tuple[str | None, bool], TyperGroup] = {}

    def app(self, names: list[str], completion: bool = False) -> typer.Typer:
        """A Typer app with the global options and the named commands, in the given order."""
        app = type(self.root)(**{**self.settings, "add_completion": completion})
        app.registered_callback = self.root.registered_callback
        for name in names:
            module, attribute = self.commands[name]
            defined = getattr(importlib.import_module(f"{self.package}.{module}"), attribute)
            if isinstance(defined, typer.Typer):
                app.add_typer(defined)
            else:
                app.command(name if name != defined.__name__ else None)(defined)
        return app

    def whole_app(self) -> typer.Typer:
        return self.app(list(self.commands))

    def command_for(self, name: str | None, completion: bool = False) -> TyperGroup:
        """The command-line parser, with only the named subcommand built when there is one.

        With `completion`, the whole parser has the completion options (--install-completion,
        --show-completion) and answers a shell's completion request; building those options
        inspects a function of Typer's, which other runs need not pay for.
        """
        # One whole parser serves every other name; `_NO_COMMAND` has none (`seatctl --version`).
        key = name if name in self.command_names or name == _NO_COMMAND else None
        completion = completion and key is None
        if (key, completion) not in self.built:
            names = [key] if key in self.commands else [] if key else list(self.commands)
            group = typer.main.get_command(self.app(names, completion))
            assert isinstance(group, TyperGroup)  # a callback makes it a group
            if completion:
                _complete_from_the_database(group)
            self.built[key, completion] = group
        return self.built[key, completion]

    def parser_for(self, argv: list[str]) -> TyperGroup:
        """The least parser that can run `argv`."""
        name, completion = subcommand_name(argv), _completion_wanted(argv)
        if name is None and "--version" in argv and not completion:
            return self.command_for(_NO_COMMAND)  # builds no command at all
        return self.command_for(name, completion)

    def subcommand(self, name: str) -> Command | None:
        """A command (or a command group) for a `batch` line (batches do not nest, serve or
        watch: those never end)."""
        if name in ("batch", "serve", "watch") or name not in self.command_names:
            return None  # known without building a parser: junk names must not each cost one
        return self.command_for(name).commands.get(name)


def _completion_wanted(argv: list[str]) -> bool:
    """Whether this run may need the completion options: a shell's completion request, or
    the top-level help (which lists them), or the options themselves."""
    return not argv or "_SEATCTL_COMPLETE" in os.environ or not _COMPLETION_OPTIONS.isdisjoint(argv)


def _complete_from_the_database(group: Any) -> None:
    """Give every parameter of `group`'s commands that names seats, users, events, sections
    or categories its completion from the database. Done on the parser that answers a
    shell, only: an ordinary run builds no completion at all."""
    from seatctl.cli.completion import KINDS, completer

    for command in group.commands.values():
        if hasattr(command, "commands"):
            _complete_from_the_database(command)
            continue
        for param in command.params:
            if param.name in KINDS:
                param._custom_shell_complete = completer(param.name)


def subcommand_name(argv: list[str]) -> str | None:
    """The first argument that is neither a global option nor an option's value."""
    at = _subcommand_index(argv)
    return argv[at] if at is not None else None


def _subcommand_index(argv: list[str]) -> int | None:
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _GLOBAL_VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return index
    return None


def globals_first(argv: list[str], parser: TyperGroup) -> list[str]:
    """`seatctl seats --db x.db` as `seatctl --db x.db seats`: people put global options
    after the command too. Only the command's own arguments are looked at, skipping the
    values of its options and everything after `--`; the last --db given wins."""
    at = _subcommand_index(argv)
    if at is None or "--db" not in "\0".join(argv[at + 1 :]):
        return argv
    command = parser.commands.get(argv[at])
    if command is None:
        return argv
    takes_value = _value_options(command)
    moved: list[str] = []
    rest: list[str] = []
    args = iter(argv[at + 1 :])
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
        elif arg == "--db":
            value = next(args, None)
            if value is None:  # moved before the command, it would take the command as its value
                raise usage_error("--db needs a value (PATH) (see 'seatctl --help')")
            moved += [arg, value]
        elif arg.startswith("--db="):
            moved.append(arg)
        elif arg in takes_value:
            value = next(args, None)
            rest += [arg] if value is None else [arg, value]
        else:
            rest.append(arg)
    return [*argv[:at], *moved, argv[at], *rest]


def _value_options(command: Any) -> set[str]:
    """The options (of the command, or of any command of a group) that take a value."""
    commands = getattr(command, "commands", {}).values() or [command]
    return {
        opt
        for each in commands
        for param in each.params
        if param.param_type_name == "option" and not param.is_flag
        for opt in param.opts
    }
