"""credential_source = Ec2InstanceMetadata against the loopback IMDS."""

import datetime as dt

import servers
from harness import approx, parse_exp

FAKE_IMDS = {"AccessKeyId": "ASIAIMDSFAKE00000001", "SecretAccessKey": "imds-fake-secret-1",
             "Token": "imds-fake-session-token-1"}


def _fake_imds_creds():
    return dict(FAKE_IMDS, Expiration=servers.utcnow() + dt.timedelta(hours=6))


def _ec2_profile(role_arn, extra=""):
    return (f"[profile ec2]\nrole_arn = {role_arn}\n"
            f"credential_source = Ec2InstanceMetadata\n{extra}")


def test_imds_source_assumes_role_in_moto(t):
    m = t.moto
    imds = t.imds(credentials=m.instance_creds)  # IMDSv2 required
    t.config(_ec2_profile(m.roles["chained"], "role_session_name = from-imds\n"))
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                     AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url))
    arn = m.client("sts", doc).get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{m.account}:assumed-role/chained/from-imds", arn
    reqs = imds.since()
    assert reqs, "IMDS saw no request"
    first = reqs[0]
    assert (first.method, first.path) == ("PUT", "/latest/api/token"), \
        f"first IMDS request is {first.method} {first.path}, not the token PUT"
    ttl = first.header("x-aws-ec2-metadata-token-ttl-seconds")
    assert ttl and ttl.isdigit() and 1 <= int(ttl) <= 21600, ttl
    refused = [r for r in reqs if r.status != 200]
    assert not refused, f"IMDS refused: {refused}"
    gets = [r for r in reqs if r.method == "GET"]
    assert all(r.header("x-aws-ec2-metadata-token") for r in gets), "token-less GET"
    assert any(r.path == "/latest/meta-data/iam/security-credentials/instance-role"
               for r in gets), [r.path for r in gets]
    assert not any(r.header("x-forwarded-for") for r in reqs)
    ars = m.assume_role_requests(mark)
    assert len(ars) == 1 and ars[0].status == 200, ars
    assert ars[0].headers.get("x-amz-security-token") == m.instance_creds["Token"]


def test_imds_region_used_for_signing(t):
    imds = t.imds(credentials=_fake_imds_creds(), region="eu-west-3")
    sts = t.fake_sts(keys={FAKE_IMDS["AccessKeyId"]: (FAKE_IMDS["SecretAccessKey"],
                                                       FAKE_IMDS["Token"])})
    t.config(_ec2_profile("arn:aws:iam::222222222222:role/report-writer",
                          "role_session_name = nightly-reports\n"))
    doc = t.ok(t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=sts.url,
                     AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url))
    ars = sts.assume_role_requests()
    assert len(ars) == 1 and ars[0].status == 200, ars
    assert ars[0].sig["region"] == "eu-west-3", \
        f"signed for {ars[0].sig['region']}; IMDS says eu-west-3 and nothing else is set"
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_imds_unreachable(t):
    m = t.moto
    t.config(_ec2_profile(m.roles["chained"]))
    mark = m.mark()
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=servers.closed_port_url())
    t.fail(res, 3, any_of=["metadata", "IMDS", "Ec2InstanceMetadata"])
    assert not m.assume_role_requests(mark), "STS called without source credentials"


def test_imds_disabled(t):
    m = t.moto
    imds = t.imds(credentials=m.instance_creds)
    t.config(_ec2_profile(m.roles["chained"]))
    mark = m.mark()
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url, AWS_EC2_METADATA_DISABLED="true")
    t.fail(res, 3, any_of=["AWS_EC2_METADATA_DISABLED", "disabled"])
    assert not imds.since(), f"IMDS contacted although disabled: {imds.since()}"
    assert not m.assume_role_requests(mark)


def test_imds_no_instance_profile(t):
    m = t.moto
    imds = t.imds(credentials=None, role=None)
    t.config(_ec2_profile(m.roles["chained"]))
    mark = m.mark()
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    t.fail(res, 3, any_of=["instance profile", "role", "404", "metadata", "IMDS"])
    assert not m.assume_role_requests(mark)
    assert all(r.header("x-aws-ec2-metadata-token") for r in imds.since()
               if r.method == "GET"), "token-less GET to an IMDSv2-only service"


def test_imds_v1_fallback_when_no_token_service(t):
    m = t.moto
    # an IMDS without IMDSv2: the token PUT gets 404, token-less GETs work
    imds = t.imds(credentials=m.instance_creds, v1_allowed=True, token_status=404)
    t.config(_ec2_profile(m.roles["chained"], "role_session_name = imds-v1\n"))
    doc = t.ok(t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                     AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url))
    assert m.client("sts", doc).get_caller_identity()["Arn"].endswith("/chained/imds-v1")
    reqs = imds.since()
    assert reqs[0].method == "PUT", "IMDSv2 token not tried first"


def test_imds_v1_fallback_disabled(t):
    m = t.moto
    imds = t.imds(credentials=m.instance_creds, v1_allowed=True, token_status=404)
    t.config(_ec2_profile(m.roles["chained"]))
    mark = m.mark()
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
                AWS_EC2_METADATA_V1_DISABLED="true")
    t.fail(res, 3)
    tokenless = [r for r in imds.since() if r.method == "GET"
                 and not r.header("x-aws-ec2-metadata-token")]
    assert not tokenless, "IMDSv1 used although AWS_EC2_METADATA_V1_DISABLED=true"
    assert not m.assume_role_requests(mark)


def test_imds_credentials_unknown_to_sts(t):
    # IMDS hands out credentials STS does not know: exit 4 (refused), not 3
    creds = dict(_fake_imds_creds(), AccessKeyId="ASIAUNKNOWNTOMOTO001")
    m = t.moto
    imds = t.imds(credentials=creds)
    t.config(_ec2_profile(m.roles["chained"]))
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    t.fail(res, 4, "InvalidClientTokenId", "chained")


def test_imds_not_answering_times_out(t):
    # IMDS accepts the connection and never answers (a firewall, a hop limit):
    # the SDKs give up after ~1 s per attempt; we must not hang
    m = t.moto
    hole = t.blackhole()
    t.config(_ec2_profile(m.roles["chained"]))
    res = t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=m.endpoint,
                AWS_EC2_METADATA_SERVICE_ENDPOINT=hole.url)
    t.fail(res, 3, any_of=["metadata", "IMDS", "Ec2InstanceMetadata", "timed out", "timeout"])
    assert res.elapsed < t.within(12), f"gave up on a silent IMDS only after {res.elapsed:.1f}s"



def test_imds_debug_trace_has_the_path(t):
    # the --debug trace names each IMDS request with its path (never a secret)
    imds = t.imds(credentials=None, role=None)
    t.config(_ec2_profile("arn:aws:iam::123456789012:role/x"))
    res = t.run(["--profile", "ec2", "--debug", "--no-cache"],
                AWS_ENDPOINT_URL_STS="http://127.0.0.1:9/",
                AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    t.fail(res, 3)
    base = imds.url.rstrip("/")
    assert f"PUT {base}/latest/api/token: HTTP 200" in res.stderr, res.stderr
    assert f"GET {base}/latest/meta-data/iam/security-credentials/" in res.stderr, res.stderr
