"""Tests that must run alone (`@pytest.mark.alone`: those held to a time bound):
with pytest-xdist, they run after every other test has finished, one after another on one
worker, while no other worker runs anything.

The scheduler (`make_scheduler`) is xdist's `loadgroup` scheduling (tests marked `xdist_group` stay
together on one worker, every other test goes to whichever worker is free) with one change:
the `alone` group is held back until the rest of the suite is done and every other worker has
shut down; then the one worker left runs it. The conftest hands it to xdist for
`--dist loadgroup`, which pyproject.toml's addopts select.

The groups travel from the workers (which collect the tests) to the scheduler (which does
not) in a file per worker, in a folder the controller names in $TESTS_XDIST_GROUPS: xdist's
own way, a suffix on the test id, does not take with pytest 9.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

GROUP = "alone"
FOLDER_ENV = "TESTS_XDIST_GROUPS"


def configure(config: pytest.Config) -> None:
    """On the controller: the folder the workers write their groups into."""
    if hasattr(config, "workerinput") or os.environ.get(FOLDER_ENV):
        return
    folder = tempfile.mkdtemp(prefix="seatctl-test-groups-")
    os.environ[FOLDER_ENV] = folder  # the workers are started after this, and inherit it
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def write_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: each grouped test's group (`alone`, or its `xdist_group`)."""
    folder = os.environ.get(FOLDER_ENV)
    if not folder:
        return
    groups = {}
    for item in items:
        marks = [
            mark.args[0] if mark.args else "default" for mark in item.iter_markers("xdist_group")
        ]
        if item.get_closest_marker("alone"):
            groups[item.nodeid] = GROUP
        elif marks:
            groups[item.nodeid] = "group:" + "_".join(sorted(map(str, marks)))
    path = Path(folder) / f"{config.workerinput['workerid']}.json"  # type: ignore[attr-defined]
    path.with_suffix(".tmp").write_text(json.dumps(groups))
    path.with_suffix(".tmp").replace(path)


def read_groups() -> dict[str, str]:
    folder = os.environ.get(FOLDER_ENV)
    files = sorted(Path(folder).glob("*.json")) if folder else []
    return json.loads(files[0].read_text()) if files else {}


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # only when xdist runs the suite

    class AloneLastScheduling(LoadScopeScheduling):
        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:
                self._groups = read_groups()
            return self._groups.get(nodeid, nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            shared = next((scope for scope in self.workqueue if scope != GROUP), None)
            if shared is not None:
                self.workqueue.move_to_end(shared, last=False)
                super()._assign_work_unit(node)
                return
            # Only the `alone` group is left: the other workers finish what they hold and
            # stop, and `remove_node` hands the group to the last worker standing.
            if node.shutting_down:
                return
            others = [other for other in self.assigned_work if other is not node]
            for other in others:
                if not other.shutting_down:
                    other.shutdown()
            if not others:
                super()._assign_work_unit(node)

        def remove_node(self, node: Any) -> str | None:
            crashed = super().remove_node(node)
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

    return AloneLastScheduling(config, log)
