"""Self-checks of the loopback servers (no aws-credproc involved).

If these fail, the failures of the other modules mean nothing."""

import http.client
import json
import urllib.parse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import servers


def _err(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("call unexpectedly succeeded")


def _raw(url, method, path, headers=None, body=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def test_moto_auth_is_enforced(t):
    m = t.moto
    # base user: valid
    ident = m.client("sts", m.base, direct=False).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{m.account}:user/base", ident["Arn"]
    # wrong secret for a known key -> SignatureDoesNotMatch
    bad = dict(m.base, SecretAccessKey="wrong" + m.base["SecretAccessKey"][5:])
    code = _err(lambda: m.client("sts", bad).get_caller_identity())
    assert code == ("SignatureDoesNotMatch", 403), code
    # unknown key -> InvalidClientTokenId
    code = _err(lambda: m.client("sts", {"AccessKeyId": "AKIAUNKNOWNUNKNOWN00",
                                         "SecretAccessKey": "x" * 40}).get_caller_identity())
    assert code == ("InvalidClientTokenId", 403), code
    # a user with no policy cannot assume roles
    code = _err(lambda: m.client("sts", m.nobody).assume_role(
        RoleArn=m.roles["reader"], RoleSessionName="selfcheck"))
    assert code == ("AccessDenied", 403), code
    # trust policy names base only: denied role refuses base
    code = _err(lambda: m.client("sts", m.base).assume_role(
        RoleArn=m.roles["denied"], RoleSessionName="selfcheck"))
    assert code == ("AccessDenied", 403), code
    # ExternalId condition: a wrong one is refused
    code = _err(lambda: m.client("sts", m.base).assume_role(
        RoleArn=m.roles["partner"], RoleSessionName="selfcheck", ExternalId="wrong-id"))
    assert code == ("AccessDenied", 403), code


def test_moto_chain_and_s3(t):
    m = t.moto
    mark = m.mark()
    sts = m.client("sts", m.base, direct=False)
    r = sts.assume_role(RoleArn=m.roles["reader"], RoleSessionName="selfcheck")
    c1 = r["Credentials"]
    assert r["AssumedRoleUser"]["Arn"].endswith(":assumed-role/reader/selfcheck")
    r2 = m.client("sts", c1).assume_role(RoleArn=m.roles["chained"],
                                         RoleSessionName="selfcheck2")
    c2 = r2["Credentials"]
    ident = m.client("sts", c2).get_caller_identity()
    assert ident["Arn"].endswith(":assumed-role/chained/selfcheck2"), ident
    s3 = m.client("s3", c2)
    s3.put_object(Bucket=m.bucket, Key="selfcheck", Body=b"x")
    assert s3.get_object(Bucket=m.bucket, Key="selfcheck")["Body"].read() == b"x"
    # the reader session cannot assume a role trusting only the base user
    code = _err(lambda: m.client("sts", c1).assume_role(
        RoleArn=m.roles["long"], RoleSessionName="selfcheck3"))
    assert code == ("AccessDenied", 403), code
    # base has no S3 permission
    code = _err(lambda: m.client("s3", m.base).put_object(
        Bucket=m.bucket, Key="selfcheck", Body=b"x"))
    assert code[0] == "AccessDenied", code
    # the proxy saw (only) the one AssumeRole sent through it
    ars = m.assume_role_requests(mark)
    assert len(ars) == 1 and ars[0].form["RoleSessionName"] == "selfcheck", ars
    assert ars[0].status == 200


def test_imds_v2_protocol(t):
    creds = {"AccessKeyId": "ASIAIMDSSELFCHECK", "SecretAccessKey": "imds-secret",
             "Token": "imds-token", "Expiration": "2099-01-01T00:00:00Z"}
    s = t.imds(credentials=creds, role="my-role", region="eu-west-3")
    P = "/latest/api/token"
    assert _raw(s.url, "PUT", P)[0] == 400
    assert _raw(s.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0] == 400
    assert _raw(s.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0] == 400
    assert _raw(s.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "abc"})[0] == 400
    assert _raw(s.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                  "X-Forwarded-For": "1.2.3.4"})[0] == 403
    assert _raw(s.url, "GET", P)[0] == 405
    st, h, tok = _raw(s.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert st == 200 and h["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert h["content-type"] == "text/plain" and h["server"] == "EC2ws"
    tok = tok.decode()
    base = "/latest/meta-data/iam/security-credentials/"
    st, h, body = _raw(s.url, "GET", base)
    assert st == 401 and h["content-type"] == "text/html" and b"401 - Unauthorized" in body
    assert _raw(s.url, "GET", base, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
    st, h, body = _raw(s.url, "GET", base, {"X-aws-ec2-metadata-token": tok})
    assert (st, body) == (200, b"my-role"), (st, body)
    assert "x-aws-ec2-metadata-token-ttl-seconds" in h
    st, h, body = _raw(s.url, "GET", base + "my-role", {"X-aws-ec2-metadata-token": tok})
    doc = json.loads(body)
    assert st == 200 and doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC"
    assert doc["AccessKeyId"] == "ASIAIMDSSELFCHECK" and doc["Token"] == "imds-token"
    assert set(doc) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                        "Token", "Expiration"}
    assert body.startswith(b'{\n  "Code" : "Success",\n')
    assert _raw(s.url, "GET", base + "other", {"X-aws-ec2-metadata-token": tok})[0] == 404
    st, _, body = _raw(s.url, "GET", "/latest/meta-data/placement/region",
                       {"X-aws-ec2-metadata-token": tok})
    assert (st, body) == (200, b"eu-west-3")
    # no instance profile
    s2 = t.imds(credentials=None, role=None)
    st, _, tok2 = _raw(s2.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    st, h, body = _raw(s2.url, "GET", base, {"X-aws-ec2-metadata-token": tok2.decode()})
    assert st == 404 and b"404 - Not Found" in body
    # IMDSv1 allowed
    s3 = t.imds(credentials=creds, role="r1", v1_allowed=True)
    assert _raw(s3.url, "GET", base) == (200, _raw(s3.url, "GET", base)[1], b"r1")
    assert _raw(s3.url, "GET", base, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
    # IMDS without v2 (token endpoint missing)
    s4 = t.imds(credentials=creds, v1_allowed=True, token_status=404)
    assert _raw(s4.url, "PUT", P, {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 404


def test_imds_serves_real_moto_credentials(t):
    m = t.moto
    s = t.imds(credentials=m.instance_creds)
    _, _, tok = _raw(s.url, "PUT", "/latest/api/token",
                     {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    _, _, body = _raw(s.url, "GET", "/latest/meta-data/iam/security-credentials/instance-role",
                      {"X-aws-ec2-metadata-token": tok.decode()})
    c = json.loads(body)
    ident = m.client("sts", {"AccessKeyId": c["AccessKeyId"],
                             "SecretAccessKey": c["SecretAccessKey"],
                             "SessionToken": c["Token"]}).get_caller_identity()
    assert ident["Arn"] == m.instance_arn, ident


def test_fake_sts_with_boto3(t):
    sts_srv = t.fake_sts(keys={"AKIAFAKEBASE0000001": ("base-secret", None)},
                         fractional_expiration=True)

    def client(akid, secret, token=None):
        return boto3.client("sts", endpoint_url=sts_srv.url, region_name="eu-west-1",
                            aws_access_key_id=akid, aws_secret_access_key=secret,
                            aws_session_token=token,
                            config=Config(retries={"max_attempts": 1}))

    c = client("AKIAFAKEBASE0000001", "base-secret")
    r = c.assume_role(RoleArn="arn:aws:iam::111122223333:role/r1", RoleSessionName="s-1",
                      DurationSeconds=7200, ExternalId="ext-9")
    assert r["AssumedRoleUser"]["Arn"] == "arn:aws:sts::111122223333:assumed-role/r1/s-1"
    rec = sts_srv.assume_role_requests()[-1]
    assert rec.form["ExternalId"] == "ext-9" and rec.form["DurationSeconds"] == "7200"
    assert rec.sig["region"] == "eu-west-1"
    cr = r["Credentials"]
    # chained: > 3600 refused with the role-chaining message, 3600 accepted
    c2 = client(cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"])
    try:
        c2.assume_role(RoleArn="arn:aws:iam::111122223333:role/r2", RoleSessionName="s-2",
                       DurationSeconds=7200)
        raise AssertionError("chained 7200 accepted")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationError"
        assert e.response["Error"]["Message"] == servers.ROLE_CHAINING_MESSAGE
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    c2.assume_role(RoleArn="arn:aws:iam::111122223333:role/r2", RoleSessionName="s-2",
                   DurationSeconds=3600)
    # signature checks
    code = _err(lambda: client("AKIAFAKEBASE0000001", "wrong").assume_role(
        RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss"))
    assert code == ("SignatureDoesNotMatch", 403), code
    code = _err(lambda: client("AKIANOPE", "x").assume_role(
        RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss"))
    assert code == ("InvalidClientTokenId", 403), code
    code = _err(lambda: client(cr["AccessKeyId"], cr["SecretAccessKey"], "bad").assume_role(
        RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss"))
    assert code == ("InvalidClientTokenId", 403), code
    # validation
    code = _err(lambda: c.assume_role(RoleArn="arn:aws:iam::1:role/r",
                                      RoleSessionName="bad name"))
    assert code == ("ValidationError", 400), code
    # scripted errors
    sts_srv.queue_error(403, "AccessDenied", "nope")
    code = _err(lambda: c.assume_role(RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss"))
    assert code == ("AccessDenied", 403), code
    c.assume_role(RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss")
    # the fake STS signature check agrees with moto's on the same request shape
    ident = client(cr["AccessKeyId"], cr["SecretAccessKey"],
                   cr["SessionToken"]).get_caller_identity()
    assert ident["Arn"].endswith("assumed-role/r1/s-1")
