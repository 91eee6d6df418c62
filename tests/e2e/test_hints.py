"""Hand-debugging hints: AWS_PROFILE ignored, a missing profile explained,
a bare word taken for a command (issue 12, item 3 and part of item 4)."""

import os
import pty
import select
import subprocess

STATIC = ("[default]\naws_access_key_id = AKIADEFAULT000000001\n"
          "aws_secret_access_key = default-secret-0001\n"
          "[profile reader]\naws_access_key_id = AKIAREADER0000000002\n"
          "aws_secret_access_key = reader-secret-0002\n")

HINT = "AWS_PROFILE=writer is ignored; use --profile writer"


def test_aws_profile_hint_on_failure(t):
    t.config(STATIC)
    r = t.run(["--profile", "nope"], AWS_PROFILE="writer")
    t.fail(r, 2, "profile 'nope' does not exist")
    lines = r.stderr.splitlines()
    assert len(lines) >= 2 and lines[-2] == "aws-credproc: warning: " + HINT, r.stderr


def test_aws_default_profile_hint(t):
    t.config(STATIC)
    r = t.run(["--profile", "nope"], AWS_DEFAULT_PROFILE="writer")
    t.fail(r, 2, "nope")
    assert "AWS_DEFAULT_PROFILE=writer is ignored; use --profile writer" in r.stderr, r.stderr


def test_aws_profile_hint_not_when_it_is_the_profile_used(t):
    t.config(STATIC)
    r = t.run(["--profile", "nope"], AWS_PROFILE="nope")
    t.fail(r, 2, "nope")
    assert "ignored" not in r.stderr, r.stderr
    r = t.run(["explain", "--profile", "reader"], AWS_PROFILE="reader")
    assert r.rc == 0 and "ignored" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_aws_profile_hint_not_when_an_sdk_runs_us(t):
    # AWS_PROFILE=writer where [profile writer] has the credential_process
    # line that runs us (what an SDK does): no hint, --profile writer would
    # run that line again
    t.config(STATIC + f"[profile writer]\ncredential_process = {t.bin} --profile nope\n")
    r = t.run(["--profile", "nope"], AWS_PROFILE="writer")
    t.fail(r, 2, "nope")
    assert "ignored" not in r.stderr, r.stderr
    r = t.run(["--debug"], AWS_PROFILE="writer")
    t.ok(r, static=True)
    assert "ignored" not in r.stderr, r.stderr


def test_aws_profile_hint_in_explain_and_debug(t):
    t.config(STATIC)
    r = t.run(["explain"], AWS_PROFILE="writer")
    assert r.rc == 0, r.last_err
    assert "note: " + HINT in r.stdout, r.stdout
    r = t.run(["--debug"], AWS_PROFILE="writer")
    t.ok(r, static=True)
    assert "debug: " + HINT in r.stderr, r.stderr


def test_aws_profile_hint_on_success_only_on_a_terminal(t):
    t.config(STATIC)
    r = t.run([], AWS_PROFILE="writer")
    t.ok(r, static=True)
    assert "ignored" not in r.stderr, "hint printed on success to a pipe: " + r.stderr
    # stderr a terminal: the hint follows the document
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([t.bin], env=t.env(AWS_PROFILE="writer"), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        out, _ = p.communicate(timeout=30)
        err = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0 and b"AKIADEFAULT" in out, (p.returncode, out)
    assert HINT.encode() in err, err


def test_missing_profile_names_files(t):
    t.credentials(STATIC.replace("[profile reader]", "[reader]"))
    missing = t.tmp / "no-such-config"
    r = t.run(["--profile", "writer"], AWS_CONFIG_FILE=str(missing))
    t.fail(r, 2, "profile 'writer' does not exist",
           f"(read {t.credentials_path}; AWS_CONFIG_FILE={missing} does not exist)")


def test_missing_profile_suggests_closest(t):
    t.config(STATIC + "[profile writers]\nregion = us-east-1\n")
    t.fail(t.run(["--profile", "writer"]), 2, "did you mean 'writers'?")
    last = t.fail(t.run(["--profile", "zzzzzz"]), 2, "zzzzzz")
    assert "did you mean" not in last, last


def test_missing_profile_bare_section_in_config(t):
    t.config(STATIC + "[writer]\nregion = us-east-1\n")
    t.fail(t.run(["--profile", "writer"]), 2, "the config file has [writer]",
           "[profile writer]")


def test_bare_word_hints_at_profile(t):
    t.config(STATIC)
    t.fail(t.run(["writer"]), 2, "unknown command 'writer'; did you mean --profile writer?")
