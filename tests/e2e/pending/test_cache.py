"""The on-disk cache, seen from outside: STS call counts, modes, stampedes."""

import os
import stat

from test_fake_sts import BASE_KEY, ROLE_B, _static_base, _sts


def _cfg(t):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"role_session_name = cached\n")


def _cache_dir(t):
    return t.cache / "aws-credproc"


def _files(d):
    out = []
    for root, dirs, files in os.walk(d):
        for f in files:
            out.append(os.path.join(root, f))
    return out


def test_cache_hit_skips_sts(t):
    sts = _sts(t)
    _cfg(t)
    d1 = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    d2 = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    assert len(sts.assume_role_requests()) == 1, "second run did not use the cache"
    assert (d1["AccessKeyId"], d1["Expiration"]) == (d2["AccessKeyId"], d2["Expiration"])
    d = _cache_dir(t)
    st = os.stat(d)
    assert stat.S_IMODE(st.st_mode) == 0o700, f"cache dir mode {oct(st.st_mode)}"
    files = _files(d)
    assert files, "nothing written to the cache dir"
    for f in files:
        m = os.lstat(f)
        assert stat.S_ISREG(m.st_mode), f"{f} is not a regular file"
        assert stat.S_IMODE(m.st_mode) & 0o077 == 0, f"{f} mode {oct(m.st_mode)}"
        assert d1["SecretAccessKey"] not in os.path.basename(f)


def test_cache_default_locations(t):
    sts = _sts(t)
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_CREDPROC_CACHE_DIR=None))
    assert _files(t.cache / "aws-credproc"), "$XDG_CACHE_HOME/aws-credproc not used"
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_CREDPROC_CACHE_DIR=None,
               XDG_CACHE_HOME=None))
    assert _files(t.home / ".cache" / "aws-credproc"), "~/.cache/aws-credproc not used"
    assert len(sts.assume_role_requests()) == 2


def test_cache_key_covers_parameters(t):
    sts = _sts(t)
    t.config(_static_base())
    base = ["--role-arn", ROLE_B, "--source-profile", "base"]
    variants = [[], ["--role-session-name", "other-name"], ["--external-id", "ext-77"],
                ["--duration-seconds", "1800"]]
    docs = [t.ok(t.run(base + v, AWS_ENDPOINT_URL_STS=sts.url)) for v in variants]
    assert len(sts.assume_role_requests()) == 4, \
        f"{len(sts.assume_role_requests())} STS calls for 4 distinct requests"
    assert len({d["AccessKeyId"] for d in docs}) == 4
    again = t.ok(t.run(base + variants[2], AWS_ENDPOINT_URL_STS=sts.url))
    assert again["AccessKeyId"] == docs[2]["AccessKeyId"], "repeat of a cached request missed the cache"
    assert len(sts.assume_role_requests()) == 4, "repeat of a cached request called STS"


def test_cache_stampede_single_sts_call(t):
    sts = _sts(t, delay=0.5)
    _cfg(t)
    results = t.run_parallel(8, ["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    docs = [t.ok(r) for r in results]
    n = len(sts.assume_role_requests())
    assert n == 1, f"{n} STS calls from 8 processes starting together"
    assert len({d["AccessKeyId"] for d in docs}) == 1


def test_cache_corrupt_entry_is_a_miss(t):
    sts = _sts(t)
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    for f in _files(_cache_dir(t)):
        with open(f, "wb") as fh:
            fh.write(b"\x00garbage{not json")
    r2 = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(r2)
    assert len(sts.assume_role_requests()) == 2, "corrupt entry not treated as a miss"
    assert r2.stderr.strip(), "a malformed cache entry must be reported on stderr"
    r3 = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(r3)
    assert len(sts.assume_role_requests()) == 2, "the replaced entry was not reused"


def test_cache_insecure_dir_refused(t):
    sts = _sts(t)
    _cfg(t)
    d = _cache_dir(t)
    d.mkdir(parents=True)
    os.chmod(d, 0o777)
    for _ in range(2):
        r = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
        t.ok(r)
        assert r.stderr.strip(), "no warning about a world-writable cache dir"
    assert len(sts.assume_role_requests()) == 2, "an insecure cache dir was used"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o777, "cache dir was chmod-ed"


def test_cache_unwritable_still_prints(t):
    sts = _sts(t)
    _cfg(t)
    blocker = t.tmp / "a-file"
    blocker.write_text("x")
    r = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url,
              AWS_CREDPROC_CACHE_DIR=str(blocker / "aws-credproc"))
    t.ok(r)


def test_cache_clear(t):
    sts = _sts(t)
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    r = t.run(["cache", "clear"])
    assert r.rc == 0, f"cache clear: exit {r.rc}: {r.last_err}"
    assert not [f for f in _files(_cache_dir(t)) if not f.endswith(".lock")], \
        "cache clear left entries behind"
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    assert len(sts.assume_role_requests()) == 2


def test_static_keys_never_written_to_cache(t):
    t.config(_static_base())
    t.ok(t.run(["--profile", "base"]), static=True)
    for f in _files(t.cache):
        assert BASE_KEY[1].encode() not in open(f, "rb").read(), \
            f"static secret written to {f}"
