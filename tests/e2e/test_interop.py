"""Interop: real SDKs reading aws-credproc's output through
`credential_process` for real, then making signed calls that a server
checking SigV4 must accept (DESIGN.md "Behaviour the SDKs force on us").

* AWS CLI v2 (Debian's `awscli`): `configure export-credentials` returns our
  credentials and Expiration; `sts get-caller-identity` signs with them; the
  AWS CLI v1 reads the same cache entry.
* AWS SDK for JavaScript v3 (npm, pinned in js/package-lock.json):
  fromProcess, fromIni and the default chain, STS GetCallerIdentity and S3
  PutObject/GetObject against moto with auth enforced.
* Refresh driven by our Expiration, botocore and JS v3 side by side against a
  FakeSts issuing 30-second credentials and refusing expired ones, with the
  SDKs' refresh windows scaled down to match.

(boto3 and the AWS CLI v1 calling moto are in test_sdk.py.)

Tools that are missing are installed when possible (`apt-get install awscli`
as root, `npm ci` in js/); when they cannot be had the test is skipped with
the reason, and under CI=true that is a failure.
"""

import datetime as _dt
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from harness import Skip, parse_exp, run_clean

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
AWS_V2 = "/usr/bin/aws"
AWS_V1 = os.path.join(os.path.dirname(sys.executable), "aws")

# the refresh test (see test_interop_refresh_botocore_and_js_v3)
LIFETIME = 30          # FakeSts credential lifetime, seconds
MARGIN = 20            # our --refresh-margin; effective min(20, 30/2) = 15 s
BOTO_ADVISORY = 10     # botocore: 900 s advisory ...
BOTO_MANDATORY = 5     # ... and 600 s mandatory, scaled
JS_WINDOW_MS = 5000    # JS v3: 300 000 ms expiry window, scaled
RUN_SECONDS = 70       # one signed call per second per SDK, both SDKs at once

REFRESH_BASE = ("AKIAINTEROPBASE00001", "interop-base-secret-000000000000000001")
REFRESH_ROLE = "arn:aws:iam::222222222222:role/interop-refresh"


# --------------------------------------------------------------------------
# helpers


def _unavailable(reason):
    """A tool the test needs cannot be had: a failure under CI=true, else a skip."""
    if os.environ.get("CI") == "true":
        raise AssertionError(f"{reason} (CI=true: required)")
    raise Skip(reason)


def _host_env(**extra):
    """The runner's own environment (installers need the real PATH, proxies)."""
    env = dict(os.environ)
    env.update(extra)
    return env


def _version(cmd):
    rc, out, err, _, _ = run_clean(cmd, _host_env(), timeout=60)
    return (out.strip() or err.strip()).splitlines()[0] if rc == 0 else None


def _moto_config(t, m):
    """[profile app] runs the binary on [profile app-role] (a role assumed in
    moto from the static keys of [profile base])."""
    return t.config(
        f"[profile app]\ncredential_process = {t.bin} --profile app-role\n"
        f"region = us-east-1\n"
        f"[profile app-role]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
        f"role_session_name = interop\n"
        f"[profile base]\naws_access_key_id = {m.base['AccessKeyId']}\n"
        f"aws_secret_access_key = {m.base['SecretAccessKey']}\n")


def _signed_by(req):
    m = re.search(r"Credential=([^/,\s]+)/", req.header("authorization") or "")
    return m.group(1) if m else None


def _utc(s):
    """An Expiration as an SDK printed it (…Z, …+00:00, .000Z) -> datetime."""
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(
        _dt.timezone.utc)


def _last_json(res):
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


_cli_v2_state = {}


def _cli_v2(t):
    """/usr/bin/aws as AWS CLI v2: installed from Debian when missing (root)."""
    if "path" not in _cli_v2_state:
        _cli_v2_state["path"], _cli_v2_state["why"] = None, None
        if not os.path.exists(AWS_V2):
            if os.geteuid() != 0 or not shutil.which("apt-get"):
                _cli_v2_state["why"] = f"{AWS_V2} missing and not root (apt-get install awscli)"
            else:
                env = _host_env(DEBIAN_FRONTEND="noninteractive")
                cmd = ["apt-get", "install", "-y", "-q", "awscli"]
                rc, out, err, _, _ = run_clean(cmd, env, timeout=900)
                if rc != 0:  # maybe stale package lists
                    run_clean(["apt-get", "update", "-q"], env, timeout=600)
                    rc, out, err, _, _ = run_clean(cmd, env, timeout=900)
                if rc != 0 or not os.path.exists(AWS_V2):
                    tail = (err.strip() or out.strip()).splitlines()[-3:]
                    _cli_v2_state["why"] = f"apt-get install awscli failed: {' | '.join(tail)}"
                else:
                    _cli_v2_state["installed"] = True
        if not _cli_v2_state["why"]:
            v = _version([AWS_V2, "--version"])
            if not v or not v.startswith("aws-cli/2."):
                _cli_v2_state["why"] = f"{AWS_V2} is not the AWS CLI v2 ({v!r})"
            else:
                _cli_v2_state["path"], _cli_v2_state["version"] = AWS_V2, v
    if _cli_v2_state["why"]:
        _unavailable(_cli_v2_state["why"])
    if _cli_v2_state.pop("installed", None):
        t.note("installed the AWS CLI v2 with apt-get install awscli", show=True)
    t.note(f"AWS CLI v2: {_cli_v2_state['version']}", show=True)
    return _cli_v2_state["path"]


_js_state = {}


def _js_installed():
    """Every package of the lockfile is in node_modules at its locked version."""
    try:
        lock = json.loads((JS_DIR / "package-lock.json").read_text())
        for path, meta in lock["packages"].items():
            if not path:
                continue
            pj = JS_DIR / path / "package.json"
            if json.loads(pj.read_text()).get("version") != meta.get("version"):
                return False
        return True
    except (OSError, ValueError, KeyError):
        return False


def _js(t):
    """node (>= 20) with the locked SDK packages in js/node_modules (`npm ci`
    when they are missing). Returns the node executable."""
    if "node" not in _js_state:
        _js_state["node"], _js_state["why"] = None, None
        node, npm = shutil.which("node"), shutil.which("npm")
        v = _version([node, "--version"]) if node else None
        major = int(m.group(1)) if v and (m := re.match(r"v(\d+)\.", v)) else 0
        if major < 20:
            _js_state["why"] = (f"Node.js >= 20 needed for the AWS SDK for JavaScript v3 "
                                f"(node: {v or 'not found'})")
        elif not _js_installed():
            if not npm:
                _js_state["why"] = "npm not found (needed for `npm ci` in tests/e2e/js)"
            else:
                t0 = time.monotonic()
                rc, out, err, note, _ = run_clean(
                    [npm, "ci", "--no-audit", "--no-fund"], _host_env(), timeout=600,
                    cwd=str(JS_DIR))
                if rc != 0 or not _js_installed():
                    lines = (err.strip() or out.strip() or note).splitlines()
                    tail = [l for l in lines if re.search(
                        r"\b(code|errno|network|request to|ETIMEDOUT|ENOTFOUND)\b", l)][:3] \
                        or lines[-3:]
                    _js_state["why"] = (f"`npm ci` in tests/e2e/js failed (exit {rc}; "
                                        f"npm registry unreachable?): {' | '.join(tail)}")
                else:
                    _js_state["installed"] = f"npm ci: {time.monotonic() - t0:.1f}s"
        if not _js_state["why"]:
            _js_state["node"] = node
            lock = json.loads((JS_DIR / "package-lock.json").read_text())["packages"]
            ver = lambda p: lock.get(f"node_modules/{p}", {}).get("version", "?")  # noqa: E731
            _js_state["versions"] = (
                f"JS v3: node {v}; @aws-sdk/client-sts {ver('@aws-sdk/client-sts')}, "
                f"@aws-sdk/client-s3 {ver('@aws-sdk/client-s3')}, "
                f"@aws-sdk/credential-providers {ver('@aws-sdk/credential-providers')} "
                f"(credential-provider-process {ver('@aws-sdk/credential-provider-process')}, "
                f"credential-provider-ini {ver('@aws-sdk/credential-provider-ini')}, "
                f"@aws-sdk/core {ver('@aws-sdk/core')}), @smithy/core {ver('@smithy/core')}")
    if _js_state["why"]:
        _unavailable(_js_state["why"])
    if (installed := _js_state.pop("installed", None)):
        t.note(f"installed the locked JS packages ({installed})", show=True)
    t.note(_js_state["versions"], show=True)
    return _js_state["node"]


def _botocore_versions():
    import boto3
    import botocore

    return f"boto3 {boto3.__version__}, botocore {botocore.__version__}"


# --------------------------------------------------------------------------
# AWS CLI v2


def test_interop_aws_cli_v2_export_credentials(t):
    aws2 = _cli_v2(t)
    m = t.moto
    _moto_config(t, m)
    mark = m.mark()
    ours = t.ok(t.run(["--profile", "app-role"], AWS_ENDPOINT_URL_STS=m.endpoint))
    exp = parse_exp(ours["Expiration"])

    # the CLI runs `aws-credproc --profile app-role`, which hits the cache the
    # run above filled: the very same credentials and Expiration
    for fmt in ([], ["--format", "process"]):
        res = t.run([], cmd=[aws2, "configure", "export-credentials", "--profile", "app",
                             *fmt], AWS_ENDPOINT_URL_STS=m.endpoint, timeout=120)
        assert res.rc == 0, f"aws configure export-credentials {fmt} failed: {res.last_err}"
        got = json.loads(res.stdout)
        assert got.get("Version") == 1, got.get("Version")
        for k in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
            assert got.get(k) == ours[k], f"{k} differs from ours ({fmt or 'default format'})"
        assert "Expiration" in got, f"no Expiration from the CLI: {sorted(got)}"
        assert _utc(got["Expiration"]) == exp, \
            f"Expiration {got['Expiration']!r} != ours {ours['Expiration']!r}"

    res = t.run([], cmd=[aws2, "configure", "export-credentials", "--profile", "app",
                         "--format", "env"], AWS_ENDPOINT_URL_STS=m.endpoint, timeout=120)
    assert res.rc == 0, f"--format env failed: {res.last_err}"
    env = dict(re.findall(r"^export (\w+)=(.*)$", res.stdout, re.M))
    assert env.get("AWS_ACCESS_KEY_ID") == ours["AccessKeyId"], env.keys()
    assert env.get("AWS_SESSION_TOKEN") == ours["SessionToken"]
    assert "AWS_CREDENTIAL_EXPIRATION" in env, f"no expiration exported: {sorted(env)}"
    assert _utc(env["AWS_CREDENTIAL_EXPIRATION"].strip("'\"")) == exp

    # signed calls, through the recording proxy, with those credentials: CLI v2
    # and then CLI v1 (botocore), both running the binary on the same cache
    calls = m.mark()
    res = t.run([], cmd=[aws2, "sts", "get-caller-identity", "--profile", "app",
                         "--endpoint-url", m.endpoint, "--output", "json"],
                AWS_ENDPOINT_URL_STS=m.endpoint, timeout=120)
    assert res.rc == 0, f"aws (v2) sts get-caller-identity failed: {res.last_err}"
    arn = f"arn:aws:sts::{m.account}:assumed-role/reader/interop"
    assert json.loads(res.stdout)["Arn"] == arn, res.stdout
    if os.path.exists(AWS_V1):
        res = t.run([], cmd=[AWS_V1, "sts", "get-caller-identity", "--profile", "app",
                             "--endpoint-url", m.endpoint, "--output", "json"],
                    AWS_ENDPOINT_URL_STS=m.endpoint, timeout=120)
        assert res.rc == 0, f"aws (v1) sts get-caller-identity failed: {res.last_err}"
        assert json.loads(res.stdout)["Arn"] == arn, res.stdout
        t.note(f"AWS CLI v1: {_version([AWS_V1, '--version'])}", show=True)
    gci = [r for r in m.requests(calls) if r.action == "GetCallerIdentity"]
    assert gci and all(r.status == 200 for r in gci), gci
    assert {_signed_by(r) for r in gci} == {ours["AccessKeyId"]}, \
        f"signed with {[_signed_by(r) for r in gci]}, ours is {ours['AccessKeyId']}"
    # one AssumeRole in all: every credential_process run after ours hit the cache
    ars = m.assume_role_requests(mark)
    assert len(ars) == 1 and ars[0].status == 200, ars


# --------------------------------------------------------------------------
# AWS SDK for JavaScript v3


def test_interop_js_v3_from_process_and_from_ini(t):
    node = _js(t)
    m = t.moto
    _moto_config(t, m)
    mark = m.mark()
    res = t.run([], cmd=[node, str(JS_DIR / "interop.mjs"), "app", m.endpoint, m.direct,
                         m.bucket],
                AWS_PROFILE="app", AWS_ENDPOINT_URL_STS=m.endpoint, timeout=120)
    out = _last_json(res)
    assert res.rc == 0 and "error" not in out, f"JS v3 failed: {out}"
    for name in ("fromProcess", "fromIni"):
        c = out[name]
        assert c["accessKeyId"].startswith("ASIA"), f"{name}: {c['accessKeyId']}"
        assert c["sessionToken"] and c["expiration"], f"{name}: no token/expiration"
        t.secret(c["secretAccessKey"])
    # every credential_process run shared one cache entry: one AssumeRole
    ars = m.assume_role_requests(mark)
    assert len(ars) == 1 and ars[0].status == 200, ars
    ours = t.ok(t.run(["--profile", "app-role"], AWS_ENDPOINT_URL_STS=m.endpoint))
    for name in ("fromProcess", "fromIni"):
        c = out[name]
        assert (c["accessKeyId"], c["secretAccessKey"], c["sessionToken"]) == (
            ours["AccessKeyId"], ours["SecretAccessKey"], ours["SessionToken"]), \
            f"{name} credentials differ from ours"
        assert _utc(c["expiration"]) == parse_exp(ours["Expiration"]), \
            f"{name} expiration {c['expiration']} != ours {ours['Expiration']}"
        if "AccountId" in ours:
            assert c["accountId"] == ours["AccountId"], f"{name} accountId {c['accountId']}"
    arn = f"arn:aws:sts::{m.account}:assumed-role/reader/interop"
    assert out["stsArn"] == arn, out["stsArn"]
    assert out["chainArn"] == arn, out["chainArn"]
    assert out["s3Body"] == "written by JS v3", out["s3Body"]
    gci = [r for r in m.requests(mark) if r.action == "GetCallerIdentity"]
    assert len(gci) == 2 and all(r.status == 200 for r in gci), gci
    assert {_signed_by(r) for r in gci} == {ours["AccessKeyId"]}, \
        [_signed_by(r) for r in gci]
    assert all("aws-sdk-js" in (r.header("user-agent", "") + r.header("x-amz-user-agent", ""))
               for r in gci), [r.header("user-agent") for r in gci]


# --------------------------------------------------------------------------
# refresh driven by our Expiration

BOTOCORE_REFRESH = r"""
import json, sys, time
import boto3, botocore
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError

profile, endpoint = sys.argv[1], sys.argv[2]
seconds, advisory, mandatory = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
# credential_process output with an Expiration becomes RefreshableCredentials
# (ProcessProvider); before each request botocore refreshes them when less than
# _advisory_refresh_timeout (15 min) remains, and blocks on the refresh below
# _mandatory_refresh_timeout (10 min). A 30-second credential is always inside
# those windows, so we scale these two class attributes, nothing else.
defaults = [RefreshableCredentials._advisory_refresh_timeout,
            RefreshableCredentials._mandatory_refresh_timeout]
RefreshableCredentials._advisory_refresh_timeout = advisory
RefreshableCredentials._mandatory_refresh_timeout = mandatory

session = boto3.Session(profile_name=profile)
sts = session.client("sts", region_name="us-east-1", endpoint_url=endpoint,
                     config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
creds = session.get_credentials()
calls, errors, keys = 0, [], []
start = time.monotonic()
for i in range(seconds):
    wait = start + i - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    calls += 1
    try:
        sts.get_caller_identity()
    except ClientError as e:
        errors.append({"code": e.response["Error"]["Code"],
                       "message": e.response["Error"].get("Message", "")})
    except Exception as e:
        errors.append({"code": type(e).__name__, "message": str(e)})
    k = creds.get_frozen_credentials().access_key
    if not keys or keys[-1] != k:
        keys.append(k)
print(json.dumps({"defaults": defaults, "type": type(creds).__name__,
                  "method": creds.method, "calls": calls, "ok": calls - len(errors),
                  "errors": errors, "keys": keys}))
"""

def test_interop_fake_sts_refuses_expired_credentials(t):
    """The refresh test below counts on FakeSts(reject_expired=True) refusing
    a call signed with credentials it issued once they have expired."""
    import boto3
    from botocore.exceptions import ClientError

    sts = t.fake_sts(keys={REFRESH_BASE[0]: (REFRESH_BASE[1], None)}, lifetime=2,
                     reject_expired=True)
    base = {"AccessKeyId": REFRESH_BASE[0], "SecretAccessKey": REFRESH_BASE[1]}

    def client(c):
        return boto3.client("sts", endpoint_url=sts.url, region_name="us-east-1",
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c.get("SessionToken"))

    c = client(base).assume_role(RoleArn=REFRESH_ROLE,
                                    RoleSessionName="expiry-check")["Credentials"]
    assert client(c).get_caller_identity()["Arn"].endswith("/interop-refresh/expiry-check")
    time.sleep(max(0.0, (sts.issued[-1]["Expiration"]
                         - _dt.datetime.now(_dt.timezone.utc)).total_seconds()) + 0.2)
    try:
        client(c).get_caller_identity()
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ExpiredToken", e.response["Error"]
    else:
        raise AssertionError("FakeSts accepted expired credentials")
    assert sts.expired_rejections == 1
    # the base (static) keys are never "expired"
    client(base).get_caller_identity()


WRAPPER = """#!/bin/sh
# counts credential_process runs per SDK, then runs aws-credproc itself
tag=$1; shift
echo "$tag $(date +%s.%N)" >> {log}
exec {bin} "$@"
"""


def test_interop_refresh_botocore_and_js_v3(t):
    """Both SDKs, side by side for RUN_SECONDS, one signed GetCallerIdentity a
    second each against a FakeSts issuing LIFETIME-second credentials and
    answering ExpiredToken to anything signed with expired ones. Scaled like
    production (our margin > the SDKs' windows, so every refresh an SDK asks
    for gets credentials it will not want to refresh at once): our margin
    min(MARGIN, LIFETIME/2) = 15 s, botocore 10 s advisory / 5 s mandatory,
    JS v3 5 s. Expect zero errors, several keys per SDK, and far fewer
    credential_process runs than calls."""
    node = _js(t)
    t.note(f"botocore: {_botocore_versions()}", show=True)
    sts = t.fake_sts(keys={REFRESH_BASE[0]: (REFRESH_BASE[1], None)}, lifetime=LIFETIME,
                     reject_expired=True)
    t.secret(REFRESH_BASE[1])
    log = t.tmp / "credential_process.log"
    log.touch()
    wrap = t.tmp / "credproc-counting"
    wrap.write_text(WRAPPER.format(log=log, bin=t.bin))
    wrap.chmod(0o755)
    cp = f"{wrap} {{}} --profile app-role --refresh-margin {MARGIN}"
    t.config(f"[profile py]\ncredential_process = {cp.format('py')}\n"
             f"[profile js]\ncredential_process = {cp.format('js')}\n"
             f"[profile app-role]\nrole_arn = {REFRESH_ROLE}\nsource_profile = base\n"
             f"role_session_name = interop-refresh\nregion = us-east-1\n"
             f"[profile base]\naws_access_key_id = {REFRESH_BASE[0]}\n"
             f"aws_secret_access_key = {REFRESH_BASE[1]}\n")
    script = t.tmp / "refresh_botocore.py"
    script.write_text(BOTOCORE_REFRESH)

    py_res, js_res = t.run_many(
        [[sys.executable, str(script), "py", sts.url, str(RUN_SECONDS),
          str(BOTO_ADVISORY), str(BOTO_MANDATORY)],
         [node, str(JS_DIR / "refresh.mjs"), "js", sts.url, str(RUN_SECONDS),
          str(JS_WINDOW_MS)]],
        timeout=RUN_SECONDS + 60, AWS_ENDPOINT_URL_STS=sts.url)
    assert py_res.rc == 0, f"botocore loop failed: {py_res.last_err}"
    assert js_res.rc == 0, f"JS v3 loop failed: {js_res.last_err}"
    py, js = _last_json(py_res), _last_json(js_res)

    # the server's view: who signed what, and nothing expired
    gci = [r for r in sts.since() if r.action == "GetCallerIdentity"]
    by_sdk = {"py": [], "js": [], "?": []}
    for r in gci:
        ua = (r.header("user-agent", "") + " " + r.header("x-amz-user-agent", "")).lower()
        by_sdk["js" if "aws-sdk-js" in ua else "py" if "botocore" in ua else "?"].append(r)
    assert not by_sdk.pop("?"), "GetCallerIdentity from neither SDK"
    issued = [c["AccessKeyId"] for c in sts.issued]
    runs = {"py": 0, "js": 0}
    for line in log.read_text().split("\n"):
        if line.split(" ")[0] in runs:
            runs[line.split(" ")[0]] += 1
    summary = {
        sdk: {"calls": len(reqs), "refused": sum(r.status != 200 for r in reqs),
              "keys": [issued.index(k) if k in issued else k
                       for k in dict.fromkeys(_signed_by(r) for r in reqs)],
              "credential_process runs": runs[sdk]}
        for sdk, reqs in by_sdk.items()}
    t.note(f"refresh over {RUN_SECONDS}s: {len(issued)} AssumeRole (lifetime {LIFETIME}s, "
           f"margin min({MARGIN}, {LIFETIME // 2})); botocore {summary['py']}; "
           f"JS v3 {summary['js']} (keys: index of issue)", show=True)

    assert sts.expired_rejections == 0, \
        f"{sts.expired_rejections} requests signed with expired credentials"
    assert py["errors"] == [] and js["errors"] == [], \
        f"SDK errors: botocore {len(py['errors'])} {py['errors'][:2]}, " \
        f"JS v3 {len(js['errors'])} {js['errors'][:2]}"
    # what we scaled is what the SDKs use (a new SDK version may change it)
    assert py["defaults"] == [900, 600], f"botocore's windows changed: {py['defaults']}"
    assert js["sdkDefaultWindowMs"] == 300000, f"JS v3's window changed: {js}"
    assert (py["type"], py["method"]) == ("RefreshableCredentials", "custom-process"), \
        (py["type"], py["method"])
    for sdk, res in (("py", py), ("js", js)):
        s = summary[sdk]
        assert res["calls"] == res["ok"] >= RUN_SECONDS - 2, f"{sdk}: {res['ok']} calls ok"
        assert s["calls"] == res["calls"] and s["refused"] == 0, f"{sdk}: {s}"
        # several refreshes, each to freshly issued credentials
        assert len(s["keys"]) >= 3, f"{sdk}: only {len(s['keys'])} access keys used: {s}"
        assert all(isinstance(k, int) for k in s["keys"]), f"{sdk}: unknown keys {s}"
        # run a few times, not on every call
        assert 3 <= runs[sdk] <= len(s["keys"]) + 3, \
            f"{sdk}: credential_process ran {runs[sdk]} times for {len(s['keys'])} keys"
    assert len(js["fetched"]) == runs["js"], (len(js["fetched"]), runs["js"])
    # our binary refreshed only when its margin said so, and the SDKs shared
    # the cache: every issued key was used, about one issue per 15-20 s
    ars = sts.assume_role_requests()
    assert all(r.status == 200 for r in ars), ars
    assert 3 <= len(issued) <= RUN_SECONDS // (LIFETIME // 2) + 2, \
        f"{len(issued)} AssumeRole calls in {RUN_SECONDS}s"
    used = set(summary["py"]["keys"]) | set(summary["js"]["keys"])
    assert used == set(range(len(issued))), f"issued {len(issued)}, used {sorted(used)}"
