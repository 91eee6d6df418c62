"""`aws-credproc exec -- COMMAND`: COMMAND runs with a loopback credentials
endpoint of ours (AWS_CONTAINER_CREDENTIALS_FULL_URI and
AWS_CONTAINER_AUTHORIZATION_TOKEN), the old credential variables removed,
signals forwarded and its exit status passed through; `--env-only` sets the
variables instead.

The soak (test_exec_soak_boto3_and_js_v3): a boto3 job and a JS v3 job, each
under its own `exec`, side by side, one signed STS GetCallerIdentity a second
each for SOAK_SECONDS (180; CREDPROC_EXEC_SOAK_SECONDS overrides) with
60-second credentials. Those come from the suite's loopback STS (FakeSts),
not moto: STS's DurationSeconds minimum is 900 and our --duration-seconds
keeps it, and moto never answers ExpiredToken; FakeSts issues 60-second
credentials, checks SigV4 and answers `400 ExpiredToken` to anything signed
with expired ones, as STS does. It runs once, in the ordinary e2e phase
(skipped for a sanitizer build: it measures time, not memory).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import Skip

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"

AKID, SECRET = "AKIAE2EEXEC000000001", "e2e-exec-static-secret-0001"
REMOVED = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
           "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID", "AWS_PROFILE",
           "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
           "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME"]


def _static(t):
    t.secret(SECRET)
    t.credentials(f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n")
    t.config("")


PROBE = r"""
import json, os, sys, urllib.request, urllib.error
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
tok = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
def get(u, method="GET", auth=None):
    r = urllib.request.Request(u, method=method, data=b"" if method == "POST" else None)
    if auth is not None:
        r.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
out = {"url": url, "env": {k: v for k, v in os.environ.items() if k.startswith("AWS_")},
       "right": get(url, auth=tok), "missing": get(url), "wrong": get(url, auth=tok[:-1] + "x"),
       "short": get(url, auth=tok[:8]), "path": get(url + "x", auth=tok),
       "post": get(url, method="POST", auth=tok)}
print(json.dumps(out))
sys.exit(int(sys.argv[1]))
"""


def _probe(t, rc=0, **env):
    script = t.tmp / "probe.py"
    script.write_text(PROBE)
    res = t.run(["exec", "--", sys.executable, str(script), str(rc)], **env)
    assert res.rc == rc, f"exit {res.rc}, not {rc}: {res.stderr}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_exec_endpoint_token_path_method(t):
    _static(t)
    out = _probe(t, 3)
    st, doc = out["right"]
    assert st == 200, out["right"]
    assert doc["AccessKeyId"] == AKID and doc["SecretAccessKey"] == SECRET, doc
    assert set(doc) <= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId"}
    assert doc["Expiration"].endswith("Z"), doc
    for k in ("missing", "wrong", "short"):
        assert out[k][0] == 403, (k, out[k])
        assert SECRET not in json.dumps(out[k])
    assert out["path"][0] == 404, out["path"]
    assert out["post"][0] == 405, out["post"]
    url = out["url"]
    assert url.startswith("http://127.0.0.1:"), url
    # the endpoint died with COMMAND
    host, port = url[len("http://"):].split("/")[0].split(":")
    s = socket.socket()
    try:
        s.settimeout(5)
        try:
            s.connect((host, int(port)))
            raise AssertionError("the endpoint still accepts connections after COMMAND exited")
        except ConnectionRefusedError:
            pass
    finally:
        s.close()


def test_exec_old_variables_removed(t):
    _static(t)
    env = {k: "stale-" + k.lower() for k in REMOVED}
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://169.254.170.23/old"
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "old-token"
    env["AWS_REGION"] = "eu-west-3"
    # AWS_PROFILE is ignored by us; AWS_ACCESS_KEY_ID etc. are not our profile
    out = _probe(t, 0, **env)
    got = out["env"]
    for k in REMOVED:
        assert k not in got, f"{k} left in COMMAND's environment"
    assert got["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == out["url"] != env[
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert got["AWS_CONTAINER_AUTHORIZATION_TOKEN"] != "old-token"
    assert len(got["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) == 64
    assert got["AWS_REGION"] == "eu-west-3"
    assert out["right"][0] == 200


def test_exec_exit_status(t):
    _static(t)
    for cmd, rc in ((["true"], 0), (["sh", "-c", "exit 3"], 3),
                    (["sh", "-c", "kill -TERM $$"], 128 + 15),
                    (["sh", "-c", "kill -KILL $$"], 128 + 9)):
        res = t.run(["exec", "--", *cmd])
        assert res.rc == rc, f"{cmd}: exit {res.rc}, not {rc}: {res.stderr}"
        assert res.stderr == "", res.stderr


def test_exec_not_found_and_not_executable(t):
    _static(t)
    res = t.run(["exec", "--", "no-such-command-e2e"])
    t.fail(res, 127, "no-such-command-e2e", "not found")
    f = t.tmp / "not-executable"
    f.write_text("#!/bin/sh\nexit 0\n")
    f.chmod(0o644)
    res = t.run(["exec", "--", str(f)])
    t.fail(res, 126, str(f))


def test_exec_usage(t):
    _static(t)
    t.fail(t.run(["exec"]), 2, "exec", "--")
    t.fail(t.run(["exec", "--"]), 2, "exec", "--")
    t.fail(t.run(["--env-only"]), 2, "--env-only", "exec")
    # a profile named exec is not the command: COMMAND is not silently dropped
    t.fail(t.run(["--profile", "exec", "--", "true"]), 2, "unexpected argument", "true")


def test_exec_fails_fast_without_credentials(t):
    """No credentials: our usual status, COMMAND never started."""
    _static(t)
    mark = t.tmp / "ran"
    res = t.run(["--profile", "absent", "exec", "--", "touch", str(mark)])
    t.fail(res, 2, "absent")
    assert not mark.exists()


SIGNAL_CHILD = r"""
import os, signal, sys, time
got = []
for s in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT, signal.SIGWINCH):
    signal.signal(s, lambda n, f: got.append(n))
open(sys.argv[1], "w").write(str(os.getpid()))
deadline = time.time() + 20
while len(got) < 4 and time.time() < deadline:
    time.sleep(0.05)
print(" ".join(signal.Signals(n).name for n in got))
sys.exit(7)
"""


def _start(t, args, env=None):
    return subprocess.Popen([t.bin, *args], env=t.env(**(env or {})), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_file(p, proc, secs=20):
    deadline = time.monotonic() + secs
    while not (p.exists() and p.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"COMMAND did not start (exit {proc.poll()})")
        time.sleep(0.05)


def test_exec_signals_forwarded(t):
    _static(t)
    script = t.tmp / "sig.py"
    script.write_text(SIGNAL_CHILD)
    ready = t.tmp / "ready"
    p = _start(t, ["exec", "--", sys.executable, str(script), str(ready)])
    try:
        _wait_file(ready, p)
        for s in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT, signal.SIGWINCH):
            os.kill(p.pid, s)
            time.sleep(0.2)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 7, (p.returncode, err)
    assert out.decode().split() == ["SIGUSR1", "SIGHUP", "SIGINT", "SIGWINCH"], out

    # SIGTERM to us: COMMAND dies of it, and so says our status
    ready2 = t.tmp / "ready2"
    p = _start(t, ["exec", "--", "sh", "-c", f'echo $$ > "{ready2}"; exec sleep 30'])
    try:
        _wait_file(ready2, p)
        os.kill(p.pid, signal.SIGTERM)
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 128 + 15, p.returncode


def test_exec_env_only(t):
    _static(t)
    env = {k: "stale" for k in REMOVED}
    res = t.run(["--env-only", "exec", "--", "sh", "-c", "env | grep '^AWS_' | sort"], **env)
    assert res.rc == 0, res.stderr
    got = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert got["AWS_ACCESS_KEY_ID"] == AKID and got["AWS_SECRET_ACCESS_KEY"] == SECRET
    assert "AWS_SESSION_TOKEN" not in got and "AWS_PROFILE" not in got
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in got
    assert "warning" in res.stderr and "--env-only" in res.stderr, res.stderr


def test_exec_env_only_role_names_expiry(t):
    m = t.moto
    t.config(f"[profile app]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"[profile base]\naws_access_key_id = {m.base['AccessKeyId']}\n"
             f"aws_secret_access_key = {m.base['SecretAccessKey']}\n")
    res = t.run(["--profile", "app", "exec", "--env-only", "--", "sh", "-c",
                 "env | grep '^AWS_' | sort"], AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0, res.stderr
    got = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert got["AWS_ACCESS_KEY_ID"].startswith("ASIA") and got["AWS_SESSION_TOKEN"]
    exp = got["AWS_CREDENTIAL_EXPIRATION"]
    assert exp in res.stderr and "not be refreshed" in res.stderr, res.stderr
    t.secret(got["AWS_SECRET_ACCESS_KEY"])


def test_exec_round_trip_through_container_source(t):
    """Our endpoint's document is what our own EcsContainer source reads: a
    role (chained) assumed in moto from the session credentials that `exec`
    serves for another role."""
    m = t.moto
    t.config(f"[profile base]\naws_access_key_id = {m.base['AccessKeyId']}\n"
             f"aws_secret_access_key = {m.base['SecretAccessKey']}\n"
             f"[profile app]\nrole_arn = {m.roles['instance-role']}\nsource_profile = base\n"
             f"[profile task]\nrole_arn = {m.roles['chained']}\n"
             f"credential_source = EcsContainer\nrole_session_name = via-exec\n")
    res = t.run(["--profile", "app", "exec", "--", t.bin, "--profile", "task", "--no-cache"],
                AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0, res.stderr
    doc = json.loads(res.stdout)
    t.secret(doc["SecretAccessKey"])
    assert m.client("sts", doc).get_caller_identity()["Arn"].endswith("/chained/via-exec")


# --------------------------------------------------------------------------
# the soak

SOAK_LIFETIME = 60
SOAK_SECONDS = int(os.environ.get("CREDPROC_EXEC_SOAK_SECONDS") or 180)
SOAK_ROLE = "arn:aws:iam::123456789012:role/exec-soak"
SOAK_BASE = ("AKIAE2EEXECSOAK00001", "e2e-exec-soak-base-secret")

BOTO3_SOAK = r"""
import json, sys, time, boto3
from botocore.exceptions import ClientError
ep, seconds = sys.argv[1], int(sys.argv[2])
s = boto3.Session()  # the default chain: the container provider finds us
sts = s.client("sts", endpoint_url=ep, region_name="us-east-1",
               config=boto3.session.Config(retries={"max_attempts": 1}))
calls = ok = 0
errors, keys = {}, []
start = time.monotonic()
for i in range(seconds):
    wait = start + i - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    calls += 1
    try:
        sts.get_caller_identity()
        ok += 1
        k = s.get_credentials().get_frozen_credentials().access_key
        if k not in keys:
            keys.append(k)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        errors[code] = errors.get(code, 0) + 1
    except Exception as e:
        errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
print(json.dumps({"calls": calls, "ok": ok, "errors": errors, "keys": keys,
                  "method": s.get_credentials().method}))
"""


def _node(t):
    """node with the locked AWS SDK for JavaScript v3 packages: test_interop's
    check, which runs `npm ci` in tests/e2e/js when they are missing (a clean
    clone has no node_modules) and skips, or fails under CI=true, when they
    cannot be had."""
    import test_interop
    return test_interop._js(t)


def test_exec_soak_boto3_and_js_v3(t):
    needed = subprocess.run(["readelf", "-d", t.bin], capture_output=True, text=True).stdout
    if "libasan" in needed or "libubsan" in needed:
        raise Skip("the soak runs once, in the ordinary build's phase")
    node = _node(t)
    sts = t.fake_sts(keys={SOAK_BASE[0]: (SOAK_BASE[1], None)}, lifetime=SOAK_LIFETIME,
                     reject_expired=True)
    t.secret(SOAK_BASE[1])
    t.config(f"[profile app]\nrole_arn = {SOAK_ROLE}\nsource_profile = base\n"
             f"role_session_name = exec-soak\nregion = us-east-1\n"
             f"[profile base]\naws_access_key_id = {SOAK_BASE[0]}\n"
             f"aws_secret_access_key = {SOAK_BASE[1]}\n")
    script = t.tmp / "soak.py"
    script.write_text(BOTO3_SOAK)
    base = [t.bin, "--profile", "app", "exec", "--"]
    py_res, js_res = t.run_many(
        [base + [sys.executable, str(script), sts.url, str(SOAK_SECONDS)],
         base + [node, str(JS_DIR / "exec-soak.mjs"), sts.url, str(SOAK_SECONDS)]],
        timeout=SOAK_SECONDS + 120, AWS_ENDPOINT_URL_STS=sts.url)
    assert py_res.rc == 0, f"boto3 job failed: {py_res.stderr[-2000:]}"
    assert js_res.rc == 0, f"JS v3 job failed: {js_res.stderr[-2000:]}"
    py = json.loads(py_res.stdout.strip().splitlines()[-1])
    js = json.loads(js_res.stdout.strip().splitlines()[-1])
    issued = [c["AccessKeyId"] for c in sts.issued]
    fig = {}
    for name, r in (("boto3", py), ("JS v3", js)):
        fig[name] = {"calls": r["calls"], "ok": r["ok"],
                     "refreshes": max(0, len(r["keys"]) - 1), "keys": len(r["keys"]),
                     "ExpiredToken": r["errors"].get("ExpiredToken", 0),
                     "errors": r["errors"]}
    t.note(f"exec soak, {SOAK_SECONDS}s, {SOAK_LIFETIME}-second credentials, both jobs at "
           f"once: {len(issued)} AssumeRole in all; "
           + "; ".join(f"{n}: {f['calls']} calls, {f['ok']} ok, {f['refreshes']} refreshes "
                       f"({f['keys']} access keys), {f['ExpiredToken']} ExpiredToken"
                       for n, f in fig.items())
           + f"; server-side ExpiredToken answers: {sts.expired_rejections}", show=True)
    assert py.get("method") == "container-role", py
    assert sts.expired_rejections == 0
    for n, f in fig.items():
        assert f["ExpiredToken"] == 0 and not f["errors"], (n, f)
        assert f["ok"] == f["calls"] >= SOAK_SECONDS - 2, (n, f)
        # 60-second credentials, renewed with 30 s left: one key per ~30 s
        assert f["keys"] >= SOAK_SECONDS // 60, (n, f)
