#!/usr/bin/env python3
"""Runs the differential cases of test_differential.py inside a private
network + mount namespace; not collected by run.py.

    unshare --map-root-user --net --mount --propagation private \\
        python3 diff_ns.py PLAN.json RESULT.json

PLAN.json (written by test_differential.py) gives the addresses to put on lo,
the host names to map in a bind-mounted /etc/hosts (every STS host name the
cases can lead to, and the configured endpoints), the TLS certificate (of a
throw-away CA that both sides trust through AWS_CA_BUNDLE), the keys the STS
accepts, the binary, and the cases: each a profile, an environment and a
command line.

Servers, shared by both sides: one recording STS (servers.FakeSts: SigV4
checked against the cases' keys, STS's parameter validation and 1-hour limit
for chained roles, unique credentials per call; here also
AssumeRoleWithWebIdentity, unsigned, and any path under a configured
endpoint) on 443 (TLS) and 80 of the STS address; EC2 instance metadata on
169.254.169.254 and a container credentials endpoint on 169.254.170.2, each
with fixed credentials.

Each case runs our binary, then botocore (`Session(profile=...)
.get_credentials()`, then `get_frozen_credentials()` so that the lazy
refresh makes the STS calls) in a worker process that stays up across cases
(started with `--botocore`; one JSON line per case on stdin, one JSON reply
on the original stdout, which is kept apart from everything botocore or a
credential_process may print). The STS requests made during each run are
attributed to it (the runs are sequential). RESULT.json holds, per case and
side, the outcome and the calls in order: action, form parameters, signing
access key id and scope region, Host, path, the status and error code of the
answer, and the access key id the answer issued.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

import harness  # noqa: E402
import netns  # noqa: E402
import servers  # noqa: E402

BOTOCORE_TIMEOUT = 60  # seconds per case


class RecordingSts(servers.FakeSts):
    """FakeSts plus AssumeRoleWithWebIdentity and any request path."""

    def handle(self, req):
        if req.method == "POST" and req.form.get("Action") == "AssumeRoleWithWebIdentity":
            return self._web_identity(req)
        path = req.path
        req.path = "/"  # a configured endpoint may carry a path; the signature uses raw_path
        try:
            return super().handle(req)
        finally:
            req.path = path

    def _web_identity(self, req):
        form = req.form
        if req.header("authorization") is not None:
            req.note += "signed web identity call; "
        for k in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not form.get(k):
                return self._error(400, "ValidationError",
                                   f"1 validation error detected: Value null at '{k}' "
                                   f"failed to satisfy constraint: Member must not be null")
        name = form["RoleSessionName"]
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", name, re.ASCII):
            return self._error(400, "ValidationError",
                               f"1 validation error detected: Value '{name}' at "
                               f"'roleSessionName' failed to satisfy constraint")
        return self._web_identity_success(req, form["RoleArn"], name, 3600)


def attach(owner, ip, port, tls=None):
    """Another socket (ip:port, TLS if tls=(cert, key)) served by `owner`,
    a servers.LoopbackServer: its requests land in owner.requests."""
    return servers.HttpServer(servers._Handler, host=ip, port=port, tls=tls,
                              owner=owner).start()


_AUTH = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]*)/")
_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_AKID = re.compile(rb"<AccessKeyId>([^<]*)</AccessKeyId>")


def summarize(req):
    m = _AUTH.search(req.header("authorization") or "")
    host = (req.header("host") or "").lower()
    code = _CODE.search(req.reply_body or b"")
    issued = _AKID.search(req.reply_body or b"") if req.status == 200 else None
    return {
        "action": req.form.get("Action"),
        "params": {k: v for k, v in sorted(req.form.items()) if k not in ("Action", "Version")},
        "akid": m.group(1) if m else None,
        "region": m.group(2) if m else None,
        "host": host,
        "path": req.path,
        "status": req.status,
        "code": code.group(1).decode() if code else None,
        "issued": issued.group(1).decode() if issued else None,
        "note": req.note,
    }


class Botocore:
    """The botocore worker process, restarted after a timeout."""

    def __init__(self):
        self.p = None

    def start(self):
        self.p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--botocore"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env={"PATH": harness.BASE_PATH},
                                  start_new_session=True)

    def stop(self):
        if self.p is not None:
            harness._killpg(self.p.pid)
            self.p.wait()
            self.p = None

    def run(self, case):
        if self.p is None:
            self.start()
        self.p.stdin.write((json.dumps(case) + "\n").encode())
        self.p.stdin.flush()
        fd = self.p.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], BOTOCORE_TIMEOUT)
        line = self.p.stdout.readline() if ready else b""
        if not line:
            self.stop()
            return {"ok": False, "error": f"botocore worker gave no answer in "
                                          f"{BOTOCORE_TIMEOUT}s", "timeout": True}
        return json.loads(line)


def botocore_worker():
    """One case per stdin line: {"env", "profile"}; one reply per line on the
    original stdout. fd 1 itself goes to stderr, so that nothing botocore or
    a credential_process prints can corrupt the replies."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import botocore.session

    for line in sys.stdin:
        case = json.loads(line)
        os.environ.clear()
        os.environ.update(case["env"])
        try:
            creds = botocore.session.Session(profile=case["profile"]).get_credentials()
            if creds is None:
                res = {"ok": False, "error": "no credentials"}
            else:
                frozen = creds.get_frozen_credentials()
                res = {"ok": True, "akid": frozen.access_key}
        except Exception as e:  # every failure is an outcome
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}
        proto.write(json.dumps(res) + "\n")
        proto.flush()


def main():
    plan_path, result_path = sys.argv[1], sys.argv[2]
    plan = json.loads(Path(plan_path).read_text())
    work = Path(plan["work"])
    result = {"setup_error": None, "cases": [], "server_errors": []}
    sockets = []
    boto = Botocore()
    sts = None
    try:
        try:
            netns.setup_namespace(plan["ip_command"], plan["addresses"], plan["hosts"], work)
            tls = (plan["tls"]["cert"], plan["tls"]["key"])
            sts = RecordingSts(keys={k: tuple(v) for k, v in plan["keys"].items()})
            for spec in plan["sts_listeners"]:
                sockets.append(attach(sts, spec["ip"], spec["port"],
                                      tls if spec["scheme"] == "https" else None))
            imds = servers.ImdsServer(credentials=plan["imds"]["credentials"],
                                      region=plan["imds"]["region"])
            sockets.append(attach(imds, plan["imds"]["ip"], 80))
            ecs = servers.EcsServer(plan["ecs"]["credentials"], path=plan["ecs"]["path"])
            sockets.append(attach(ecs, plan["ecs"]["ip"], 80))
        except Exception:
            result["setup_error"] = traceback.format_exc()
            return
        for case in plan["cases"]:
            out = {"id": case["id"]}
            mark = sts.mark()
            rc, so, se, note, el = harness.run_clean(case["argv"], case["env"],
                                                     timeout=plan["timeout"], cwd=str(work))
            out["ours"] = {"rc": rc, "stdout": so, "stderr": se[-2000:], "note": note,
                           "elapsed": round(el, 3),
                           "calls": [summarize(r) for r in sts.since(mark)]}
            mark = sts.mark()
            t0 = time.monotonic()
            res = boto.run({"env": case["boto_env"], "profile": case["profile"]})
            res["elapsed"] = round(time.monotonic() - t0, 3)
            res["calls"] = [summarize(r) for r in sts.since(mark)]
            out["botocore"] = res
            result["cases"].append(out)
    finally:
        boto.stop()
        time.sleep(0.05)  # let a handler thread finish its bookkeeping
        owners = []
        for srv in sockets:
            try:
                srv.stop()
            except Exception:
                pass
            if srv.owner not in owners:
                owners.append(srv.owner)
        for owner in owners:
            result["server_errors"] += [f"{type(owner).__name__}: {e}" for e in owner.errors[:5]]
        Path(result_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--botocore"]:
        botocore_worker()
    else:
        main()
