"""MFA (mfa_serial): an MFA session from GetSessionToken, cached like any
entry, then used to assume the role, so that a person is asked once per
session, not once per role refresh; the code from credproc_mfa_process or
from /dev/tty (a real pseudo-terminal: tmux), never stdin/stdout; one prompt
for concurrent invocations (the cache lock); no terminal -> exit 6; a wrong
code -> exit 4 with nothing cached; session sources -> the code goes to
AssumeRole itself."""

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from harness import Result, Skip

BASE_KEY = ("AKIAFAKEMFABASE00001", "fake-mfa-base-secret-0001")
ROLE = "arn:aws:iam::222222222222:role/mfa-admin"
ROLE2 = "arn:aws:iam::222222222222:role/mfa-reader"
ROLE_HOP = "arn:aws:iam::222222222222:role/hop"
SERIAL = "arn:aws:iam::111111111111:mfa/alice"
CODE = "860417"
ENTRY_RE = re.compile(r"^[0-9a-f]{16}\.json$")
PROMPT = f"Enter MFA code for {SERIAL}: "


# --------------------------------------------------------------------------
# helpers


def _sts(t, **kw):
    return t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)}, mfa_code=CODE,
                      mfa_roles=(ROLE, ROLE2), **kw)


def _code_script(t, code=CODE):
    """A credproc_mfa_process that counts its runs in t.tmp/mfa-runs."""
    script = t.tmp / "mfa-code.sh"
    script.write_text(f"#!/bin/sh\necho run >> {shlex.quote(str(t.tmp / 'mfa-runs'))}\n"
                      f"echo {code}\n")
    return f"sh {script}"


def _runs(t):
    p = t.tmp / "mfa-runs"
    return len(p.read_text().splitlines()) if p.exists() else 0


def _config(t, process=True, code=CODE, extra="", more_profiles=""):
    lines = (f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
             f"aws_secret_access_key = {BASE_KEY[1]}\n"
             f"[profile mfa]\nrole_arn = {ROLE}\nsource_profile = base\n"
             f"mfa_serial = {SERIAL}\nrole_session_name = mfa-test\n")
    if process:
        lines += f"credproc_mfa_process = {_code_script(t, code)}\n"
    t.config(lines + extra + more_profiles)


def _cache_dir(t):
    return t.cache / "aws-credproc"


def _entries(t):
    d = _cache_dir(t)
    return sorted(p for p in d.iterdir() if ENTRY_RE.match(p.name)) if d.is_dir() else []


def _entry_path(t, args, **env):
    r = t.run(["explain", *args], **env)
    assert r.rc == 0, f"explain: exit {r.rc}: {r.last_err!r}"
    m = re.search(r"^cache file: (.+)$", r.stdout, re.M)
    assert m, f"explain does not name the cache file:\n{r.stdout}"
    return Path(m.group(1))


def _age(p, left=60, lifetime=3600):
    """The entry at p now has `left` s of `lifetime` left: inside the margin."""
    e = json.loads(p.read_text())
    e["Expiration"] = int(time.time()) + left
    e["Issued"] = e["Expiration"] - lifetime
    tmp = p.parent / ".e2e-edit.tmp"
    tmp.write_text(json.dumps(e))
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)


def _mfa_sessions(sts):
    return [c for c in sts.issued if "SerialNumber" in c]


def _secrets(t, sts):
    for c in sts.issued:
        t.secret(c["SecretAccessKey"])
        t.secret(c["SessionToken"])


# --------------------------------------------------------------------------
# credproc_mfa_process: one session, many role refreshes


def test_mfa_process_session_then_role_refresh_without_prompt(t):
    sts = _sts(t)
    _config(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    res = t.run(["--profile", "mfa", "--debug"], **env)
    doc = t.ok(res)
    _secrets(t, sts)
    [gst] = sts.session_token_requests()
    [ar] = sts.assume_role_requests()
    assert gst.form["SerialNumber"] == SERIAL and gst.form["TokenCode"] == CODE
    assert gst.form["DurationSeconds"] == "43200", gst.form.get("DurationSeconds")
    assert gst.sig["akid"] == BASE_KEY[0], "GetSessionToken not signed with the long-term keys"
    [session] = _mfa_sessions(sts)
    assert ar.sig["akid"] == session["AccessKeyId"], "AssumeRole not signed with the MFA session"
    assert "SerialNumber" not in ar.form and "TokenCode" not in ar.form, \
        "the MFA code went to AssumeRole although an MFA session was used"
    assert ar.status == 200 and doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert _runs(t) == 1
    assert CODE not in res.stderr, "the MFA code appears on stderr (--debug)"
    t._no_secret_leak(res)
    assert len(_entries(t)) == 2, f"expected a role entry and an MFA session entry: {_entries(t)}"
    keys = [json.loads(p.read_text())["Key"] for p in _entries(t)]
    mfa_keys = [k for k in keys if k.startswith("aws-credproc MFA session key")]
    assert len(mfa_keys) == 1 and SERIAL in mfa_keys[0], keys
    # The session belongs to these long-term keys: the key names their access
    # key id (another key pair never gets this session), never the secret.
    assert f"source-key-id={BASE_KEY[0]}" in mfa_keys[0].splitlines(), mfa_keys[0]
    assert BASE_KEY[1] not in mfa_keys[0], "the MFA session key holds the secret"

    ex = t.run(["explain", "--profile", "mfa"], **env)
    assert ex.rc == 0 and f"MFA device {SERIAL}: code from credproc_mfa_process of profile 'mfa'" \
        in ex.stdout, ex.stdout
    assert re.search(r"MFA session: GetSessionToken for 43200 s, cached until \S+Z \(\d+ s left\)\n",
                     ex.stdout), ex.stdout
    assert CODE not in ex.stdout

    # a cache hit: nothing asked, nothing sent
    mark = sts.mark()
    doc2 = t.ok(t.run(["--profile", "mfa"], **env))
    assert doc2 == doc and not sts.since(mark) and _runs(t) == 1

    # the role entry inside its margin, the MFA session still good: a new
    # AssumeRole with the cached session, no code asked for
    _age(_entry_path(t, ["--profile", "mfa"], **env))
    mark = sts.mark()
    res3 = t.run(["--profile", "mfa", "--debug"], **env)
    doc3 = t.ok(res3)
    _secrets(t, sts)
    assert not sts.session_token_requests(mark), "a new GetSessionToken for a role refresh"
    [ar3] = sts.assume_role_requests(mark)
    assert ar3.sig["akid"] == session["AccessKeyId"], "the cached MFA session was not used"
    assert doc3["AccessKeyId"] != doc["AccessKeyId"]
    assert _runs(t) == 1, f"credproc_mfa_process ran {_runs(t)} times for one MFA session"
    assert re.search(r"MFA session for '[^']+': cache hit", res3.stderr), res3.stderr


def test_mfa_session_duration_setting(t):
    sts = _sts(t)
    _config(t, extra="credproc_mfa_session_duration = 3600\n")
    t.ok(t.run(["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url))
    [gst] = sts.session_token_requests()
    assert gst.form["DurationSeconds"] == "3600"
    for bad in ("600", "129601", "12h", "-1"):
        _config(t, extra=f"credproc_mfa_session_duration = {bad}\n")
        mark = sts.mark()
        runs = _runs(t)
        res = t.run(["--profile", "mfa", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url)
        t.fail(res, 2, "credproc_mfa_session_duration", "900", "129600")
        assert not sts.since(mark) and _runs(t) == runs, "asked for a code despite a bad setting"


def test_mfa_serial_flag(t):
    """--mfa-serial on a command-line role; the settings of the source profile."""
    sts = _sts(t)
    t.config(f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
             f"aws_secret_access_key = {BASE_KEY[1]}\n"
             f"credproc_mfa_process = {_code_script(t)}\n")
    res = t.run(["--role-arn", ROLE, "--source-profile", "base", "--mfa-serial", SERIAL],
                AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(res)
    assert len(sts.session_token_requests()) == 1 and len(sts.assume_role_requests()) == 1
    assert sts.session_token_requests()[0].form["SerialNumber"] == SERIAL
    # without --mfa-serial the role refuses (FakeSts: this role needs MFA), exit 4
    res = t.run(["--role-arn", ROLE, "--source-profile", "base", "--no-cache"],
                AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, "AccessDenied")
    t.fail(t.run(["--profile", "base", "--mfa-serial", SERIAL]), 2, "assumes no role")


def test_mfa_cached_session_refused_starts_a_new_one(t):
    """STS no longer knows the cached MFA session (InvalidClientTokenId): a
    new code, a new session, and the role."""
    sts = _sts(t)
    _config(t)
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    t.ok(t.run(["--profile", "mfa"], **env))
    [session] = _mfa_sessions(sts)
    del sts.keys[session["AccessKeyId"]]
    _age(_entry_path(t, ["--profile", "mfa"], **env))
    mark = sts.mark()
    res = t.run(["--profile", "mfa", "--debug"], **env)
    t.ok(res)
    _secrets(t, sts)
    ars = sts.assume_role_requests(mark)
    assert [r.status for r in ars] == [403, 200], [r.status for r in ars]
    assert len(sts.session_token_requests(mark)) == 1 and _runs(t) == 2
    assert ars[1].sig["akid"] == _mfa_sessions(sts)[-1]["AccessKeyId"]


# --------------------------------------------------------------------------
# failures


def test_mfa_no_terminal_exit_6(t):
    """The binary runs in a new session (no controlling terminal) and no
    credproc_mfa_process is set: exit 6 at once, nothing sent."""
    sts = _sts(t)
    _config(t, process=False)
    res = t.run(["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    last = t.fail(res, 6, f"MFA code needed for '{SERIAL}'", "no terminal",
                  "set credproc_mfa_process")
    assert res.elapsed < t.within(5), f"took {res.elapsed:.1f}s"
    assert not sts.since(), f"requests reached STS: {[r.action for r in sts.since()]}"
    assert not _entries(t)
    t.note(last)
    ex = t.run(["explain", "--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    assert f"MFA device {SERIAL}: code from a prompt on the terminal" in ex.stdout, ex.stdout
    assert "none cached: the next refresh of the role asks for a code" in ex.stdout, ex.stdout


def test_mfa_wrong_code_exit_4_nothing_cached(t):
    sts = _sts(t)
    _config(t, code="000000")
    res = t.run(["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, "AccessDenied", "MultiFactorAuthentication", SERIAL)
    assert "000000" not in res.stderr, "the MFA code appears in the error"
    assert len(sts.session_token_requests()) == 1 and not sts.assume_role_requests()
    assert not _entries(t), f"something was cached: {_entries(t)}"


def test_mfa_process_failing_exit_3(t):
    sts = _sts(t)
    _config(t, process=False, extra="credproc_mfa_process = echo no code here; exit 7\n")
    res = t.run(["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 3, "credproc_mfa_process of profile 'mfa'", "exit status 7")
    _config(t, process=False, extra="credproc_mfa_process = echo 12345\n")
    res = t.run(["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 3, "credproc_mfa_process of profile 'mfa'", "6-digit")
    assert not sts.since()


def test_mfa_process_dies_with_the_caller(t):
    """A credproc_mfa_process still running when aws-credproc gets SIGTERM
    gets it too (its whole process group), and aws-credproc dies of it;
    when aws-credproc is SIGKILLed, the direct child gets its parent-death
    signal. Nothing reaches STS."""
    import signal

    from test_nested_process import helper_command, signal_while_helper_runs

    sts = _sts(t)
    for sig, exec_ in ((signal.SIGTERM, False), (signal.SIGKILL, True)):
        command, pids = helper_command(t, f"mfa-{sig.name}", exec_=exec_)
        _config(t, process=False, extra=f"credproc_mfa_process = {command}\n")
        res, left = signal_while_helper_runs(t, ["--profile", "mfa"], pids, sig,
                                             AWS_ENDPOINT_URL_STS=sts.url)
        assert res.rc == -sig, f"{sig.name}: aws-credproc ended with {res.rc}, not -{int(sig)}"
        assert res.stdout == "", f"{sig.name}: something on stdout"
        assert not left, f"{sig.name}: credproc_mfa_process {left} outlived aws-credproc by 2 s"
    assert not sts.since(), "STS was called"


# --------------------------------------------------------------------------
# a session as the source: the code goes to AssumeRole


def test_mfa_session_source_code_to_assume_role(t):
    sts = _sts(t)
    t.config(f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
             f"aws_secret_access_key = {BASE_KEY[1]}\n"
             f"[profile hop]\nrole_arn = {ROLE_HOP}\nsource_profile = base\n"
             f"[profile chained]\nrole_arn = {ROLE2}\nsource_profile = hop\n"
             f"mfa_serial = {SERIAL}\ncredproc_mfa_process = {_code_script(t)}\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    res = t.run(["--profile", "chained", "--debug"], **env)
    t.ok(res)
    _secrets(t, sts)
    assert not sts.session_token_requests(), "GetSessionToken with session credentials"
    ars = sts.assume_role_requests()
    assert [r.form["RoleArn"] for r in ars] == [ROLE_HOP, ROLE2]
    assert "SerialNumber" not in ars[0].form
    assert ars[1].form.get("SerialNumber") == SERIAL and ars[1].form.get("TokenCode") == CODE
    assert re.search(r"cannot call\s+GetSessionToken", res.stderr), \
        f"--debug does not say why the code goes to AssumeRole:\n{res.stderr}"
    assert CODE not in res.stderr
    ex = t.run(["explain", "--profile", "chained"], **env)
    assert "the source is a session" in ex.stdout, ex.stdout
    # every refresh of that role asks again
    _age(_entry_path(t, ["--profile", "chained"], **env))
    t.ok(t.run(["--profile", "chained"], **env))
    assert _runs(t) == 2


# --------------------------------------------------------------------------
# a real terminal: tmux


def _need(reason):
    if os.environ.get("CI") == "true":
        raise AssertionError(f"{reason} (CI=true: required)")
    raise Skip(reason)


class _Tmux:
    """A private tmux server (its own socket) whose sessions each run the
    binary once, stdout and stderr to files, the exit status to a file."""

    def __init__(self, t):
        if not shutil.which("tmux"):
            _need("tmux is not installed")
        self.t = t
        self.sock = str(t.tmp / "tmux.sock")
        t.on_cleanup(lambda: self.tmux("kill-server", check=False))

    def tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=10,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                "TERM": "xterm", "HOME": str(self.t.home)})
        if check and r.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def start(self, name, args, **extra_env):
        d = self.t.tmp / name
        d.mkdir()
        env = self.t.env(**extra_env)
        envs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        inner = 'echo $$ > "$1"; shift; exec "$@"'
        cmd = " ".join(shlex.quote(a) for a in [self.t.bin, *args])
        (d / "run.sh").write_text(
            f"#!/bin/sh\ncd {shlex.quote(str(self.t.tmp))}\n"
            f"env -i {envs} sh -c {shlex.quote(inner)} sh {shlex.quote(str(d / 'pid'))} {cmd}"
            f" >{shlex.quote(str(d / 'out'))} 2>{shlex.quote(str(d / 'err'))}\n"
            f"echo $? >{shlex.quote(str(d / 'rc'))}\nexec sleep 600\n")
        self.tmux("new-session", "-d", "-s", name, "-x", "200", "-y", "50",
                  f"sh {shlex.quote(str(d / 'run.sh'))}")
        return d

    def screen(self, name):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", name, check=False).stdout

    def wait_for_screen(self, names, needle, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in names:
                if needle in self.screen(n):
                    return n
            time.sleep(0.1)
        return None

    def send(self, name, *keys):
        self.tmux("send-keys", "-t", name, *keys)

    def result(self, name, timeout=30):
        d = self.t.tmp / name
        deadline = time.monotonic() + timeout
        while not (d / "rc").exists() or not (d / "rc").read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: no exit status within {timeout}s; screen:\n"
                                     f"{self.screen(name)}")
            time.sleep(0.1)
        res = Result([self.t.bin, "(in tmux)"], {}, int((d / "rc").read_text()),
                     (d / "out").read_text(), (d / "err").read_text(), 0.0)
        self.t.runs.append(res)
        return res

    def pid(self, name):
        return int((self.t.tmp / name / "pid").read_text())


def test_mfa_prompt_in_a_real_terminal(t):
    sts = _sts(t)
    _config(t, process=False)
    tm = _Tmux(t)
    tm.start("one", ["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    assert tm.wait_for_screen(["one"], PROMPT) == "one", \
        f"no prompt on the terminal:\n{tm.screen('one')}"
    assert not sts.since(), "STS called before the code was typed"
    tm.send("one", CODE, "Enter")
    res = tm.result("one")
    doc = t.ok(res)
    _secrets(t, sts)
    assert PROMPT.strip() not in res.stdout and PROMPT.strip() not in res.stderr, \
        "the prompt went to stdout/stderr instead of the terminal"
    assert res.stderr == "", f"stderr: {res.stderr!r}"
    assert len(sts.session_token_requests()) == 1 and len(sts.assume_role_requests()) == 1
    assert sts.session_token_requests()[0].form["TokenCode"] == CODE
    assert doc["AccessKeyId"] not in tm.screen("one"), "credentials written to the terminal"

    # a bad answer is asked again on the terminal
    _age(_entry_path(t, ["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url))
    for p in _entries(t):
        if json.loads(p.read_text())["Key"].startswith("aws-credproc MFA session key"):
            p.unlink()
    tm.start("two", ["--profile", "mfa"], AWS_ENDPOINT_URL_STS=sts.url)
    assert tm.wait_for_screen(["two"], PROMPT) == "two"
    tm.send("two", "12x456", "Enter")
    deadline = time.monotonic() + 10
    while tm.screen("two").count(PROMPT.strip()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    screen = tm.screen("two")
    assert "That is not a 6-digit code." in screen and screen.count(PROMPT.strip()) == 2, screen
    tm.send("two", CODE, "Enter")
    t.ok(tm.result("two"))
    assert len(sts.session_token_requests()) == 2


def _concurrent(t, profiles, want_ars):
    sts = _sts(t)
    _config(t, process=False,
            more_profiles=f"[profile mfa2]\nrole_arn = {ROLE2}\nsource_profile = base\n"
                          f"mfa_serial = {SERIAL}\nrole_session_name = mfa-test\n")
    tm = _Tmux(t)
    tm.start("s1", ["--profile", profiles[0]], AWS_ENDPOINT_URL_STS=sts.url)
    tm.start("s2", ["--profile", profiles[1]], AWS_ENDPOINT_URL_STS=sts.url)
    first = tm.wait_for_screen(["s1", "s2"], PROMPT)
    assert first, f"no prompt:\n{tm.screen('s1')}\n{tm.screen('s2')}"
    other = "s2" if first == "s1" else "s1"
    holder = tm.pid(first)
    # the other waits for the lock, says for whom, and asks nothing
    deadline = time.monotonic() + 10
    want = f"waiting for aws-credproc (pid {holder}) holding the cache lock"
    err_other = t.tmp / other / "err"
    while want not in err_other.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert want in err_other.read_text(), \
        f"the waiter does not name the holder (pid {holder}): {err_other.read_text()!r}"
    assert "(an MFA prompt may be open)" in err_other.read_text()
    assert PROMPT.strip() not in tm.screen(other), "the waiter prompted too"
    assert not sts.session_token_requests()
    tm.send(first, CODE, "Enter")
    r_first, r_other = tm.result(first), tm.result(other)
    d1, d2 = t.ok(r_first), t.ok(r_other)
    _secrets(t, sts)
    assert PROMPT.strip() not in tm.screen(other), "the waiter prompted after the wait"
    assert len(sts.session_token_requests()) == 1, \
        f"{len(sts.session_token_requests())} GetSessionToken requests"
    assert len(sts.assume_role_requests()) == want_ars
    assert r_first.stderr == "", r_first.stderr
    assert [l for l in r_other.stderr.splitlines() if l.strip()] == \
        [l for l in r_other.stderr.splitlines() if "waiting for aws-credproc" in l], \
        f"unexpected stderr lines: {r_other.stderr!r}"
    return d1, d2


def test_mfa_concurrent_same_role_one_prompt(t):
    """Two invocations of one profile on a cold cache: one prompt, one
    GetSessionToken, one AssumeRole; the waiter gets the role from the cache."""
    d1, d2 = _concurrent(t, ["mfa", "mfa"], want_ars=1)
    assert d1 == d2


def test_mfa_concurrent_two_roles_share_one_session(t):
    """Two roles behind one MFA device: one prompt, one GetSessionToken, two
    AssumeRoles; the waiter waits on the MFA session's lock."""
    d1, d2 = _concurrent(t, ["mfa", "mfa2"], want_ars=2)
    assert d1["AccessKeyId"] != d2["AccessKeyId"]
