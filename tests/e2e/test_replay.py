"""The smithy-rs end-to-end credential-provider cases, replayed from their
recorded HTTP traffic (conformance data, README section 3b):
credential-chains/smithy-rs/default-credential-provider-chain/ and
profile-provider/, one TAP test per case folder.

How a case becomes a run of the binary:

* Command: `aws-credproc --profile P`, P = the case's AWS_PROFILE, else
  `default`. The binary never reads AWS_PROFILE (DESIGN "Contract": the SDK
  that runs us has it set to the profile whose credential_process runs us),
  so AWS_PROFILE stays in the environment, unread.
* Environment: exactly env.json, plus PATH, AWS_CA_BUNDLE (the test CA),
  AWS_CREDPROC_CACHE_DIR (a fresh directory) and libfaketime's variables.
* Files: fs/ is copied to a temporary directory and the paths that point into
  it are rewritten to that copy: HOME=/home -> <tmp>/fs/home, the *_FILE
  variables (AWS_WEB_IDENTITY_TOKEN_FILE=/token.jwt -> <tmp>/fs/token.jwt, ...)
  and absolute `*_file =` values in the copied config and credentials files.
  No case depends on the literal path (the only place one shows is the
  wording of an error message, which is not compared).
* Network: the binary runs in a user + network + mount namespace made by
  replay_ns.py (`unshare --map-root-user --net --mount`), where lo is the only
  interface and carries 169.254.169.254 (IMDS), 169.254.170.2 (ECS) and
  169.254.170.23 (EKS Pod Identity), and a bind-mounted /etc/hosts maps every
  host name of the recording (sts.us-east-1.amazonaws.com,
  sts-fips.us-east-1.api.aws, aws.global-env-override, ...) and the usual
  STS/SSO hosts to 127.0.0.2, served on 80 (HTTP) and 443 (TLS, a certificate
  of a throw-away CA for those names, trusted through AWS_CA_BUNDLE). No
  switch of the shipped binary is involved.
* Replay: requests must come in the recorded order; each is checked for the
  method, the URI (query compared as a set of pairs) and the `content-type`
  and `x-aws-ec2-metadata-token` headers, as the smithy-rs runner does
  (bodies and signatures are not comparable; of content-type, the media type:
  smithy-rs sends none of the `; charset=utf-8` that botocore and the JS SDK
  send). A match gets the recorded status, headers and body; anything else
  gets a 400 and fails the test with a diff. Every recorded request must have
  been made.
* Time: the recorded Expirations lie in the past, so the binary runs under
  libfaketime (`faketime -m --exclude-monotonic @T`, an external LD_PRELOAD
  tool; the clock runs on from T, the monotonic clock stays real), with T 30
  minutes before the earliest expiry in the case (its expected expiry and
  every Expiration in the recorded replies), else at the recording's first
  Date header. OpenSSL's certificate check sees that time too, hence a CA
  valid 2000-2099.
* Result: `Ok` -> exit 0 and AccessKeyId, SecretAccessKey, SessionToken and
  Expiration (the ISO form of `expiry`) equal to the case's; no expiry and no
  token -> static keys, printed without Expiration or SessionToken.
  `ErrorContains` -> the smithy-rs wording is not required; the exit status
  the DESIGN table gives for that failure (EXIT below, with the reason), an
  empty stdout and an `aws-credproc: ...` last stderr line.

Cases outside the tool's scope are reported as skipped with the reason
(SCOPE below): the default provider chain's own semantics (credentials with
no profile at all, the environment winning over a profile), which the SDK
that runs us applies before it ever runs credential_process. The SSO cases
run like the others. One case runs with an addition to its environment
where DESIGN deliberately differs from smithy-rs in a way the addition
switches off (ADAPT below; shown in the TAP output).

Needs unshare/mount (util-linux), ip (iproute2), faketime and python3's
cryptography; missing packages are installed with apt-get when running as
root. The conformance data lives outside the repository. When the data or a
tool is missing, or namespaces cannot be made, the tests skip with the
reason, and under CI=true that is a failure.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import ipaddress
import json
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import harness
import netns
from harness import Skip

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SUITE = "credential-chains/smithy-rs"
CHAIN = "default-credential-provider-chain"
PROFILE = "profile-provider"

LINK_LOCAL = ["169.254.169.254", "169.254.170.2", "169.254.170.23"]
HOST_ADDR = "127.0.0.2"
# Hosts the binary might call although a recording does not: mapped too, so
# that such a call shows up as an unexpected request instead of a DNS error.
EXTRA_HOSTS = [
    "sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "sts.us-east-2.amazonaws.com",
    "sts.us-west-2.amazonaws.com", "sts.eu-west-1.amazonaws.com",
    "sts-fips.us-east-1.amazonaws.com", "sts-fips.us-east-2.amazonaws.com",
    "sts.us-east-1.api.aws", "sts-fips.us-east-1.api.aws",
    "portal.sso.us-east-1.amazonaws.com", "portal.sso.us-east-2.amazonaws.com",
    "portal.sso-fips.us-east-2.api.aws", "portal.sso.us-west-2.amazonaws.com",
]
PATH_VARS = ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
CHECK_HEADERS = ["content-type", "x-aws-ec2-metadata-token"]
FAKETIME_LEAD = 1800  # seconds before the earliest expiry
RUN_TIMEOUT = 30

# --------------------------------------------------------------------------
# scope: every case folder, in the order of the listing

_DEFAULT_CHAIN = (
    "default chain, no profile to resolve ({what}); aws-credproc resolves only "
    "the profile it is given (DESIGN 'Contract', 'Resolution'), the SDK running "
    "it applies this link itself")

SCOPE = {
    # default-credential-provider-chain/
    (CHAIN, "e2e_fips_and_dual_stack_sso"): "run",
    (CHAIN, "ecs_assume_role"): "run",
    (CHAIN, "ecs_credentials"): _DEFAULT_CHAIN.format(
        what="no config: the container endpoint straight from "
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; as a source: ecs_assume_role"),
    (CHAIN, "ecs_credentials_invalid_profile"): _DEFAULT_CHAIN.format(
        what="no [default], only [profile notdefault]: the chain falls through to "
             "the container endpoint"),
    (CHAIN, "eks_pod_identity_credentials"): _DEFAULT_CHAIN.format(
        what="no config: EKS Pod Identity straight from "
             "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    (CHAIN, "eks_pod_identity_no_token_file"): _DEFAULT_CHAIN.format(
        what="no config: EKS Pod Identity straight from "
             "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    (CHAIN, "environment_variables_blank"): "run",
    (CHAIN, "imds_assume_role"): "run",
    (CHAIN, "imds_config_with_no_creds"): _DEFAULT_CHAIN.format(
        what="[default] holds no credentials, so the chain falls through to IMDS; "
             "here that profile is a config error and IMDS needs credential_source = "
             "Ec2InstanceMetadata; its IMDS exchange is replayed by tests/test-imds.c"),
    (CHAIN, "imds_default_chain_error"): _DEFAULT_CHAIN.format(
        what="empty config: IMDS as the chain's last link; its IMDS exchange is "
             "replayed by tests/test-imds.c"),
    (CHAIN, "imds_default_chain_retries"): _DEFAULT_CHAIN.format(
        what="empty config: IMDS as the chain's last link"),
    (CHAIN, "imds_default_chain_success"): _DEFAULT_CHAIN.format(
        what="empty config: IMDS as the chain's last link; its IMDS exchange is "
             "replayed by tests/test-imds.c"),
    (CHAIN, "imds_disabled"): _DEFAULT_CHAIN.format(
        what="no config: AWS_EC2_METADATA_DISABLED turns off the chain's IMDS link"),
    (CHAIN, "imds_no_iam_role"): "run",
    (CHAIN, "imds_token_fail"): "run",
    (CHAIN, "prefer_environment"): (
        "premise contradicts DESIGN: environment keys beating the profile is the "
        "default chain's order, applied by the SDK before credential_process; "
        "aws-credproc resolves the profile it is given and reads AWS_ACCESS_KEY_ID "
        "only for credential_source = Environment ('Contract', 'Resolution'), so "
        "[default] here means: assume its role from [base]"),
    (CHAIN, "profile_name"): "run",
    (CHAIN, "profile_overrides_web_identity"): "run",
    (CHAIN, "profile_static_keys"): "run",
    (CHAIN, "profile_static_keys_case_insensitive"): "run",
    (CHAIN, "sso_assume_role"): "run",
    (CHAIN, "sso_no_token_file"): "run",
    (CHAIN, "web_identity_source_profile_no_env"): "run",
    (CHAIN, "web_identity_token_env"): _DEFAULT_CHAIN.format(
        what="no config: web identity straight from AWS_WEB_IDENTITY_TOKEN_FILE and "
             "AWS_ROLE_ARN; from a profile: web_identity_token_profile"),
    (CHAIN, "web_identity_token_invalid_jwt"): "run",
    (CHAIN, "web_identity_token_profile"): "run",
    (CHAIN, "web_identity_token_source_profile"): "run",
    # profile-provider/
    (PROFILE, "assume_role_override_global_env_url"): "run",
    (PROFILE, "assume_role_override_global_profile_url"): "run",
    (PROFILE, "assume_role_override_service_env_url"): "run",
    (PROFILE, "assume_role_override_service_profile_url"): "run",
    (PROFILE, "credential_process"): "run",
    (PROFILE, "credential_process_failure"): "run",
    (PROFILE, "credential_process_invalid"): "run",
    (PROFILE, "e2e_assume_role"): "run",
    (PROFILE, "e2e_fips_and_dual_stack_sts"): "run",
    (PROFILE, "empty_config"): "run",
    (PROFILE, "invalid_config"): "run",
    (PROFILE, "region_override"): "run",
    (PROFILE, "retry_on_error"): "run",
    (PROFILE, "sso_credentials"): "run",
    (PROFILE, "sso_override_global_env_url"): "run",
    (PROFILE, "sso_token"): "run",
}

# Cases run with an addition to env.json, and why.
ADAPT = {
    (CHAIN, "imds_token_fail"): (
        {"AWS_EC2_METADATA_V1_DISABLED": "true"},
        "smithy-rs takes a 403 on the token PUT for 'IMDS disabled' and stops; DESIGN "
        "has IMDSv1 fallback unless AWS_EC2_METADATA_V1_DISABLED (botocore, too, falls "
        "back after a 403), so the recording is what the binary must do with the "
        "fallback off"),
}

# ErrorContains cases: the exit status DESIGN's table gives, and why.
EXIT = {
    (CHAIN, "imds_no_iam_role"): (
        3, "IMDS has no role attached (404 on the role list): source credentials "
           "unavailable"),
    (CHAIN, "imds_token_fail"): (
        3, "IMDS answers the token PUT with 403 (IMDS disabled on the instance): "
           "source credentials unavailable"),
    (CHAIN, "profile_overrides_web_identity"): (
        3, "credential_source = Environment with no AWS_ACCESS_KEY_ID/"
           "AWS_SECRET_ACCESS_KEY: source credentials unavailable (the web identity "
           "variables in the environment must not stand in for them)"),
    (CHAIN, "sso_no_token_file"): (
        6, "no cached SSO token: a person must run `aws sso login`, and none can be "
           "asked"),
    (CHAIN, "web_identity_source_profile_no_env"): (
        2, "web_identity_token_file without role_arn in the source profile: invalid "
           "config (AWS_ROLE_ARN of the environment must not complete it)"),
    (CHAIN, "web_identity_token_invalid_jwt"): (
        4, "STS refuses AssumeRoleWithWebIdentity with InvalidIdentityToken"),
    (PROFILE, "credential_process_failure"): (
        3, "the nested credential_process exits 1: source credentials unavailable"),
    (PROFILE, "credential_process_invalid"): (
        3, "the nested credential_process prints invalid JSON: source credentials "
           "unavailable"),
    (PROFILE, "empty_config"): (
        2, "no config and no credentials file, so no profile 'default': unknown profile"),
    (PROFILE, "invalid_config"): (2, "a property line without a name: invalid config"),
    (PROFILE, "sso_token"): (
        2, "an sso_session profile without sso_account_id/sso_role_name yields a "
           "bearer token, not credentials: invalid config for a credential helper"),
}

# --------------------------------------------------------------------------
# prerequisites (netns.py: tools, namespaces, the test CA)

_unavailable = netns.unavailable


def _data_dir():
    env = os.environ.get("AWS_CREDPROC_CONFORMANCE_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "conformance"
    d = base / SUITE
    return d if d.is_dir() else None


def _need_data():
    d = _data_dir()
    if d is None:
        _unavailable("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR); "
                     f"needs {SUITE}/")
    return d


# --------------------------------------------------------------------------
# the case, read


def _load(d: Path):
    env = json.loads((d / "env.json").read_text())
    tc = json.loads((d / "test-case.json").read_text())
    traffic = (json.loads((d / "http-traffic.json").read_text())
               if (d / "http-traffic.json").exists() else {"events": []})
    return env, tc, traffic


def _exchanges(traffic):
    """Recorded requests in order, each with its response."""
    out, by_conn = [], {}
    for ev in traffic.get("events", []):
        conn, action = ev.get("connection_id"), ev.get("action", {})
        if "Request" in action:
            r = action["Request"]["request"]
            ex = {"conn": conn, "method": r["method"], "uri": r["uri"],
                  "headers": {k.lower(): (v[0] if isinstance(v, list) and v else v)
                              for k, v in r.get("headers", {}).items()},
                  "request_body": "", "status": None, "response_headers": [], "body": ""}
            out.append(ex)
            by_conn.setdefault(conn, []).append(ex)
        elif "Response" in action:
            resp = action["Response"]["response"]
            ex = by_conn[conn][-1]
            if "Ok" in resp:
                ex["status"] = resp["Ok"]["status"]
                ex["response_headers"] = [(k, v) for k, vs in resp["Ok"]["headers"].items()
                                          for v in (vs if isinstance(vs, list) else [vs])]
        elif "Data" in action:
            data = action["Data"]
            text = data["data"].get("Utf8", "")
            ex = by_conn[conn][-1]
            if data.get("direction") == "Response":
                ex["body"] += text
            else:
                ex["request_body"] += text
    return out


def _iso(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(s: str):
    try:
        return int(_dt.datetime.fromisoformat(s.strip().replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _expiries(tc, exchanges):
    """Every expiry the case involves, Unix seconds."""
    out = []
    ok = tc["result"].get("Ok") if isinstance(tc["result"], dict) else None
    if ok and ok.get("expiry") is not None:
        out.append(int(ok["expiry"]))
    for ex in exchanges:
        b = ex["body"]
        for m in re.finditer(r'"Expiration"\s*:\s*"([^"]+)"|<Expiration>([^<]+)</Expiration>', b):
            t = _parse_time(m.group(1) or m.group(2))
            if t:
                out.append(t)
        for m in re.finditer(r'"expiration"\s*:\s*(\d+)', b):  # SSO: milliseconds
            out.append(int(m.group(1)) // 1000)
    return out


def _fake_start(tc, exchanges):
    exp = _expiries(tc, exchanges)
    if exp:
        return min(exp) - FAKETIME_LEAD
    for ex in exchanges:
        for k, v in ex["response_headers"]:
            if k.lower() == "date":
                try:
                    return int(email.utils.parsedate_to_datetime(v).timestamp())
                except (TypeError, ValueError):
                    pass
    return None


# --------------------------------------------------------------------------
# files and environment


def _rewrite_files(fs_root: Path, notes):
    """Absolute `*_file = /x` values in the copied config/credentials files
    that name a file of fs/ -> that file in the copy."""
    for p in sorted(fs_root.rglob("*")):
        if not p.is_file() or p.name not in ("config", "credentials"):
            continue
        text = p.read_text()

        def sub(m):
            target = m.group(2)
            if (fs_root / target.lstrip("/")).exists():
                new = str(fs_root / target.lstrip("/"))
                notes.append(f"{p.relative_to(fs_root)}: {m.group(1).strip()} {target} -> {new}")
                return m.group(1) + new
            return m.group(0)

        new_text = re.sub(r"(?m)^(\s*[A-Za-z0-9_]*_file\s*=\s*)(/\S*)", sub, text)
        if new_text != text:
            p.write_text(new_text)


def _env(case_env, fs_root: Path, t, ca, notes):
    env = {}
    for k, v in case_env.items():
        if k in PATH_VARS and isinstance(v, str) and v.startswith("/"):
            new = str(fs_root / v.lstrip("/"))
            notes.append(f"env {k}={v} -> {new}")
            v = new
        env[k] = v
    env["PATH"] = harness.BASE_PATH
    env["AWS_CA_BUNDLE"] = ca
    env["AWS_CREDPROC_CACHE_DIR"] = str(t.cache / "aws-credproc")
    # libfaketime is an LD_PRELOAD: a sanitizer build must not insist on
    # being first in the library list (its checks still run).
    env["ASAN_OPTIONS"] = "verify_asan_link_order=0"
    return env


# --------------------------------------------------------------------------
# the network


def _network(exchanges):
    """Addresses for lo, host names for /etc/hosts, and the listeners."""
    addresses = list(LINK_LOCAL)
    hosts = {h: HOST_ADDR for h in EXTRA_HOSTS}
    listeners = {(HOST_ADDR, 80, "http"), (HOST_ADDR, 443, "https")}
    listeners |= {(a, 80, "http") for a in LINK_LOCAL}
    for ex in exchanges:
        u = urllib.parse.urlsplit(ex["uri"])
        port = u.port or (443 if u.scheme == "https" else 80)
        try:
            ipaddress.ip_address(u.hostname)
            ip = u.hostname
            if ip not in addresses and not ip.startswith("127."):
                addresses.append(ip)
        except ValueError:
            hosts[u.hostname] = HOST_ADDR
            ip = HOST_ADDR
        listeners.add((ip, port, u.scheme))
    return addresses, hosts, [{"ip": i, "port": p, "scheme": s}
                              for i, p, s in sorted(listeners)]


# --------------------------------------------------------------------------
# running and checking


def _secrets(t, tc, exchanges, fs_root):
    ok = tc["result"].get("Ok") if isinstance(tc["result"], dict) else None
    if ok:
        t.secret(ok.get("secret_access_key"))
        t.secret(ok.get("session_token"))
    for ex in exchanges:
        for m in re.finditer(r'"SecretAccessKey"\s*:\s*"([^"]+)"|<SecretAccessKey>([^<]+)<',
                             ex["body"]):
            t.secret(m.group(1) or m.group(2))
    for p in fs_root.rglob("*"):
        if p.is_file() and p.name in ("config", "credentials"):
            for m in re.finditer(r"(?im)^\s*aws_secret_access_key\s*=\s*(\S+)", p.read_text()):
                t.secret(m.group(1))


def _replay(t, group, name):
    data = _need_data()
    d = data / group / name
    assert d.is_dir(), f"case folder {d} is missing"
    tools = netns.prereqs(faketime=True)
    if not tools["ok"]:
        _unavailable(tools["why"])

    case_env, tc, traffic = _load(d)
    exchanges = _exchanges(traffic)
    fs_root = t.tmp / "fs"
    if (d / "fs").is_dir():
        shutil.copytree(d / "fs", fs_root, symlinks=True)
    else:
        fs_root.mkdir()
    notes = []
    _rewrite_files(fs_root, notes)
    addresses, hosts, listeners = _network(exchanges)
    pki = netns.make_pki(t.tmp / "pki", list(hosts), [HOST_ADDR] + addresses)
    env = _env(case_env, fs_root, t, pki["ca"], notes)
    if (group, name) in ADAPT:
        extra, why = ADAPT[(group, name)]
        env.update(extra)
        t.note(f"adapted: added {extra}: {why}", show=True)
    _secrets(t, tc, exchanges, fs_root)
    profile = case_env.get("AWS_PROFILE", "default")
    argv = [t.bin, "--profile", profile]
    fake = _fake_start(tc, exchanges)
    t.note(f"case {group}/{name}: {tc.get('docs', '')}")
    for n in notes:
        t.note("rewritten: " + n)
    t.note(f"faked start time: {_iso(fake) if fake is not None else '(none: real time)'}")

    plan = {
        "work": str(t.tmp), "argv": argv, "env": env, "timeout": RUN_TIMEOUT,
        "faketime": fake, "faketime_bin": tools["faketime"], "ip_command": tools["ip"],
        "addresses": addresses, "hosts": hosts, "listeners": listeners,
        "tls": {"cert": pki["cert"], "key": pki["key"]},
        "exchanges": exchanges, "check_headers": CHECK_HEADERS,
    }
    res_j, _, _ = netns.run_plan(tools, HERE / "replay_ns.py", plan, t.tmp,
                                 timeout=RUN_TIMEOUT + 30)

    shown = {k: v for k, v in env.items() if k not in ("PATH",)}
    shown_cmd = ([tools["faketime"], "-m", "--exclude-monotonic", f"@{fake}"]
                 if fake is not None else []) + argv
    res = harness.Result(shown_cmd, shown, res_j["rc"], res_j["stdout"], res_j["stderr"],
                         res_j["elapsed"], res_j["note"])
    t.runs.append(res)
    for r in res_j["requests"]:
        t.note(f"request: {r['method']} {r['uri']} via {r['listener']} -> {r['outcome']}; "
               f"content-type={r['headers'].get('content-type')!r} "
               f"x-aws-ec2-metadata-token={r['headers'].get('x-aws-ec2-metadata-token')!r}")
    for e in res_j["server_errors"]:
        t.note(f"server error: {e}")
    if res.rc is None:
        raise AssertionError(f"the binary timed out after {RUN_TIMEOUT}s")

    assert not res_j["mismatches"], "replay mismatch:\n  " + "\n  ".join(res_j["mismatches"])

    result = tc["result"]
    if "Ok" in result:
        _check_ok(t, res, result["Ok"])
    else:
        code, why = EXIT[(group, name)]
        t.note(f"expected exit {code}: {why}; smithy-rs says: {result['ErrorContains']!r}",
               show=False)
        t.fail(res, code)
    assert not res_j["unanswered"], \
        "recorded requests never made:\n  " + "\n  ".join(res_j["unanswered"])


def _check_ok(t, res, want):
    static = want.get("expiry") is None and want.get("session_token") is None
    if static:
        doc = t.ok(res, static=True)
    else:
        assert res.rc == 0, f"expected exit 0, got {res.rc}: {res.last_err!r}"
        try:
            doc = json.loads(res.stdout)
        except ValueError as e:
            raise AssertionError(f"stdout is not one JSON document: {e}")
        assert isinstance(doc, dict), "stdout JSON is not an object"
        extra = set(doc) - harness.ALLOWED_KEYS
        assert not extra, f"unexpected keys in output: {sorted(extra)}"
        assert doc.get("Version") == 1 and type(doc.get("Version")) is int, \
            f"Version must be integer 1, got {doc.get('Version')!r}"
        t._no_secret_leak(res, [doc.get("SecretAccessKey"), doc.get("SessionToken")])
    got = {
        "access_key_id": doc.get("AccessKeyId"),
        "secret_access_key": doc.get("SecretAccessKey"),
        "session_token": doc.get("SessionToken"),
        "expiry": doc.get("Expiration"),
    }
    exp = dict(want)
    exp.setdefault("session_token", None)
    exp["expiry"] = _iso(want["expiry"]) if want.get("expiry") is not None else None
    diffs = [f"{k}: want {exp.get(k)!r}, got {got[k]!r}" for k in got if got[k] != exp.get(k)]
    assert not diffs, "credentials differ from the recorded result:\n  " + "\n  ".join(diffs)


# --------------------------------------------------------------------------
# the tests: the inventory first, then one per case folder


def test_inventory(t):
    """Every case folder is classified here (a new upstream case must not be
    silently ignored), and every classified case exists."""
    data = _need_data()
    found = {(g, p.name) for g in (CHAIN, PROFILE) if (data / g).is_dir()
             for p in (data / g).iterdir() if p.is_dir()}
    new = sorted(found - set(SCOPE))
    gone = sorted(set(SCOPE) - found)
    assert not new, f"case folders not classified in test_replay.SCOPE: {new}"
    assert not gone, f"classified case folders missing from the data: {gone}"
    run = sum(1 for v in SCOPE.values() if v == "run")
    t.note(f"{len(SCOPE)} cases: {run} replayed, {len(SCOPE) - run} out of scope", show=True)


def _make(group, name):
    kind = SCOPE[(group, name)]

    def test(t):
        if kind != "run":
            _need_data()
            raise Skip(kind)
        _replay(t, group, name)

    prefix = "chain" if group == CHAIN else "profile"
    test.__name__ = test.__qualname__ = f"test_{prefix}_{name}"
    test.__doc__ = f"replay {group}/{name}"
    return test


for (_g, _n) in SCOPE:
    _fn = _make(_g, _n)
    globals()[_fn.__name__] = _fn
del _g, _n, _fn
