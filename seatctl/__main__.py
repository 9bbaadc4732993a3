from seatctl.cli import run

run()
