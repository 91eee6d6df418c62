"""README "## Troubleshooting": every error line it quotes is one the
binary really prints. Each scenario below makes one of them happen (loopback
servers only); the README's entries ("- `aws-credproc: …` (exit N)", where
"…" stands for the part that changes from run to run) must each match a line
of a scenario, with its exit status, and each scenario's line must be
quoted by an entry."""

import re
from pathlib import Path

import servers
from test_fake_sts import BASE_KEY, ROLE_A, ROLE_B, _static_base, _sts

README = Path(__file__).resolve().parents[2] / "README.md"


def _troubleshooting():
    text = README.read_text()
    m = re.search(r"^## Troubleshooting\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no '## Troubleshooting' section"
    entries = re.findall(r"^- `(aws-credproc: [^`]+)` \(exit (\d)\)", m.group(1), re.M)
    assert entries, "README troubleshooting: no '- `aws-credproc: …` (exit N)' entries"
    return [(q, int(c)) for q, c in entries]


def _pattern(quote):
    return re.compile("^" + ".*?".join(re.escape(p) for p in quote.split("…")) + "$")


# Each returns (exit status, the stderr lines to match: the last one, and
# for warnings the warning line).
def _unknown_profile(t):
    t.config("[profile reader]\nregion = us-east-1\n")
    return t.run(["--profile", "writer"])


def _source_profile_missing(t):
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = nope\n")
    return t.run(["--profile", "reports"])


def _role_without_source(t):
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\n")
    return t.run(["--profile", "reports"])


def _no_credentials(t):
    t.config("[default]\nregion = us-east-1\n")
    return t.run([])


def _environment_empty(t):
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\ncredential_source = Environment\n")
    return t.run(["--profile", "reports"])


def _imds_unreachable(t):
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             "region = us-east-1\n")
    return t.run(["--profile", "reports"], AWS_EC2_METADATA_SERVICE_ENDPOINT=servers.closed_port_url(),
                 timeout=60)


def _unknown_key(t):
    sts = _sts(t)
    t.config("[profile base]\naws_access_key_id = AKIANOTKNOWN00000001\n"
             "aws_secret_access_key = some-secret-value\n"
             f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")


def _access_denied(t):
    sts = _sts(t)
    sts.queue_error(403, "AccessDenied", f"User: arn:aws:iam::111111111111:user/base is not "
                    f"authorized to perform: sts:AssumeRole on resource: {ROLE_B}")
    t.config(_static_base() + f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")


def _sts_unreachable(t):
    t.config(_static_base() + f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=servers.closed_port_url(),
                 AWS_REGION="us-east-1", timeout=60)


def _mfa_no_terminal(t):
    t.config(_static_base() + f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             "mfa_serial = arn:aws:iam::111111111111:mfa/me\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=servers.closed_port_url(),
                 AWS_REGION="us-east-1")


def _nested_self(t):
    t.config(f"[profile reports]\ncredential_process = {t.bin} --profile reports\n")
    return t.run(["--profile", "reports"])


def _token_file_missing(t):
    t.config(f"[profile ci]\nrole_arn = {ROLE_B}\nweb_identity_token_file = /nonexistent/token\n")
    return t.run(["--profile", "ci"], AWS_ENDPOINT_URL_STS=servers.closed_port_url(),
                 AWS_REGION="us-east-1")


def _chained_cap(t):
    sts = _sts(t)
    t.config(_static_base() + f"[profile a]\nrole_arn = {ROLE_A}\nsource_profile = base\n"
             f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = a\n"
             "duration_seconds = 7200\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")


def _imds_no_token(t):
    """What a container behind an IMDS hop limit of 1 sees (the token never
    comes back; here the token PUT is refused, which takes the same path
    without the wait) on an instance that requires IMDSv2."""
    imds = t.imds(token_status=405)
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             "region = us-east-1\n")
    return t.run(["--profile", "reports"], AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)


def _max_session(t):
    sts = _sts(t, max_session=3600)
    t.config(_static_base() + f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             "duration_seconds = 7200\n")
    return t.run(["--profile", "reports"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")


def _bare_word(t):
    t.config("[profile writer]\nregion = us-east-1\n")
    return t.run(["writer"])


def _dead_proxy(t):
    sts = _sts(t)
    t.config(_static_base() + f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    return t.run(["--profile", "reports", "--timeout", "5"], AWS_ENDPOINT_URL_STS=sts.url,
                 AWS_REGION="us-east-1", http_proxy=servers.closed_port_url(), timeout=60)


SCENARIOS = [_bare_word, _dead_proxy, _imds_no_token, _max_session, _unknown_profile, _source_profile_missing, _role_without_source, _no_credentials,
             _environment_empty, _imds_unreachable, _unknown_key, _access_denied,
             _sts_unreachable, _mfa_no_terminal, _nested_self, _token_file_missing,
             _chained_cap]


def test_readme_troubleshooting_lines_are_real(t):
    lines = []  # (scenario, line, status)
    for fn in SCENARIOS:
        res = fn(t)
        got = [l for l in res.stderr.splitlines() if l.startswith("aws-credproc: ")]
        assert got, f"{fn.__name__}: nothing on stderr (exit {res.rc})"
        warn = [l for l in got if l.startswith("aws-credproc: warning: ")]
        pick = warn[-1] if res.rc == 0 and warn else got[-1]
        t.note(f"{fn.__name__}: exit {res.rc}: {pick}", show=True)
        lines.append((fn.__name__, pick, res.rc))
    entries = _troubleshooting()
    for quote, code in entries:
        pat = _pattern(quote)
        assert any(pat.match(l) and rc == code for _, l, rc in lines), \
            f"README quotes `{quote}` (exit {code}), which no scenario prints:\n" + \
            "\n".join(f"  {n}: exit {rc}: {l}" for n, l, rc in lines)
    for name, l, rc in lines:
        assert any(_pattern(q).match(l) and c == rc for q, c in entries), \
            f"{name} prints `{l}` (exit {rc}), which the README does not quote"
