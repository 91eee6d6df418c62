"""Output discipline: stdout carries one document written once, and only on
success; a stdout that cannot be written is an error (exit 1) and never a
death by SIGPIPE; closed standard descriptors at start never make the
binary write credentials into a file it opened itself."""

import json
import os
import re
import shutil
import subprocess
import time

import harness
from test_fake_sts import BASE_KEY, ROLE_B, _static_base
from test_faults import assert_one_cache_entry, cache_dir

STATIC = ("[profile static]\naws_access_key_id = AKIAOUTPUT0000000001\n"
          "aws_secret_access_key = output-static-secret-0001\n")


def _setup(t, **kw):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)}, **kw)
    t.config(_static_base() + STATIC +
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\nregion = us-east-1\n")
    t.secret("output-static-secret-0001")
    return sts


def _record(t, cmd, env, rc, out, err, elapsed, note=""):
    shown = {k: v for k, v in env.items()
             if k not in ("PATH", "HOME", "XDG_CACHE_HOME", "AWS_CREDPROC_CACHE_DIR")}
    r = harness.Result(cmd, shown, rc, out, err, elapsed, note)
    t.runs.append(r)
    return r


def _run_stdout(t, args, stdout, before_wait=None, **env_extra):
    """Run the binary with the given stdout (an fd or PIPE); stderr captured."""
    env = t.env(**env_extra)
    cmd = [t.bin, *args]
    start = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                         stderr=subprocess.PIPE, start_new_session=True)
    note = ""
    try:
        if before_wait:
            before_wait(p)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            harness._killpg(p.pid)
            _, err = p.communicate()
            note = "TIMED OUT (process group killed)"
    finally:
        harness._killpg(p.pid)
        p.wait()
    res = _record(t, cmd, env, p.returncode, "", err.decode(errors="replace"),
                  time.monotonic() - start, note)
    assert not note, note
    return res


def _run_closed_pipe(t, args, **env_extra):
    """stdout is a pipe whose read end was closed before the binary started."""
    r, w = os.pipe()
    os.close(r)
    try:
        return _run_stdout(t, args, w, **env_extra)
    finally:
        os.close(w)


def _write_error(t, res, needles=("stdout",)):
    assert res.rc is not None, "no exit status"
    assert res.rc >= 0, f"killed by signal {-res.rc}" + (
        " (SIGPIPE: a closed stdout must be an error, not a death)" if res.rc == -13 else "")
    assert res.rc == 1, f"expected exit 1 (cannot write stdout), got {res.rc}: {res.last_err!r}"
    last = res.last_err
    assert last.startswith("aws-credproc: "), f"last stderr line: {last!r}"
    assert any(n in last.lower() for n in needles), \
        f"last stderr line does not mention {' or '.join(needles)}: {last!r}"
    t._no_secret_leak(res)


# ------------------------------------------------------------------ stdout errors

def test_output_closed_pipe_credentials(t):
    sts = _setup(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    for args in (["--profile", "b"], ["env", "--profile", "b"],
                 ["--profile", "static"], ["--profile", "b", "--no-cache"]):
        res = _run_closed_pipe(t, args, **env)
        _write_error(t, res)
    for s in sts.issued:
        t.secret(s["SecretAccessKey"])
        t.secret(s["SessionToken"])
    for r in t.runs:
        t._no_secret_leak(r)


def test_output_closed_pipe_after_start(t):
    """The read end closed while the binary waits for a slow STS."""
    sts = _setup(t, delay=0.5)
    res = _run_stdout(t, ["--profile", "b", "--no-cache"], subprocess.PIPE,
                      before_wait=lambda p: p.stdout.close(), AWS_ENDPOINT_URL_STS=sts.url)
    _write_error(t, res)
    assert len(sts.assume_role_requests()) == 1


def test_output_closed_pipe_help_version_explain(t):
    _setup(t)
    for args in (["--help"], ["--version"]):
        _write_error(t, _run_closed_pipe(t, args), needles=("stdout", "write"))
    _write_error(t, _run_closed_pipe(t, ["explain", "--profile", "static"]),
                 needles=("stdout", "write"))


def test_output_stdout_full_device(t):
    if not os.path.exists("/dev/full"):
        raise harness.Skip("no /dev/full")
    sts = _setup(t)
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        res = _run_stdout(t, ["--profile", "b"], fd, AWS_ENDPOINT_URL_STS=sts.url)
    finally:
        os.close(fd)
    _write_error(t, res)


# ------------------------------------------------------------------ closed fds at start

def _files_under(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p


def test_output_standard_fds_closed(t):
    sts = _setup(t)
    config_before = t.config_path.read_bytes()
    sh = ['/bin/sh', '-c', 'exec 0<&- 1>&- 2>&- "$0" "$@"', t.bin]
    res = t.run([], cmd=sh + ["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    assert res.rc is not None and 0 <= res.rc <= 6, f"exit {res.rc}"
    assert res.stdout == "" and res.stderr == ""
    t.note(f"exit {res.rc} with fds 0-2 closed")
    assert res.rc == 0, f"exit {res.rc} with fds 0-2 closed (expected 0: they are reopened)"
    assert len(sts.assume_role_requests()) == 1
    secret = sts.issued[-1]["SecretAccessKey"]
    t.secret(secret)
    assert t.config_path.read_bytes() == config_before, "the config file was written to"
    entries = sorted(cache_dir(t).glob("*.json"))
    assert len(entries) == 1, entries
    for p in _files_under(t.tmp):
        data = open(p, "rb").read()
        if p == str(entries[0]):
            e = json.loads(data)
            assert "Format" in e and "Version" not in e, \
                f"the cache entry is not a cache entry: {data[:120]!r}"
            assert data.count(b'"SecretAccessKey"') == 1, "the cache entry holds two documents"
            continue
        assert secret.encode() not in data, f"the secret was written into {p}"
        assert b'"Version"' not in data or p.startswith(str(t.tmp / "pki")), \
            f"a credential_process document was written into {p}"
    # and the entry written that way is a good one: the next run hits it
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    assert doc["SecretAccessKey"] == secret and len(sts.assume_role_requests()) == 1
    assert_one_cache_entry(t, doc)


def test_output_standard_fds_closed_failure(t):
    _setup(t)
    before = {p: open(p, "rb").read() for p in _files_under(t.tmp)}
    sh = ['/bin/sh', '-c', 'exec 0<&- 1>&- 2>&- "$0" "$@"', t.bin]
    res = t.run([], cmd=sh + ["--profile", "no-such-profile"])
    assert res.rc == 2, f"exit {res.rc} (expected 2: unknown profile)"
    after = {p: open(p, "rb").read() for p in _files_under(t.tmp)}
    assert after == before, "files changed or appeared: " + ", ".join(
        sorted(set(after) ^ set(before)) + [p for p in before if after.get(p) != before[p]])


def test_output_only_stdout_closed(t):
    sts = _setup(t)
    sh = ['/bin/sh', '-c', 'exec 1>&- "$0" "$@"', t.bin]
    res = t.run([], cmd=sh + ["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    assert res.rc is not None and 0 <= res.rc <= 6, f"exit {res.rc}"
    t.note(f"exit {res.rc} with fd 1 closed")
    secret = sts.issued[-1]["SecretAccessKey"]
    t.secret(secret)
    t._no_secret_leak(res)
    for p in _files_under(t.tmp):
        data = open(p, "rb").read()
        assert b'"Version"' not in data or p.startswith(str(t.tmp / "pki")), \
            f"a credential_process document was written into {p}"


# ------------------------------------------------------------------ one write

def _strace(t, args, **env):
    strace = shutil.which("strace", path=harness.BASE_PATH)
    if not strace:
        raise harness.Skip("strace not installed: the one-write check needs it")
    log = t.tmp / f"strace-{len(t.runs)}.log"
    cmd = [strace, "-f", "-qq", "-e", "trace=write", "-e", "signal=none", "-s", "0",
           "-o", str(log), t.bin, *args]
    # LeakSanitizer cannot run under ptrace; a sanitizer build still checks
    # everything else here (leaks are covered by the other runs).
    res = t.run([], cmd=cmd, ASAN_OPTIONS="detect_leaks=0", **env)
    text = log.read_text()
    if "ptrace" in res.stderr and "Operation not permitted" in res.stderr:
        raise harness.Skip("ptrace not permitted here")
    writes = [l for l in text.splitlines() if re.search(r"\bwrite\(1,", l)]
    return res, writes


def test_output_one_write_on_success(t):
    sts = _setup(t)
    for args in (["--profile", "b"], ["--profile", "b"], ["--profile", "static"],
                 ["env", "--profile", "b"]):
        res, writes = _strace(t, args, AWS_ENDPOINT_URL_STS=sts.url)
        if args[0] != "env":
            t.ok(res, static=args[-1] == "static")
        else:
            assert res.rc == 0, res.last_err
        assert len(writes) == 1, f"{len(writes)} writes to stdout for {args}: {writes}"
        m = re.search(r"=\s*(\d+)\s*$", writes[0])
        assert m and int(m.group(1)) == len(res.stdout.encode()), \
            f"the one write is not the whole document: {writes[0]!r}"


def test_output_no_write_on_failure(t):
    sts = _setup(t)
    sts.queue_error(403, "AccessDenied", "not authorized", times=3)
    for args in (["--profile", "b"], ["--profile", "nope"], ["--bad-flag"]):
        res, writes = _strace(t, args, AWS_ENDPOINT_URL_STS=sts.url)
        assert res.rc not in (0, None) and res.stdout == "", f"{args}: exit {res.rc}"
        assert not writes, f"{args}: wrote to stdout on failure: {writes}"


# ------------------------------------------------------------------ help, version

def test_output_help_and_version(t):
    for flags in (["--help", "-h"], ["--version", "-V"]):
        outs = []
        for f in flags:
            r = t.run([f])
            assert r.rc == 0, f"{f}: exit {r.rc}"
            assert r.stdout.endswith("\n") and r.stdout.strip(), f"{f}: nothing on stdout"
            assert r.stderr == "", f"{f}: wrote to stderr: {r.stderr!r}"
            outs.append(r.stdout)
        assert outs[0] == outs[1], f"{flags[0]} and {flags[1]} differ"
    assert re.fullmatch(r"aws-credproc \d+\.\d+\.\d+\S*\n", outs[0]), outs[0]


# ------------------------------------------------------------------ where secrets go

def _hex(s):
    return "".join(f"\\x{b:02x}" for b in s.encode())


def _unhex(s):
    """strace -xx prints paths as \\xNN too."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def test_output_secrets_written_only_to_stdout_and_cache(t):
    """Every write/send of the process, with the file each fd names (strace
    -y): the new secret key and session token go to fd 1 (once) and to the
    cache temp file, nowhere else; the source's secret key is written
    nowhere (SigV4 never sends it). Also with --debug."""
    strace = shutil.which("strace", path=harness.BASE_PATH)
    if not strace:
        raise harness.Skip("strace not installed")
    sts = _setup(t)
    for i, debug in enumerate(("", "1")):
        log = t.tmp / f"strace-secrets-{i}.log"
        cmd = [strace, "-f", "-qq", "-y", "-xx", "-s", "1000000", "-e", "signal=none",
               "-e", "trace=write,writev,pwrite64,pwritev,sendto,sendmsg",
               "-o", str(log), t.bin, "--profile", "b"]
        extra = {"AWS_CREDPROC_DEBUG": debug} if debug else {}
        res = t.run([], cmd=cmd, AWS_ENDPOINT_URL_STS=sts.url, ASAN_OPTIONS="detect_leaks=0",
                    **extra)
        if "ptrace" in res.stderr and "Operation not permitted" in res.stderr:
            raise harness.Skip("ptrace not permitted here")
        t.ok(res)
        lines = log.read_text().splitlines()
        assert not any(_hex(BASE_KEY[1]) in l for l in lines), \
            "the source's secret access key was written or sent somewhere"
        new = sts.issued[-1]
        for what in ("SecretAccessKey", "SessionToken"):
            hits = [l for l in lines if _hex(new[what]) in l]
            dest = [re.search(r"\b(?:write|writev|pwrite64|pwritev|sendto|sendmsg)\((\d+)(<[^>]*>)?",
                              l) for l in hits]
            where = [(m.group(1), _unhex(m.group(2) or "")) if m else ("?", l[:80])
                     for m, l in zip(dest, hits)]
            stdout = [w for w in where if w[0] == "1"]
            cache = [w for w in where if w[0] != "1" and str(cache_dir(t)) in w[1]
                     and w[1].endswith(".tmp>")]
            other = [w for w in where if w not in stdout and w not in cache]
            assert len(stdout) == 1, f"{what}: {len(stdout)} writes to stdout: {where}"
            assert not other, f"{what} written to something other than stdout or the " \
                              f"cache temp file: {other}"
            if i == 0:
                assert len(cache) == 1, f"{what}: not written to a cache temp file once: {where}"
            else:
                assert not cache, f"{what}: a cache hit rewrote the entry: {where}"
