"""For the `seatctl` command's own process (`seatctl.__main__`): standard-library modules that
the CLI's libraries import on every run but a run seldom uses, each imported on its first use
instead. (A program that imports `seatctl.cli` itself keeps its modules as they are.)

Typer imports `subprocess` (with `selectors` and `locale`) to launch a browser and install
shell completion; `shutil` (for Typer's terminal size) imports `bz2` and `lzma` to learn
whether it may write such archives; `urllib.parse` (through `pathlib`) imports `ipaddress`
for bracketed hosts; `linecache` (through `inspect`) imports `tokenize` to read source files
for tracebacks. No command needs any of them on its way, yet each run paid for them all:
about 6 ms of a 75 ms `seatctl lock` here.

Each is replaced in `sys.modules`, before those libraries are imported, by a stand-in module
that imports the real one when a name of it is first looked up (later lookups find the name
on the stand-in directly). A module that is already loaded, or one whose compiled part this
Python lacks (`import bz2` must still fail where `_bz2` is missing), is left alone.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import PathFinder
from types import ModuleType

# name -> the extension module it needs, which not every Python build has (None: pure Python)
DEFERRED: dict[str, str | None] = {
    "subprocess": None,
    "ipaddress": None,
    "tokenize": None,
    "bz2": "_bz2",
    "lzma": "_lzma",
}


class OnFirstUse(ModuleType):
    """Stands in for the module of the same name until one of its names is looked up."""

    def __getattr__(self, name: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        module = importlib.import_module(self.__name__)
        vars(self).update(vars(module))
        return getattr(module, name)


def defer(modules: dict[str, str | None] = DEFERRED) -> None:
    """Stand in for each module named that is not imported yet and can be."""
    for name, needs in modules.items():
        if name in sys.modules:
            continue
        if needs is not None and needs not in sys.modules and not _findable(needs):
            continue
        sys.modules[name] = OnFirstUse(name)


def _findable(name: str) -> bool:
    return PathFinder.find_spec(name) is not None
