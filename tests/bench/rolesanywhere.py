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
standard deviation and each median as a ratio of the baseline's. Then the
same miss with an EC key in a SoftHSM2 token and in an swtpm TPM 2.0 (made
by tests/keys/mk-softhsm.sh and mk-swtpm.sh), when those are installed. Needs hyperfine and Python `cryptography`.
Informational: exit 0 unless something failed to run."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import test_roles_anywhere as T  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402


def main():
    binary = os.environ.get("AWS_CREDPROC_BIN", str(ROOT / "build" / "cmd" / "aws-credproc"))
    runs = os.environ.get("BENCH_RUNS", "60")
    if not shutil.which("hyperfine"):
        sys.exit("hyperfine is not installed (apt-get install hyperfine)")
    d = pathlib.Path(tempfile.mkdtemp(prefix="bench-ra-"))
    try:
        pki = T.Pki(d)
        s = T.RolesAnywhereServer(pki).start()
        static = ("\n[profile static]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                  "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")

        def bench(label, profile, extra_env=None, hit=True):
            cfg = d / f"config-{label}"
            cfg.write_text(profile + static)
            env = {**os.environ, "HOME": str(d), "AWS_CONFIG_FILE": str(cfg),
                   "AWS_SHARED_CREDENTIALS_FILE": str(d / "none"),
                   "AWS_CREDPROC_CACHE_DIR": str(d / f"cache-{label}"),
                   "AWS_ENDPOINT_URL_ROLESANYWHERE": s.url, **(extra_env or {})}
            subprocess.run([binary, "--profile", "host"], env=env, check=True,
                           capture_output=True)
            j = d / f"{label}.json"
            cmds = {"static": f"{binary} --profile static"}
            if hit:
                cmds["hit"] = f"{binary} --profile host"
            cmds["miss"] = f"{binary} --profile host --no-cache"
            subprocess.run(["hyperfine", "-N", "-w", "5", "-r", runs, "--export-json", str(j),
                            *cmds.values()], env=env, check=True, capture_output=True)
            res = dict(zip(cmds, json.loads(j.read_text())["results"]))
            base = res["static"]["median"]
            for what, r in res.items():
                print(f"{label:12} {what:6}  mean {r['mean'] * 1000:6.2f} ms  "
                      f"median {r['median'] * 1000:6.2f} ms  sd {r['stddev'] * 1000:5.2f} ms  "
                      f"{r['median'] / base:5.2f}x static  (n={len(r['times'])})")

        for kind in ("ec", "rsa"):
            cp, kp, _, _ = pki.leaf(kind, "pkcs8")
            bench(f"pem-{kind}", T._profile(cp, kp))

        # A key in a SoftHSM2 token and one in an swtpm TPM (tests/keys), when
        # the packages are there.
        keys = ROOT / "tests" / "keys"
        hsm = d / "hsm"
        r = subprocess.run(["sh", str(keys / "mk-softhsm.sh"), str(hsm)], capture_output=True,
                           text=True)
        if r.returncode == 0:
            pub = serialization.load_der_public_key((hsm / "ec.pub.der").read_bytes())
            cert = T._cert_for_public_key(None, pki, pub, "hsm-ec")
            (d / "pin").write_text("1234\n")
            module = (hsm / "module").read_text().strip()
            bench("pkcs11-ec", T._profile(
                cert, "pkcs11:token=cp-test;object=ec;type=private",
                extra=f"credproc_rolesanywhere_pin_file = {d / 'pin'}\n"
                      f"credproc_rolesanywhere_pkcs11_module = {module}\n"),
                {"SOFTHSM2_CONF": str(hsm / "softhsm2.conf")}, hit=False)
        else:
            print(f"pkcs11: skipped ({r.stderr.strip()})")
        tpm = None
        if shutil.which("swtpm"):
            (d / "tpm-state").mkdir()
            port = T.servers.free_port()
            tpm = subprocess.Popen(["swtpm", "socket", "--tpm2", "--server",
                                    f"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl",
                                    f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                                    "--tpmstate", f"dir={d / 'tpm-state'}", "--flags",
                                    "not-need-init,startup-clear"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            tcti = {"TPM2OPENSSL_TCTI": f"swtpm:host=127.0.0.1,port={port}"}
            r = subprocess.run(["sh", str(keys / "mk-swtpm.sh"), str(d / "tpm")],
                               capture_output=True, text=True, env={**os.environ, **tcti})
            if r.returncode == 0:
                pub = serialization.load_pem_public_key((d / "tpm" / "ec.pub.pem").read_bytes())
                cert = T._cert_for_public_key(None, pki, pub, "tpm-ec")
                bench("tpm-ec", T._profile(cert, d / "tpm" / "ec.tss2.pem"), tcti, hit=False)
            else:
                print(f"tpm: skipped ({r.stderr.strip()})")
            tpm.terminate()
            tpm.wait(5)
        else:
            print("tpm: skipped (swtpm is not installed)")
        s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
