"""Behaviour that needs a scripted STS: the role-chaining duration retry,
STS refusals and transport failures, Expiration normalisation."""

import re

import servers
from harness import approx, parse_exp
from test_imds import FAKE_IMDS, _fake_imds_creds

BASE_KEY = ("AKIAFAKEBASE00000001", "fake-base-secret-0001")
ROLE_A = "arn:aws:iam::222222222222:role/hop-a"
ROLE_B = "arn:aws:iam::333333333333:role/report-writer"


def _static_base():
    return (f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
            f"aws_secret_access_key = {BASE_KEY[1]}\n")


def _sts(t, **kw):
    keys = {BASE_KEY[0]: (BASE_KEY[1], None),
            FAKE_IMDS["AccessKeyId"]: (FAKE_IMDS["SecretAccessKey"], FAKE_IMDS["Token"])}
    return t.fake_sts(keys=keys, **kw)


def _left(doc):
    return (parse_exp(doc["Expiration"]) - servers.utcnow()).total_seconds()


def test_chaining_duration_retry_imds_source(t):
    imds = t.imds(credentials=_fake_imds_creds())
    sts = _sts(t)
    t.config(f"[profile job]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"role_session_name = nightly-reports\nduration_seconds = 7200\n"
             f"region = us-east-1\n")
    res = t.run(["--profile", "job"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    doc = t.ok(res)
    ars = sts.assume_role_requests()
    assert [r.form.get("DurationSeconds") for r in ars] == ["7200", "3600"], \
        f"DurationSeconds sent: {[r.form.get('DurationSeconds') for r in ars]}"
    assert [r.status for r in ars] == [400, 200], [r.status for r in ars]
    assert ars[0].form["RoleArn"] == ars[1].form["RoleArn"] == ROLE_B
    assert ars[1].form["RoleSessionName"] == "nightly-reports"
    assert approx(_left(doc), 3600, 120), _left(doc)
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    assert res.stderr.strip(), "no warning on stderr about the shortened duration"
    assert re.search(r"3600|1 ?hour|chain", res.stderr, re.I), \
        f"warning does not explain the retry: {res.stderr!r}"


def test_chaining_duration_retry_role_source(t):
    sts = _sts(t)
    t.config(_static_base() +
             f"[profile a]\nrole_arn = {ROLE_A}\nsource_profile = base\n"
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = a\n"
             f"duration_seconds = 7200\nrole_session_name = hop-b\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")
    doc = t.ok(res)
    ars = sts.assume_role_requests()
    got = [(r.form["RoleArn"], r.form.get("DurationSeconds"), r.status) for r in ars]
    assert len(ars) == 3, got
    assert got[0][0] == ROLE_A and got[0][2] == 200 and got[0][1] in (None, "3600"), got
    assert got[1:] == [(ROLE_B, "7200", 400), (ROLE_B, "3600", 200)], got
    assert approx(_left(doc), 3600, 120)
    assert res.stderr.strip(), "no warning on stderr"


def test_long_duration_from_static_source_not_shortened(t):
    sts = _sts(t)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"duration_seconds = 7200\n")
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url,
                     AWS_REGION="us-east-1"))
    ars = sts.assume_role_requests()
    assert [(r.form.get("DurationSeconds"), r.status) for r in ars] == [("7200", 200)]
    assert approx(_left(doc), 7200, 120), _left(doc)


def test_chaining_retry_only_once(t):
    imds = t.imds(credentials=_fake_imds_creds())
    sts = _sts(t)
    # the 7200 request is refused by the chaining rule; refuse the 3600 one too
    sts.queue_error(400, "ValidationError", servers.ROLE_CHAINING_MESSAGE)
    t.config(f"[profile job]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"duration_seconds = 7200\nregion = us-east-1\n")
    res = t.run(["--profile", "job"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    t.fail(res, 4, "ValidationError")
    assert [r.form.get("DurationSeconds") for r in sts.assume_role_requests()] == \
        ["7200", "3600"]


def test_max_session_duration_error_not_retried(t):
    sts = _sts(t, max_session=3600)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"duration_seconds = 7200\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")
    t.fail(res, 4, "ValidationError", "report-writer")
    assert len(sts.assume_role_requests()) == 1, "MaxSessionDuration refusal was retried"


def test_access_denied(t):
    sts = _sts(t)
    sts.queue_error(403, "AccessDenied",
                    f"User: arn:aws:iam::111111111111:user/base is not authorized to "
                    f"perform: sts:AssumeRole on resource: {ROLE_B}", times=5)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, "AccessDenied", "report-writer")
    assert len(sts.assume_role_requests()) == 1, "a refusal must not be retried"


def test_expired_source_token(t):
    sts = _sts(t)
    sts.queue_error(400, "ExpiredToken",
                    "The security token included in the request is expired", times=5)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, "ExpiredToken")
    assert len(sts.assume_role_requests()) == 1, "ExpiredToken was retried"


def test_throttling_exhausts_retries(t):
    sts = _sts(t)
    sts.queue_error(400, "Throttling", "Rate exceeded", times=50)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 5, any_of=["Throttling", "rate"])
    n = len(sts.assume_role_requests())
    t.note(f"{n} attempts in {res.elapsed:.1f}s")
    assert n >= 2, "throttling was not retried"


def test_server_error_then_success(t):
    sts = _sts(t)
    sts.queue_error(500, "InternalFailure", "An internal error occurred", type_="Receiver")
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    assert [r.status for r in sts.assume_role_requests()] == [500, 200], \
        [r.status for r in sts.assume_role_requests()]
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_server_error_always(t):
    sts = _sts(t)
    sts.queue_error(503, "ServiceUnavailable", "Service is unavailable", type_="Receiver",
                    times=50)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 5)
    assert len(sts.assume_role_requests()) >= 2, "a 5xx was not retried"


def test_connection_dropped(t):
    sts = _sts(t)
    sts.queue_reply(servers.StsReply(drop=True), times=50)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 5)


def test_fractional_expiration_truncated(t):
    sts = _sts(t, fractional_expiration=True)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    want = servers.iso_z(sts.issued[-1]["Expiration"])
    assert doc["Expiration"] == want, f"{doc['Expiration']} != {want} (fraction dropped)"
    assert re.search(rb"<Expiration>[^<]*\.\d+Z</Expiration>",
                     sts.assume_role_requests()[-1].reply_body)


def test_request_shape(t):
    sts = _sts(t)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"role_session_name = shape\nexternal_id = ext-shape-01\n")
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="eu-west-1"))
    r = sts.assume_role_requests()[0]
    assert r.method == "POST" and r.path == "/"
    assert r.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    assert r.form["Action"] == "AssumeRole" and r.form["Version"] == "2011-06-15"
    assert r.form["ExternalId"] == "ext-shape-01"
    assert r.sig["region"] == "eu-west-1" and r.sig["service"] == "sts"
    assert "ExternalId" in r.form and "SerialNumber" not in r.form
    assert not r.note, r.note


def _reply_with(t, body):
    sts = _sts(t)
    sts.queue_reply(servers.StsReply(200, body=body))
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    return sts, t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)


_CREDS_XML = (b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
              b"<AssumeRoleResult><Credentials><AccessKeyId>%s</AccessKeyId>"
              b"<SecretAccessKey>SECRETSECRET</SecretAccessKey><SessionToken>%s</SessionToken>"
              b"<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
              b"</AssumeRoleResult></AssumeRoleResponse>")


def test_xml_entities_not_expanded(t):
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">'
            b'<!ENTITY i "INJECTED">]>' + _CREDS_XML % (b"&e;&i;", b"TOKEN"))
    _, res = _reply_with(t, body)
    t.fail(res, (4, 5))
    assert "root:" not in res.stderr and "INJECTED" not in res.stderr


def test_xml_billion_laughs(t):
    ents = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10) for i in range(1, 10))
    body = b'<?xml version="1.0"?><!DOCTYPE x [' + ents + b"]>" + _CREDS_XML % (
        b"&l9;", b"TOKEN")
    _, res = _reply_with(t, body)
    t.fail(res, (4, 5))
    assert res.elapsed < t.within(5), f"took {res.elapsed:.1f}s"


def test_oversized_reply(t):
    _, res = _reply_with(t, _CREDS_XML % (b"ASIAHUGE", b"T" * (8 * 1024 * 1024)))
    t.fail(res, (4, 5))


def test_reply_without_expiration(t):
    body = _CREDS_XML.replace(b"<Expiration>2099-01-01T00:00:00Z</Expiration>", b"")
    _, res = _reply_with(t, body % (b"ASIANOEXP", b"TOKEN"))
    t.fail(res, (4, 5))
