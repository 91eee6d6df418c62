"""Failures: exit status, empty stdout, a meaningful last stderr line."""

import re

import servers

CYCLE_WORDS = ["cycle", "loop", "circular", "recurs", "already"]


def _base(m, name="base", secret=None):
    return (f"[profile {name}]\naws_access_key_id = {m.base['AccessKeyId']}\n"
            f"aws_secret_access_key = {secret or m.base['SecretAccessKey']}\n")


STATIC = ("[profile static]\naws_access_key_id = AKIASTATIC0000000009\n"
          "aws_secret_access_key = static-secret-0009\n")


# ------------------------------------------------------------------ usage

def test_unknown_flag(t):
    t.config(STATIC)
    t.fail(t.run(["--profile", "static", "--no-such-flag"]), 2, "--no-such-flag")


def test_flag_missing_argument(t):
    t.config(STATIC)
    t.fail(t.run(["--profile"]), 2, "profile")


def test_malformed_duration_flag(t):
    t.config(STATIC)
    t.fail(t.run(["--role-arn", "arn:aws:iam::123456789012:role/x", "--source-profile",
                  "static", "--duration-seconds", "1h"]), 2, "duration")


def test_help_and_version(t):
    r = t.run(["--help"])
    assert r.rc == 0 and "aws-credproc" in (r.stdout + r.stderr), r.last_err
    assert "--profile" in r.stdout, "--help does not mention --profile on stdout"
    r = t.run(["--version"])
    assert r.rc == 0 and re.search(r"\d+\.\d+", r.stdout), r.stdout


# ------------------------------------------------------------------ configuration

def test_missing_profile(t):
    t.config(STATIC)
    t.fail(t.run(["--profile", "does-not-exist"]), 2, "does-not-exist")


def test_missing_config_files(t):
    t.fail(t.run(["--profile", "anything"], AWS_CONFIG_FILE=str(t.tmp / "nope"),
                 AWS_SHARED_CREDENTIALS_FILE=str(t.tmp / "nope2")), 2, "anything")


def test_role_without_source(t):
    t.config("[profile orphan]\nrole_arn = arn:aws:iam::123456789012:role/x\n")
    t.fail(t.run(["--profile", "orphan"]), 2, "orphan",
           any_of=["source_profile", "credential_source"])


def test_role_with_both_sources(t):
    t.config(STATIC + "[profile both]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
             "source_profile = static\ncredential_source = Environment\n")
    t.fail(t.run(["--profile", "both"], AWS_ACCESS_KEY_ID="AKIAENV0000000000001",
                 AWS_SECRET_ACCESS_KEY="env-secret"), 2, "both",
           any_of=["source_profile", "credential_source"])


def test_source_profile_cycle(t):
    t.config("[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = b\n"
             "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = a\n")
    t.fail(t.run(["--profile", "a"], AWS_ENDPOINT_URL_STS=servers.closed_port_url()), 2,
           any_of=CYCLE_WORDS)


def test_self_reference_without_static_keys(t):
    t.config("[profile me]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = me\n")
    t.fail(t.run(["--profile", "me"], AWS_ENDPOINT_URL_STS=servers.closed_port_url()), 2,
           "me")


def test_source_profile_missing(t):
    t.config("[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = ghost\n")
    t.fail(t.run(["--profile", "r"]), 2, "ghost")


def test_malformed_duration_seconds(t):
    t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = static\nduration_seconds = 2h\n")
    t.fail(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=servers.closed_port_url()), 2,
           "duration_seconds")


def test_duration_seconds_out_of_range(t):
    for bad in ("100", "50000"):
        t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
                 f"source_profile = static\nduration_seconds = {bad}\n")
        t.fail(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=servers.closed_port_url()), 2,
               "duration_seconds", bad)


def test_invalid_role_session_name(t):
    t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = static\nrole_session_name = has space\n")
    t.fail(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=servers.closed_port_url()), 2,
           "role_session_name")


def test_unknown_credential_source(t):
    t.config("[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "credential_source = Ec2Instance\n")
    t.fail(t.run(["--profile", "r"]), 2, "Ec2Instance")


def test_services_section_missing_or_empty(t):
    """services = NAME with no (or an empty) [services NAME] section: refused
    as botocore refuses it, before the source keys go anywhere (not to the
    profile's endpoint_url, not to the default endpoint)."""
    sts = t.fake_sts(keys={"AKIASTATIC0000000009": ("static-secret-0009", None)})
    t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
             f"source_profile = static\nregion = us-east-1\nendpoint_url = {sts.url}\n"
             "services = mine\n")
    t.fail(t.run(["--profile", "r", "--no-cache"]), 2, "'mine'", "does not exist")
    t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
             f"source_profile = static\nregion = us-east-1\nendpoint_url = {sts.url}\n"
             "services = mine\n[services mine]\n")
    t.fail(t.run(["--profile", "r", "--no-cache"]), 2, "'mine'", "empty")
    assert not sts.requests, f"STS was called: {sts.requests}"


def test_static_profile_missing_secret(t):
    t.config("[profile half]\naws_access_key_id = AKIAHALF000000000001\n")
    t.fail(t.run(["--profile", "half"]), 2, "aws_secret_access_key")


def test_source_profile_chain_too_long(t):
    sts = t.fake_sts(keys={"AKIASTATIC0000000009": ("static-secret-0009", None)})
    text = STATIC
    for i in range(20):
        src = f"r{i + 1}" if i < 19 else "static"
        text += (f"[profile r{i}]\nrole_arn = arn:aws:iam::123456789012:role/r{i}\n"
                 f"source_profile = {src}\n")
    t.config(text)
    res = t.run(["--profile", "r0"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 2, any_of=["16", "limit", "too long", "too many", "depth", "hops"])
    t.note(f"STS calls before giving up: {len(sts.assume_role_requests())}")


# ------------------------------------------------------------------ nested processes

def test_credential_process_invokes_itself(t):
    # (profile name chosen so that it does not itself match CYCLE_WORDS)
    t.config(f"[profile selfie]\ncredential_process = {t.bin} --profile selfie\n")
    res = t.run(["--profile", "selfie"], timeout=30)
    t.fail(res, 2, any_of=CYCLE_WORDS + ["AWS_CREDPROC_CHAIN"])
    assert res.elapsed < t.within(15), f"took {res.elapsed:.1f}s"
    # printed once: by the outer call, not also by the inner one
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_credential_process_mutual_recursion(t):
    t.config(f"[profile p]\ncredential_process = {t.bin} --profile q\n"
             f"[profile q]\ncredential_process = {t.bin} --profile p\n")
    res = t.run(["--profile", "p"], timeout=30)
    t.fail(res, 2, any_of=CYCLE_WORDS + ["AWS_CREDPROC_CHAIN"])
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_nested_error_printed_once_with_aws_profile(t):
    # an inner failure is printed once, by the outermost call; the
    # AWS_PROFILE hint is the outer call's alone
    t.config(f"[profile outer]\ncredential_process = {t.bin} --profile missing\n")
    res = t.run(["--profile", "outer"], AWS_PROFILE="writer", timeout=30)
    t.fail(res, 2, "profile 'missing' does not exist")
    lines = res.stderr.splitlines()
    assert lines == ["aws-credproc: warning: AWS_PROFILE=writer is ignored; use --profile writer",
                     lines[-1]], res.stderr


def test_chain_env_already_contains_profile(t):
    t.config(STATIC)
    res = t.run(["--profile", "static"], AWS_CREDPROC_CHAIN="outer,static")
    t.fail(res, 2, "static")


def test_nested_depth_limit(t):
    text = STATIC
    n = 8
    for i in range(n):
        nxt = f"n{i + 1}" if i < n - 1 else "static"
        text += f"[profile n{i}]\ncredential_process = {t.bin} --profile {nxt}\n"
    t.config(text)
    res = t.run(["--profile", "n0"], timeout=30)
    t.fail(res, 2, any_of=["nest", "depth", "limit", "too many", "4"])


def test_nested_two_levels_ok(t):
    t.config(STATIC +
             f"[profile n0]\ncredential_process = {t.bin} --profile n1\n"
             f"[profile n1]\ncredential_process = {t.bin} --profile static\n")
    doc = t.ok(t.run(["--profile", "n0"]), static=True)
    assert doc["AccessKeyId"] == "AKIASTATIC0000000009"


def test_nested_process_fails(t):
    t.config("[profile np]\ncredential_process = echo boom >&2; exit 7\n"
             "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = np\n")
    res = t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=servers.closed_port_url())
    t.fail(res, 3, any_of=["credential_process", "np", "exit", "7"])


def test_nested_process_prints_garbage(t):
    t.config("[profile np]\ncredential_process = echo not-json\n")
    t.fail(t.run(["--profile", "np"]), 3, any_of=["credential_process", "json", "np"])


# ------------------------------------------------------------------ STS refusals (moto)

def test_wrong_secret(t):
    m = t.moto
    t.config(_base(m, secret="W" * 40) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    mark = m.mark()
    res = t.run(["--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.secret("W" * 40)
    t.fail(res, 4, "SignatureDoesNotMatch", "reader")
    assert len(m.assume_role_requests(mark)) == 1, "refusal retried"


def test_unknown_access_key(t):
    m = t.moto
    t.config("[profile base]\naws_access_key_id = AKIANOTKNOWNTOMOTO01\n"
             "aws_secret_access_key = some-secret-value\n"
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    res = t.run(["--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 4, "InvalidClientTokenId", "reader")


def test_access_denied_by_trust_policy(t):
    m = t.moto
    t.config(_base(m) +
             f"[profile d]\nrole_arn = {m.roles['denied']}\nsource_profile = base\n")
    res = t.run(["--profile", "d"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 4, "AccessDenied", "denied")


def test_second_hop_refused(t):
    m = t.moto
    # reader's session may not assume `long` (trusts the base user only)
    t.config(_base(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"[profile hop]\nrole_arn = {m.roles['long']}\nsource_profile = reader\n")
    mark = m.mark()
    res = t.run(["--profile", "hop"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 4, "AccessDenied", "long")
    assert [r.status for r in m.assume_role_requests(mark)] == [200, 403]


# ------------------------------------------------------------------ transport

def test_unreachable_endpoint(t):
    t.config(STATIC + "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
             "source_profile = static\n")
    res = t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=servers.closed_port_url())
    t.fail(res, 5, any_of=["connect", "refused", "127.0.0.1"])
