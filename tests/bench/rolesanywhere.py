#!/usr/bin/env python3
"""tests/bench/rolesanywhere.py - what an IAM Roles Anywhere miss and a hit
cost, against the loopback Roles Anywhere service of the end-to-end tests
(tests/e2e/test_roles_anywhere.py: it verifies every signature, so the
miss includes loading the network module, the certificate and the key,
signing, one HTTP exchange and writing the cache).

Usage: tests/bench/rolesanywhere.py
  AWS_CREDPROC_BIN  binary to measure (default <repo>/build/cmd/aws-credproc;
                    build it with --buildtype=release for meaningful numbers)
  BENCH_RUNS        hyperfine runs per command (default 60)

For an EC P-256 and an RSA 2048 key in PEM files, in one hyperfine run
(-N, no shell, side by side): `aws-credproc --profile static` (static keys:
the cost of starting the process and reading the config, the baseline),
`aws-credproc --profile host` (a hit) and `aws-credproc --profile host
--no-cache` (a miss: CreateSession every run). Prints mean, median,
standard deviation and each median as a ratio of the baseline's. Needs hyperfine and Python `cryptography`.
Informational: exit 0 unless something failed to run."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import test_roles_anywhere as T  # noqa: E402


def main():
    binary = os.environ.get("AWS_CREDPROC_BIN", str(ROOT / "build" / "cmd" / "aws-credproc"))
    runs = os.environ.get("BENCH_RUNS", "60")
    if not shutil.which("hyperfine"):
        sys.exit("hyperfine is not installed (apt-get install hyperfine)")
    d = pathlib.Path(tempfile.mkdtemp(prefix="bench-ra-"))
    try:
        pki = T.Pki(d)
        s = T.RolesAnywhereServer(pki).start()
        for kind in ("ec", "rsa"):
            cp, kp, _, _ = pki.leaf(kind, "pkcs8")
            cfg = d / f"config-{kind}"
            cfg.write_text(T._profile(cp, kp) + "\n[profile static]\n"
                           "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                           "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
            env = {**os.environ, "HOME": str(d), "AWS_CONFIG_FILE": str(cfg),
                   "AWS_SHARED_CREDENTIALS_FILE": str(d / "none"),
                   "AWS_CREDPROC_CACHE_DIR": str(d / f"cache-{kind}"),
                   "AWS_ENDPOINT_URL_ROLESANYWHERE": s.url}
            subprocess.run([binary, "--profile", "host"], env=env, check=True,
                           capture_output=True)
            j = d / f"{kind}.json"
            cmds = {"static": f"{binary} --profile static", "hit": f"{binary} --profile host",
                    "miss": f"{binary} --profile host --no-cache"}
            subprocess.run(["hyperfine", "-N", "-w", "5", "-r", runs, "--export-json", str(j),
                            *cmds.values()], env=env, check=True, capture_output=True)
            res = {what: r for what, r in zip(cmds, json.loads(j.read_text())["results"])}
            base = res["static"]["median"]
            for what, r in res.items():
                print(f"{kind:3} {what:6}  mean {r['mean'] * 1000:6.2f} ms  "
                      f"median {r['median'] * 1000:6.2f} ms  sd {r['stddev'] * 1000:5.2f} ms  "
                      f"{r['median'] / base:5.2f}x static  (n={len(r['times'])})")
        s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
