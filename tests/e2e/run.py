#!/usr/bin/env python3
"""Tiny TAP runner for the aws-credproc end-to-end tests.

    python3 tests/e2e/run.py [-k SUBSTRING]... [-v] [-x] [--list]

Discovers test_* functions in tests/e2e/test_*.py (in file order), runs each
with a fresh temporary directory and a clean environment, prints TAP.
The binary is $AWS_CREDPROC_BIN (default: <repo>/build/cmd/aws-credproc).
moto_server is started once, on first use, and stopped at exit.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import inspect
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # keep tests/e2e free of __pycache__

import harness  # noqa: E402
import servers  # noqa: E402


class Suite:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._moto = None
        self._moto_error = None

    def moto(self) -> servers.MotoStack:
        if self._moto is None:
            if self._moto_error:
                raise RuntimeError(f"moto unavailable: {self._moto_error}")
            t0 = time.monotonic()
            m = servers.MotoStack(log_dir=str(self.workdir))
            try:
                m.start()
            except Exception as e:
                self._moto_error = repr(e)
                m.stop()
                raise
            self._moto = m
            print(f"# moto_server up at {m.direct} (proxy {m.endpoint}) in "
                  f"{time.monotonic() - t0:.1f}s", flush=True)
        return self._moto

    def close(self):
        if self._moto is not None:
            self._moto.stop()
            self._moto = None


def discover(selectors):
    tests = []
    for path in sorted(HERE.glob("test_*.py")):
        mod = importlib.import_module(path.stem)
        fns = [(name, fn) for name, fn in vars(mod).items()
               if name.startswith("test_") and inspect.isfunction(fn)
               and fn.__module__ == mod.__name__]
        fns.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for name, fn in fns:
            full = f"{path.stem}.{name}"
            if selectors and not any(s in full for s in selectors):
                continue
            tests.append((full, fn))
    return tests


def diag(lines):
    for line in lines:
        for l in str(line).splitlines() or [""]:
            print("# " + l)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only tests whose module.name contains SUBSTRING "
                         "(repeatable: any matches)")
    ap.add_argument("-v", action="store_true", help="diagnostics for passing tests too")
    ap.add_argument("-x", action="store_true", help="stop at the first failure")
    ap.add_argument("--list", action="store_true", help="list the selected tests")
    ap.add_argument("--keep", action="store_true", help="keep temporary directories")
    args = ap.parse_args(argv)

    binary = os.environ.get("AWS_CREDPROC_BIN") or str(
        HERE.parent.parent / "build" / "cmd" / "aws-credproc")
    binary = os.path.abspath(binary)

    tests = discover(args.k)
    if args.list:
        for name, _ in tests:
            print(name)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="credproc-e2e-"))
    suite = Suite(workdir)

    def _cleanup():
        suite.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(_cleanup)

    def _on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    print("TAP version 13")
    print(f"# binary: {binary}")
    if not os.path.exists(binary):
        print(f"# WARNING: {binary} does not exist; every test using it will fail")
    failed = []
    n = 0
    t_all = time.monotonic()
    try:
        for name, fn in tests:
            n += 1
            tmp = workdir / f"t{n:03d}"
            tmp.mkdir()
            t = harness.Ctx(name, tmp, binary, suite)
            t0 = time.monotonic()
            status, info = "ok", []
            try:
                fn(t)
            except harness.Skip as e:
                status = f"skip:{e}"
            except KeyboardInterrupt:
                raise
            except AssertionError as e:
                status = "fail"
                info.append(f"FAILED: {e}")
                tb = traceback.extract_tb(e.__traceback__)
                where = [f for f in tb if f.filename.endswith(".py")
                         and Path(f.filename).name.startswith("test_")]
                if where:
                    f = where[-1]
                    info.append(f"at {Path(f.filename).name}:{f.lineno}: {f.line}")
            except Exception:
                status = "fail"
                info.append("ERROR (exception in test code or servers):")
                info.extend(traceback.format_exc().splitlines())
            finally:
                t.cleanup()
            el = time.monotonic() - t0
            if status == "ok":
                print(f"ok {n} - {name}  # {el:.1f}s")
                if not args.v:
                    diag(getattr(t, "shown", []))
                if args.v:
                    diag(t.notes)
                    for r in t.runs:
                        diag(r.describe())
            elif status.startswith("skip:"):
                print(f"ok {n} - {name} # SKIP {status[5:]}")
            else:
                failed.append(name)
                print(f"not ok {n} - {name}  # {el:.1f}s")
                diag(info)
                diag(t.notes)
                for r in t.runs:
                    diag(r.describe())
            sys.stdout.flush()
            if failed and args.x:
                break
    except KeyboardInterrupt as e:
        print(f"Bail out! interrupted ({e})")
        sys.stdout.flush()
        suite.close()
        return 130
    finally:
        suite.close()
    print(f"1..{n}")
    print(f"# {n - len(failed)}/{n} passed in {time.monotonic() - t_all:.1f}s")
    if failed:
        print("# failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
