"""Per-test context and assertions for the aws-credproc end-to-end tests.

A test is a function `test_xxx(t)` where `t` is a Ctx:
  t.tmp                      per-test temporary directory (a pathlib.Path)
  t.bin                      path of the binary under test
  t.moto                     the shared MotoStack (started on first use)
  t.config(text)             write the config file (AWS_CONFIG_FILE)
  t.credentials(text)        write the credentials file
  t.env(**extra)             a clean environment for the binary
  t.run(args, **extra_env)   run the binary (clean env, 30 s timeout)
  t.imds(...)/t.fake_sts(...) start loopback servers stopped after the test
  t.spawn_many(n, args)      start n copies at once (Popen), then collect
  t.on_cleanup(fn)           run fn after the test (unmounts, temp dirs)
  t.special_files()          a held FIFO, an idle terminal, /dev/zero: [(label, path)]
  t.ok(res) / t.fail(res, code, *needles)   contract assertions
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import servers

EXP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ALLOWED_KEYS = {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                "Expiration", "AccountId"}
BASE_PATH = os.pathsep.join(
    [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])


class Skip(Exception):
    pass


class Result:
    """stderr is decoded (invalid UTF-8 replaced); stderr_bytes, when the run
    kept them (t.run), are the bytes exactly as written."""

    def __init__(self, cmd, env_extra, rc, stdout, stderr, elapsed, note="",
                 stderr_bytes=None):
        self.cmd, self.env_extra = cmd, env_extra
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.stderr_bytes = stderr_bytes
        self.elapsed = elapsed
        self.note = note

    @property
    def last_err(self):
        lines = self.stderr.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines[-1] if lines else ""

    def json(self):
        return json.loads(self.stdout)

    def describe(self):
        out = [f"$ {' '.join(f'{k}={shlex.quote(v)}' for k, v in self.env_extra.items())}"
               f"{' ' if self.env_extra else ''}{shlex.join(self.cmd)}",
               f"exit: {self.rc}  ({self.elapsed:.2f}s){'  ' + self.note if self.note else ''}",
               "stdout:" + ("" if self.stdout else " (empty)")]
        out += ["  | " + l for l in self.stdout.splitlines()]
        out.append("stderr:" + ("" if self.stderr else " (empty)"))
        out += ["  | " + l for l in self.stderr.splitlines()]
        return out


_OVERHEAD: dict[str, float] = {}  # binary -> seconds (Ctx.overhead)


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run_clean(cmd, env, timeout=30, input=None, cwd=None, raw=False):
    """Run cmd in its own process group; kill the whole group afterwards so
    that nothing it spawned outlives it. Returns (rc, out, err, note,
    elapsed); out and err are decoded, or bytes with raw=True."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if input is not None
                         else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, cwd=cwd)
    note = ""
    try:
        out, err = p.communicate(input=input.encode() if input is not None else None,
                                 timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        _killpg(p.pid)
        out, err = p.communicate()
        rc = None
        note = f"TIMED OUT after {timeout}s (process group killed)"
    except BaseException:  # Ctrl-C, SIGTERM: leave nothing behind
        _killpg(p.pid)
        p.wait()
        raise
    # leftovers in the group (children that outlived the parent)
    if _killpg(p.pid) and rc is not None:
        note += " (left processes behind in its group; killed)"
    if not raw:
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
    return rc, out, err, note.strip(), time.monotonic() - start


class Ctx:
    def __init__(self, name, tmp: Path, binary: str, suite):
        self.name = name
        self.tmp = tmp
        self.bin = binary
        self._suite = suite
        self.runs: list[Result] = []
        self.notes: list[str] = []
        self.shown: list[str] = []  # notes printed even when the test passes
        self._servers = []
        self.home = tmp / "home"
        self.home.mkdir()
        self.cache = tmp / "cache"
        self.cache.mkdir()
        self.config_path = tmp / "config"
        self.credentials_path = tmp / "credentials"
        self.secrets: list[str] = []
        self._cleanups = []

    def on_cleanup(self, fn):
        """Run fn() after the test, before the servers stop (last in, first out)."""
        self._cleanups.append(fn)

    # shared fixtures
    @property
    def moto(self) -> servers.MotoStack:
        m = self._suite.moto()
        for s in m.secrets():
            if s not in self.secrets:
                self.secrets.append(s)
        return m

    def imds(self, **kw) -> servers.ImdsServer:
        s = servers.ImdsServer(**kw).start()
        self._servers.append(s)
        if s.credentials:
            self.secret(s.credentials.get("SecretAccessKey"))
        return s

    def ecs(self, **kw) -> servers.EcsServer:
        s = servers.EcsServer(**kw).start()
        self._servers.append(s)
        self.secret(s.credentials.get("SecretAccessKey"))
        return s

    def forward_proxy(self) -> servers.ForwardProxy:
        s = servers.ForwardProxy().start()
        self._servers.append(s)
        return s

    def pki(self) -> dict:
        d = self.tmp / "pki"
        d.mkdir(exist_ok=True)
        return servers.make_test_pki(d)

    def blackhole(self) -> servers.Blackhole:
        s = servers.Blackhole().start()
        self._servers.append(s)
        return s

    def trickle(self, **kw) -> servers.Trickle:
        s = servers.Trickle(**kw).start()
        self._servers.append(s)
        return s

    def fake_sts(self, **kw) -> servers.FakeSts:
        s = servers.FakeSts(**kw).start()
        self._servers.append(s)
        for secret, token in s.keys.values():
            self.secret(secret)
        return s

    def cleanup(self):
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:
                self.notes.append(f"cleanup {fn!r} failed: {e!r}")
        for s in reversed(self._servers):
            try:
                s.stop()
            except Exception:
                pass
        self._servers.clear()

    # time bounds that hold under valgrind and sanitizers
    def overhead(self) -> float:
        """Seconds this binary takes to start, load the network module, fail
        and exit (the median of 3 runs, measured once per binary): a few ms
        natively, a second or more under valgrind. Time assertions add it."""
        if self.bin not in _OVERHEAD:
            d = self.tmp / "overhead"
            d.mkdir(exist_ok=True)
            cfg = d / "config"
            cfg.write_text("[profile w]\nrole_arn = arn:aws:iam::123456789012:role/w\n"
                           f"web_identity_token_file = {d / 'absent-token'}\n")
            env = dict(self.base_env(), AWS_CONFIG_FILE=str(cfg),
                       AWS_SHARED_CREDENTIALS_FILE=str(d / "credentials"))
            times = sorted(run_clean([self.bin, "--profile", "w", "--no-cache"], env, timeout=120)[4]
                           for _ in range(3))
            _OVERHEAD[self.bin] = times[1]
            self.note(f"start-up overhead of {self.bin}: {times[1]:.2f}s")
        return _OVERHEAD[self.bin]

    def within(self, seconds: float) -> float:
        """A wall-clock bound for what takes `seconds` natively: plus three
        times this binary's measured overhead and a second for a loaded
        2-core machine. Lower bounds (a deadline that must not end early)
        need no allowance."""
        return seconds + 3 * self.overhead() + 1.0

    def secret(self, s):
        if s and s not in self.secrets:
            self.secrets.append(s)

    def note(self, msg, show=False):
        """A diagnostic printed with the failure (or with -v); show=True also
        prints it under a passing test (e.g. the SDK versions exercised)."""
        self.notes.append(msg)
        if show:
            self.shown.append(msg)

    # files and environment
    def config(self, text: str, path=None):
        p = Path(path) if path else self.config_path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def credentials(self, text: str, path=None):
        p = Path(path) if path else self.credentials_path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def special_files(self, fifo=None):
        """Files that are not regular and that a reader can wait on forever:
        [(label, path)] for a FIFO held open by a writer that never writes
        (created at `fifo`, default in the test's directory), the slave of a
        pseudo-terminal whose master the test holds (nobody types), and
        /dev/zero (endless). The writer and the terminal end with the test."""
        fifo = Path(fifo) if fifo else self.tmp / f"held-fifo-{len(self._cleanups)}"
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo, 0o600)
        # the writer's open(2) waits for a reader, then holds the FIFO open
        writer = subprocess.Popen(["/bin/sh", "-c", 'exec sleep 1000 >"$0"', str(fifo)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)

        def stop_writer():
            _killpg(writer.pid)
            writer.wait()
        self.on_cleanup(stop_writer)
        master, slave = os.openpty()
        tty = os.ttyname(slave)

        def close_pty():
            os.close(slave)
            os.close(master)
        self.on_cleanup(close_pty)
        return [("a FIFO held open by a writer", str(fifo)),
                ("a terminal nobody types on", tty),
                ("/dev/zero", "/dev/zero")]

    def base_env(self):
        return {
            "PATH": BASE_PATH,
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.cache),
            "AWS_CREDPROC_CACHE_DIR": str(self.cache / "aws-credproc"),
            "AWS_CONFIG_FILE": str(self.config_path),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_path),
        }

    def env(self, **extra):
        env = self.base_env()
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def run(self, args, timeout=30, input=None, cmd=None, **extra_env):
        """Run the binary with args in a clean env plus extra_env (a value of
        None removes a base variable)."""
        env = self.env(**extra_env)
        cmd = cmd or [self.bin, *args]
        shown = {k: v for k, v in env.items()
                 if k not in ("PATH", "HOME", "XDG_CACHE_HOME", "AWS_CREDPROC_CACHE_DIR")}
        if not os.path.exists(cmd[0]):
            r = Result(cmd, shown, None, "", "", 0.0, f"{cmd[0]} does not exist")
            self.runs.append(r)
            raise AssertionError(f"binary {cmd[0]} does not exist")
        rc, out, err, note, el = run_clean(cmd, env, timeout=timeout, input=input, raw=True)
        r = Result(cmd, shown, rc, out.decode(errors="replace"), err.decode(errors="replace"),
                   el, note, stderr_bytes=err)
        self.runs.append(r)
        if rc is None:
            raise AssertionError(f"timed out after {timeout}s: {shlex.join(cmd)}")
        return r

    def run_parallel(self, n, args, timeout=30, **extra_env):
        """Start n copies of the binary at once; returns their Results."""
        import threading

        env = self.env(**extra_env)
        shown = {k: v for k, v in env.items()
                 if k not in ("PATH", "HOME", "XDG_CACHE_HOME", "AWS_CREDPROC_CACHE_DIR")}
        cmd = [self.bin, *args]
        out = [None] * n
        gate = threading.Barrier(n)

        def one(i):
            gate.wait()
            rc, o, e, note, el = run_clean(cmd, env, timeout=timeout)
            out[i] = Result(cmd, shown, rc, o, e, el, note)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.runs.extend(out)
        for r in out:
            if r.rc is None:
                raise AssertionError(f"timed out after {timeout}s: {shlex.join(cmd)}")
        return out

    def spawn_many(self, n, args, timeout=30, cmd=None, **extra_env):
        """Start n copies of the binary with subprocess.Popen, all before
        collecting any, each in its own process group (killed afterwards);
        returns their Results in start order."""
        env = self.env(**extra_env)
        shown = {k: v for k, v in env.items()
                 if k not in ("PATH", "HOME", "XDG_CACHE_HOME", "AWS_CREDPROC_CACHE_DIR")}
        cmd = cmd or [self.bin, *args]
        procs = []
        try:
            for _ in range(n):
                procs.append((time.monotonic(), subprocess.Popen(
                    cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True)))
            deadline = time.monotonic() + timeout
            out = []
            for start, p in procs:
                note = ""
                try:
                    o, e = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
                    rc = p.returncode
                except subprocess.TimeoutExpired:
                    _killpg(p.pid)
                    o, e = p.communicate()
                    rc, note = None, f"TIMED OUT after {timeout}s (process group killed)"
                if _killpg(p.pid) and rc is not None:
                    note += " (left processes behind in its group; killed)"
                out.append(Result(cmd, shown, rc, o.decode(errors="replace"),
                                  e.decode(errors="replace"), time.monotonic() - start,
                                  note.strip()))
        except BaseException:
            for _, p in procs:
                _killpg(p.pid)
                p.wait()
            raise
        self.runs.extend(out)
        for r in out:
            if r.rc is None:
                raise AssertionError(f"timed out after {timeout}s: {shlex.join(cmd)}")
        return out

    def run_many(self, cmds, timeout=30, cwd=None, **extra_env):
        """Start several different commands at once, each in its own process
        group (killed afterwards), and collect them. cmds: a list of argv
        lists, or of (argv, {extra env}) pairs layered over the clean env plus
        extra_env. Returns their Results in order; a timeout is recorded and
        then raised as an AssertionError once all are collected."""
        procs = []
        shown_envs = []
        try:
            for c in cmds:
                argv, own = (c if isinstance(c, tuple) else (c, {}))
                env = self.env(**{**extra_env, **own})
                shown_envs.append({k: v for k, v in env.items() if k not in (
                    "PATH", "HOME", "XDG_CACHE_HOME", "AWS_CREDPROC_CACHE_DIR")})
                procs.append((argv, time.monotonic(), subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, cwd=cwd)))
            # collect concurrently: a chatty child must not block on a full pipe
            import threading

            out = [None] * len(procs)
            deadline = time.monotonic() + timeout

            def collect(i):
                argv, start, p = procs[i]
                note = ""
                try:
                    o, e = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
                    rc = p.returncode
                except subprocess.TimeoutExpired:
                    _killpg(p.pid)
                    o, e = p.communicate()
                    rc, note = None, f"TIMED OUT after {timeout}s (process group killed)"
                if _killpg(p.pid) and rc is not None:
                    note += " (left processes behind in its group; killed)"
                out[i] = Result(argv, shown_envs[i], rc, o.decode(errors="replace"),
                                e.decode(errors="replace"), time.monotonic() - start,
                                note.strip())

            threads = [threading.Thread(target=collect, args=(i,))
                       for i in range(len(procs))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        except BaseException:
            for _, _, p in procs:
                _killpg(p.pid)
                p.wait()
            raise
        self.runs.extend(out)
        for r in out:
            if r.rc is None:
                raise AssertionError(f"timed out after {timeout}s: {shlex.join(r.cmd)}")
        return out

    # contract assertions
    def _no_secret_leak(self, res, extra=()):
        for s in list(self.secrets) + list(extra):
            if s and len(s) >= 8 and s in res.stderr:
                raise AssertionError(f"a secret ({s[:4]}…) appears on stderr")

    def ok(self, res: Result, static=False, session_token=None):
        """Exit 0 and exactly one credential_process JSON document.
        static=True: no Expiration expected. Returns the parsed document."""
        assert res.rc == 0, f"expected exit 0, got {res.rc}: {res.last_err!r}"
        text = res.stdout
        assert text.strip(), "stdout is empty"
        dec = json.JSONDecoder()
        try:
            doc, end = dec.raw_decode(text.lstrip())
        except ValueError as e:
            raise AssertionError(f"stdout is not JSON: {e}")
        rest = text.lstrip()[end:]
        assert rest.strip() == "", f"stdout has more than one document: {rest[:80]!r}"
        assert isinstance(doc, dict), "stdout JSON is not an object"
        extra = set(doc) - ALLOWED_KEYS
        assert not extra, f"unexpected keys in output: {sorted(extra)}"
        assert doc.get("Version") == 1 and type(doc.get("Version")) is int, \
            f"Version must be integer 1, got {doc.get('Version')!r}"
        for k in ("AccessKeyId", "SecretAccessKey"):
            assert isinstance(doc.get(k), str) and doc[k], f"{k} missing/empty"
        if "SessionToken" in doc:
            assert isinstance(doc["SessionToken"], str) and doc["SessionToken"], \
                "SessionToken present but empty"
        if "AccountId" in doc:
            assert re.fullmatch(r"\d{12}", str(doc["AccountId"])), \
                f"AccountId {doc['AccountId']!r} is not 12 digits"
        if static:
            assert "Expiration" not in doc, "static keys must be printed without Expiration"
            if session_token is None:
                assert "SessionToken" not in doc, \
                    "SessionToken printed though none is configured"
        else:
            assert "SessionToken" in doc, "SessionToken missing"
            exp = doc.get("Expiration")
            assert isinstance(exp, str), "Expiration missing"
            assert EXP_RE.match(exp), f"Expiration {exp!r} is not YYYY-MM-DDTHH:MM:SSZ"
            t = parse_exp(exp)
            assert t > servers.utcnow(), f"Expiration {exp} is not in the future"
        if session_token is not None:
            assert doc.get("SessionToken") == session_token, "SessionToken differs"
        self._no_secret_leak(res, [doc["SecretAccessKey"], doc.get("SessionToken")])
        return doc

    def fail(self, res: Result, code: int, *needles, any_of=None):
        """Exit `code`, empty stdout, last stderr line 'aws-credproc: …'
        containing every needle (case-insensitive; a needle may be a compiled
        regex), and if any_of is given at least one of those."""
        codes = code if isinstance(code, (tuple, list, set)) else (code,)
        assert res.rc in codes, \
            f"expected exit {' or '.join(map(str, codes))}, got {res.rc}: {res.last_err!r}"
        assert res.stdout == "", "stdout must be empty on failure"
        last = res.last_err
        assert last.startswith("aws-credproc: "), \
            f"last stderr line does not start with 'aws-credproc: ': {last!r}"
        msg = last[len("aws-credproc: "):]
        assert len(msg.strip()) >= 10, f"error message too terse: {last!r}"
        for n in needles:
            if isinstance(n, re.Pattern):
                assert n.search(last), f"last stderr line lacks /{n.pattern}/: {last!r}"
            else:
                assert n.lower() in last.lower(), f"last stderr line lacks {n!r}: {last!r}"
        if any_of:
            assert any((n.search(last) if isinstance(n, re.Pattern)
                        else n.lower() in last.lower()) for n in any_of), \
                f"last stderr line mentions none of {any_of}: {last!r}"
        self._no_secret_leak(res)
        return last


def parse_exp(s: str) -> _dt.datetime:
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=_dt.timezone.utc)


def local_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def default_session_name() -> str:
    name = "aws-credproc-" + re.sub(r"[^\w+=,.@-]", "_", local_user(), flags=re.ASCII)
    return name[:64]


def approx(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol
