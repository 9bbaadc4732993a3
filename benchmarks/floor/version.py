"""Floor for `seatctl --version`: an argparse script that prints a version."""

import argparse

parser = argparse.ArgumentParser(prog="seatctl-floor")
parser.add_argument("--version", action="version", version="seatctl-floor 0.2.0.dev0")
parser.parse_args()
