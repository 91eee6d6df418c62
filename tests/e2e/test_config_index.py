"""The checked-config index (src/config.h, cp_config_load_indexed): a large
config file read and checked once gets an index in the cache directory, and
the next run reads no more of the file than the sections it looks up; the
index never creates the cache directory, never warns, and is not used with
--no-cache."""

import os
import re
import shutil
import stat
import time

from harness import Skip
from test_cache import Nobody

ROLES = ["AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "Billing"]
KEY = "AKIAINDEXE2E00000001"
SECRET = "index-e2e-static-secret-0001"


def _big_config(n=20000):
    """An IAM Identity Center config of n profiles, `base` (static keys) last."""
    out = ["[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
           "sso_region = us-east-1\n\n"]
    for i in range(n - 1):
        acct = "%012d" % (100000000000 + i // len(ROLES))
        role = ROLES[i % len(ROLES)]
        out.append(f"[profile {acct}-{role}]\nsso_session = corp\nsso_account_id = {acct}\n"
                   f"sso_role_name = {role}\nregion = us-east-1\noutput = json\n\n")
    out.append(f"[profile base]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    return "".join(out)


def _settle(path):
    """An index is written only for a file whose ctime is 3 s old."""
    age = time.time() - os.stat(path).st_ctime
    if age < 3.2:
        time.sleep(3.2 - age)


def _indexes(d):
    return sorted(p for p in d.glob("*.idx")) if d.is_dir() else []


def _bytes_read(log):
    """Total and largest byte counts returned by read-like calls in an strace log."""
    total = largest = 0
    for line in log.splitlines():
        m = re.search(r"\b(read|pread64|readv|preadv|preadv2)\(.*\)\s+=\s+(\d+)", line)
        if m:
            n = int(m.group(2))
            total += n
            largest = max(largest, n)
    return total, largest


def _strace_run(t, args, name):
    strace = shutil.which("strace")
    if not strace:
        raise Skip("strace not installed (tests/deps.sh installs it)")
    log = t.tmp / f"strace-{name}.log"
    cmd = [strace, "-f", "-qq", "-o", str(log),
           "-e", "trace=read,pread64,readv,preadv,preadv2", t.bin, *args]
    # LeakSanitizer cannot run under ptrace (a sanitizer build: tests/check.sh)
    res = t.run([], cmd=cmd, ASAN_OPTIONS="detect_leaks=0")
    return res, log.read_text() if log.exists() else ""


def test_config_index_second_run_reads_little(t):
    """20,000 profiles and an existing cache directory: the first run reads
    the whole file and writes the index; the second reads a few hundred
    bytes of it (strace: every read and pread of the process), with the
    same output."""
    t.secret(SECRET)
    t.config(_big_config())
    size = t.config_path.stat().st_size
    cache = t.cache / "aws-credproc"
    cache.mkdir(mode=0o700)
    _settle(t.config_path)

    first, log1 = _strace_run(t, ["--profile", "base"], "first")
    d1 = t.ok(first, static=True)
    assert d1["AccessKeyId"] == KEY
    assert first.stderr == "", f"warnings: {first.stderr!r}"
    total1, _ = _bytes_read(log1)
    assert total1 >= size, f"the first run read {total1} bytes of a {size}-byte file"
    ixs = _indexes(cache)
    assert len(ixs) == 1, f"index files: {ixs}"
    st = ixs[0].lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and \
        st.st_uid == os.geteuid(), f"index mode {oct(st.st_mode)} uid {st.st_uid}"
    assert re.fullmatch(r"[0-9a-f]{16}\.idx", ixs[0].name), ixs[0].name

    second, log2 = _strace_run(t, ["--profile", "base"], "second")
    d2 = t.ok(second, static=True)
    assert d2 == d1, "the second run printed other credentials"
    assert second.stderr == "", f"warnings: {second.stderr!r}"
    total2, largest2 = _bytes_read(log2)
    t.note(f"bytes read: first run {total1}, second run {total2} (file {size})")
    assert total2 < size // 20 and largest2 < size // 20, \
        f"the second run read {total2} bytes (largest read {largest2}) of a {size}-byte file"

    # --debug says where the answer came from
    dbg = t.run(["--profile", "base", "--debug"])
    t.ok(dbg, static=True)
    assert "answered from its index" in dbg.stderr, dbg.stderr

    # an edit makes the next run read the file whole, and index it again
    with open(t.config_path, "a") as f:
        f.write("\n[profile added]\nregion = eu-west-1\n")
    third, log3 = _strace_run(t, ["--profile", "base"], "third")
    t.ok(third, static=True)
    total3, _ = _bytes_read(log3)
    assert total3 >= size, f"after an edit the run read only {total3} bytes"

    # cache clear (every entry) removes the index too
    clr = t.run(["cache", "clear"])
    assert clr.rc == 0, clr.stderr
    assert _indexes(cache) == [], _indexes(cache)


def test_config_index_no_cache_no_index(t):
    """--no-cache: no index written, none used."""
    t.secret(SECRET)
    t.config(_big_config(3000))
    cache = t.cache / "aws-credproc"
    cache.mkdir(mode=0o700)
    _settle(t.config_path)
    d = t.ok(t.run(["--profile", "base", "--no-cache"]), static=True)
    assert d["AccessKeyId"] == KEY
    assert _indexes(cache) == [], "--no-cache wrote an index"
    t.ok(t.run(["--profile", "base"]), static=True)
    assert len(_indexes(cache)) == 1
    dbg = t.run(["--profile", "base", "--no-cache", "--debug"])
    t.ok(dbg, static=True)
    assert "answered from its index" not in dbg.stderr, "--no-cache used the index"


def test_config_index_never_creates_the_cache_dir(t):
    """A static profile in a large config, as an unprivileged user whose HOME
    is read-only and who has no cache directory: no warning, no directory;
    and with a cache directory it does not own or that others can write:
    no warning, no index."""
    t.secret(SECRET)
    nb = Nobody(t)
    nb.write_config(_big_config(3000))
    _settle(nb.config)
    os.chmod(nb.home, 0o500)
    t.on_cleanup(lambda: os.chmod(nb.home, 0o700))
    for env in ({}, {"AWS_CREDPROC_CACHE_DIR": None}):
        res = nb.run(["--profile", "base"], **env)
        d = t.ok(res, static=True)
        assert d["AccessKeyId"] == KEY
        assert res.stderr == "", f"warned: {res.stderr!r}"
        assert sorted(os.listdir(nb.home)) == [], os.listdir(nb.home)
    os.chmod(nb.home, 0o700)
    for mode, uid in ((0o700, 0), (0o770, 65534)):
        if nb.cache.exists():
            shutil.rmtree(nb.cache)
        nb.mkcache(mode=mode, uid=uid)
        for _ in range(2):
            res = nb.run(["--profile", "base"])
            t.ok(res, static=True)
            assert res.stderr == "", f"warned: {res.stderr!r}"
        assert _indexes(nb.cache) == [], f"index written in a cache dir of uid {uid} mode {oct(mode)}"
    shutil.rmtree(nb.cache)
    nb.mkcache()
    t.ok(nb.run(["--profile", "base"]), static=True)
    assert len(_indexes(nb.cache)) == 1, "no index in a good cache directory"
