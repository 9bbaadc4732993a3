"""seatctl: hold and book seats from a shell, a script or a CI job, without double-booking.

The Python API mirrors the CLI:

    from seatctl import Venue
    Venue.init("venue.db", seats=10)
    with Venue.open("venue.db") as venue:
        venue.lock(["3"], user="alice")
        venue.confirm(["3"], user="alice")
"""

from seatctl.errors import ExitCode, Reason, SeatctlError, SeatRefusal
from seatctl.model import SeatView, Status
from seatctl.venue import InitResult, Venue

__version__ = "0.2.0.dev0"

__all__ = [
    "ExitCode",
    "InitResult",
    "Reason",
    "SeatRefusal",
    "SeatView",
    "SeatctlError",
    "Status",
    "Venue",
    "__version__",
]
