"""The on-disk cache, seen from outside (DESIGN.md "The cache", "Behaviour
the SDKs force on us"): STS call counts, the reuse window, tampered and
hostile entries, permissions (as an unprivileged user), stale-if-error,
crash safety, unusable directories, locations, the cache key, valgrind.

Time is never faked: short lifetimes come from FakeSts (`lifetime=`) and the
tests sleep a few seconds; "aged" entries are made by editing the Issued /
Expiration numbers of an entry the binary wrote (the Key text stays intact).
"""

import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from harness import Skip, parse_exp, run_clean
from test_fake_sts import BASE_KEY, ROLE_A, ROLE_B, _static_base, _sts
from test_static_and_roles import _base_profile

NOBODY = 65534
ENTRY_RE = re.compile(r"^[0-9a-f]{16}\.json$")
WARN = "aws-credproc: warning: "
PLANTED = {"AccessKeyId": "ASIAPLANTEDATTACKER1",
           "SecretAccessKey": "planted-attacker-secret-0123456789abcdef",
           "SessionToken": "planted-attacker-session-token-0123456789abcdef"}
P = ["--profile", "b"]


# --------------------------------------------------------------------------
# helpers


def _cfg(t, extra=""):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"role_session_name = cached\n{extra}")


def _cache_dir(t):
    return t.cache / "aws-credproc"


def _files(d):
    out = []
    for root, dirs, files in os.walk(d):
        for f in files:
            out.append(os.path.join(root, f))
    return out


def _entries(d):
    d = Path(d)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if ENTRY_RE.match(p.name))


def _lines(res):
    return [l for l in res.stderr.splitlines() if l.strip()]


def _warnings(res):
    return [l for l in _lines(res) if l.startswith(WARN)]


def _one_cache_warning(res, *needles):
    """stderr is exactly one warning line, about the cache, mentioning needles."""
    lines = _lines(res)
    assert len(lines) == 1, f"expected exactly one warning line on stderr, got {len(lines)}: {lines}"
    w = lines[0]
    assert w.startswith(WARN), f"stderr line is not a warning: {w!r}"
    assert "cache" in w.lower(), f"warning does not say it is about the cache: {w!r}"
    for n in needles:
        assert n.lower() in w.lower(), f"warning lacks {n!r}: {w!r}"
    return w


def _requests(sts):
    return len(sts.assume_role_requests())


def _explain(t, args=P, **env):
    r = t.run(["explain", *args], **env)
    assert r.rc == 0, f"explain: exit {r.rc}: {r.last_err!r}"
    return r


def _entry_path(t, args=P, **env):
    """The entry file of args, as explain names it."""
    r = _explain(t, args, **env)
    m = re.search(r"^cache file: (.+)$", r.stdout, re.M)
    assert m, f"explain does not name the cache file:\n{r.stdout}"
    return Path(m.group(1))


def _load(p):
    return json.loads(Path(p).read_text())


def _store(p, doc_or_bytes, mode=0o600):
    """Atomically replace the file p (temp file + rename, like a writer)."""
    p = Path(p)
    tmp = p.parent / ".e2e-edit.tmp"
    data = doc_or_bytes if isinstance(doc_or_bytes, bytes) else json.dumps(doc_or_bytes).encode()
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, p)


def _age(p, left, lifetime=3600):
    """Make the entry at p look issued `lifetime` s before its expiry, with
    `left` seconds of life remaining now. Returns the new Expiration."""
    e = _load(p)
    e["Expiration"] = int(time.time()) + left
    e["Issued"] = e["Expiration"] - lifetime
    _store(p, e)
    return e["Expiration"]


def _sleep_until(epoch):
    d = epoch - time.time()
    if d > 0:
        time.sleep(d)


def _epoch(doc):
    return int(parse_exp(doc["Expiration"]).timestamp())


def _same_creds(a, b):
    return all(a.get(k) == b.get(k) for k in
               ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"))


def _issued_doc(sts, i=-1):
    c = sts.issued[i]
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "SessionToken": c["SessionToken"]}


def _assert_safe_files(d):
    """Every file in the cache dir: regular, no group/other access."""
    for f in _files(d):
        m = os.lstat(f)
        assert stat.S_ISREG(m.st_mode), f"{f} is not a regular file"
        assert stat.S_IMODE(m.st_mode) & 0o077 == 0, f"{f} mode {oct(m.st_mode)}"


# --------------------------------------------------------------------------
# 1. hits


def test_cache_hit_skips_sts(t):
    sts = _sts(t)
    _cfg(t)
    r1 = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    d1 = t.ok(r1)
    assert r1.stderr == "", f"a plain miss wrote to stderr: {r1.stderr!r}"
    r2 = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    d2 = t.ok(r2)
    assert r2.stderr == "", f"a hit wrote to stderr: {r2.stderr!r}"
    assert _requests(sts) == 1, f"{_requests(sts)} STS calls: the second run did not use the cache"
    assert d1["AccessKeyId"] == sts.issued[0]["AccessKeyId"]
    assert _same_creds(d1, d2), "the hit printed other credentials than the miss"
    assert d1["Expiration"] == d2["Expiration"]
    assert len(sts.since()) == 1, "the hit made some other request"
    d = _cache_dir(t)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, f"cache dir mode {oct(os.stat(d).st_mode)}"
    _assert_safe_files(d)
    ents = _entries(d)
    assert len(ents) == 1, f"expected one entry, found {[p.name for p in ents]}"
    assert stat.S_IMODE(ents[0].stat().st_mode) == 0o600
    assert ents[0] == _entry_path(t, AWS_ENDPOINT_URL_STS=sts.url), "explain names another file than the one written"
    raw = ents[0].read_text()
    e = json.loads(raw)
    assert e["Format"] == 1 and isinstance(e["Key"], str) and e["Key"]
    assert e["AccessKeyId"] == d1["AccessKeyId"]
    assert e["Expiration"] == _epoch(d1), (e["Expiration"], d1["Expiration"])
    assert isinstance(e["Issued"], int) and abs(e["Issued"] - time.time()) < 30, e["Issued"]
    # The key names the source by its access key id (DESIGN.md "The cache"),
    # never by its secret.
    assert BASE_KEY[1] not in raw, "the source secret is stored in the entry"
    assert f"source-key-id={BASE_KEY[0]}" in e["Key"].splitlines(), \
        "the cache key text does not name the source's access key id"
    for f in _files(d):
        assert d1["SecretAccessKey"] not in os.path.basename(f)


# --------------------------------------------------------------------------
# 2. stampede


def test_cache_stampede_64_one_assume_role(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"role_session_name = stampede\n")
    mark = m.mark()
    # hold the request 1 s in the proxy: all 64 start while it is in flight
    m.proxy.delay = 1.0
    try:
        res = t.spawn_many(64, ["--profile", "reader"], timeout=90,
                           AWS_ENDPOINT_URL_STS=m.endpoint)
    finally:
        m.proxy.delay = 0.0
    docs = [t.ok(r) for r in res]
    n = len(m.assume_role_requests(mark))
    assert n == 1, f"{n} AssumeRole requests reached moto from 64 processes starting together"
    assert len(m.requests(mark)) == 1, \
        f"{len(m.requests(mark))} requests in all reached moto: {m.requests(mark)[:5]}"
    assert all(r.status == 200 for r in m.requests(mark))
    distinct = {json.dumps(d, sort_keys=True) for d in docs}
    assert len(distinct) == 1, f"{len(distinct)} different credential documents among 64"
    t.note(f"fastest of 64: {min(r.elapsed for r in res):.2f}s, "
           f"slowest: {max(r.elapsed for r in res):.2f}s")



# --------------------------------------------------------------------------
# 3. the reuse window


def test_cache_reuse_window_short_lifetime(t):
    """lifetime 8 s: effective margin min(1200, 4) = 4 s."""
    sts = _sts(t, lifetime=8)
    _cfg(t)
    r1 = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    d1 = t.ok(r1)
    assert r1.stderr.strip(), "no warning that fresh credentials live only seconds"
    assert re.search(r"expire", r1.stderr, re.I), r1.stderr
    exp = _epoch(d1)
    ex = _explain(t, AWS_ENDPOINT_URL_STS=sts.url)
    assert re.search(r"refresh margin: 4 s", ex.stdout), ex.stdout
    assert "next call: cache hit" in ex.stdout, ex.stdout
    r2 = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    d2 = t.ok(r2)
    assert r2.stderr == "", f"a hit wrote to stderr: {r2.stderr!r}"
    assert _requests(sts) == 1 and _same_creds(d1, d2), "immediate second call was not a hit"
    _sleep_until(exp - 5 + 0.15)  # 5 s left >= margin 4
    d3 = t.ok(t.run(P, AWS_ENDPOINT_URL_STS=sts.url))
    assert _requests(sts) == 1 and _same_creds(d1, d3), \
        "refreshed with 5 s left of 8 (margin is 4 s)"
    _sleep_until(exp - 3 + 0.15)  # 3 s left < margin 4
    r4 = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    d4 = t.ok(r4)
    assert _requests(sts) == 2, f"{_requests(sts)} STS calls: no refresh with 3 s left of 8"
    assert d4["AccessKeyId"] == sts.issued[1]["AccessKeyId"] != d1["AccessKeyId"]
    assert _epoch(d4) > exp


def test_cache_margin_capped_at_half_lifetime(t):
    """margin = min(configured, lifetime/2): lifetime 3600 + --refresh-margin
    3590 -> 1800, a hit; lifetime 100 + default 1200 -> 50, a hit at once."""
    sts = _sts(t)
    _cfg(t)
    big = ["--refresh-margin", "3590"]
    t.ok(t.run(P + big, AWS_ENDPOINT_URL_STS=sts.url))
    d = t.ok(t.run(P + big, AWS_ENDPOINT_URL_STS=sts.url))
    assert _requests(sts) == 1, "--refresh-margin 3590 with 3600 s credentials: not a hit"
    ex = _explain(t, P + big, AWS_ENDPOINT_URL_STS=sts.url)
    assert "refresh margin: 1800 s" in ex.stdout and "next call: cache hit" in ex.stdout, ex.stdout
    sts.lifetime = 100
    p2 = ["--role-arn", ROLE_B, "--source-profile", "base", "--role-session-name", "short"]
    r = t.run(p2, AWS_ENDPOINT_URL_STS=sts.url)
    d1 = t.ok(r)
    d2 = t.ok(t.run(p2, AWS_ENDPOINT_URL_STS=sts.url))
    assert _requests(sts) == 2, "100 s credentials with the default margin were not reused"
    assert _same_creds(d1, d2) and d1["AccessKeyId"] != d["AccessKeyId"]
    ex = _explain(t, p2, AWS_ENDPOINT_URL_STS=sts.url)
    assert re.search(r"refresh margin: 50 s", ex.stdout), ex.stdout


def test_cache_half_lifetime_rule_and_margin_settings(t):
    """lifetime 20 s: with the default margin (1200) the credentials are
    reused for ~10 s (half the lifetime), not 0; --refresh-margin and
    credproc_refresh_margin are honoured, the flag over the profile key."""
    sts = _sts(t, lifetime=20)
    t.config(_static_base() +
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\nrole_session_name = s-b\n"
             f"[profile c]\nrole_arn = {ROLE_B}\nsource_profile = base\nrole_session_name = s-c\n"
             f"credproc_refresh_margin = 3\n")
    B, C = ["--profile", "b"], ["--profile", "c"]
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    db = t.ok(t.run(B, **env))
    dc = t.ok(t.run(C, **env))
    assert _requests(sts) == 2
    assert _same_creds(db, t.ok(t.run(B, **env))), "20 s credentials not reused at once (half-life rule)"
    assert _same_creds(dc, t.ok(t.run(C, **env)))
    assert _requests(sts) == 2, "20 s credentials were refreshed at once"
    exp = max(_epoch(db), _epoch(dc))
    _sleep_until(exp - 13 + 0.15)  # 12-13 s left >= 10
    assert _same_creds(db, t.ok(t.run(B, **env))), "refreshed with 12 s left of 20 (margin 10)"
    assert _requests(sts) == 2
    _sleep_until(exp - 7 + 0.15)  # 6-7 s left: < 10 (default), >= 3 (configured)
    r = t.run(B + ["--refresh-margin", "3"], **env)
    assert _same_creds(db, t.ok(r)) and _requests(sts) == 2, "--refresh-margin 3 not honoured"
    r = t.run(C, **env)
    assert _same_creds(dc, t.ok(r)) and _requests(sts) == 2, "credproc_refresh_margin = 3 not honoured"
    r = t.run(C + ["--refresh-margin", "1200"], **env)
    d = t.ok(r)
    assert _requests(sts) == 3 and d["AccessKeyId"] != dc["AccessKeyId"], \
        "--refresh-margin 1200 did not override credproc_refresh_margin = 3"
    r = t.run(B, **env)
    d = t.ok(r)
    assert _requests(sts) == 4 and d["AccessKeyId"] != db["AccessKeyId"], \
        "default margin: no refresh with ~6 s left of 20 (half-life margin 10)"


def test_cache_refresh_margin_invalid(t):
    sts = _sts(t)
    _cfg(t)
    for v in ("-1", "abc", "43201", "1.5", ""):
        t.fail(t.run(P + ["--refresh-margin", v], AWS_ENDPOINT_URL_STS=sts.url), 2,
               "refresh-margin")
    _cfg(t, "credproc_refresh_margin = soon\n")
    t.fail(t.run(P, AWS_ENDPOINT_URL_STS=sts.url), 2, "credproc_refresh_margin")
    assert _requests(sts) == 0


# --------------------------------------------------------------------------
# 4. tampered entries


def _planted_entry(good, **over):
    e = dict(good)
    for k in ("AccountId",):
        e.pop(k, None)
    e.update(PLANTED)
    e["Expiration"] = int(time.time()) + 7200
    e["Issued"] = int(time.time()) - 60
    e.update(over)
    return e


def _tamper_empty(t, p, good):
    p.write_bytes(b"")


def _tamper_truncated(t, p, good):
    raw = p.read_bytes()
    p.write_bytes(raw[:len(raw) // 2])


def _tamper_garbage(t, p, good):
    p.write_bytes(b"\x00\xff garbage {not json" + random.Random(7).randbytes(300))


def _tamper_types_strings(t, p, good):
    e = _planted_entry(good, Expiration="2099-01-01T00:00:00Z", Issued="yesterday")
    p.write_text(json.dumps(e))


def _tamper_types_not_strings(t, p, good):
    e = _planted_entry(good, Format="1", AccessKeyId=12345, SecretAccessKey=["x"],
                       SessionToken={"a": 1})
    p.write_text(json.dumps(e))


def _tamper_array(t, p, good):
    p.write_text(json.dumps([_planted_entry(good)]))


def _tamper_format2(t, p, good):
    p.write_text(json.dumps(_planted_entry(good, Format=2)))


def _tamper_oversized(t, p, good):
    p.write_text(json.dumps(_planted_entry(good, Padding="x" * (70 * 1024))))
    assert p.stat().st_size > 64 * 1024


def _tamper_symlink(t, p, good):
    target = t.tmp / "planted.json"
    target.write_text(json.dumps(_planted_entry(good)))
    os.chmod(target, 0o600)
    p.unlink()
    os.symlink(target, p)


def _tamper_directory(t, p, good):
    p.unlink()
    p.mkdir(mode=0o700)


def _tamper_fifo(t, p, good):
    p.unlink()
    os.mkfifo(p, 0o600)


def _tamper_other_key(t, p, good):
    p.write_text(json.dumps(_planted_entry(
        good, Key=good["Key"] + "profile=attacker\n")))


TAMPER = [
    ("empty", _tamper_empty, True),
    ("truncated", _tamper_truncated, True),
    ("garbage", _tamper_garbage, True),
    ("wrong_types_strings", _tamper_types_strings, True),
    ("wrong_types_not_strings", _tamper_types_not_strings, True),
    ("json_array", _tamper_array, True),
    ("format_2", _tamper_format2, True),
    ("oversized", _tamper_oversized, True),
    ("symlink_to_planted", _tamper_symlink, True),
    ("directory", _tamper_directory, False),
    ("fifo", _tamper_fifo, False),
    ("other_key", _tamper_other_key, True),
]


def _check_tamper(t, tamper, replaceable):
    sts = _sts(t)
    _cfg(t)
    for s in PLANTED.values():
        t.secret(s)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    d1 = t.ok(t.run(P, **env))
    p = _entry_path(t, **env)
    assert p.is_file(), f"{p} (named by explain) does not exist"
    good = _load(p)
    tamper(t, p, good)
    planted_target = (t.tmp / "planted.json").read_bytes() \
        if (t.tmp / "planted.json").exists() else None

    # explain: reads the bad entry, must not hang, must not show it as a hit
    ex = t.run(["explain", *P], timeout=10, **env)
    assert ex.rc == 0, f"explain on a bad entry: exit {ex.rc}: {ex.last_err!r}"
    assert "next call: asks STS" in ex.stdout, f"explain on a bad entry:\n{ex.stdout}"
    for s in PLANTED.values():
        assert s not in ex.stdout + ex.stderr, "explain shows the planted credentials"

    r = t.run(P, timeout=10, **env)
    d2 = t.ok(r)
    assert _requests(sts) == 2, f"{_requests(sts)} STS calls: the bad entry was not a miss"
    assert d2["AccessKeyId"] == sts.issued[1]["AccessKeyId"], "printed something not fresh from STS"
    for s in PLANTED.values():
        assert s not in r.stdout + r.stderr, "the planted credentials were printed"
    assert d2["AccessKeyId"] != d1["AccessKeyId"]
    if planted_target is not None:
        assert (t.tmp / "planted.json").read_bytes() == planted_target, \
            "the symlink target was written through"
    if replaceable:
        _one_cache_warning(r, p.name)
        assert p.is_file() and not p.is_symlink(), "the bad entry was not replaced"
        assert stat.S_IMODE(p.lstat().st_mode) == 0o600
        assert _load(p)["AccessKeyId"] == d2["AccessKeyId"]
        r3 = t.run(P, **env)
        d3 = t.ok(r3)
        assert r3.stderr == "", f"the replaced entry still warns: {r3.stderr!r}"
        assert _requests(sts) == 2 and _same_creds(d2, d3), "the replaced entry is not a hit"
    else:
        w = _warnings(r)
        assert w and len(w) == len(_lines(r)), f"expected warnings only: {_lines(r)}"
        assert any(p.name in l and "cache" in l.lower() for l in w), \
            f"no warning names the cache entry {p.name}: {w}"
        r3 = t.run(P, timeout=10, **env)
        t.ok(r3)
        for s in PLANTED.values():
            assert s not in r3.stdout + r3.stderr
    _assert_safe_files_except(_cache_dir(t), p)


def _assert_safe_files_except(d, bad):
    for f in _files(d):
        if Path(f) == bad or Path(f).parent == bad:
            continue
        m = os.lstat(f)
        assert stat.S_ISREG(m.st_mode) and stat.S_IMODE(m.st_mode) & 0o077 == 0, \
            f"{f}: mode {oct(m.st_mode)}"


def _make_tamper_test(name, fn, replaceable):
    def test(t):
        _check_tamper(t, fn, replaceable)
    test.__name__ = test.__qualname__ = f"test_cache_tamper_{name}"
    test.__doc__ = f"entry tampered: {name}"
    return test


for _name, _fn, _repl in TAMPER:
    globals()[f"test_cache_tamper_{_name}"] = _make_tamper_test(_name, _fn, _repl)
del _name, _fn, _repl


# --------------------------------------------------------------------------
# 4b. permissions, as an unprivileged user (root ignores modes)


class Nobody:
    """A HOME, cache dir and config for uid/gid 65534, outside the runner's
    0700 work directory; the binary runs through setpriv."""

    def __init__(self, t):
        if os.geteuid() != 0:
            raise Skip("needs root to switch to uid 65534")
        if not shutil.which("setpriv"):
            raise Skip("setpriv (util-linux) not installed")
        self.t = t
        self.base = Path(tempfile.mkdtemp(prefix="credproc-e2e-nobody-"))
        t.on_cleanup(lambda: shutil.rmtree(self.base, ignore_errors=True))
        os.chmod(self.base, 0o755)
        self.home = self.base / "home"
        self.home.mkdir(mode=0o700)
        os.chown(self.home, NOBODY, NOBODY)
        self.cache = self.home / "cache"
        self.config = self.base / "config"

    def write_config(self, text):
        self.config.write_text(text)
        os.chmod(self.config, 0o644)

    def mkcache(self, mode=0o700, uid=NOBODY):
        self.cache.mkdir(mode=mode)
        os.chmod(self.cache, mode)
        os.chown(self.cache, uid, uid)

    def run(self, args, **extra):
        t = self.t
        cmd = ["/usr/bin/setpriv" if os.path.exists("/usr/bin/setpriv") else shutil.which("setpriv"),
               f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", t.bin, *args]
        env = dict(HOME=self.home, XDG_CACHE_HOME=self.home / ".cache",
                   AWS_CREDPROC_CACHE_DIR=self.cache, AWS_CONFIG_FILE=self.config,
                   AWS_SHARED_CREDENTIALS_FILE=self.base / "credentials")
        env.update(extra)
        r = t.run([], cmd=cmd, **env)
        if r.rc == 126 or "ermission denied" in r.stderr and "setpriv" in r.stderr:
            raise AssertionError(f"uid {NOBODY} cannot run {t.bin}: {r.stderr!r}")
        return r


def _nobody(t):
    nb = Nobody(t)
    sts = _sts(t)
    nb.write_config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
                    f"role_session_name = nobody\n")
    for s in PLANTED.values():
        t.secret(s)
    return nb, sts


def _nobody_replaced(t, nb, sts, r, n_before):
    """r: the run after planting a refused entry."""
    d = t.ok(r)
    assert _requests(sts) == n_before + 1, "the refused entry was used (no STS call)"
    assert d["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    for s in PLANTED.values():
        assert s not in r.stdout + r.stderr, "planted credentials printed"
    ents = _entries(nb.cache)
    assert len(ents) == 1
    _one_cache_warning(r, ents[0].name)
    st = ents[0].lstat()
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o600, \
        f"entry not replaced by a good one: uid {st.st_uid} mode {oct(st.st_mode)}"
    r2 = nb.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    assert _same_creds(d, t.ok(r2)) and _requests(sts) == n_before + 1 and r2.stderr == "", \
        "the replaced entry is not a hit"


def _nobody_populated(t):
    nb, sts = _nobody(t)
    nb.mkcache()
    d = t.ok(nb.run(P, AWS_ENDPOINT_URL_STS=sts.url))
    ents = _entries(nb.cache)
    assert len(ents) == 1, f"uid {NOBODY} wrote no entry: {_files(nb.cache)}"
    assert ents[0].stat().st_uid == NOBODY
    return nb, sts, ents[0], d


def test_cache_perm_entry_owned_by_other_user_readable(t):
    nb, sts, p, d = _nobody_populated(t)
    _store(p, _planted_entry(_load(p)), mode=0o644)
    os.chown(p, 0, 0)
    _nobody_replaced(t, nb, sts, nb.run(P, AWS_ENDPOINT_URL_STS=sts.url), 1)


def test_cache_perm_entry_owned_by_other_user_unreadable(t):
    nb, sts, p, d = _nobody_populated(t)
    _store(p, _planted_entry(_load(p)), mode=0o600)
    os.chown(p, 0, 0)
    _nobody_replaced(t, nb, sts, nb.run(P, AWS_ENDPOINT_URL_STS=sts.url), 1)


def test_cache_perm_entry_world_writable(t):
    nb, sts, p, d = _nobody_populated(t)
    _store(p, _planted_entry(_load(p)), mode=0o666)
    os.chown(p, NOBODY, NOBODY)
    os.chmod(p, 0o666)
    _nobody_replaced(t, nb, sts, nb.run(P, AWS_ENDPOINT_URL_STS=sts.url), 1)


def test_cache_perm_entry_group_writable(t):
    nb, sts, p, d = _nobody_populated(t)
    _store(p, _planted_entry(_load(p)), mode=0o620)
    os.chown(p, NOBODY, NOBODY)
    os.chmod(p, 0o620)
    _nobody_replaced(t, nb, sts, nb.run(P, AWS_ENDPOINT_URL_STS=sts.url), 1)


def _uncached(t, nb, sts, mode, uid):
    nb.mkcache(mode=mode, uid=uid)
    for i in (1, 2):
        r = nb.run(P, AWS_ENDPOINT_URL_STS=sts.url)
        t.ok(r)
        _one_cache_warning(r, str(nb.cache))
        assert _requests(sts) == i, "an insecure cache dir was used"
    assert _files(nb.cache) == [], f"files written to a refused cache dir: {_files(nb.cache)}"
    st = os.stat(nb.cache)
    assert stat.S_IMODE(st.st_mode) == mode and st.st_uid == uid, \
        f"the cache dir was changed: mode {oct(st.st_mode)} uid {st.st_uid}"
    ex = nb.run(["explain", *P], AWS_ENDPOINT_URL_STS=sts.url)
    assert ex.rc == 0 and "unusable" in ex.stdout, ex.stdout


def test_cache_perm_dir_world_writable(t):
    nb, sts = _nobody(t)
    _uncached(t, nb, sts, 0o777, NOBODY)


def test_cache_perm_dir_group_writable(t):
    nb, sts = _nobody(t)
    _uncached(t, nb, sts, 0o770, NOBODY)


def test_cache_perm_dir_owned_by_other_user(t):
    nb, sts = _nobody(t)
    _uncached(t, nb, sts, 0o755, 0)


# --------------------------------------------------------------------------
# 5. stale-if-error


def test_cache_stale_if_error(t):
    sts = _sts(t)
    _cfg(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    d1 = t.ok(t.run(P, **env))
    p = _entry_path(t, **env)

    # throttled, 400 s left of 3600 (inside the 1200 s margin, >= 5 min)
    exp = _age(p, 400)
    ex = _explain(t, **env)
    assert "next call: asks STS" in ex.stdout, ex.stdout
    sts.queue_error(400, "Throttling", "Rate exceeded", times=50)
    n = _requests(sts)
    r = t.run(P, **env)
    d = t.ok(r)
    assert _requests(sts) > n, "no refresh was attempted inside the margin"
    assert d["AccessKeyId"] == d1["AccessKeyId"] and _epoch(d) == exp, \
        "stale-if-error did not print the cached credentials"
    w = _warnings(r)
    assert w and w == _lines(r), f"expected warnings only: {_lines(r)}"
    assert re.search(r"cached", w[-1], re.I), f"the warning does not say cached: {w[-1]!r}"
    assert re.search(r"throttl|rate", r.stderr, re.I), "the warning does not say what failed"
    sts.queue.clear()

    # STS down (connection refused), 400 s left
    sts.stop()
    exp = _age(p, 400)
    r = t.run(P, **env)
    d = t.ok(r)
    assert d["AccessKeyId"] == d1["AccessKeyId"] and _epoch(d) == exp
    w = _warnings(r)
    assert w and w == _lines(r) and re.search(r"cached", w[-1], re.I), _lines(r)

    # STS down, 200 s left: under 5 minutes -> the error
    _age(p, 200)
    t.fail(t.run(P, **env), 5)
    # STS down, already expired
    e = _load(p)
    e["Expiration"] = int(time.time()) - 10
    e["Issued"] = e["Expiration"] - 3600
    _store(p, e)
    r = t.fail(t.run(P, **env), 5)
    assert d1["AccessKeyId"] not in r


def test_cache_stale_not_used_on_refusal_exit_status(t):
    """A refusal (AccessDenied) is still reported by its own exit status when
    no usable cached credentials exist."""
    sts = _sts(t)
    _cfg(t)
    sts.queue_error(403, "AccessDenied", "not authorized to perform: sts:AssumeRole", times=3)
    t.fail(t.run(P, AWS_ENDPOINT_URL_STS=sts.url), 4, "AccessDenied")
    assert _entries(_cache_dir(t)) == [], "a failure wrote a cache entry"


# --------------------------------------------------------------------------
# 6. crash safety


def test_cache_crash_safety_sigkill(t):
    sts = _sts(t)
    _cfg(t)
    env = t.env(AWS_ENDPOINT_URL_STS=sts.url)
    d0 = t.ok(t.run(P, AWS_ENDPOINT_URL_STS=sts.url))
    p = _entry_path(t, AWS_ENDPOINT_URL_STS=sts.url)
    _age(p, 400)
    full = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)  # an uninterrupted refresh
    t.ok(full)
    assert _requests(sts) == 2
    hi = max(0.005, min(0.030, full.elapsed * 1.2))
    seed = int(time.time())
    rng = random.Random(seed)
    t.note(f"seed {seed}; refresh takes {full.elapsed * 1000:.0f} ms; kill after 0..{hi * 1000:.0f} ms")
    counts = {"old": 0, "new": 0, "completed": 0, "killed": 0}
    explain_cmd = [t.bin, "explain", *P]
    # The window follows the machine: a loaded machine (or a sanitizer
    # build) can take longer to reach the rename than the first refresh
    # did, and then every kill lands before it. Every 20 iterations that
    # saw only one side, the window widens (or narrows) by half.
    deadline = time.monotonic() + 60
    i = 0
    for i in range(200):
        if time.monotonic() > deadline:
            break
        if i and i % 20 == 0:
            if counts["new"] == 0 and hi < 1.0:
                hi *= 1.5
                t.note(f"iteration {i}: no kill landed after the rename yet; window 0..{hi * 1000:.0f} ms")
            elif counts["old"] == 0 and hi > 0.002:
                hi /= 1.5
                t.note(f"iteration {i}: no kill landed before the rename yet; window 0..{hi * 1000:.0f} ms")
        try:
            old = _load(p)
        except (OSError, ValueError) as e:
            raise AssertionError(f"iteration {i}: the entry is not clean JSON: {e}: "
                                 f"{p.read_bytes()[:200]!r}")
        _age(p, 400)
        before = p.read_bytes()
        proc = subprocess.Popen([t.bin, *P], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        time.sleep(rng.uniform(0, hi))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        counts["killed" if proc.returncode == -signal.SIGKILL else "completed"] += 1
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"iteration {i}: exit {proc.returncode}: {err.decode()!r}")
        rc, o, e, note, _ = run_clean(explain_cmd, env, timeout=10)
        if rc != 0 or e.strip() or "next call:" not in o:
            raise AssertionError(f"iteration {i}: after a kill, explain: exit {rc}, "
                                 f"stderr {e!r}, stdout {o!r}")
        try:
            after = p.read_bytes()
            doc = json.loads(after)
        except (OSError, ValueError) as ex:
            raise AssertionError(f"iteration {i}: torn entry after SIGKILL: {ex}")
        if after == before:
            counts["old"] += 1
            assert "asks STS" in o, o
        else:
            counts["new"] += 1
            assert doc["AccessKeyId"] != old["AccessKeyId"] and "cache hit" in o, (doc, o)
    t.note(f"{i + 1} iterations: {counts}")
    r = t.run(P, AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(r)
    assert r.stderr == "", f"final run warns: {r.stderr!r}"
    assert counts["killed"] >= 20, f"too few runs were killed mid-way: {counts}"
    assert counts["old"] >= 1 and counts["new"] >= 1, \
        f"the kills never landed both before and after the rename: {counts}"
    _assert_safe_files(_cache_dir(t))
    left = [f for f in _files(_cache_dir(t)) if f.endswith(".tmp")]
    t.note(f"temp files left by killed writers: {len(left)}")
    assert i >= 150, f"only {i + 1} iterations in the time budget"


# --------------------------------------------------------------------------
# 7. unusable caches


def test_cache_dir_under_regular_file(t):
    sts = _sts(t)
    _cfg(t)
    blocker = t.tmp / "a-file"
    blocker.write_text("x")
    d = blocker / "aws-credproc"
    for i, how in ((1, {"AWS_CREDPROC_CACHE_DIR": d}), (2, {})):
        args = P if how else P + ["--cache-dir", str(d)]
        r = t.run(args, AWS_ENDPOINT_URL_STS=sts.url, **how)
        t.ok(r)
        _one_cache_warning(r, str(d))
        assert _requests(sts) == i
    assert blocker.read_text() == "x"


def _mount_tmpfs(t, path, opts):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or f"mount exit {r.returncode}"
    t.on_cleanup(lambda: subprocess.run(["umount", "-l", str(path)], capture_output=True))
    return None


def _fill(path):
    """Write to path until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_cache_disk_full(t):
    sts = _sts(t)
    _cfg(t)
    mnt = t.tmp / "full"
    why = _mount_tmpfs(t, mnt, "size=16k,mode=0700")
    cache = mnt / "aws-credproc"
    if why is None:
        cache.mkdir(mode=0o700)
        _fill(mnt / "filler")
        cmd = None
    else:
        # no mount permission: a private mount namespace as mapped root
        if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
            raise Skip(f"cannot mount a tmpfs ({why}) and unshare -rm is not permitted")
        t.note(f"mount refused ({why}); using unshare -rm")
        script = (f"mount -t tmpfs -o size=16k,mode=0700 tmpfs '{mnt}' && mkdir -m 700 '{cache}' && "
                  f"(head -c 1000000 /dev/zero > '{mnt}/filler' 2>/dev/null; true) && exec \"$@\"")
        cmd = [shutil.which("unshare") or "/usr/bin/unshare", "-rm", "/bin/sh", "-c", script, "sh", t.bin]
    for i in (1, 2):
        r = t.run(P, cmd=cmd and cmd + P, AWS_ENDPOINT_URL_STS=sts.url, AWS_CREDPROC_CACHE_DIR=cache)
        t.ok(r)
        _one_cache_warning(r)
        assert re.search(r"space|full", r.stderr, re.I), f"warning does not say why: {r.stderr!r}"
        assert _requests(sts) == i
    if why is None:
        assert _entries(cache) == [], "an entry was written to a full disk"
        assert not [f for f in _files(cache) if f.endswith(".tmp")], "temp file left behind"


def test_cache_read_only(t):
    sts = _sts(t)
    _cfg(t)
    mnt = t.tmp / "ro"
    why = _mount_tmpfs(t, mnt, "size=1m,mode=0700")
    if why is not None:
        raise Skip(f"cannot mount a tmpfs: {why}")
    cache = mnt / "aws-credproc"
    env = {"AWS_ENDPOINT_URL_STS": sts.url, "AWS_CREDPROC_CACHE_DIR": cache}
    d = t.ok(t.run(P, **env))
    r = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True)
    assert r.returncode == 0, f"remount ro: {r.stderr}"
    # the read path needs no write access: still a hit
    r = t.run(P, **env)
    assert _same_creds(d, t.ok(r)) and r.stderr == "" and _requests(sts) == 1
    # a miss on a read-only cache: printed, one warning, nothing cached
    other = ["--role-arn", ROLE_A, "--source-profile", "base"]
    for i in (2, 3):
        r = t.run(other, **env)
        t.ok(r)
        _one_cache_warning(r)
        assert _requests(sts) == i


# --------------------------------------------------------------------------
# 9. --no-cache, locations, what is cached, the key


def test_no_cache_neither_reads_nor_writes(t):
    sts = _sts(t)
    _cfg(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    r = t.run(P + ["--no-cache"], **env)
    t.ok(r)
    assert _files(t.cache) == [], f"--no-cache wrote {_files(t.cache)}"
    d1 = t.ok(t.run(P, **env))
    p = _entries(_cache_dir(t))[0]
    before, mtime = p.read_bytes(), p.stat().st_mtime_ns
    r = t.run(P + ["--no-cache"], **env)
    d2 = t.ok(r)
    assert _requests(sts) == 3, "--no-cache read the cache"
    assert d2["AccessKeyId"] not in (d1["AccessKeyId"],)
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime, "--no-cache wrote the entry"
    assert _same_creds(d1, t.ok(t.run(P, **env))) and _requests(sts) == 3
    ex = _explain(t, P + ["--no-cache"], **env)
    assert "disabled" in ex.stdout, ex.stdout


def test_cache_default_locations(t):
    """$XDG_CACHE_HOME/aws-credproc, else ~/.cache/aws-credproc, created 0700
    even with umask 0; AWS_CREDPROC_CACHE_DIR and --cache-dir override."""
    sts = _sts(t)
    _cfg(t)
    sh = ["/bin/sh", "-c", 'umask 0; exec "$@"', "sh", t.bin, *P]

    def run(extra_args=(), **env):
        return t.ok(t.run([], cmd=sh + list(extra_args), AWS_ENDPOINT_URL_STS=sts.url, **env))

    xdg = t.tmp / "xdg" / "deeper"
    run(AWS_CREDPROC_CACHE_DIR=None, XDG_CACHE_HOME=xdg)
    assert _entries(xdg / "aws-credproc"), "$XDG_CACHE_HOME/aws-credproc not used"
    run(AWS_CREDPROC_CACHE_DIR=None, XDG_CACHE_HOME=None)
    assert _entries(t.home / ".cache" / "aws-credproc"), "~/.cache/aws-credproc not used"
    env_dir = t.tmp / "from-env"
    run(AWS_CREDPROC_CACHE_DIR=env_dir, XDG_CACHE_HOME=xdg)
    assert _entries(env_dir), "AWS_CREDPROC_CACHE_DIR not used"
    flag_dir = t.tmp / "from-flag"
    run(["--cache-dir", str(flag_dir)], AWS_CREDPROC_CACHE_DIR=env_dir)
    assert _entries(flag_dir), "--cache-dir not used"
    assert _requests(sts) == 4, f"{_requests(sts)} STS calls for 4 distinct cache dirs"
    for d in (xdg / "aws-credproc", t.home / ".cache" / "aws-credproc", env_dir, flag_dir):
        mode = stat.S_IMODE(os.stat(d).st_mode)
        assert mode == 0o700, f"{d} created with mode {oct(mode)} (umask 0)"
        assert len(_entries(d)) == 1, f"{d}: {_files(d)}"
        _assert_safe_files(d)
        assert stat.S_IMODE(_entries(d)[0].stat().st_mode) == 0o600
    t.note("parent modes: " + ", ".join(f"{q}={oct(stat.S_IMODE(os.stat(q).st_mode))}"
                                         for q in (xdg.parent, xdg, t.home / ".cache")))
    # each location is then a hit
    run(AWS_CREDPROC_CACHE_DIR=None, XDG_CACHE_HOME=xdg)
    run(["--cache-dir", str(flag_dir)], AWS_CREDPROC_CACHE_DIR=env_dir)
    assert _requests(sts) == 4


def test_cache_home_that_does_not_exist_is_never_created(t):
    """HOME names a directory that does not exist (cron, systemd units): the
    cache is not used (a warning), and neither HOME nor its parents appear."""
    sts = _sts(t)
    _cfg(t)
    home = t.tmp / "gone" / "home"
    res = t.run(P, AWS_ENDPOINT_URL_STS=sts.url, HOME=home, AWS_CREDPROC_CACHE_DIR=None,
                XDG_CACHE_HOME=None)
    t.ok(res)
    assert not (t.tmp / "gone").exists(), "the missing HOME (or a parent) was created"
    assert (f"warning: the home directory '{home}' does not exist, so neither does the "
            f"cache directory '{home}/.cache/aws-credproc' (not created); running without "
            "a cache") in res.stderr, res.stderr
    # an existing HOME still gets its ~/.cache/aws-credproc
    home.mkdir(parents=True)
    t.ok(t.run(P, AWS_ENDPOINT_URL_STS=sts.url, HOME=home, AWS_CREDPROC_CACHE_DIR=None,
               XDG_CACHE_HOME=None))
    assert _entries(home / ".cache" / "aws-credproc")


def test_cache_dir_not_creatable_reports_the_real_errno(t):
    """A parent that cannot be made (EPERM/EACCES/EROFS): the warning gives
    that reason, not the ENOENT of the component below it."""
    sts = _sts(t)
    _cfg(t)
    d = "/sys/aws-credproc-test-parent/cache"
    res = t.run([*P, "--cache-dir", d], AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(res)
    assert f"cannot create the cache directory '{d}': " in res.stderr, res.stderr
    assert "No such file or directory" not in res.stderr, res.stderr


def test_cache_key_covers_parameters(t):
    sts = _sts(t)
    t.config(_static_base())
    base = ["--role-arn", ROLE_B, "--source-profile", "base"]
    localhost = sts.url.replace("127.0.0.1", "localhost")
    variants = [
        ([], {}),
        (["--role-session-name", "other-name"], {}),
        (["--external-id", "ext-77"], {}),
        (["--duration-seconds", "1800"], {}),
        (["--region", "eu-west-1"], {}),
        ([], {"AWS_REGION": "ap-southeast-2"}),
        ([], {"AWS_ENDPOINT_URL_STS": localhost}),
    ]

    def run(v):
        env = {"AWS_ENDPOINT_URL_STS": sts.url, **v[1]}
        return t.ok(t.run(base + v[0], **env))

    docs = [run(v) for v in variants]
    n = len(variants)
    assert _requests(sts) == n, f"{_requests(sts)} STS calls for {n} distinct requests"
    assert len({d["AccessKeyId"] for d in docs}) == n
    for v, d in zip(variants, docs):
        again = run(v)
        assert again["AccessKeyId"] == d["AccessKeyId"], f"repeat of {v} missed the cache"
    assert _requests(sts) == n, "repeats of cached requests called STS"
    assert len(_entries(_cache_dir(t))) == n


def test_cache_key_follows_config_edits(t):
    """The same profile name with an edited parameter is a new STS call."""
    sts = _sts(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    lines = {"external_id": "ext-one", "role_session_name": "s1", "duration_seconds": "900",
             "region": "us-east-1"}

    def write():
        t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n" +
                 "".join(f"{k} = {v}\n" for k, v in lines.items()))

    write()
    seen = {t.ok(t.run(P, **env))["AccessKeyId"]}
    for k, v in (("external_id", "ext-two"), ("role_session_name", "s2"),
                 ("duration_seconds", "1800"), ("region", "eu-central-1")):
        lines[k] = v
        write()
        n = _requests(sts)
        d = t.ok(t.run(P, **env))
        assert _requests(sts) == n + 1, f"changing {k} did not cause a new STS call"
        assert d["AccessKeyId"] not in seen
        seen.add(d["AccessKeyId"])
        assert t.ok(t.run(P, **env))["AccessKeyId"] == d["AccessKeyId"]
        assert _requests(sts) == n + 1
    lines["role_arn"] = ROLE_A
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_A}\nsource_profile = base\n")
    n = _requests(sts)
    t.ok(t.run(P, **env))
    assert _requests(sts) == n + 1, "changing role_arn did not cause a new STS call"


def test_static_keys_never_written_to_cache(t):
    t.config(_static_base())
    t.ok(t.run(["--profile", "base"]), static=True)
    t.ok(t.run(["--profile", "base"], AWS_CREDPROC_CACHE_DIR=None), static=True)
    for f in _files(t.cache) + _files(t.home):
        assert BASE_KEY[1].encode() not in open(f, "rb").read(), f"static secret written to {f}"
    assert _files(t.cache) == [] and _files(t.home) == [], \
        f"static keys produced cache files: {_files(t.cache) + _files(t.home)}"


# --------------------------------------------------------------------------
# 10. valgrind


def test_cache_valgrind_miss_and_hit(t):
    vg = shutil.which("valgrind")
    if not vg:
        raise Skip("valgrind not installed")
    needed = subprocess.run(["readelf", "-d", t.bin], capture_output=True, text=True).stdout
    if "libasan" in needed or "libubsan" in needed:
        raise Skip("the binary is built with sanitizers, which valgrind cannot run")
    sts = _sts(t)
    _cfg(t)
    cmd = [vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
           "--error-exitcode=99", t.bin, *P]
    for i, what in ((1, "miss"), (1, "hit")):
        r = t.run([], cmd=cmd, timeout=120, AWS_ENDPOINT_URL_STS=sts.url)
        assert r.rc != 99, f"valgrind reports errors on the {what}"
        assert not re.search(r"^==\d+==", r.stderr, re.M), f"valgrind output on the {what}"
        t.ok(r)
        assert r.stderr == "", f"{what}: {r.stderr!r}"
        assert _requests(sts) == i, what
