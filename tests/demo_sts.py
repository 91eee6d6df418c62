#!/usr/bin/env python3
"""tests/demo_sts.py WORKDIR - the demo's STS when moto is not installed.

The test suite's FakeSts (tests/e2e/servers.py, standard library only) on a
free loopback port: it recomputes each request's SigV4 signature with the
secret of the access key it issued (refusing a bad one with
SignatureDoesNotMatch, an unknown key with InvalidClientTokenId) and answers
AssumeRole and GetCallerIdentity in STS's XML. It issues one user key, then
writes WORKDIR/setup.json ({endpoint, akid, secret, role}) and serves until
SIGTERM or SIGINT.
"""

import json
import os
import secrets
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
import servers  # noqa: E402


def main():
    work = sys.argv[1]
    akid = "AKIA" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    role = f"arn:aws:iam::{servers.ACCOUNT}:role/report-writer"
    sts = servers.FakeSts(keys={akid: (secret, None)}, verify=True).start()
    stop = lambda *_: sys.exit(0)  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = os.path.join(work, "setup.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"endpoint": sts.url, "akid": akid, "secret": secret, "role": role}, f)
    os.rename(tmp, os.path.join(work, "setup.json"))  # the demo waits for it
    try:
        while True:
            signal.pause()
    finally:
        sts.stop()


if __name__ == "__main__":
    main()
