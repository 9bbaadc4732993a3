"""Help that teaches, held together with the command reference.

Every command's help (its docstring) is a one-line purpose, perhaps more paragraphs, and 1 to
3 examples. docs/commands.md has a section per command whose heading is the command's
synopsis: the tests here read both and fail when they drift apart (an option added to one
and not the other, another metavar, a purpose or an example the section does not show).
A new command needs its docstring and its section; nothing else.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ALL, LEAVES, SUBCOMMANDS, options_of, parser, run_cli
from seatctl.cli.formatting import purpose

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "docs" / "commands.md").read_text()
README = (ROOT / "README.md").read_text()


def ids(pairs: list[tuple[str, Any]]) -> list[str]:
    return [path or "seatctl" for path, _ in pairs]


def words(text: str) -> str:
    return " ".join(text.split())


# --- Help that teaches ----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "command"), ALL, ids=ids(ALL))
def test_help_starts_with_a_one_line_purpose(path, command):
    first_paragraph = command.help.split("\n\n")[0]
    assert "\n" not in first_paragraph.strip(), "the purpose is one line"
    assert first_paragraph.endswith("."), first_paragraph
    assert len(first_paragraph) <= 90


@pytest.mark.parametrize(("path", "command"), ALL, ids=ids(ALL))
def test_help_shows_one_to_three_examples_of_the_command_itself(path, command):
    assert 1 <= len(command.examples) <= 3
    for example in command.examples:
        assert example.startswith("seatctl "), example
        assert f"{command_path(example)} ".startswith(f"{path} ".lstrip()), example


@pytest.mark.parametrize(("path", "command"), ALL, ids=ids(ALL))
def test_every_example_is_a_valid_command_line(path, command):
    for example in command.examples:
        parse(example)  # raises the parser's complaint if an option or a value is wrong


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=ids(LEAVES))
def test_help_prints_the_purpose_and_the_examples_as_written(path, command):
    run = run_cli(*path.split(), "--help")
    assert run.code == 0
    assert words(purpose(command.help)) in words(run.out)
    assert "Examples:\n" + "".join(f"  {e}\n" for e in command.examples) in run.out


def test_the_command_list_shows_every_purpose_whole_even_in_a_narrow_terminal():
    run = run_cli("--help", env={"COLUMNS": "60"})
    # Compared without whitespace: a narrow terminal also wraps at hyphens.
    listing = "".join(run.out.split("Commands:")[1].split("Examples:")[0].split())
    for path, command in parser().commands.items():
        assert path + "".join(command.short_help.split()) in listing
        assert "..." not in listing


def test_metavars_are_the_words_of_the_docs():
    texts = {path: run_cli(*path.split(), "--help").out for path, _ in LEAVES}
    for path, text in texts.items():
        assert not re.search(r"<[a-z]+>|\{[A-Z]", text), (path, text)
    assert "--user USER" in texts["lock"]
    assert "Usage: seatctl confirm [OPTIONS] SEAT...\n" in texts["confirm"]
    assert "Usage: seatctl backup [OPTIONS] DEST\n" in texts["backup"]
    assert "Usage: seatctl token add [OPTIONS] USER\n" in texts["token add"]


def test_top_level_help_says_what_each_environment_variable_does():
    out = run_cli("--help").out
    environment = out.split("Environment:")[1].split("Exit codes:")[0]
    for variable, what in [
        ("SEATCTL_DB", "the database"),
        ("SEATCTL_USER", "the user"),
        ("SEATCTL_EVENT", "the event"),
        ("SEATCTL_NOW", '"now"'),
    ]:
        assert re.search(rf"^\s+{variable}\s+{re.escape(what)}", environment, re.M), variable


def test_top_level_help_offers_completion():
    out = run_cli("--help").out
    assert "--install-completion" in out and "--show-completion" in out


# --- The command reference says the same ------------------------------------------------------


@pytest.mark.parametrize(("path", "command"), SUBCOMMANDS, ids=ids(SUBCOMMANDS))
def test_every_command_has_a_section_in_the_reference(path, command):
    assert synopses(path), f"no heading in docs/commands.md names `seatctl {path} ...`"


@pytest.mark.parametrize(("path", "command"), SUBCOMMANDS, ids=ids(SUBCOMMANDS))
def test_the_section_states_the_purpose_and_shows_the_examples(path, command):
    section = words(" ".join(text for _, text in synopses(path)))
    assert words(purpose(command.help)) in section, "the purpose, word for word"
    for example in command.examples:
        assert words(example) in section, example


@pytest.mark.parametrize(("path", "command"), SUBCOMMANDS, ids=ids(SUBCOMMANDS))
def test_the_sections_synopses_list_exactly_the_commands_options_with_its_metavars(path, command):
    documented: dict[str, set[str | None]] = {}
    positionals: set[str] = set()
    for synopsis, _ in synopses(path):
        options, arguments = read_synopsis(synopsis, path)
        for name, metavar in options:
            documented.setdefault(name, set()).add(metavar)
        positionals |= arguments
    actual = options_of(command)
    assert set(documented) == set(actual), "options in the docs but not the command, or back"
    for name, metavars in documented.items():
        assert metavars <= actual[name], (name, metavars, actual[name])
    assert positionals == arguments_of(command)


@pytest.mark.parametrize("document", ["docs/commands.md", "README.md"])
def test_the_summaries_list_every_command(document):
    text = REFERENCE if document == "docs/commands.md" else README.split("## Commands")[1]
    summary = text.split("```\n", 2)[1]
    listed = {command_path(line.split("|")[0].split("#")[0]) for line in summary.splitlines()}
    assert {path for path, _ in LEAVES} <= listed


def test_the_reference_lists_the_global_options():
    section = REFERENCE.split("## Global options and environment")[1].split("\n## ")[0]
    for _, command in ALL[:1]:
        for name in options_of(command):
            assert f"`{name}" in section, name


# --- Reading help and docs -------------------------------------------------------------------


def command_path(line: str) -> str:
    """The command a command line runs (`token add` for `seatctl token add alice`)."""
    args = shlex.split(line.split("<")[0].split("|")[0])[1:]
    group, found = parser(), []
    for arg in args:
        if arg.startswith("-") or not hasattr(group, "commands"):
            if found:
                break
            continue  # a global option, or its value
        if arg in group.commands:
            found.append(arg)
            group = group.commands[arg]
        elif found:
            break
    return " ".join(found)


def parse(line: str) -> None:
    """Parse a command line as seatctl would, without running it."""
    args = shlex.split(line.split(" < ")[0])[1:]
    group = parser()
    ctx = group.make_context("seatctl", list(args))
    rest = [*ctx._protected_args, *ctx.args]
    while rest:
        name, command, rest = group.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
        nested = hasattr(command, "commands")
        rest = [*ctx._protected_args, *ctx.args] if nested else []
        group = command


def arguments_of(command: Any) -> set[str]:
    return {_bare(param.metavar) for param in command.params if param.param_type_name == "argument"}


def _bare(metavar: str) -> str:
    return metavar.strip("[]{}").removesuffix("...")


HEADING = re.compile(r"^(#+) (.*)$")
CODE_SPAN = re.compile(r"`(seatctl [^`]*)`")
OPTION = re.compile(r"^--[a-z][a-z-]*$")
METAVAR = re.compile(r"^(?:[A-Z][A-Z_]*(?:,[A-Z][A-Z_]*)*(?:\.\.\.)?|[a-z]+(?:\|[a-z]+)+)$")


def sections() -> Iterator[tuple[str, str]]:
    """(heading, text up to the next heading of the same level or above) of the reference."""
    lines = REFERENCE.splitlines()
    fenced = False
    headings = []
    for number, line in enumerate(lines):
        fenced ^= line.startswith("```")
        match = None if fenced else HEADING.match(line)
        if match:
            headings.append((number, len(match[1]), match[2]))
    for index, (number, level, heading) in enumerate(headings):
        end = next((n for n, lv, _ in headings[index + 1 :] if lv <= level), len(lines))
        yield heading, "\n".join(lines[number:end])


def synopses(path: str) -> list[tuple[str, str]]:
    """(synopsis, section text) of every heading synopsis of the command `path`."""
    return [
        (span, text)
        for heading, text in sections()
        for span in CODE_SPAN.findall(heading)
        if command_path(span) == path
    ]


def read_synopsis(synopsis: str, path: str) -> tuple[list[tuple[str, str | None]], set[str]]:
    """The (option, metavar) pairs and the positional metavars of a synopsis: an option's
    value follows it inside its brackets (`[--ttl SECONDS]`, not `[--json] [LABEL...]`)."""
    tokens = [t for t in synopsis.split(" < ")[0].split()[1 + len(path.split()) :]]
    options: list[tuple[str, str | None]] = []
    arguments: set[str] = set()
    takes_value = False
    for index, token in enumerate(tokens):
        bare = token.strip("[]")
        if OPTION.match(bare):
            following = tokens[index + 1].strip("[]") if index + 1 < len(tokens) else ""
            takes_value = not token.endswith("]") and bool(METAVAR.match(following))
            options.append((bare, following if takes_value else None))
        elif takes_value:
            takes_value = False  # the value just read
        elif bare.isupper():
            arguments.add(_bare(bare))
    return options, arguments
