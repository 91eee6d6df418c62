"""Fault injection: what the binary does when STS or IMDS misbehave.

Every case checks the whole contract: the exit status of DESIGN.md's table,
empty stdout on failure, a last stderr line `aws-credproc: ...` that names
the problem and the endpoint, and the cache: nothing written from bad data
(no `*.json` and no temp file in the per-test cache directory after a
failure), exactly one entry, holding what was printed, after a success.

Covered elsewhere and not repeated here: a skewed server clock
(test_clock_skew), refusals such as AccessDenied/ExpiredToken
(test_fake_sts, test_failures), XML entity attacks (test_fake_sts).
"""

import datetime as _dt
import json
import os

import servers
from test_fake_sts import BASE_KEY, ROLE_B, _static_base
from test_imds import FAKE_IMDS, _fake_imds_creds

NS = servers.STS_NS


# ------------------------------------------------------------------ helpers

def cache_dir(t):
    return t.cache / "aws-credproc"


def cache_state(t):
    """(entries, temp files) in the test's cache directory."""
    d = cache_dir(t)
    if not d.is_dir():
        return [], []
    return (sorted(p.name for p in d.glob("*.json")),
            sorted(p.name for p in d.glob(".*.tmp")))


def assert_no_cache_entry(t):
    entries, temps = cache_state(t)
    assert not entries, f"a cache entry was written although the run failed: {entries}"
    assert not temps, f"temp files left in the cache directory: {temps}"


def assert_one_cache_entry(t, doc):
    """Exactly one entry, and it holds the credentials that were printed."""
    entries, temps = cache_state(t)
    assert len(entries) == 1, f"expected exactly one cache entry, found {entries}"
    assert not temps, f"temp files left in the cache directory: {temps}"
    e = json.loads((cache_dir(t) / entries[0]).read_text())
    assert e.get("AccessKeyId") == doc["AccessKeyId"], \
        "the cache entry does not hold the printed credentials"
    return e


def host_port(server):
    return f"127.0.0.1:{server.port}"


def _sts(t, **kw):
    keys = {BASE_KEY[0]: (BASE_KEY[1], None),
            FAKE_IMDS["AccessKeyId"]: (FAKE_IMDS["SecretAccessKey"], FAKE_IMDS["Token"])}
    return t.fake_sts(keys=keys, **kw)


def _role_cfg(t, extra=""):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"region = us-east-1\n" + extra)


def _run_b(t, url, *args, **env):
    return t.run(["--profile", "b", *args], AWS_ENDPOINT_URL_STS=url, **env)


def creds_xml(akid="ASIAFAULTS0000000001", secret="fault-secret-0001",
              token="fault-session-token-0001", expiration=None, pad=0):
    """An AssumeRole success reply; pad: bytes of whitespace inside it."""
    if expiration is None:
        expiration = servers.iso_z(servers.utcnow() + _dt.timedelta(hours=1))
    head = (f'<AssumeRoleResponse xmlns="{NS}">\n  <AssumeRoleResult>\n'
            f"    <AssumedRoleUser><AssumedRoleId>AROAFAULT:s</AssumedRoleId>"
            f"<Arn>arn:aws:sts::333333333333:assumed-role/report-writer/s</Arn>"
            f"</AssumedRoleUser>\n    <Credentials>\n"
            f"      <AccessKeyId>{akid}</AccessKeyId>\n"
            f"      <SecretAccessKey>{secret}</SecretAccessKey>\n"
            f"      <SessionToken>{token}</SessionToken>\n"
            f"      <Expiration>{expiration}</Expiration>\n"
            f"    </Credentials>\n  </AssumeRoleResult>\n").encode()
    tail = (f"  <ResponseMetadata><RequestId>5f2b7c1e-0000-4000-8000-000000000000"
            f"</RequestId></ResponseMetadata>\n</AssumeRoleResponse>\n").encode()
    return head + b" " * pad + tail


def creds_xml_of_size(size, **kw):
    base = len(creds_xml(**kw))
    body = creds_xml(pad=size - base, **kw)
    assert len(body) == size
    return body


# ------------------------------------------------------------------ role chaining

def test_faults_chaining_duration_retry_is_cached(t):
    """test_fake_sts covers the retry itself; here: the shortened credentials
    are cached once, under the configured key, and the next run is a hit."""
    imds = t.imds(credentials=_fake_imds_creds())
    sts = _sts(t)
    t.config(f"[profile job]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"duration_seconds = 7200\nregion = us-east-1\n")
    env = dict(AWS_ENDPOINT_URL_STS=sts.url, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    doc = t.ok(t.run(["--profile", "job"], **env))
    ars = sts.assume_role_requests()
    assert [(r.form.get("DurationSeconds"), r.status) for r in ars] == \
        [("7200", 400), ("3600", 200)], [(r.form.get("DurationSeconds"), r.status) for r in ars]
    assert_one_cache_entry(t, doc)
    doc2 = t.ok(t.run(["--profile", "job"], **env))
    assert len(sts.assume_role_requests()) == 2, "the shortened credentials were not reused"
    assert doc2["AccessKeyId"] == doc["AccessKeyId"]
    assert_one_cache_entry(t, doc)


# ------------------------------------------------------------------ retries

def _retry_then_success(t, status, code, message, type_):
    sts = _sts(t)
    sts.queue_error(status, code, message, type_=type_, times=2)
    _role_cfg(t)
    res = _run_b(t, sts.url)
    doc = t.ok(res)
    ars = sts.assume_role_requests()
    assert [r.status for r in ars] == [status, status, 200], \
        f"expected exactly 3 requests ({status}, {status}, 200): {[r.status for r in ars]}"
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert_one_cache_entry(t, doc)
    t.note(f"{len(ars)} attempts in {res.elapsed:.2f}s")


def test_faults_503_twice_then_success(t):
    _retry_then_success(t, 503, "ServiceUnavailable", "Service is unavailable", "Receiver")


def test_faults_throttling_twice_then_success(t):
    _retry_then_success(t, 400, "Throttling", "Rate exceeded", "Sender")


def _retries_exhausted(t, status, code, message, type_, needles):
    sts = _sts(t)
    # exactly three failures queued: a fourth attempt would succeed
    sts.queue_error(status, code, message, type_=type_, times=3)
    _role_cfg(t)
    res = _run_b(t, sts.url)
    t.fail(res, 5, host_port(sts), any_of=needles)
    n = len(sts.assume_role_requests())
    assert n == 3, f"{n} attempts; expected exactly 3"
    assert_no_cache_entry(t)


def test_faults_503_three_times_exit_5(t):
    _retries_exhausted(t, 503, "ServiceUnavailable", "Service is unavailable", "Receiver",
                       ["503", "ServiceUnavailable"])


def test_faults_throttling_three_times_exit_5(t):
    _retries_exhausted(t, 400, "Throttling", "Rate exceeded", "Sender",
                       ["Throttling", "rate"])


def test_faults_deadline_spans_retries(t):
    """The deadline is overall: three slow 503s must not take 3 x the delay."""
    sts = _sts(t, delay=1.5)
    sts.queue_error(503, "ServiceUnavailable", "Service is unavailable", type_="Receiver",
                    times=10)
    _role_cfg(t)
    res = _run_b(t, sts.url, "--timeout", "2")
    t.fail(res, 5, host_port(sts))
    t.note(f"{len(sts.assume_role_requests())} attempts in {res.elapsed:.2f}s")
    assert res.elapsed < t.within(3.5), f"took {res.elapsed:.1f}s with --timeout 2"
    assert_no_cache_entry(t)


# ------------------------------------------------------------------ bad replies

def test_faults_200_truncated_transfer(t):
    """200, Content-Length promises more than arrives, connection closed."""
    sts = _sts(t)
    body = creds_xml(secret="truncated-secret-0001")
    t.secret("truncated-secret-0001")
    cut = body[:len(body) // 2 + 40]
    sts.queue_reply(servers.StsReply(200, body=cut, headers=[
        ("Content-Length", str(len(body))), ("Connection", "close")]), times=3)
    _role_cfg(t)
    res = _run_b(t, sts.url)
    t.fail(res, 5, host_port(sts))
    n = len(sts.assume_role_requests())
    assert 1 <= n <= 3, f"{n} attempts"
    assert_no_cache_entry(t)


def test_faults_200_truncated_xml(t):
    """A complete HTTP reply whose XML stops inside <Credentials>."""
    sts = _sts(t)
    body = creds_xml(secret="cut-xml-secret-0001")
    t.secret("cut-xml-secret-0001")
    cut = body[:body.index(b"<SessionToken>") + 20]
    sts.queue_reply(servers.StsReply(200, body=cut))
    _role_cfg(t)
    res = _run_b(t, sts.url)
    t.fail(res, 5, host_port(sts), any_of=["malformed", "XML", "reply"])
    assert_no_cache_entry(t)


def test_faults_200_garbage_bodies(t):
    garbage = [
        b"\x00\xff\xfe garbage \x01\x02" + bytes(range(256)) * 4,
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b'{"AccessKeyId": "ASIAJSON", "SecretAccessKey": "x", "SessionToken": "y"}',
        b"",
    ]
    _role_cfg(t)
    for body in garbage:
        sts = _sts(t)
        sts.queue_reply(servers.StsReply(200, body=body))
        res = _run_b(t, sts.url)
        t.fail(res, 5, host_port(sts), any_of=["malformed", "XML", "reply", "empty"])
        assert_no_cache_entry(t)


def test_faults_reply_size_cap(t):
    """STS replies are capped at 64 KiB: 65537 bytes fail, 65536 work."""
    _role_cfg(t)
    sts = _sts(t)
    sts.queue_reply(servers.StsReply(200, body=creds_xml_of_size(64 * 1024 + 1)))
    res = _run_b(t, sts.url)
    t.fail(res, 5, host_port(sts), any_of=["exceeds", "too large", "65536", "64 KiB"])
    n = len(sts.assume_role_requests())
    assert 1 <= n <= 3, f"{n} attempts"
    assert_no_cache_entry(t)
    # a huge reply ends quickly too, and is not buffered whole
    sts.queue_reply(servers.StsReply(200, body=creds_xml_of_size(16 * 1024 * 1024)))
    res = _run_b(t, sts.url, "--no-cache")
    t.fail(res, 5, host_port(sts))
    assert res.elapsed < t.within(10), f"took {res.elapsed:.1f}s"
    # exactly at the cap: accepted
    sts.queue_reply(servers.StsReply(200, body=creds_xml_of_size(64 * 1024)))
    sts.clear()
    doc = t.ok(_run_b(t, sts.url))
    assert doc["AccessKeyId"] == "ASIAFAULTS0000000001"
    assert_one_cache_entry(t, doc)


def test_faults_expiration_in_the_past(t):
    sts = _sts(t)
    past = servers.iso_z(servers.utcnow() - _dt.timedelta(hours=1))
    sts.queue_reply(servers.StsReply(200, body=creds_xml(expiration=past)))
    _role_cfg(t)
    res = _run_b(t, sts.url)
    t.fail(res, 4, any_of=["expired", "Expiration"])
    assert_no_cache_entry(t)


# ------------------------------------------------------------------ no answer

def test_faults_no_answer_timeout_flag(t):
    bh = t.blackhole()
    _role_cfg(t)
    res = _run_b(t, bh.url, "--timeout", "3")
    t.fail(res, 5, host_port(bh), any_of=["timed out", "within", "timeout", "no reply",
                                          "no answer"])
    t.note(f"elapsed {res.elapsed:.2f}s")
    assert 2.5 <= res.elapsed <= t.within(5.0), f"--timeout 3 ended after {res.elapsed:.2f}s"
    assert_no_cache_entry(t)


def test_faults_slow_body_timeout_flag(t):
    """Headers arrive, then one byte every 0.3 s, forever: the deadline is
    overall, not an idle timeout."""
    tr = t.trickle()
    _role_cfg(t)
    res = _run_b(t, tr.url, "--timeout", "3")
    t.fail(res, 5, host_port(tr))
    t.note(f"elapsed {res.elapsed:.2f}s, {tr.requests} connections")
    assert 2.5 <= res.elapsed <= t.within(5.0), f"--timeout 3 ended after {res.elapsed:.2f}s"
    assert_no_cache_entry(t)


def test_faults_no_answer_default_deadline(t):
    """The one long case: the default 30 s deadline."""
    bh = t.blackhole()
    _role_cfg(t)
    res = t.run(["--profile", "b"], timeout=90, AWS_ENDPOINT_URL_STS=bh.url)
    t.fail(res, 5, host_port(bh))
    t.note(f"elapsed {res.elapsed:.2f}s")
    assert 28 <= res.elapsed <= t.within(35), f"default deadline ended after {res.elapsed:.2f}s"
    assert_no_cache_entry(t)


def test_faults_connection_refused_fast(t):
    url = servers.closed_port_url()
    _role_cfg(t)
    res = _run_b(t, url)
    t.fail(res, 5, url.split("//")[1], any_of=["refused", "connect"])
    assert res.elapsed < t.within(3), f"took {res.elapsed:.1f}s"
    assert_no_cache_entry(t)


# ------------------------------------------------------------------ TLS

def test_faults_tls_untrusted_then_ca_bundle(t):
    pki = t.pki()
    sts = _sts(t, tls=(pki["cert"], pki["key"]))
    _role_cfg(t)
    res = _run_b(t, sts.url)
    t.fail(res, 5, "certificate", host_port(sts))
    assert not sts.assume_role_requests(), "a request went over an unverified connection"
    assert res.elapsed < t.within(5), f"took {res.elapsed:.1f}s"
    assert_no_cache_entry(t)
    # a CA bundle that does not hold the issuer (the system's): still refused
    system = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.isfile(system):
        res = _run_b(t, sts.url, AWS_CA_BUNDLE=system)
        t.fail(res, 5, "certificate", host_port(sts))
        assert_no_cache_entry(t)
    else:
        t.note(f"{system} absent: wrong-bundle sub-check skipped")
    doc = t.ok(_run_b(t, sts.url, AWS_CA_BUNDLE=pki["ca"]))
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert_one_cache_entry(t, doc)


# ------------------------------------------------------------------ IMDS

def _imds_cfg(t):
    t.config(f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"region = us-east-1\n")


def test_faults_imds_token_503_then_success(t):
    imds = t.imds(credentials=_fake_imds_creds(), token_failures=[503])
    sts = _sts(t)
    _imds_cfg(t)
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    reqs = imds.since()
    t.note("IMDS: " + ", ".join(f"{r.method} {r.path} -> {r.status}" for r in reqs))
    puts = [r for r in reqs if r.method == "PUT"]
    assert len(puts) >= 2 and puts[0].status == 503 and puts[1].status == 200, \
        "the token PUT answered 503 was not retried"
    doc = t.ok(res)
    gets = [r for r in reqs if r.method == "GET"]
    assert gets and all(r.header("x-aws-ec2-metadata-token") for r in gets), \
        "fell back to token-less IMDSv1 GETs after a 503"
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert_one_cache_entry(t, doc)


def test_faults_imds_never_answers(t):
    bh = t.blackhole()
    sts = _sts(t)
    _imds_cfg(t)
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=bh.url)
    t.fail(res, 3, host_port(bh), any_of=["metadata", "IMDS"])
    t.note(f"elapsed {res.elapsed:.2f}s")
    assert res.elapsed < t.within(6), f"an IMDS that never answers took {res.elapsed:.1f}s"
    assert not sts.assume_role_requests(), "STS called without source credentials"
    assert_no_cache_entry(t)


def test_faults_imds_respects_overall_deadline(t):
    """--timeout is the overall network deadline: it bounds IMDS too."""
    bh = t.blackhole()
    sts = _sts(t)
    _imds_cfg(t)
    res = t.run(["--profile", "ec2", "--timeout", "2"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=bh.url)
    t.fail(res, 3, host_port(bh), any_of=["metadata", "IMDS"])
    t.note(f"elapsed {res.elapsed:.2f}s")
    assert res.elapsed <= t.within(3.0), f"--timeout 2 with an IMDS that never answers: {res.elapsed:.1f}s"
    assert_no_cache_entry(t)
