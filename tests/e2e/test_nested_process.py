"""Nested credential_process sources, driven by the Go SDK's sample INI files
(conformance/credential-process/aws-sdk-go-v1: `credential_process = cat
./testdata/<file>.json`), run from the working directory they expect; and
the container endpoint unreachable."""

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import harness
import servers

BASE = "credential-process/aws-sdk-go-v1"


def _conformance():
    d = os.environ.get("AWS_CREDPROC_CONFORMANCE_DIR")
    cands = [Path(d)] if d else []
    root = Path(__file__).resolve().parents[2]
    cands += [root.parent / "shared" / "conformance", Path("/work/shared/conformance")]
    for c in cands:
        if (c / BASE).is_dir():
            return c / BASE
    if os.environ.get("CI") == "true":
        raise AssertionError("conformance data required under CI=true")
    raise harness.Skip("conformance data not found")


def _setup(t):
    src = _conformance()
    work = t.tmp / "work"
    shutil.copytree(src, work / "testdata")
    t.config((src / "shconfig.ini").read_text())
    return work


def _run_in(t, work, profile):
    cmd = ["/bin/sh", "-c", f"cd {shlex.quote(str(work))} && exec {shlex.quote(t.bin)} "
           f"--profile {shlex.quote(profile)}"]
    return t.run([], cmd=cmd)


def test_go_sample_non_expiring_process(t):
    work = _setup(t)
    doc = t.ok(_run_in(t, work, "non_expire"), static=True, session_token="nonDefaultToken")
    assert doc["AccessKeyId"] == "accessKey" and doc["SessionToken"] == "nonDefaultToken"
    assert "Expiration" not in doc


def test_go_sample_expired_process_is_refused(t):
    work = _setup(t)
    res = _run_in(t, work, "default")
    t.fail(res, 3, any_of=["expired"])


def test_go_sample_static_keys_win_over_process(t):
    work = _setup(t)
    doc = t.ok(_run_in(t, work, "not_alone"), static=True)
    assert doc["AccessKeyId"] == "notFromCredProcAccess"
    assert doc["SecretAccessKey"] == "notFromCredProcSecret"


def test_container_endpoint_unreachable(t):
    t.config("[profile task]\nrole_arn = arn:aws:iam::222222222222:role/x\n"
             "credential_source = EcsContainer\n")
    url = servers.closed_port_url() + "/v2/credentials/x"
    res = t.run(["--profile", "task"], AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                AWS_ENDPOINT_URL_STS=servers.closed_port_url())
    t.fail(res, 3, any_of=["container"])


# ------------------------------------------------------------------ signals

def test_nested_runaway_chain_dies_with_the_outer_call(t):
    """A credential_process that runs aws-credproc for its own profile, with
    the chain guard removed (`env -u AWS_CREDPROC_CHAIN`): nothing but
    signals and the parent-death signal can stop the chain. Inside a private
    PID namespace, `timeout 4` kills the outer call; within 2 s no process
    of the chain may be left."""
    unshare, timeout = shutil.which("unshare"), shutil.which("timeout")
    if not unshare or not timeout:
        if os.environ.get("CI") == "true":
            raise AssertionError("unshare and timeout are required under CI=true")
        raise harness.Skip("unshare or timeout not installed")
    binary = os.path.abspath(t.bin)
    t.config("[profile loop]\ncredential_process = env -u AWS_CREDPROC_CHAIN "
             f"{shlex.quote(binary)} --profile loop --no-cache\n")
    watch = Path(__file__).resolve().parent / "pidns_watch.py"
    cmd = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, str(watch),
           f"aws-credproc,{os.path.basename(binary)}", "2", "--", timeout, "4", binary, "--profile", "loop",
           "--no-cache"]
    res = t.run([], cmd=cmd, timeout=60)
    if res.rc != 0 and "unshare" in res.stderr and not res.stdout.strip():
        if os.environ.get("CI") == "true":
            raise AssertionError(f"unshare refused under CI=true: {res.last_err}")
        raise harness.Skip(f"unshare refused: {res.last_err}")
    assert res.rc == 0, f"the namespace watcher failed: {res.last_err!r}"
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["rc"] == 124, f"timeout exited {got['rc']}, not 124 (the outer call was killed)"
    assert got["max_seen"] > 1, f"the chain never grew ({got['max_seen']} seen): the test is blind"
    assert not got["left"], (f"{got['left']} processes left {got['waited']} s after the outer "
                             f"call died (of {got['max_seen']} seen), e.g. {got['some_left']}")


def _alive(pid):
    """pid runs (a zombie does not count: it only waits for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def helper_command(t, name, exec_=False):
    """A command line for credential_process/credproc_mfa_process that
    records its process ids in t.tmp/<name>.pids and then waits forever.
    exec_=False: `sh script` that starts `sleep` in the background and waits
    (the shell and its child, both in the helper's process group);
    exec_=True: `exec script` that replaces itself with `sleep` (the direct
    child of aws-credproc, so only the parent-death signal can reach it)."""
    pids = t.tmp / f"{name}.pids"
    script = t.tmp / f"{name}.sh"
    tmp = shlex.quote(str(pids) + ".tmp")
    if exec_:
        body = f'echo "$$" > {tmp} && mv {tmp} {shlex.quote(str(pids))}\nexec sleep 1000\n'
    else:
        body = (f'sleep 1000 &\necho "$$ $!" > {tmp} && mv {tmp} {shlex.quote(str(pids))}\n'
                f"wait\n")
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return (f"exec {shlex.quote(str(script))}" if exec_ else f"sh {shlex.quote(str(script))}"), pids


def signal_while_helper_runs(t, args, pids, sig, **env):
    """Starts the binary, waits for the helper to record its pids, sends sig
    to the binary alone (not its group), and returns (Result, helper pids
    still alive 2 s after the binary died). Leftovers are killed afterwards."""
    import signal as _signal
    import subprocess
    import time

    envd = t.env(**env)
    cmd = [t.bin, *args]
    p = subprocess.Popen(cmd, env=envd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    helper = []

    def cleanup():
        for pid in [p.pid, *helper]:
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:
                pass
        p.wait()
    t.on_cleanup(cleanup)
    start = time.monotonic()
    while not pids.exists() and p.poll() is None and time.monotonic() - start < 20:
        time.sleep(0.02)
    if pids.exists():
        helper = [int(x) for x in pids.read_text().split()]
        os.kill(p.pid, sig)
    else:
        os.kill(p.pid, _signal.SIGKILL)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, _signal.SIGKILL)
        p.wait()
    gone = time.monotonic()
    while any(_alive(x) for x in helper) and time.monotonic() - gone < 2:
        time.sleep(0.02)
    left = [x for x in helper if _alive(x)]
    cleanup()  # the helpers hold stderr open: kill them before reading it
    out, err = p.communicate(timeout=30)
    res = harness.Result(cmd, {}, p.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"), gone - start)
    t.runs.append(res)
    assert helper, "the helper never started"
    return res, left


def test_nested_process_dies_with_the_caller(t):
    """SIGTERM, SIGINT or SIGHUP to aws-credproc while its credential_process
    runs: the helper's whole process group gets the signal too, and
    aws-credproc dies of that same signal (so `timeout` and shells see the
    usual status). SIGKILL cannot be forwarded: the direct child gets its
    parent-death signal."""
    import signal as _signal

    for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        command, pids = helper_command(t, f"np-{sig.name}")
        t.config(f"[profile np]\ncredential_process = {command}\n")
        res, left = signal_while_helper_runs(t, ["--profile", "np", "--no-cache"], pids, sig)
        assert res.rc == -sig, f"{sig.name}: aws-credproc ended with {res.rc}, not -{int(sig)}"
        assert res.stdout == "", f"{sig.name}: something on stdout"
        assert not left, f"{sig.name}: helper processes {left} outlived aws-credproc by 2 s"
    command, pids = helper_command(t, "np-kill", exec_=True)
    t.config(f"[profile np]\ncredential_process = {command}\n")
    res, left = signal_while_helper_runs(t, ["--profile", "np", "--no-cache"], pids,
                                         _signal.SIGKILL)
    assert res.rc == -_signal.SIGKILL, res.rc
    assert not left, f"SIGKILL: the direct child {left} outlived aws-credproc by 2 s"
