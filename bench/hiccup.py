#!/usr/bin/env python3
"""Notes when this machine fails to run a process on time (docs/benchmarks.md, "Earlier results (2026-12-03 23:56 …)").

    bench/hiccup.py [SECONDS] [THRESHOLD_MS]     defaults: 60 s, 15 ms

Sleeps 1 ms in a loop and prints every wake-up that came more than THRESHOLD_MS late, with its
UTC time and the steal time (CPU the hypervisor gave to others, from /proc/stat) counted since
the start; then a summary. Run it beside a benchmark: a stall that shows here as well as in the
benchmark's processes is the machine's, not theirs. It uses a few percent of one core.
"""

import sys
import time


def steal_ticks():
    with open("/proc/stat") as stat:
        return int(stat.readline().split()[8])


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    threshold = (float(sys.argv[2]) if len(sys.argv) > 2 else 15.0) / 1000.0
    steal_start = steal_ticks()
    end = time.monotonic() + seconds
    last = time.perf_counter()
    samples, late, worst = 0, 0, 0.0
    while time.monotonic() < end:
        time.sleep(0.001)
        now = time.perf_counter()
        overshoot = now - last - 0.001
        last = now
        samples += 1
        worst = max(worst, overshoot)
        if overshoot > threshold:
            late += 1
            wall = time.time()
            stamp = time.strftime("%H:%M:%S", time.gmtime(wall)) + ".%03d" % int(wall % 1 * 1000)
            print(f"{stamp} UTC woke {overshoot * 1000:.1f} ms late (steal so far {steal_ticks() - steal_start} ticks of 10 ms)", flush=True)
    print(f"{samples} sleeps, {late} over {threshold * 1000:.0f} ms late, worst {worst * 1000:.1f} ms, "
          f"steal {(steal_ticks() - steal_start) * 10} ms in {seconds:.0f} s")


if __name__ == "__main__":
    main()
