#!/usr/bin/env python3
"""tui_keys.py: press keys in a tmux pane and time how long until the
screen shows their effect (the end-to-end side of bench/tui_latency.sh).

usage: tui_keys.py SOCKET TARGET PATTERN KEY[,KEY...] [PRESSES] [GAP_S]

For each press: read the value PATTERN's first group has on the screen,
send the next key (cycling through the list), then capture the pane again
and again until the value differs. Prints one line per press (ms) and a
summary "median_ms ... worst_ms ... missed ...". The time includes tmux's
own round trips (a capture-pane is a process start), so it bounds the
workbench's latency from above; the workbench's own figure comes from
RB_TUI_LATENCY.
"""
import re
import statistics
import subprocess
import sys
import time


def main():
    sock, target, pattern, keys = sys.argv[1], sys.argv[2], re.compile(sys.argv[3]), sys.argv[4].split(",")
    presses = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    gap = float(sys.argv[6]) if len(sys.argv) > 6 else 0.06

    def value():
        out = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", target],
                             capture_output=True, text=True).stdout
        m = pattern.search(out)
        return m.group(1) if m else None

    times, missed = [], 0
    for i in range(presses):
        before = value()
        t0 = time.monotonic()
        subprocess.run(["tmux", "-L", sock, "send-keys", "-t", target, keys[i % len(keys)]])
        while True:
            now = value()
            if now is not None and now != before:
                times.append((time.monotonic() - t0) * 1000)
                print(f"press {i} {times[-1]:.1f} ms ({before} -> {now})")
                break
            if time.monotonic() - t0 > 2:
                missed += 1
                print(f"press {i}: no change within 2 s ({before})")
                break
        time.sleep(gap)
    if times:
        print(f"summary presses {presses} median_ms {statistics.median(times):.1f} "
              f"worst_ms {max(times):.1f} missed {missed}")
    else:
        print(f"summary presses {presses} no change seen, missed {missed}")


if __name__ == "__main__":
    main()
