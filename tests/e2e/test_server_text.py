"""Server text is data: what a server answers (STS <Code>/<Message>, the
IMDS credentials document's Code/Message) reaches stderr without a single
terminal control character, with and without --debug; and no message,
trace line or `explain` output shows the userinfo of an endpoint URL
(`https://user:pass@host`), whichever endpoint it is (STS, IMDS, container,
SSO, proxy), on success, on a refusal and on a connection failure."""

import servers
from test_fake_sts import ROLE_B, _static_base, _sts
from test_imds import _fake_imds_creds
from test_sso import _config as _sso_config
from test_sso import _server as _sso_server
from test_sso import _write_token as _sso_token
from test_sso import SESSION as SSO_SESSION

# What a hostile or broken server may put in its text: CSI as U+009B (raw
# UTF-8 and a character reference), NEL U+0085, DEL; XML 1.0 cannot carry
# ESC or BEL, JSON can.
STS_CODE = "Evil\u009b2J\x7fCode"
STS_MESSAGE = "\u009b31mred\u0085alert \x7f text"
IMDS_CODE = "\x1b[2J\x07AssumeRoleUnauthorizedAccess\u009b"
IMDS_MESSAGE = "\x1b]0;pwned\x07 \u009b31mred\x1b[0m \x7f text"
PASSWORD = "secretpass"


def _assert_clean(res):
    """No byte 0x00-0x08, 0x0B-0x1F or 0x7F on stderr, which is valid UTF-8
    without a C1 code point (U+0080-U+009F)."""
    raw = res.stderr_bytes
    assert raw is not None, "the run did not keep stderr's bytes"
    bad = sorted({f"0x{b:02x}" for b in raw if (b < 0x20 and b not in (0x09, 0x0a)) or b == 0x7f})
    assert not bad, f"control bytes {bad} on stderr: {raw!r}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"stderr is not UTF-8 ({e}): {raw!r}")
    c1 = sorted({f"U+{ord(c):04X}" for c in text if 0x80 <= ord(c) <= 0x9f})
    assert not c1, f"C1 controls {c1} on stderr: {raw!r}"


def _role_config(t):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"region = us-east-1\n")


def _both(t, args, code, *needles, **env):
    """Runs args without and with --debug: each must fail with code and
    name the needles. Returns both results."""
    out = []
    for debug in ([], ["--debug"]):
        res = t.run([*args, "--no-cache", *debug], **env)
        t.fail(res, code, *needles)
        out.append(res)
    return out


# ------------------------------------------------------------------ server text

def test_sts_error_text_is_cleaned(t):
    sts = _sts(t)
    _role_config(t)
    sts.queue_reply(servers.StsReply(403, STS_CODE, STS_MESSAGE), times=2)
    for res in _both(t, ["--profile", "b"], 4, "Evil", "2J", "31mred", "alert", "text",
                     AWS_ENDPOINT_URL_STS=sts.url):
        _assert_clean(res)


def test_sts_error_character_references_are_cleaned(t):
    """The same characters written as XML character references, and a
    retryable error (retried, then a transport failure) carrying them."""
    sts = _sts(t)
    _role_config(t)
    body = servers.sts_error_xml("Throttling", "MSG").replace(
        b"MSG", b"&#x9B;1;1H&#x85;\xc2\x9b\x7f slow down")
    sts.queue_reply(servers.StsReply(400, body=body), times=20)
    for res in _both(t, ["--profile", "b"], 5, "Throttling", "1;1H", "slow down",
                     AWS_ENDPOINT_URL_STS=sts.url):
        _assert_clean(res)


def test_imds_error_text_is_cleaned(t):
    imds = t.imds(credentials=_fake_imds_creds(), code=IMDS_CODE, message=IMDS_MESSAGE)
    t.config(f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"region = us-east-1\n")
    for res in _both(t, ["--profile", "ec2"], 3, "AssumeRoleUnauthorizedAccess", "pwned",
                     "31mred", "text", AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
                     AWS_ENDPOINT_URL_STS=servers.closed_port_url()):
        _assert_clean(res)


# ------------------------------------------------------------------ URL userinfo

def _with_userinfo(url):
    scheme, rest = url.split("://", 1)
    return f"{scheme}://user:{PASSWORD}@{rest}"


def _no_password(res, also_stdout=False):
    for name, text in (("stderr", res.stderr), ("stdout", res.stdout if also_stdout else "")):
        assert PASSWORD not in text and "user:" not in text, \
            f"the endpoint's userinfo appears on {name}: {text!r}"


def _explain(t, args, want, **env):
    res = t.run([*args, "explain", "--debug"], **env)
    assert res.rc == 0, res.stderr
    assert want in res.stdout, res.stdout
    _no_password(res, also_stdout=True)


def test_sts_endpoint_userinfo_never_shown(t):
    sts = _sts(t)
    _role_config(t)
    t.secret(PASSWORD)
    url = _with_userinfo(sts.url)
    res = t.run(["--profile", "b", "--no-cache", "--debug"], AWS_ENDPOINT_URL_STS=url)
    t.ok(res)
    assert "STS endpoint" in res.stderr, "no debug line names the STS endpoint"
    _no_password(res)
    _explain(t, ["--profile", "b"], f"STS endpoint: {sts.url}", AWS_ENDPOINT_URL_STS=url)

    # a refusal, and a profile endpoint_url that is malformed
    sts.queue_error(403, "AccessDenied", "not allowed", times=2)
    for res in _both(t, ["--profile", "b"], 4, "AccessDenied", AWS_ENDPOINT_URL_STS=url):
        _no_password(res)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"region = us-east-1\nendpoint_url = http://user:{PASSWORD}@127.0.0.1:99999\n")
    for res in _both(t, ["--profile", "b"], 2, "port"):
        _no_password(res)


def test_sts_endpoint_userinfo_connection_failure(t):
    _role_config(t)
    t.secret(PASSWORD)
    for res in _both(t, ["--profile", "b", "--timeout", "10"], 5,
                     AWS_ENDPOINT_URL_STS=_with_userinfo(servers.closed_port_url())):
        _no_password(res)


def test_proxy_userinfo_never_shown(t):
    _role_config(t)
    t.secret(PASSWORD)
    proxy = _with_userinfo(servers.closed_port_url())
    for res in _both(t, ["--profile", "b", "--timeout", "10"], 5,
                     AWS_ENDPOINT_URL_STS="http://sts.example.invalid",
                     http_proxy=proxy, HTTPS_PROXY=proxy, NO_PROXY=None):
        _no_password(res)


def test_imds_endpoint_userinfo_never_shown(t):
    t.secret(PASSWORD)
    t.config(f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"region = us-east-1\n")
    url = _with_userinfo(servers.closed_port_url())
    for res in _both(t, ["--profile", "ec2"], 3, AWS_EC2_METADATA_SERVICE_ENDPOINT=url):
        _no_password(res)
    _explain(t, ["--profile", "ec2"], "EC2 instance metadata",
             AWS_EC2_METADATA_SERVICE_ENDPOINT=url)


def test_container_endpoint_userinfo_never_shown(t):
    t.secret(PASSWORD)
    t.config(f"[profile task]\nrole_arn = {ROLE_B}\ncredential_source = EcsContainer\n"
             f"region = us-east-1\n")
    url = _with_userinfo(servers.closed_port_url()) + "/v2/credentials/x"
    for res in _both(t, ["--profile", "task"], (2, 3), AWS_CONTAINER_CREDENTIALS_FULL_URI=url):
        _no_password(res)


def test_sso_endpoint_userinfo_never_shown(t):
    t.secret(PASSWORD)
    s = _sso_server(t)
    _sso_config(t)
    _sso_token(t, s, SSO_SESSION, 8 * 3600)
    url = _with_userinfo(servers.closed_port_url())
    for res in _both(t, ["--profile", "dev", "--timeout", "10"], 5,
                     AWS_ENDPOINT_URL_SSO=url, AWS_ENDPOINT_URL_SSO_OIDC=url):
        _no_password(res)
