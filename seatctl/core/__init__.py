"""The pure core: records, rules, selection, the change feed's logic, audit, clock, errors.

Nothing here imports seatctl outside `seatctl.core`, opens a database or a socket, or names a
CLI flag or an HTTP field: a shell (the CLI, the server) words what it reports.
"""
