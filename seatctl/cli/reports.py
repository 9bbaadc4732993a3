"""How the less frequent results print: summary, map, events, history, settings, check, and
the one-line messages of init, backup, event add and token revoke. Imported by the commands
that return them, not by every run (a class of these costs start-up time to define)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from seatctl.cli.output import aligned, write_json_array
from seatctl.core.clock import format_instant
from seatctl.core.errors import ExitCode, Reason, SeatctlError
from seatctl.core.model import HistoryEntry, Settings, Show, Stage, StatusCounts
from seatctl.wire import (
    counts_object,
    dumps,
    events_objects,
    history_object,
    instant,
    printable,
    settings_object,
    summary_object,
)

if TYPE_CHECKING:  # loaded only by the commands that use them
    from seatctl.core.venue_map import Counts, MapCell


_GROUP_HEADINGS = {"section": ("SECTION",), "row": ("SECTION", "ROW"), "category": ("CATEGORY",)}
_COUNT_HEADINGS = ("TOTAL", "AVAILABLE", "LOCKED", "BOOKED", "BLOCKED", "OCCUPANCY")


class Summary(NamedTuple):
    """`summary`: an event's seats counted by status, and by group with `--by`."""

    event: str
    counts: Counts
    by: str | None = None
    groups: Sequence[dict[str, Any]] | None = None

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        """An aligned table: one line per group (a missing name shown as -), then the
        event's own line (`(all)` under the groups)."""
        names = _GROUP_HEADINGS.get(self.by or "", ())
        rows = [(*(names or ("EVENT",)), *_COUNT_HEADINGS)]
        for group in self.groups or ():
            shown = tuple(printable(str(group[name.lower()] or "-")) for name in names)
            rows.append((*shown, *_count_cells(group)))
        first = ("(all)", *([""] * (len(names) - 1))) if names else (printable(self.event),)
        rows.append((*first, *_count_cells(self.counts.as_dict())))
        out.write(aligned(rows) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        groups = list(self.groups) if self.groups is not None else None
        return summary_object(self.event, self.counts, groups)

    def error(self) -> SeatctlError | None:
        return None


def _count_cells(counts: dict[str, Any]) -> tuple[str, ...]:
    return (
        *(str(counts[k]) for k in ("total", "available", "locked", "booked", "blocked")),
        f"{counts['occupancy']:.1f}%",
    )


class SeatMap(NamedTuple):
    """`map`: the event's seats drawn for a terminal (`seatctl.core.venue_map.render_map`)."""

    cells: Sequence[MapCell]
    width: int

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        from seatctl.core.venue_map import render_map

        out.write(render_map(self.cells, colour, self.width) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        from seatctl.core.venue_map import render_map

        return {"map": render_map(self.cells, False, self.width)}

    def error(self) -> SeatctlError | None:
        return None


class ShowList(NamedTuple):
    """`event list`: every event with its seats counted by status."""

    shows: Sequence[tuple[Show, StatusCounts]]
    stage: Stage | None = None  # the hall's, carried by each event (as `GET /v1/events`)

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        rows: list[tuple[str, ...]] = [
            ("EVENT", "STARTS", "AVAILABLE", "LOCKED", "BOOKED", "BLOCKED", "TOTAL", "TITLE")
        ]
        for show, counts in self.shows:
            rows.append(
                (
                    show.name,
                    instant(show.starts_at) or "",
                    *(str(n) for n in counts_object(counts).values()),
                    printable(show.title or ""),
                )
            )
        out.write(aligned(rows) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(events_objects(self.shows, self.stage)) + "\n")

    def fields(self) -> dict[str, Any]:
        return {"events": events_objects(self.shows, self.stage)}

    def error(self) -> SeatctlError | None:
        return None


class EventList(NamedTuple):
    events: Sequence[HistoryEntry]

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        # A REASON column only when some event has one (blocks): other listings look as before.
        reasons = any(e.reason for e in self.events)
        bys = any(e.by for e in self.events)  # a BY column only when someone acted for another
        tokens = any(e.token is not None for e in self.events)  # a TOKEN column: token events'
        rows = [
            (
                "AT",
                "SEAT",
                "ACTION",
                "USER",
                *(("BY",) if bys else ()),
                *(("TOKEN",) if tokens else ()),
                "EXPIRES",
                *(("REASON",) if reasons else ()),
            )
        ]
        rows += [
            (
                format_instant(e.at),
                e.seat,
                e.action,
                printable(e.user or ""),
                *((printable(e.by or ""),) if bys else ()),
                *((str(e.token) if e.token is not None else "",) if tokens else ()),
                instant(e.expires_at) or "",
                *((printable(e.reason or ""),) if reasons else ()),
            )
            for e in self.events
        ]
        out.write(aligned(rows) + "\n")

    def write_json(self, out: TextIO) -> None:
        write_json_array(out, (history_object(e) for e in self.events))

    def fields(self) -> dict[str, Any]:
        return {"events": [history_object(e) for e in self.events]}

    def error(self) -> SeatctlError | None:
        return None


class SettingsReport:
    """`settings`: the default lock duration and the fairness caps (0: no cap)."""

    committed: bool = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def write_text(self, out: TextIO, colour: bool) -> None:
        rows = [
            ("ttl", f"{self.settings.ttl} s", "default lock duration"),
            ("max_hold", _cap(self.settings.max_hold, " s"), "longest hold, relocks included"),
            (
                "max_seats_per_user",
                _cap(self.settings.max_seats_per_user, ""),
                "most live locks per user in an event",
            ),
        ]
        out.write(aligned(rows) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        return settings_object(self.settings)

    def error(self) -> SeatctlError | None:
        return None


def _cap(value: int, unit: str) -> str:
    return f"{value}{unit}" if value else "0 (no cap)"


class CheckReport(NamedTuple):
    problems: list[str]

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        out.write("".join(p + "\n" for p in self.problems) if self.problems else "ok\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        return {"ok": not self.problems, "problems": self.problems}

    def error(self) -> SeatctlError | None:
        if not self.problems:
            return None
        count = len(self.problems)
        message = f"check found {count} problem{'s' if count > 1 else ''}"
        return SeatctlError(Reason.INCONSISTENT, message, ExitCode.DATABASE)


class Message(NamedTuple):
    """A one-line report (init, backup)."""

    text: str
    extra: dict[str, Any] | None = None

    @property
    def committed(self) -> bool:
        return True

    def write_text(self, out: TextIO, colour: bool) -> None:
        out.write(printable(self.text) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        return {"message": self.text, **(self.extra or {})}

    def error(self) -> SeatctlError | None:
        return None
