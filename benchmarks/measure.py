"""Run one command and report its wall time, exit code, CPU time and peak RSS.

    python -S benchmarks/measure.py REPORT.json COMMAND [ARG...]

The command inherits stdin, stdout and stderr; the figures go to REPORT.json. run.py starts a
fresh one of these small wrappers for every measured run because Linux starts a child's
ru_maxrss at the resident size of the process that spawned it: spawned straight from the
benchmark process, every command would appear at least as big as the benchmark itself.
Standard library only; kept small so that its own size (about 10 MB) is below anything measured.
"""

import json
import os
import sys
import time

report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
rss_kb = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
with open(report, "w") as out:
    json.dump(
        {
            "seconds": seconds,
            "exit_code": os.waitstatus_to_exitcode(status),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": rss_kb * 1024 / 1e6,
        },
        out,
    )
