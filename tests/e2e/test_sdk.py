"""Real SDKs driving aws-credproc through credential_process."""

import json
import os
import sys


def _config(t, m):
    return t.config(
        f"[profile app]\ncredential_process = {t.bin} --profile app-role\n"
        f"region = us-east-1\n"
        f"[profile app-role]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
        f"role_session_name = sdk-app\n"
        f"[profile base]\naws_access_key_id = {m.base['AccessKeyId']}\n"
        f"aws_secret_access_key = {m.base['SecretAccessKey']}\n")


BOTO3_SCRIPT = r"""
import json, sys, boto3
from botocore.config import Config
ep, bucket = sys.argv[1], sys.argv[2]
s = boto3.Session()  # profile from AWS_PROFILE, as a job would use it
s3 = s.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
s3.put_object(Bucket=bucket, Key="via-credential-process", Body=b"written by boto3")
body = s3.get_object(Bucket=bucket, Key="via-credential-process")["Body"].read().decode()
arn = s.client("sts", endpoint_url=ep).get_caller_identity()["Arn"]
c = s.get_credentials().get_frozen_credentials()
print(json.dumps({"arn": arn, "body": body, "akid": c.access_key}))
"""


def test_boto3_credential_process_put_object(t):
    m = t.moto
    _config(t, m)
    script = t.tmp / "job.py"
    script.write_text(BOTO3_SCRIPT)
    mark = m.mark()
    res = t.run([], cmd=[sys.executable, str(script), m.direct, m.bucket],
                AWS_PROFILE="app", AWS_ENDPOINT_URL_STS=m.endpoint, timeout=60)
    assert res.rc == 0, f"boto3 job failed: {res.last_err}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["arn"] == f"arn:aws:sts::{m.account}:assumed-role/reader/sdk-app", out
    assert out["body"] == "written by boto3"
    assert out["akid"].startswith("ASIA")
    ars = m.assume_role_requests(mark)
    assert ars and all(r.status == 200 for r in ars), ars
    assert all(r.form["RoleArn"] == m.roles["reader"] for r in ars)


def test_aws_cli_v1_get_caller_identity(t):
    m = t.moto
    _config(t, m)
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    res = t.run([], cmd=[aws, "sts", "get-caller-identity", "--profile", "app",
                         "--endpoint-url", m.direct, "--output", "json"],
                AWS_ENDPOINT_URL_STS=m.endpoint, timeout=60)
    assert res.rc == 0, f"aws cli failed: {res.last_err}"
    ident = json.loads(res.stdout)
    assert ident["Arn"] == f"arn:aws:sts::{m.account}:assumed-role/reader/sdk-app", ident


def test_aws_cli_v1_env_profile(t):
    # AWS_PROFILE=app is set in the helper's environment by the CLI: the
    # helper must not follow it (that would recurse)
    m = t.moto
    _config(t, m)
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    res = t.run([], cmd=[aws, "sts", "get-caller-identity", "--endpoint-url", m.direct,
                         "--output", "json"],
                AWS_PROFILE="app", AWS_ENDPOINT_URL_STS=m.endpoint, timeout=60)
    assert res.rc == 0, f"aws cli failed: {res.last_err}"
    assert json.loads(res.stdout)["Arn"].endswith(":assumed-role/reader/sdk-app")
