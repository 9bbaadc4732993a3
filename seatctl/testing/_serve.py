"""`python -m seatctl.testing._serve CLOCK_FILE DB [serve options]`: the server of
`seat_server` — `seatctl --db DB serve ...` run by seatctl's own console-script entry, in a
process whose clock is read from CLOCK_FILE on every look (epoch seconds, rewritten by the
test's `seat_clock` whenever it moves).

`SEATCTL_NOW` cannot do this: a process reads it once, at start, and a test's clock moves
while the server runs. Nothing outside the plugin starts this module, so the `seatctl`
command itself has no such mechanism.
"""

from __future__ import annotations

import sys


def main() -> None:
    clock_file, db, *options = sys.argv[1:]
    from seatctl.core.validate import is_postgres_url
    from seatctl.testing._clock import install, read_instant

    install(lambda: read_instant(clock_file), is_postgres_url(db), setattr)
    sys.argv = ["seatctl", "--db", db, "serve", *options]
    from seatctl.__main__ import run

    run()


if __name__ == "__main__":
    main()
