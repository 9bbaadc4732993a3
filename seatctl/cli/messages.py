"""The option parser's complaints, in seatctl's own voice.

Click words its errors its own way ("Invalid value for '--ttl': 'abc' is not a valid int.",
"No such option: --sttaus (Possible options: --ttl)"). Each is rewritten here into the form
seatctl's own checks use (`invalid --ttl 'abc': use whole seconds from 1 to 86400`),
suggesting only a near miss among the options of the command that was run. Imported only
when the parser has found something wrong.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from seatctl.cli.parsing import parser_errors
from seatctl.core.tokens import MAX_EXPIRES_IN
from seatctl.core.validate import MAX_HOLD, MAX_SEATS, MAX_TTL, MIN_TTL

# What a good value looks like, by option (or argument metavar), in seatctl's words.
HINTS = {
    "--ttl": f"use whole seconds from {MIN_TTL} to {MAX_TTL}",
    "--seats": f"use a number from 0 to {MAX_SEATS}",
    "--best": "use a whole number from 1",
    "--limit": "use a whole number from 0",
    "--port": "use 0 to 65535",
    "--expires-in": f"use whole seconds from 1 to {MAX_EXPIRES_IN}",
    "--max-hold": f"use 0 (no cap) or whole seconds from 1 to {MAX_HOLD}",
    "--max-seats-per-user": f"use 0 (no cap) or a number up to {MAX_SEATS}",
    "ID": "use a token id, as 'seatctl token list' shows",
}
# A near miss: `--stauts` for `--status`; `--ttl` is not one for `--sttaus`.
_CLOSE_ENOUGH = 0.75
_QUOTED_VALUE = re.compile(r"""^('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def rewrite(error: Exception) -> str:
    """The complaint as one line, without the pointer to help (see `help_pointer`)."""
    ctx = getattr(error, "ctx", None)
    if isinstance(error, parser_errors.NoArgsIsHelpError) and ctx is not None:
        names = ", ".join(ctx.command.list_commands(ctx))
        return f"'{ctx.command_path}' needs a command: {names}"
    if isinstance(error, parser_errors.NoSuchOption):
        return _unknown_option(error.option_name, ctx)
    if isinstance(error, parser_errors.MissingParameter):
        return _missing(error, ctx)
    if isinstance(error, parser_errors.BadParameter):
        return _bad_value(error)
    if isinstance(error, parser_errors.BadOptionUsage):
        return _bad_option_usage(error, ctx)
    if isinstance(error, parser_errors.UsageError):
        return _usage(error.message, ctx)
    return str(getattr(error, "message", error))


def locate(error: Exception, parser: Any, argv: list[str]) -> None:
    """Give a complaint raised without a context (the option parser's own, such as an option
    without its value) the context of the command `argv` names, so it can point there."""
    if getattr(error, "ctx", None) is not None:
        return
    ctx = parser.context_class(parser, info_name="seatctl")
    command: Any = parser
    words = iter(argv)
    for word in words:
        found = getattr(command, "commands", {}).get(word)
        if found is not None:
            command, ctx = found, parser.context_class(found, info_name=word, parent=ctx)
        elif _takes_value(command, word):
            next(words, None)
        elif not word.startswith("-") and hasattr(command, "commands"):
            break  # an unknown command
    error.ctx = ctx  # type: ignore[attr-defined]


def _takes_value(command: Any, word: str) -> bool:
    return any(
        word in param.opts and param.param_type_name == "option" and not param.is_flag
        for param in command.params
    )


def help_pointer(error: Exception) -> str:
    """Where to read more: the help of the command the complaint is about."""
    ctx = getattr(error, "ctx", None)
    path = ctx.command_path if ctx is not None else "seatctl"
    return f"see '{path} --help'"


def _unknown_option(name: str, ctx: Any) -> str:
    where = f"'{ctx.command_path}'" if ctx is not None else "seatctl"
    message = f"{where} has no option {name}"
    if ctx is None:
        return message
    options = [
        opt
        for param in ctx.command.get_params(ctx)
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--") and opt not in ctx.help_option_names
    ]
    near = difflib.get_close_matches(name.split("=", 1)[0], options, n=1, cutoff=_CLOSE_ENOUGH)
    return f"{message}; did you mean {near[0]}?" if near else message


def _named(param: Any) -> str:
    """An option by its long name, an argument by its metavar."""
    if param is None:
        return "a value"
    if getattr(param, "param_type_name", "") == "option":
        return str(max(param.opts, key=len))
    return str(param.metavar or param.name.upper())


def _missing(error: parser_errors.MissingParameter, ctx: Any) -> str:
    where = f"'{ctx.command_path}'" if ctx is not None else "seatctl"
    return f"{where} needs {_named(error.param)}"


def _bad_value(error: parser_errors.BadParameter) -> str:
    name = _named(error.param)
    quoted = _QUOTED_VALUE.match(error.message)
    value = f" {quoted.group()}" if quoted else ""
    return f"invalid {name}{value}: {_hint(name, error.param)}"


def _hint(name: str, param: Any) -> str:
    if name in HINTS:
        return HINTS[name]
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        words = [str(getattr(choice, "value", choice)) for choice in choices]
        return f"use {', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]
    return "use a whole number"


def _bad_option_usage(error: parser_errors.BadOptionUsage, ctx: Any) -> str:
    name = error.option_name
    if "requires an argument" in error.message:
        metavar = _metavar(name, ctx)
        return f"{name} needs a value" + (f" ({metavar})" if metavar else "")
    if "does not take a value" in error.message:
        return f"{name.split('=', 1)[0]} takes no value"
    return _usage(error.message, ctx)


def _metavar(name: str, ctx: Any) -> str | None:
    if ctx is None:
        return None
    for param in ctx.command.get_params(ctx):
        if name in param.opts:
            return str(param.metavar) if param.metavar else None
    return None


def _usage(message: str, ctx: Any) -> str:
    unknown = re.match(r"No such command '(.*?)'\.(?= |$)", message)
    if unknown and ctx is not None:
        name = unknown.group(1)
        commands = ctx.command.list_commands(ctx)
        near = difflib.get_close_matches(name, commands, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}?" if near else f"the commands are {', '.join(commands)}"
        return f"no command {name!r} in '{ctx.command_path}'; {hint}"
    extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if extra and ctx is not None:
        words = extra.group(1)
        return f"unexpected argument{'s' if ' ' in words else ''} {words}"
    return message.rstrip(".")
