"""The Python API's long-standing name for the service: `from seatctl.venue import Venue`.

The service itself is `seatctl.service`.
"""

from seatctl.service import InitResult, Venue
from seatctl.storage import DEFAULT_TTL

__all__ = ["DEFAULT_TTL", "InitResult", "Venue"]
