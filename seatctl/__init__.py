"""seatctl: hold and book seats from a shell, a script or a CI job, without double-booking.

The Python API mirrors the CLI:

    from seatctl import Venue
    Venue.init("venue.db", seats=10)
    with Venue.open("venue.db") as venue:
        venue.lock(["3"], user="alice")
        venue.confirm(["3"], user="alice")
"""

# The names below are imported when first used (PEP 562), not with the package: the console
# script imports this package before it can guard against Ctrl-C, so it must do nothing slow.

__version__ = "0.3.0"

_EXPORTS = {
    "ExitCode": "seatctl.core.errors",
    "FieldError": "seatctl.core.errors",
    "Reason": "seatctl.core.errors",
    "SeatRefusal": "seatctl.core.errors",
    "SeatctlError": "seatctl.core.errors",
    "Place": "seatctl.core.model",
    "SeatView": "seatctl.core.model",
    "Show": "seatctl.core.model",
    "Status": "seatctl.core.model",
    "StatusCounts": "seatctl.core.model",
    "InitResult": "seatctl.service",
    "Venue": "seatctl.service",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seatctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
