#!/usr/bin/env python3
"""Runs one command as the init process of a private PID namespace and
reports which processes outlive it; used by test_nested_process.py, not
collected by run.py.

    unshare --pid --fork --mount-proc python3 pidns_watch.py NAMES GRACE -- CMD...

While CMD runs, every 50 ms it counts the live processes whose argv holds
an element named one of NAMES (comma-separated; a path ending in /NAME, or
NAME itself), whatever runs them (directly, through a wrapper, under
valgrind), and keeps the highest count. When CMD has exited it polls for up to GRACE seconds until
no process other than itself is left in the namespace. It reaps every
orphan meanwhile (it is the namespace's init), so a zombie never counts.
Prints one JSON line: {"rc", "max_seen", "left" (a count), "some_left" (up
to 5 command lines), "waited"}.
Everything still alive dies with it when it exits (the kernel kills the
rest of a PID namespace with its init).
"""

import json
import os
import subprocess
import sys
import time


def _reap(child):
    """Reaps every exited process; returns the exit status of `child` when
    it was among them (as subprocess words it: -N for a signal), else None."""
    rc = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return rc
        if pid == 0:
            return rc
        if pid == child:
            rc = os.waitstatus_to_exitcode(status)


def _live():
    """[(pid, argv)] of every live process but us (zombies excluded)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        state = stat[stat.rindex(b")") + 2:][:1]
        if state in (b"Z", b"X"):
            continue
        out.append((int(d), argv))
    return out


def _named(argv, names):
    if not argv or os.path.basename(argv[0]) == "timeout":
        return False
    return any(a == n or a.endswith("/" + n) for a in argv for n in names)


def main():
    names, grace = sys.argv[1].split(","), float(sys.argv[2])
    assert sys.argv[3] == "--"
    cmd = sys.argv[4:]
    assert os.getpid() == 1, "not the init of a new PID namespace"
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    max_seen, rc = 0, None
    while rc is None:
        max_seen = max(max_seen, sum(1 for _, a in _live() if _named(a, names)))
        rc = _reap(p.pid)
        if rc is None:
            time.sleep(0.05)
    start = time.monotonic()
    left = _live()
    while left and time.monotonic() - start < grace:
        time.sleep(0.05)
        _reap(p.pid)
        left = _live()
    print(json.dumps({"rc": rc, "max_seen": max_seen,
                      "left": len(left), "some_left": [" ".join(a) for _, a in left[:5]],
                      "waited": round(time.monotonic() - start, 2)}), flush=True)


if __name__ == "__main__":
    main()
