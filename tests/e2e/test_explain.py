"""`explain` and `cache clear` (the cache issue): the chain, the endpoint,
the cache file and its remaining lifetime, never a secret; what `cache
clear` removes and the count it prints."""

import json
import os
import re
import time
from pathlib import Path

import servers
from harness import approx, default_session_name
from test_fake_sts import BASE_KEY, ROLE_A, ROLE_B, _static_base, _sts
from test_static_and_roles import _base_profile

ENTRY_RE = re.compile(r"^[0-9a-f]{16}\.json$")


def _entries(d):
    d = Path(d)
    return sorted(p for p in d.iterdir() if ENTRY_RE.match(p.name)) if d.is_dir() else []


def _cache_file(res):
    m = re.search(r"^cache file: (.+)$", res.stdout, re.M)
    assert m, f"explain does not name the cache file:\n{res.stdout}"
    return Path(m.group(1))


def _no_secrets(res, secrets):
    both = res.stdout + res.stderr
    for s in secrets:
        if s and len(s) >= 8:
            assert s not in both, f"explain printed a secret ({s[:4]}…)"


def _explain_ok(t, args, **env):
    r = t.run(["explain", *args], **env)
    assert r.rc == 0, f"explain exit {r.rc}: {r.last_err!r}"
    assert r.stderr == "", f"explain wrote to stderr: {r.stderr!r}"
    assert r.stdout.strip(), "explain printed nothing"
    return r


def test_explain_shows_no_secret(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    mark = m.mark()
    res = t.run(["explain", "--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0, f"explain exit {res.rc}: {res.last_err}"
    both = res.stdout + res.stderr
    assert m.base["SecretAccessKey"] not in both, "explain printed a secret"
    assert "reader" in both and "base" in both, "explain does not show the chain"
    assert m.requests(mark) == [], "explain made requests"
    doc = t.ok(t.run(["--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint))
    res = t.run(["explain", "--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0
    _no_secrets(res, [m.base["SecretAccessKey"], doc["SecretAccessKey"], doc["SessionToken"]])
    assert "next call: cache hit" in res.stdout, res.stdout
    assert len(m.assume_role_requests(mark)) == 1


def test_explain_chain_endpoint_cache_state(t):
    sts = _sts(t)
    t.config(_static_base() +
             f"[profile a]\nrole_arn = {ROLE_A}\nsource_profile = base\n"
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = a\n"
             f"role_session_name = explained\nexternal_id = secret-ish-external-id\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    args = ["--profile", "b"]

    r = _explain_ok(t, args, **env)
    out = r.stdout
    for needle in (ROLE_A, ROLE_B, "'a'", "'b'", "'base'", sts.url, "explained"):
        assert needle in out, f"explain lacks {needle!r}:\n{out}"
    assert out.index(ROLE_A) < out.index(ROLE_B), "chain not in order"
    assert default_session_name() in out, "the default session name of hop a is not shown"
    path = _cache_file(r)
    assert path.parent == t.cache / "aws-credproc" and ENTRY_RE.match(path.name), path
    assert re.search(r"^next call: asks STS", out, re.M), out
    assert "cached credentials: none" in out
    assert sts.since() == [], "explain called STS"
    _no_secrets(r, [BASE_KEY[1], "secret-ish-external-id"])

    doc = t.ok(t.run(args, **env))
    assert len(sts.assume_role_requests()) == 2
    assert _entries(t.cache / "aws-credproc") == [path], "explain named another file"
    r = _explain_ok(t, args, **env)
    m = re.search(r"\((\d+) s left of (\d+) s\)", r.stdout)
    assert m, f"no remaining lifetime:\n{r.stdout}"
    left, life = int(m.group(1)), int(m.group(2))
    assert approx(left, 3600, 30) and approx(life, 3600, 2), (left, life)
    assert doc["Expiration"] in r.stdout, "the expiry time is not shown"
    assert re.search(r"^next call: cache hit", r.stdout, re.M), r.stdout
    assert re.search(r"refresh margin: 1200 s", r.stdout), r.stdout
    secrets = [BASE_KEY[1], "secret-ish-external-id"]
    for c in sts.issued:
        secrets += [c["SecretAccessKey"], c["SessionToken"]]
    _no_secrets(r, secrets)
    assert len(sts.since()) == 2, "explain called STS"

    # inside the margin: 400 s left of 3600
    e = json.loads(path.read_text())
    e["Expiration"] = int(time.time()) + 400
    e["Issued"] = e["Expiration"] - 3600
    path.write_text(json.dumps(e))
    r = _explain_ok(t, args, **env)
    assert re.search(r"^next call: asks STS", r.stdout, re.M), r.stdout
    m = re.search(r"\((\d+) s left of (\d+) s\)", r.stdout)
    assert m and approx(int(m.group(1)), 400, 5) and int(m.group(2)) == 3600, r.stdout
    _no_secrets(r, secrets)
    # --refresh-margin shown and applied
    r = _explain_ok(t, args + ["--refresh-margin", "300"], **env)
    assert re.search(r"^next call: cache hit", r.stdout, re.M), r.stdout
    assert "refresh margin: 300 s" in r.stdout, r.stdout


def test_explain_static_and_no_cache(t):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    r = _explain_ok(t, ["--profile", "base"])
    assert "static" in r.stdout and "base" in r.stdout
    assert "cache file" not in r.stdout
    _no_secrets(r, [BASE_KEY[1]])
    r = _explain_ok(t, ["--profile", "b", "--no-cache"],
                    AWS_ENDPOINT_URL_STS=servers.closed_port_url())
    assert "disabled" in r.stdout
    assert not (t.cache / "aws-credproc").exists() or not os.listdir(t.cache / "aws-credproc")


def test_cache_clear_profile_and_all(t):
    sts = _sts(t)
    t.config(_static_base() +
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"[profile c]\nrole_arn = {ROLE_A}\nsource_profile = base\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    B, C = ["--profile", "b"], ["--profile", "c"]
    d = t.cache / "aws-credproc"
    db = t.ok(t.run(B, **env))
    dc = t.ok(t.run(C, **env))
    pb = _cache_file(_explain_ok(t, B, **env))
    pc = _cache_file(_explain_ok(t, C, **env))
    assert pb != pc and _entries(d) == sorted([pb, pc])

    r = t.run(["cache", "clear", *B], **env)
    assert r.rc == 0 and r.stderr == "", f"cache clear --profile b: exit {r.rc} {r.stderr!r}"
    assert r.stdout == "removed 1 cache entry\n", repr(r.stdout)
    assert _entries(d) == [pc], f"cache clear --profile b left {_entries(d)}"
    assert t.ok(t.run(C, **env))["AccessKeyId"] == dc["AccessKeyId"], "c was cleared too"
    assert len(sts.assume_role_requests()) == 2
    assert t.ok(t.run(B, **env))["AccessKeyId"] != db["AccessKeyId"]
    assert len(sts.assume_role_requests()) == 3, "b was not cleared"

    r = t.run(["cache", "clear", *B], **env)
    assert r.rc == 0 and r.stdout == "removed 1 cache entry\n", repr(r.stdout)
    r = t.run(["cache", "clear", *B], **env)
    assert r.rc == 0 and r.stdout == "removed 0 cache entries\n", repr(r.stdout)
    t.ok(t.run(B, **env))

    (d / "unrelated.txt").write_text("not ours")
    r = t.run(["cache", "clear"])
    assert r.rc == 0 and r.stderr == "", f"cache clear: exit {r.rc} {r.stderr!r}"
    assert r.stdout == "removed 2 cache entries\n", repr(r.stdout)
    left = sorted(os.listdir(d))
    assert left == ["unrelated.txt"], f"cache clear left {left} (or removed a foreign file)"
    r = t.run(["cache", "clear"])
    assert r.rc == 0 and r.stdout == "removed 0 cache entries\n", repr(r.stdout)
    n = len(sts.assume_role_requests())
    t.ok(t.run(C, **env))
    assert len(sts.assume_role_requests()) == n + 1, "c still cached after cache clear"

    # --cache-dir is honoured
    other = t.tmp / "other-cache"
    t.ok(t.run(B + ["--cache-dir", str(other)], **env))
    r = t.run(["cache", "clear", *C, "--cache-dir", str(other)], **env)
    assert r.rc == 0 and r.stdout == "removed 0 cache entries\n", repr(r.stdout)
    r = t.run(["cache", "clear", "--cache-dir", str(other)])
    assert r.rc == 0 and r.stdout == "removed 1 cache entry\n", repr(r.stdout)
    assert _entries(other) == [] and len(_entries(d)) == 1


def test_cache_clear_usage(t):
    t.fail(t.run(["cache"]), 2, "clear")
    t.fail(t.run(["cache", "flush"]), 2)
    t.fail(t.run(["cache", "clear", "extra"]), 2, "extra")


def test_explain_endpoint_override_names_its_source(t):
    # with an endpoint override and no region, explain shows the endpoint
    # really used and where it came from, never "global endpoint"
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    for var, url in (("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000"),
                     ("AWS_ENDPOINT_URL", "http://127.0.0.1:5001")):
        r = t.run(["explain", "--profile", "b"], **{var: url})
        assert r.rc == 0, r.last_err
        assert f"STS endpoint: {url} (from {var})" in r.stdout, r.stdout
        assert "region: none (the configured endpoint is used)" in r.stdout, r.stdout
        assert "global endpoint" not in r.stdout, r.stdout
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             "endpoint_url = http://127.0.0.1:5002\n")
    r = t.run(["explain", "--profile", "b"], AWS_REGION="eu-west-1")
    assert "STS endpoint: http://127.0.0.1:5002 (from the profile's endpoint_url), " \
           "signed for eu-west-1" in r.stdout, r.stdout
