#!/usr/bin/env python3
"""Notes when this machine's disk is slow to make a write durable (docs/benchmarks.md, "Earlier results (2026-12-04, 03:53 …)").

    bench/fsync-probe.py [SECONDS] [THRESHOLD_MS] [DIRECTORY]     defaults: 60 s, 30 ms, /var/tmp

Every 20 ms, writes 8 kB to a file in DIRECTORY and waits for fdatasync, as PostgreSQL waits
for its WAL before a commit returns; prints each fdatasync slower than THRESHOLD_MS with its UTC
time, then a summary. Run it beside a benchmark, on the file system of PostgreSQL's data
directory: a stall of every message append (the per-send timings' `append_us`) in the same
instant is the disk's. It writes about 400 kB a second; the file is removed at the end.
"""

import os
import sys
import time


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    directory = sys.argv[3] if len(sys.argv) > 3 else "/var/tmp"
    path = os.path.join(directory, f"fsync-probe-{os.getpid()}.dat")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"x" * 8192
    took = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            ms = (time.perf_counter() - start) * 1000.0
            took.append(ms)
            if ms > threshold:
                now = time.time()
                stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
                print(f"{stamp} UTC fdatasync took {ms:.1f} ms", flush=True)
            time.sleep(0.02)
    finally:
        os.close(fd)
        os.unlink(path)
    took.sort()
    print(
        f"{len(took)} fdatasyncs, p50 {took[len(took) // 2]:.2f} ms, p99 {took[int(len(took) * 0.99)]:.2f} ms, "
        f"worst {took[-1]:.1f} ms, {sum(t > threshold for t in took)} over {threshold:g} ms"
    )


if __name__ == "__main__":
    main()
