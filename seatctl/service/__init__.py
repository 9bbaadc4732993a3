"""The one application service both shells call: `Venue`, a venue's seats changed only
through the booking rules (`seatctl.core`), stored by `seatctl.storage`."""

from typing import TYPE_CHECKING

from seatctl.service.venue import Venue

if TYPE_CHECKING:
    from seatctl.service.initialising import InitResult

__all__ = ["InitResult", "Venue"]


def __getattr__(name: str) -> object:
    """`InitResult`, loaded with `init`'s module when first asked for (PEP 562): other commands
    do without it."""
    if name == "InitResult":
        from seatctl.service.initialising import InitResult

        return InitResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
