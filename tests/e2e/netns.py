"""Shared pieces of the tests that run the binary inside a private user +
network + mount namespace, where real host names (sts.us-east-1.amazonaws.com,
...) resolve through a bind-mounted /etc/hosts to loopback servers with TLS
from a throw-away CA: test_replay.py (with replay_ns.py) and
test_differential.py (with diff_ns.py). Not collected by run.py.

Outside the namespace: prereqs() finds (or installs, as root) unshare, mount,
ip and optionally faketime, and checks that namespaces can be made;
unavailable() skips, or fails under CI=true; make_pki() writes the CA and a
server certificate for the given names; unshare_cmd() is the command that
runs a helper script inside a fresh namespace.
Inside: setup_namespace() brings lo up with the extra addresses and mounts
the hosts file over /etc/hosts (private to the namespace).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import harness
from harness import Skip, run_clean


def ci():
    return os.environ.get("CI") == "true"


def unavailable(reason):
    """Something a namespace test needs is missing: a failure under CI=true,
    else a skip."""
    if ci():
        raise AssertionError(f"{reason} (CI=true: required)")
    raise Skip(reason)


def _install(pkg):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", pkg]
    rc, *_ = run_clean(cmd, env, timeout=600)
    if rc != 0:  # maybe stale package lists
        run_clean(["apt-get", "update", "-q"], env, timeout=600)
        rc, *_ = run_clean(cmd, env, timeout=600)
    return rc == 0


def _tool(name, pkg, paths=()):
    found = shutil.which(name) or next((p for p in paths if os.path.exists(p)), None)
    if not found and _install(pkg):
        found = shutil.which(name) or next((p for p in paths if os.path.exists(p)), None)
    return found


_PACKAGES = {"unshare": "util-linux", "mount": "mount", "ip": "iproute2",
             "faketime": "faketime"}
_tools: dict = {}


def prereqs(faketime=False):
    """unshare (user+net+mount namespaces), ip, mount, python3's cryptography
    and, with faketime=True, faketime. Returns {"ok", "why", tool: path}."""
    key = ("faketime",) if faketime else ()
    if key in _tools:
        return _tools[key]
    t, why = {}, []
    t["unshare"] = _tool("unshare", "util-linux")
    t["mount"] = _tool("mount", "mount")
    t["ip"] = _tool("ip", "iproute2", ("/usr/sbin/ip", "/sbin/ip", "/bin/ip"))
    names = ["unshare", "mount", "ip"]
    if faketime:
        t["faketime"] = _tool("faketime", "faketime")
        names.append("faketime")
    for k in names:
        if not t[k]:
            why.append(f"{k} not found (apt-get install {_PACKAGES[k]})")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        why.append("python3 cryptography missing (for the test CA)")
    if not why:
        cmd = [t["unshare"], "--map-root-user", "--net", "--mount",
               "--propagation", "private", t["ip"], "link", "set", "lo", "up"]
        rc, out, err, _, _ = run_clean(cmd, {"PATH": harness.BASE_PATH}, timeout=30)
        if rc != 0:
            why.append("cannot create a user+net+mount namespace "
                       f"({' '.join(cmd[:6])}): exit {rc}: {err.strip()[:200]}")
    t["ok"] = not why
    t["why"] = "; ".join(why)
    _tools[key] = t
    return t


def unshare_cmd(tools, script, *args):
    """The command running `python3 script args...` in a fresh namespace."""
    return [tools["unshare"], "--map-root-user", "--net", "--mount", "--propagation",
            "private", sys.executable, str(script), *map(str, args)]


def run_plan(tools, script: Path, plan: dict, work: Path, timeout: float):
    """Runs a namespace runner (`script`, e.g. replay_ns.py) on `plan`,
    written to work/plan.json; returns its work/result.json as a dict, the
    runner's stderr and its run time in seconds. A runner that leaves no result, or whose namespace
    setup failed, is an AssertionError."""
    plan_path, result_path = work / "plan.json", work / "result.json"
    plan_path.write_text(json.dumps(plan, indent=1))
    cmd = unshare_cmd(tools, script, plan_path, result_path)
    rc, out, err, note, elapsed = run_clean(cmd, {"PATH": harness.BASE_PATH}, timeout=timeout)
    if not result_path.exists():
        raise AssertionError(f"{script.name} left no result (exit {rc}"
                             f"{', ' + note if note else ''}):\n{out}\n{err[-3000:]}")
    result = json.loads(result_path.read_text())
    if result["setup_error"]:
        raise AssertionError("namespace setup failed:\n" + result["setup_error"])
    return result, err, elapsed


def make_pki(directory: Path, names, ips):
    """A throw-away CA valid 2000-2099 (a faked clock may run far back) and
    one server certificate for every name and address. Returns the paths
    {"ca", "cert", "key"} as strings."""
    import servers
    return servers.make_test_pki(
        directory, names, ips, ca_name="aws-credproc replay CA",
        valid=(_dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc),
               _dt.datetime(2099, 12, 31, tzinfo=_dt.timezone.utc)))


# --------------------------------------------------------------------------
# inside the namespace


def sh(*cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stdout.strip()}")


def setup_namespace(ip, addresses, hosts, work: Path):
    """lo up with `addresses` (/32 each); /etc/hosts replaced (bind mount,
    private to this mount namespace) by localhost plus `hosts` {name: addr}."""
    sh(ip, "link", "set", "lo", "up")
    for addr in addresses:
        sh(ip, "addr", "add", f"{addr}/32", "dev", "lo")
    path = work / "hosts"
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    lines += [f"{addr} {name}" for name, addr in sorted(hosts.items())]
    path.write_text("\n".join(lines) + "\n")
    sh("mount", "--bind", str(path), "/etc/hosts")
