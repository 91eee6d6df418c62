"""tests/demo.sh as a newcomer runs it: from a clean clone, on a stock
Debian 12 (Debian's /usr/bin/python3, no moto, no pyenv: the project's own
loopback STS), and once with moto available; and the demo's STS itself
(tests/demo_sts.py) checking SigV4 as STS does.

The clone is of the committed HEAD: uncommitted changes are not in it."""

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Skip, run_clean

ROOT = Path(__file__).resolve().parent.parent.parent
DEBIAN_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
OWN_STS_LINE = ("== moto is not installed: using the project's own loopback STS "
                "(SigV4 checked as STS does)")
MASKED = {k: re.compile(r'"%s":\s*"[^"*]{4}\*\*\*\*"' % k)
          for k in ("SecretAccessKey", "SessionToken")}
_clone = {}


def _missing(what):
    if os.environ.get("CI") == "true":
        raise AssertionError(what + " (CI=true: required)")
    raise Skip(what)


def _clean_clone():
    """A git clone of ROOT's HEAD in a temp dir (one per run; the demo builds
    in it once, the second demo run reuses that build)."""
    if "dir" in _clone:
        return _clone["dir"]
    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"],
            capture_output=True).returncode != 0:
        _missing("the source tree is not a git checkout (or git is missing)")
    base = tempfile.mkdtemp(prefix="aws-credproc-demo-clone.")
    atexit.register(shutil.rmtree, base, True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    clone = Path(base) / "src"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", head], check=True)
    _clone["dir"] = clone
    return clone


def _demo_env(t, path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYENV", "AWS_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=path, HOME=str(t.home), TMPDIR=str(t.tmp), LC_ALL="C.UTF-8")
    return env


def _run_demo(t, clone, env, label):
    rc, out, err, note, elapsed = run_clean(["sh", str(clone / "tests/demo.sh")], env,
                                            timeout=600)
    t.shown.append(f"demo ({label}): {elapsed:.1f}s, exit {rc}")
    assert rc == 0, f"demo ({label}) exit {rc} {note}\nstdout:\n{out}\nstderr:\n{err}"
    for k, rx in MASKED.items():
        assert rx.search(out), f"{k} not printed masked:\n{out}"
    assert "demo finished" in out, out
    if shutil.which("aws", path=env["PATH"]):
        assert "assumed-role/report-writer/nightly-reports" in out, out
    else:
        assert "no AWS CLI (aws) on PATH: skipping the AWS CLI step" in out, out
    return out, err


def test_demo_stock_debian(t):
    """Debian's python3 first on PATH, pyenv hidden: the own STS, said once."""
    if not os.path.exists("/usr/bin/python3"):
        _missing("no /usr/bin/python3")
    env0 = {"PATH": DEBIAN_PATH}
    if subprocess.run(["/usr/bin/python3", "-c", "import moto"], env=env0,
                      capture_output=True).returncode == 0:
        _missing("/usr/bin/python3 can import moto: not a stock Debian python")
    clone = _clean_clone()
    out, err = _run_demo(t, clone, _demo_env(t, DEBIAN_PATH), "stock Debian, own STS")
    assert out.count(OWN_STS_LINE) == 1 and out.count("own loopback STS") == 1, out
    assert "moto (STS/IAM)" not in out, out
    assert not re.search(r"\bpip\b", err), err


def test_demo_with_moto(t):
    """python3 with moto and boto3 on PATH (as check.sh runs): moto, as before."""
    path = os.environ.get("PATH", "")
    if subprocess.run(["python3", "-c", "import moto, boto3"], capture_output=True,
                      env={"PATH": path}).returncode != 0 or not shutil.which("moto_server"):
        _missing("python3 on PATH lacks moto/boto3 or moto_server")
    clone = _clean_clone()
    env = _demo_env(t, path)
    for k in ("PYENV_ROOT", "PYENV_VERSION"):  # keep pyenv working if it is in use
        if k in os.environ:
            env[k] = os.environ[k]
    out, _ = _run_demo(t, clone, env, "moto")
    assert "moto (STS/IAM) on http://127.0.0.1:" in out, out
    assert "own loopback STS" not in out, out


def test_demo_sts_checks_sigv4(t):
    """tests/demo_sts.py: the issued key signs an AssumeRole (and the AWS
    format comes back); the same key with a wrong secret is refused with
    SignatureDoesNotMatch, an unknown key with InvalidClientTokenId."""
    import json

    work = t.tmp / "sts"
    work.mkdir()
    p = subprocess.Popen([sys.executable, str(ROOT / "tests/demo_sts.py"), str(work)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if (work / "setup.json").exists():
                break
            time.sleep(0.1)
        setup = json.loads((work / "setup.json").read_text())

        def run(akid, secret):
            t.config(f"[profile base]\naws_access_key_id = {akid}\n"
                     f"aws_secret_access_key = {secret}\n"
                     f"[profile role]\nrole_arn = {setup['role']}\nsource_profile = base\n"
                     f"region = us-east-1\n")
            return t.run(["--profile", "role"], AWS_ENDPOINT_URL_STS=setup["endpoint"])

        # the refusals first: a success would be cached
        bad = run(setup["akid"], setup["secret"][:-1] + ("A" if setup["secret"][-1] != "A" else "B"))
        assert bad.rc != 0 and "SignatureDoesNotMatch" in bad.stderr, bad.stderr
        unknown = run("AKIA0000000000000000", setup["secret"])
        assert unknown.rc != 0 and "InvalidClientTokenId" in unknown.stderr, unknown.stderr
        doc = t.ok(run(setup["akid"], setup["secret"]))
        assert doc["AccessKeyId"].startswith("ASIA"), doc
    finally:
        p.terminate()
        p.wait(10)
    assert p.returncode == 0, p.stderr.read().decode(errors="replace")
