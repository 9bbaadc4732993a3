"""The one application service both shells call: `Venue`, a venue's seats changed only
through the booking rules (`seatctl.core`), stored by `seatctl.storage`."""

from seatctl.service.initialising import InitResult
from seatctl.service.venue import Venue

__all__ = ["InitResult", "Venue"]
