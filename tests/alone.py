"""Tests that must run alone (`@pytest.mark.alone`: stress, crashes, the browser, timing):
with pytest-xdist, they run after every other test has finished, one after another on one
worker, while no other worker runs anything.

`AloneLastScheduling` is xdist's `loadgroup` scheduling (tests marked `xdist_group` stay
together on one worker, every other test goes to whichever worker is free) with one change:
the `alone` group is held back until the rest of the suite is done and every other worker has
shut down; then the one worker left runs it. The conftest hands this scheduler to xdist for
`--dist loadgroup`, which pyproject.toml's addopts select.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling

GROUP = "alone"


class AloneLastScheduling(LoadGroupScheduling):
    def _is_alone(self, scope: str) -> bool:
        return scope == GROUP

    def _assign_work_unit(self, node: Any) -> None:
        shared = next((scope for scope in self.workqueue if not self._is_alone(scope)), None)
        if shared is not None:
            self.workqueue.move_to_end(shared, last=False)
            super()._assign_work_unit(node)
            return
        # Only the `alone` group is left: the other workers finish what they hold and stop,
        # and `remove_node` hands the group to the last worker standing.
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
