"""Test helpers for projects that book seats through seatctl, and the pytest plugin's types.

The pytest plugin (`seatctl.testing.plugin`, registered as the `pytest11` entry point
`seatctl`) gives the fixtures; this package gives the assertions, which work with or without
it:

    from seatctl.testing import assert_history, assert_seat

    def test_booking(seat_venue):
        seat_venue.lock(["3"], user="alice")
        seat_venue.confirm(["3"], user="alice")
        assert_seat(seat_venue, "3", status="booked", booked_by="alice")
        assert_history(seat_venue, "3", ["lock", "confirm"])

Nothing here imports pytest, and the `seatctl` command never imports this package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from seatctl.testing._clock import DEFAULT_START, SeatClock
from seatctl.testing._run import RunResult, SeatEnv
from seatctl.testing._server import SeatServer

if TYPE_CHECKING:
    from seatctl.core.model import HistoryEntry, SeatView
    from seatctl.venue import Venue

__all__ = [
    "DEFAULT_START",
    "RunResult",
    "SeatClock",
    "SeatEnv",
    "SeatServer",
    "assert_history",
    "assert_seat",
]

T = TypeVar("T")

# The fields of a seat that hold an instant: expected values may be given as ISO 8601 text.
_INSTANT_FIELDS = ("expires_at", "booked_at", "held_since")


def assert_seat(venue: Venue | str, seat: str, *, event: str = "default", **expected: Any) -> None:
    """Fail unless seat `seat` of `event` is, now, as `expected` says.

    `expected` names fields of the seat as `seatctl seats --json` shows them: `status`,
    `locked_by`, `expires_at`, `booked_by`, `booked_at`, `section`, `row`, `number`,
    `category`, `held_since`. Instants may be given as epoch seconds or ISO 8601 text.
    `venue` is an open `seatctl.Venue` or a database location (opened for the check).
    """
    __tracebackhide__ = True
    view = _seat_view(venue, seat, event)
    actual = _shown_seat(view)
    unknown = sorted(set(expected) - set(actual) - {"seat"})
    if unknown:
        raise TypeError(
            f"assert_seat: no seat field {', '.join(map(repr, unknown))}"
            f" (fields: {', '.join(name for name in actual if name != 'seat')})"
        )
    wrong = [
        (name, want, actual[name])
        for name, want in expected.items()
        if name != "seat" and _normal(name, want) != actual[name]
    ]
    if wrong:
        lines = [f"seat {seat} of event {event!r} is not as expected:"]
        width = max(len(name) for name, _, _ in wrong)
        lines += [
            f"  {name:<{width}}  expected {_normal(name, want)!r}, got {got!r}"
            for name, want, got in wrong
        ]
        lines.append(f"  the seat now: {_one_line(actual)}")
        raise AssertionError("\n".join(lines))


def assert_history(
    venue: Venue | str,
    seat: str,
    expected: Sequence[str | tuple[str, str | None]],
    *,
    event: str = "default",
) -> None:
    """Fail unless the actions of seat `seat` in `event` after its `add`, oldest first, are
    `expected`: each an action (`"lock"`, `"confirm"`, ...) or an `(action, user)` pair.

    A lock that has lapsed by now counts as its `expire`, as `seatctl history` shows it.
    """
    __tracebackhide__ = True
    if isinstance(expected, str):
        raise TypeError("assert_history: give a list of actions, like ['lock', 'confirm']")
    events = [e for e in _history(venue, seat, event) if e.action.value != "add"]
    got: list[str | tuple[str, str | None]] = [
        (e.action.value, e.user)
        if i < len(expected) and isinstance(expected[i], tuple)
        else e.action.value
        for i, e in enumerate(events)
    ]
    wanted = [tuple(item) if isinstance(item, tuple) else item for item in expected]
    if got == wanted:
        return
    lines = [
        f"history of seat {seat} in event {event!r} is not as expected:",
        f"  expected: {wanted!r}",
        f"  actual:   {got!r}",
    ]
    for index, (want, have) in enumerate(zip(wanted, got, strict=False), start=1):
        if want != have:
            lines.append(f"  first difference at #{index}: expected {want!r}, got {have!r}")
            break
    else:
        shorter = "fewer" if len(got) < len(wanted) else "more"
        lines.append(f"  the seat has {len(got)} actions after its add, {shorter} than expected")
    lines.append("  the seat's history (seatctl history):")
    lines += [f"    {_event_line(e)}" for e in events] or ["    (nothing after its add)"]
    raise AssertionError("\n".join(lines))


def _seat_view(venue: Venue | str, seat: str, event: str) -> SeatView:
    __tracebackhide__ = True
    views = _with_venue(venue, lambda v: v.seats(event=event))
    for view in views:
        if view.seat == seat:
            return view
    labels = ", ".join(v.seat for v in views[:20]) + (", ..." if len(views) > 20 else "")
    raise AssertionError(f"seat {seat} does not exist in event {event!r} (seats: {labels})")


def _history(venue: Venue | str, seat: str, event: str) -> list[HistoryEntry]:
    __tracebackhide__ = True
    from seatctl.core.errors import SeatctlError

    try:
        return _with_venue(venue, lambda v: v.history([seat], event=event))
    except SeatctlError as error:  # no such seat or event: a failed expectation, said plainly
        raise AssertionError(f"history of seat {seat} in event {event!r}: {error}") from None


def _with_venue(venue: Venue | str, read: Callable[[Venue], T]) -> T:
    if not isinstance(venue, str):
        return read(venue)
    from seatctl.venue import Venue

    with Venue.open(venue) as opened:
        return read(opened)


def _shown_seat(view: SeatView) -> dict[str, Any]:
    from seatctl.wire import seat_object

    return seat_object(view)


def _normal(name: str, value: Any) -> Any:
    """An expected value as `seatctl seats --json` would show it."""
    from seatctl.core.clock import format_instant, parse_instant

    if hasattr(value, "value") and isinstance(value.value, str):  # Status, Action
        return value.value
    if name in _INSTANT_FIELDS:
        if isinstance(value, int) and not isinstance(value, bool):
            return format_instant(value)
        if isinstance(value, str):
            try:
                return format_instant(parse_instant(value))
            except ValueError:
                return value  # compared as given: the difference will show it
    return value


def _one_line(fields: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in fields.items() if value is not None)


def _event_line(event: HistoryEntry) -> str:
    from seatctl.core.clock import format_instant

    parts = [format_instant(event.at), f"{event.action.value:<8}", event.user or "-"]
    if event.expires_at is not None and event.action.value != "expire":
        parts.append(f"until {format_instant(event.expires_at)}")
    if event.reason:
        parts.append(f"reason {event.reason!r}")
    return "  ".join(parts)
