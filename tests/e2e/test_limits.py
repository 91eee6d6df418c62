"""README "Limits": each one exactly at the limit works, one past it is a
clear error (exit 2 unless noted), never a crash, a hang or a truncation."""

import json
import os
import re
import stat

import servers
from test_fake_sts import BASE_KEY, ROLE_B, _static_base
from test_faults import assert_no_cache_entry, assert_one_cache_entry, cache_dir

KIB = 1024
MIB = 1024 * 1024
STATIC = ("[profile static]\naws_access_key_id = AKIALIMITS0000000001\n"
          "aws_secret_access_key = limits-static-secret-0001\n")


def _not_crashed(res):
    assert res.rc is not None and res.rc >= 0, f"killed by signal {-res.rc}"
    assert "left processes behind" not in res.note, res.note


def _padded_file(text: str, size: int) -> bytes:
    """text followed by comment lines (each under 1 KiB) up to exactly size bytes."""
    data = text.encode()
    assert len(data) < size
    out = [data]
    left = size - len(data)
    while left:
        n = min(left, 1000)
        if n == 1:  # a bare newline is a valid (empty) line
            out.append(b"\n")
        else:
            out.append(b"#" + b"x" * (n - 2) + b"\n")
        left -= n
    body = b"".join(out)
    assert len(body) == size
    return body


# ------------------------------------------------------------------ files

def test_limits_config_file_size(t):
    t.secret("limits-static-secret-0001")
    for which, env_name in (("config", "AWS_CONFIG_FILE"),
                            ("credentials", "AWS_SHARED_CREDENTIALS_FILE")):
        path = t.tmp / f"{which}-big"
        text = STATIC if which == "config" else STATIC.replace("[profile static]", "[static]")
        path.write_bytes(_padded_file(text, 16 * MIB))
        res = t.run(["--profile", "static"], **{env_name: str(path)})
        doc = t.ok(res, static=True)
        assert doc["AccessKeyId"] == "AKIALIMITS0000000001"
        path.write_bytes(_padded_file(text, 16 * MIB + 1))
        res = t.run(["--profile", "static"], **{env_name: str(path)})
        _not_crashed(res)
        t.fail(res, 2, str(path), any_of=["larger than", "16777216", "16 MiB", "too large"])


def test_limits_config_not_a_regular_file(t):
    """The config and credentials files must be regular files: a FIFO held
    open by a writer, a terminal nobody types on, an endless character
    device, a pipe (a shell's process substitution, AWS_CONFIG_FILE=<(...))
    are refused at once, exit 2 naming the file, instead of being read until
    the writer closes (never, or past any --timeout)."""
    t.secret("limits-static-secret-0001")
    for label, path in t.special_files():
        for env_name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            res = t.run(["--profile", "static", "--timeout", "5"], timeout=30,
                        **{env_name: path})
            _not_crashed(res)
            t.fail(res, 2, path, "not a regular file")
            assert res.elapsed < t.within(5), f"{env_name}={label}: took {res.elapsed:.1f}s"
    sh = ['/bin/sh', '-c', 'AWS_CONFIG_FILE=/dev/fd/3 exec "$0" "$@" 3<&0 </dev/null', t.bin]
    res = t.run([], cmd=sh + ["--profile", "static"], timeout=10, input=STATIC)
    _not_crashed(res)
    t.fail(res, 2, "/dev/fd/3", "not a regular file")


def test_limits_config_line_length(t):
    t.secret("limits-static-secret-0001")
    for n, ok in ((64 * KIB, True), (64 * KIB + 1, False)):
        long_line = b"#" + b"y" * (n - 1)
        assert len(long_line) == n
        t.config_path.write_bytes(STATIC.encode() + long_line + b"\n[profile after]\nregion = x\n")
        res = t.run(["--profile", "static"])
        if ok:
            t.ok(res, static=True)
        else:
            _not_crashed(res)
            t.fail(res, 2, str(t.config_path), any_of=["line 4", "longer than", "65536"])
    # a long value, not a comment
    t.config_path.write_bytes(STATIC.encode() + b"[profile r]\nrole_session_name = " +
                              b"z" * (64 * KIB) + b"\n")
    t.fail(t.run(["--profile", "static"]), 2, str(t.config_path))


# ------------------------------------------------------------------ chains

def _hops_config(n):
    """profile r0 -> r1 -> ... -> r(n-1) -> static: n source_profile hops."""
    text = _static_base().replace("[profile base]", "[profile static]")
    for i in range(n):
        src = f"r{i + 1}" if i < n - 1 else "static"
        text += (f"[profile r{i}]\nrole_arn = arn:aws:iam::123456789012:role/r{i}\n"
                 f"source_profile = {src}\nrole_session_name = hop-{i}\n")
    return text


def test_limits_source_profile_hops(t):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    t.config(_hops_config(16))
    doc = t.ok(t.run(["--profile", "r0"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1"))
    ars = sts.assume_role_requests()
    assert len(ars) == 16 and all(r.status == 200 for r in ars), [r.status for r in ars]
    assert ars[-1].form["RoleArn"].endswith("/r0"), ars[-1].form["RoleArn"]
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert_one_cache_entry(t, doc)

    t.config(_hops_config(17))
    for d in cache_dir(t).glob("*"):
        d.unlink()
    mark = sts.mark()
    res = t.run(["--profile", "r0"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")
    _not_crashed(res)
    t.fail(res, 2, "16", any_of=["hops", "too long", "longer", "limit"])
    assert not sts.assume_role_requests(mark), "STS called for a chain over the limit"
    assert_no_cache_entry(t)


def _nested_config(t, total):
    """`total` aws-credproc processes in a stack: n0 runs aws-credproc for n1,
    ..., the last one prints the static profile."""
    text = STATIC
    for i in range(total - 1):
        nxt = f"n{i + 1}" if i < total - 2 else "static"
        text += f"[profile n{i}]\ncredential_process = {t.bin} --profile {nxt}\n"
    t.config(text)


def test_limits_nested_invocations(t):
    t.secret("limits-static-secret-0001")
    _nested_config(t, 4)
    doc = t.ok(t.run(["--profile", "n0"]), static=True)
    assert doc["AccessKeyId"] == "AKIALIMITS0000000001"
    _nested_config(t, 5)
    res = t.run(["--profile", "n0"])
    _not_crashed(res)
    t.fail(res, 2, "4", any_of=["nested", "AWS_CREDPROC_CHAIN"])
    assert res.elapsed < t.within(10), f"took {res.elapsed:.1f}s"


# ------------------------------------------------------------------ nested process output

def _process_profile(t, script_body):
    script = t.tmp / "helper.sh"
    script.write_text("#!/bin/sh\n" + script_body)
    script.chmod(0o755)
    t.config(f"[profile np]\ncredential_process = {script}\n")


def test_limits_nested_process_output(t):
    doc = {"Version": 1, "AccessKeyId": "AKIANESTED0000000001",
           "SecretAccessKey": "nested-secret-0001"}
    t.secret("nested-secret-0001")
    base = json.dumps(doc).encode()
    out = t.tmp / "out.json"
    _process_profile(t, f"cat {out}\n")
    # exactly 64 KiB (padded with whitespace): accepted
    out.write_bytes(base[:-1] + b" " * (64 * KIB - len(base)) + b"}")
    assert out.stat().st_size == 64 * KIB
    got = t.ok(t.run(["--profile", "np"]), static=True)
    assert got["AccessKeyId"] == "AKIANESTED0000000001"
    # one byte more: refused, exit 3
    out.write_bytes(base[:-1] + b" " * (64 * KIB + 1 - len(base)) + b"}")
    res = t.run(["--profile", "np"])
    _not_crashed(res)
    t.fail(res, 3, "np", any_of=["65536", "64 KiB", "more than", "too much", "exceeds"])


def test_limits_nested_process_endless_output(t):
    _process_profile(t, "exec yes '{\"Version\": 1}'\n")
    res = t.run(["--profile", "np"], timeout=20)
    _not_crashed(res)
    t.fail(res, 3, "np")
    assert res.elapsed < t.within(5), f"took {res.elapsed:.1f}s"


def test_limits_nested_process_deadline(t):
    _process_profile(t, "sleep 60\n")
    res = t.run(["--profile", "np", "--timeout", "2"], timeout=20)
    _not_crashed(res)
    t.fail(res, 3, "np", any_of=["did not finish", "timed out", "within", "2 s"])
    assert 1.5 <= res.elapsed <= t.within(4), f"--timeout 2 ended after {res.elapsed:.1f}s"


def test_limits_nested_process_grandchild_holds_output(t):
    """The helper prints its document and exits, but leaves a background
    process holding its stdout: what it printed is read without waiting
    for that process (nor for the deadline)."""
    doc = {"Version": 1, "AccessKeyId": "AKIANESTED0000000002",
           "SecretAccessKey": "nested-secret-0002"}
    t.secret("nested-secret-0002")
    out = t.tmp / "out.json"
    out.write_text(json.dumps(doc))
    _process_profile(t, f"(sleep 100 &)\ncat {out}\n")
    res = t.run(["--profile", "np", "--timeout", "5"], timeout=30)
    _not_crashed(res)
    got = t.ok(res, static=True)
    assert got["AccessKeyId"] == "AKIANESTED0000000002"
    assert res.elapsed < t.within(5), f"--timeout 5 ended after {res.elapsed:.1f}s"


# ------------------------------------------------------------------ cache entry

def _pad_entry(p, size):
    raw = p.read_bytes().rstrip()
    assert raw.endswith(b"}")
    p.write_bytes(raw[:-1] + b" " * (size - len(raw)) + b"}")
    os.chmod(p, 0o600)
    assert p.stat().st_size == size


def _warnings(res):
    return [l for l in res.stderr.splitlines() if l.startswith("aws-credproc: warning")]


def test_limits_cache_entry_size(t):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"region = us-east-1\n")
    env = {"AWS_ENDPOINT_URL_STS": sts.url}
    d1 = t.ok(t.run(["--profile", "b"], **env))
    e = assert_one_cache_entry(t, d1)
    p = next(cache_dir(t).glob("*.json"))
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    # exactly 64 KiB: still a hit, silently
    _pad_entry(p, 64 * KIB)
    r = t.run(["--profile", "b"], **env)
    d2 = t.ok(r)
    assert len(sts.assume_role_requests()) == 1, "a 64 KiB entry was not a hit"
    assert d2["AccessKeyId"] == d1["AccessKeyId"] and r.stderr == "", r.stderr
    # one byte more: a miss, one warning, exit 0, and the entry replaced
    _pad_entry(p, 64 * KIB + 1)
    r = t.run(["--profile", "b"], **env)
    d3 = t.ok(r)
    assert len(sts.assume_role_requests()) == 2, "an oversized entry was used"
    w = _warnings(r)
    assert len(w) == 1 and len(r.stderr.splitlines()) == 1, \
        f"expected exactly one warning: {r.stderr!r}"
    assert p.name in w[0] or "cache" in w[0].lower(), w[0]
    assert d3["AccessKeyId"] == sts.issued[-1]["AccessKeyId"] != d1["AccessKeyId"]
    assert p.stat().st_size < 64 * KIB, "the oversized entry was not replaced"
    assert_one_cache_entry(t, d3)
    assert e["Key"] == json.loads(p.read_text())["Key"]


# ------------------------------------------------------------------ environment

ENV_READ = ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_V1_DISABLED",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_CREDPROC_CHAIN", "AWS_CREDPROC_CACHE_DIR", "AWS_CREDPROC_DEBUG"]


def test_limits_environment_values(t):
    t.config(STATIC)
    t.secret("limits-static-secret-0001")
    over = "a" * (64 * KIB + 1)
    for name in ENV_READ:
        res = t.run(["--profile", "static"], **{name: over})
        _not_crashed(res)
        t.fail(res, 2, name)
        assert over[:200] not in res.stderr, f"{name}'s value echoed on stderr"
    # at the cap, and variables we never read, are fine
    at = "b" * (64 * KIB)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SOMETHING_ELSE", "UNRELATED"):
        t.ok(t.run(["--profile", "static"], **{name: at}), static=True)
    t.ok(t.run(["--profile", "static"], AWS_PROFILE="c" * (100 * KIB)), static=True)
