"""Trust boundaries of the cache (DESIGN.md "The cache"): an entry answers
only for its exact source and endpoint, a refusal is never hidden by a
cached entry, a stuck lock holder does not fail a caller that has a valid
entry, a killed writer leaves no credentials behind, and stdout comes first.
"""

import base64
import datetime as dt
import fcntl
import json
import os
import re
import subprocess
import time
from pathlib import Path

import servers
from harness import run_clean
from test_cache import P, _age, _cache_dir, _cfg, _entry_path, _explain, _lines, _requests, _warnings
from test_fake_sts import BASE_KEY, ROLE_B, _static_base, _sts
from test_web_identity import WebIdentitySts

IMDS_KEY = {"AccessKeyId": "ASIAIMDSTRUST0000001", "SecretAccessKey": "imds-trust-secret-1",
            "Token": "imds-trust-session-token-1"}
ALICE = ("AKIAALICE00000000001", "alice-secret-0123456789")
MALLORY = ("AKIAMALLORY000000001", "mallory-secret-0123456789")


def _imds_sts(t):
    """A loopback IMDS (region eu-west-3) and an STS that accepts its keys."""
    creds = dict(IMDS_KEY, Expiration=servers.utcnow() + dt.timedelta(hours=6))
    imds = t.imds(credentials=creds, region="eu-west-3")
    return imds, {IMDS_KEY["AccessKeyId"]: (IMDS_KEY["SecretAccessKey"], IMDS_KEY["Token"])}


# --------------------------------------------------------------------------
# 1. the key covers every endpoint input, also when the region comes from IMDS


def test_trust_key_endpoint_override_with_imds_region(t):
    """One run with AWS_ENDPOINT_URL_STS at a hostile STS must not plant
    credentials that a run with another endpoint setting prints."""
    imds, keys = _imds_sts(t)
    hostile = t.fake_sts(keys=keys)
    good = t.fake_sts(keys=keys)
    base = (f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
            f"role_session_name = trust\n")
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}
    t.config(base)
    planted = t.ok(t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=hostile.url, **env))
    assert planted["AccessKeyId"] == hostile.issued[-1]["AccessKeyId"]
    variants = [
        ("AWS_ENDPOINT_URL", base, {"AWS_ENDPOINT_URL": good.url}),
        ("endpoint_url", base + f"endpoint_url = {good.url}\n", {}),
        ("[services]", base + "services = mine\n[services mine]\nsts =\n"
                              f"  endpoint_url = {good.url}\n", {}),
    ]
    for what, cfg, extra in variants:
        t.config(cfg)
        n = len(good.assume_role_requests())
        doc = t.ok(t.run(["--profile", "ec2"], **env, **extra))
        assert doc["AccessKeyId"] != planted["AccessKeyId"], \
            f"with {what} the credentials planted through AWS_ENDPOINT_URL_STS came from the cache"
        assert len(good.assume_role_requests()) == n + 1, f"with {what} the configured STS was not asked"
        ars = good.assume_role_requests()[-1]
        assert ars.sig["region"] == "eu-west-3", f"{what}: signed for {ars.sig['region']}"


def test_trust_key_every_endpoint_input_names_its_own_entry(t):
    """explain names a different cache file for each endpoint input, IMDS
    region or not."""
    imds, _ = _imds_sts(t)
    for region_line in ("", "region = eu-west-1\n"):
        base = (f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
                f"{region_line}")
        variants = [
            (base, {}),
            (base, {"AWS_ENDPOINT_URL_STS": "https://sts.example.test"}),
            (base, {"AWS_ENDPOINT_URL": "https://all.example.test"}),
            (base + "endpoint_url = https://profile.example.test\n", {}),
            (base + "services = s\n[services s]\nsts =\n  endpoint_url = https://svc.example.test\n", {}),
            (base, {"AWS_USE_FIPS_ENDPOINT": "true"}),
            (base + "use_dualstack_endpoint = true\n", {}),
            (base, {"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}),
            (base + "use_fips_endpoint = true\n", {}),
            (base, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.2:1"}),
        ]
        names = []
        for cfg, env in variants:
            t.config(cfg)
            env.setdefault("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
            names.append(_entry_path(t, ["--profile", "ec2"], **env).name)
        dup = {n for n in names if names.count(n) > 1}
        assert not dup, f"{region_line or 'no region'}: endpoint inputs share cache files: {names}"


def test_trust_explain_names_the_endpoint_really_used(t):
    imds, _ = _imds_sts(t)
    t.config(f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n")
    r = _explain(t, ["--profile", "ec2"], AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
                 AWS_ENDPOINT_URL_STS="https://sts.override.example.test")
    line = [l for l in r.stdout.splitlines() if l.startswith("STS endpoint:")]
    assert line and "https://sts.override.example.test" in line[0], r.stdout
    assert "AWS_ENDPOINT_URL_STS" in line[0], line[0]


# --------------------------------------------------------------------------
# 2. the key says who the source is


def _keys_profile(akid, secret):
    return f"[profile base]\naws_access_key_id = {akid}\naws_secret_access_key = {secret}\n"


def test_trust_key_static_source_identity(t):
    """alice's role session is never served to a config holding mallory's keys."""
    sts = t.fake_sts(keys={ALICE[0]: (ALICE[1], None)})
    role = f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\nrole_session_name = same\n"
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    t.config(_keys_profile(*ALICE) + role)
    alice = t.ok(t.run(P, **env))
    t.config(_keys_profile(*MALLORY) + role)
    t.fail(t.run(P + ["--no-cache"], **env), 4)
    r = t.run(P, **env)
    assert r.stdout.find(alice["SecretAccessKey"]) < 0, "alice's session was printed for mallory's keys"
    t.fail(r, 4)
    # alice again: still cached
    t.config(_keys_profile(*ALICE) + role)
    n = _requests(sts)
    assert t.ok(t.run(P, **env))["AccessKeyId"] == alice["AccessKeyId"]
    assert _requests(sts) == n


def test_trust_key_environment_source_identity(t):
    sts = t.fake_sts(keys={ALICE[0]: (ALICE[1], None)})
    t.config(f"[profile b]\nrole_arn = {ROLE_B}\ncredential_source = Environment\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    alice = t.ok(t.run(P, AWS_ACCESS_KEY_ID=ALICE[0], AWS_SECRET_ACCESS_KEY=ALICE[1], **env))
    r = t.run(P, AWS_ACCESS_KEY_ID=MALLORY[0], AWS_SECRET_ACCESS_KEY=MALLORY[1], **env)
    assert alice["SecretAccessKey"] not in r.stdout
    t.fail(r, 4)


def _jwt(claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(claims)}.c2lnbmF0dXJl"


def test_trust_key_web_identity_token_identity(t):
    """Two tokens (different sub) in the same file get two entries; the same
    identity in a rotated token is a hit; the key file holds no token."""
    pod_a = _jwt({"iss": "https://oidc.example.test", "sub": "system:serviceaccount:a:job",
                  "aud": ["sts.amazonaws.com"], "exp": 4102444800})
    pod_a2 = _jwt({"iss": "https://oidc.example.test", "sub": "system:serviceaccount:a:job",
                   "aud": ["sts.amazonaws.com"], "exp": 4102444900})
    pod_b = _jwt({"iss": "https://oidc.example.test", "sub": "system:serviceaccount:b:job",
                  "aud": "sts.amazonaws.com", "exp": 4102444800})
    sts = WebIdentitySts(tokens=(pod_a, pod_a2, pod_b)).start()
    t._servers.append(sts)
    for tok in (pod_a, pod_a2, pod_b):
        t.secret(tok)
    token = t.tmp / "token"
    t.config(f"[profile w]\nrole_arn = {ROLE_B}\nweb_identity_token_file = {token}\n"
             "role_session_name = pod\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    token.write_text(pod_a)
    a = t.ok(t.run(["--profile", "w"], **env))
    token.write_text(pod_b)
    b = t.ok(t.run(["--profile", "w"], **env))
    assert b["AccessKeyId"] != a["AccessKeyId"], "pod b was served pod a's session from the cache"
    assert len(sts.web_requests) == 2
    token.write_text(pod_a2)
    assert t.ok(t.run(["--profile", "w"], **env))["AccessKeyId"] == a["AccessKeyId"], \
        "a rotated token of the same identity missed the cache"
    assert len(sts.web_requests) == 2
    for f in _cache_dir(t).iterdir():
        text = f.read_text(errors="replace")
        for tok in (pod_a, pod_a2, pod_b):
            assert tok not in text and tok.split(".")[1] not in text, f"{f.name} holds a token"


def _cached(t):
    """A role profile with one entry in the cache: (sts, env, doc, entry path)."""
    sts = _sts(t)
    _cfg(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    doc = t.ok(t.run(P, **env))
    return sts, env, doc, _entry_path(t, **env)


# --------------------------------------------------------------------------
# 3. stale-if-error is for transport failures only


def test_trust_refusal_with_valid_cached_entry_exits_4(t):
    sts, env, d1, p = _cached(t)
    for code, status in (("AccessDenied", 403), ("InvalidClientTokenId", 403),
                         ("ExpiredToken", 400)):
        _age(p, 900)  # inside the 1200 s margin, 15 min left
        sts.queue_error(status, code, f"{code} for this test", times=5)
        r = t.run(P, **env)
        sts.queue.clear()
        t.fail(r, 4, code)
        assert d1["SecretAccessKey"] not in r.stdout


# --------------------------------------------------------------------------
# 4. a stuck lock holder


def _hold_lock(t, entry):
    lock = entry.with_name(entry.name.replace(".json", ".lock"))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"999999\n")
    t.on_cleanup(lambda: os.close(fd))
    return fd


def test_trust_stuck_lock_holder_serves_valid_entry(t):
    sts, env, d1, p = _cached(t)
    exp = _age(p, 900)
    _hold_lock(t, p)
    n = _requests(sts)
    r = t.run(P + ["--timeout", "3"], timeout=60, **env)
    d = t.ok(r)
    assert d["AccessKeyId"] == d1["AccessKeyId"], "not the cached credentials"
    assert int(dt.datetime.strptime(d["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=dt.timezone.utc).timestamp()) == exp
    assert _requests(sts) == n, "STS was called without the lock"
    w = _warnings(r)
    assert w and re.search(r"lock", w[-1], re.I) and re.search(r"cached", w[-1], re.I), _lines(r)
    # the wait was bounded by --timeout, not by a fixed 45 s
    assert r.elapsed < t.within(6), f"the lock wait took {r.elapsed:.1f}s with --timeout 3"

    # under 5 minutes left: the lock timeout is the error (exit 5)
    _age(p, 200)
    r = t.run(P + ["--timeout", "3"], timeout=60, **env)
    t.fail(r, 5, "lock")
    assert r.elapsed < t.within(6), f"the lock wait took {r.elapsed:.1f}s with --timeout 3"


# --------------------------------------------------------------------------
# 9. a killed writer's temp file


def test_trust_dead_writers_temp_removed_at_next_miss(t):
    sts = _sts(t)
    _cfg(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    d1 = t.ok(t.run(P, **env))
    d = _cache_dir(t)
    stem = "0123456789abcdef"
    dead = d / f".{stem}.4000000.00112233445566ff.tmp"
    live = d / f".{stem}.4000001.00112233445566aa.tmp"
    for f in (dead, live):
        f.write_text(json.dumps({"AccessKeyId": "ASIAWRITERGONE000001",
                                 "SecretAccessKey": d1["SecretAccessKey"]}))
        os.chmod(f, 0o600)
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer that is still alive
    t.on_cleanup(lambda: os.close(fd))
    _age(_entry_path(t, **env), 600)  # the next call is a miss
    t.ok(t.run(P, **env))
    assert not dead.exists(), "the temp file of a dead writer survived the next miss"
    assert live.exists(), "the temp file of a live writer was removed"


# --------------------------------------------------------------------------
# 10. stdout first


def _merged(t, args, **env):
    """Run as aws-c-auth did before 0.7.29: stdout and stderr on one pipe."""
    e = t.env(**env)
    p = subprocess.run([t.bin, *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace")


def test_trust_stdout_before_warnings(t):
    sts = _sts(t)
    sts.lifetime = 600  # short-lived: the "expire in" warning
    _cfg(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    rc, out = _merged(t, P, **env)
    assert rc == 0, out
    assert out.startswith("{"), f"the merged output does not start with the JSON: {out[:120]!r}"
    doc, end = json.JSONDecoder().raw_decode(out)
    assert doc["AccessKeyId"]
    assert "warning" in out[end:], f"no warning after the document: {out!r}"

    # stale-if-error: the warning comes after the document too
    _age(_entry_path(t, **env), 900)
    sts.stop()
    rc, out = _merged(t, P, **env)
    assert rc == 0, out
    assert out.startswith("{"), f"the merged output does not start with the JSON: {out[:120]!r}"
    _, end = json.JSONDecoder().raw_decode(out)
    assert re.search(r"warning:.*cached", out[end:]), out


def test_trust_key_holds_no_url_userinfo(t):
    """An endpoint URL with a password: the cache entry's key names the
    endpoint without it."""
    sts = _sts(t)
    _cfg(t)
    url = sts.url.replace("http://", "http://keyuser:keysecretpass@")
    t.secret("keysecretpass")
    t.ok(t.run(P, AWS_ENDPOINT_URL_STS=url))
    ents = list(_cache_dir(t).glob("*.json"))
    assert ents, "nothing cached"
    for p in ents:
        assert "keysecretpass" not in p.read_text(), f"{p.name} holds the URL's password"
