"""Static keys, and roles assumed in moto from static, Environment and nested
credential_process sources."""

import re

import servers
from harness import approx, default_session_name, local_user, parse_exp


def _base_profile(m, name="base"):
    return (f"[profile {name}]\n"
            f"aws_access_key_id = {m.base['AccessKeyId']}\n"
            f"aws_secret_access_key = {m.base['SecretAccessKey']}\n")


def _who(m, doc):
    """get_caller_identity with printed credentials, straight to moto."""
    return m.client("sts", doc).get_caller_identity()["Arn"]


# ---------------------------------------------------------------- static keys

def test_static_keys_profile(t):
    t.secret("static-secret-0001")
    t.config("[profile static]\naws_access_key_id = AKIASTATIC0000000001\n"
             "aws_secret_access_key = static-secret-0001\nregion = eu-west-1\n")
    doc = t.ok(t.run(["--profile", "static"]), static=True)
    assert doc["AccessKeyId"] == "AKIASTATIC0000000001"
    assert doc["SecretAccessKey"] == "static-secret-0001"


def test_static_keys_with_session_token(t):
    t.secret("static-secret-0002")
    t.config("[profile st]\naws_access_key_id = ASIASTATIC0000000002\n"
             "aws_secret_access_key = static-secret-0002\n"
             "aws_session_token = static-token-0002\n")
    doc = t.ok(t.run(["--profile", "st"]), static=True, session_token="static-token-0002")
    assert doc["AccessKeyId"] == "ASIASTATIC0000000002"


def test_static_keys_from_credentials_file_win_per_key(t):
    t.secret("from-credentials-file")
    t.config("[profile mix]\naws_access_key_id = AKIACONFIGFILE000001\n"
             "aws_secret_access_key = from-config-file\n")
    t.credentials("[mix]\naws_secret_access_key = from-credentials-file\n")
    doc = t.ok(t.run(["--profile", "mix"]), static=True)
    assert doc["AccessKeyId"] == "AKIACONFIGFILE000001"
    assert doc["SecretAccessKey"] == "from-credentials-file"


def test_default_profile_and_AWS_PROFILE_ignored(t):
    t.config("[default]\naws_access_key_id = AKIADEFAULT000000001\n"
             "aws_secret_access_key = default-secret\n"
             "[profile other]\naws_access_key_id = AKIAOTHER00000000001\n"
             "aws_secret_access_key = other-secret\n")
    doc = t.ok(t.run([], AWS_PROFILE="other", AWS_DEFAULT_PROFILE="other"), static=True)
    assert doc["AccessKeyId"] == "AKIADEFAULT000000001", \
        "without --profile the default profile must be used, not AWS_PROFILE"
    doc = t.ok(t.run(["--profile", "other"], AWS_PROFILE="default"), static=True)
    assert doc["AccessKeyId"] == "AKIAOTHER00000000001"


def test_config_in_home_directory(t):
    # no AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE: ~/.aws/{config,credentials}
    t.config("[profile homecfg]\nregion = us-west-2\n", path=t.home / ".aws" / "config")
    t.credentials("[homecfg]\naws_access_key_id = AKIAHOMEDIR000000001\n"
                  "aws_secret_access_key = home-secret\n",
                  path=t.home / ".aws" / "credentials")
    doc = t.ok(t.run(["--profile", "homecfg"], AWS_CONFIG_FILE=None,
                     AWS_SHARED_CREDENTIALS_FILE=None), static=True)
    assert doc["AccessKeyId"] == "AKIAHOMEDIR000000001"


def test_self_referential_static_profile(t):
    m = t.moto
    t.config(_base_profile(m, "selfref") +
             f"role_arn = {m.roles['reader']}\nsource_profile = selfref\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "selfref"], AWS_ENDPOINT_URL_STS=m.endpoint))
    arn = _who(m, doc)
    assert ":assumed-role/reader/" in arn, arn
    assert len(m.assume_role_requests(mark)) == 1


# ---------------------------------------------------------------- roles in moto

def test_role_from_static_source(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    mark = m.mark()
    res = t.run(["--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    doc = t.ok(res)
    # moto sends Expiration with microseconds; we must print whole seconds
    exp = parse_exp(doc["Expiration"])
    left = (exp - servers.utcnow()).total_seconds()
    assert approx(left, 3600, 120), f"expiration {left:.0f}s away, expected ~3600"
    arn = _who(m, doc)
    assert re.fullmatch(rf"arn:aws:sts::{m.account}:assumed-role/reader/[\w+=,.@-]+", arn), arn
    if "AccountId" in doc:
        assert doc["AccountId"] == m.account
    ars = m.assume_role_requests(mark)
    assert len(ars) == 1, f"{len(ars)} AssumeRole requests"
    r = ars[0]
    assert r.status == 200, r
    assert r.form.get("RoleArn") == m.roles["reader"]
    assert r.form.get("Version") == "2011-06-15"
    assert "DurationSeconds" not in r.form or r.form["DurationSeconds"] == "3600"
    assert "x-amz-security-token" not in r.headers
    # the credentials really work
    s3 = m.client("s3", doc)
    s3.put_object(Bucket=m.bucket, Key="from-reader", Body=b"hello")
    assert s3.get_object(Bucket=m.bucket, Key="from-reader")["Body"].read() == b"hello"


def test_role_via_AWS_ENDPOINT_URL(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"region = eu-central-1\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "reader"], AWS_ENDPOINT_URL=m.endpoint))
    assert ":assumed-role/reader/" in _who(m, doc)
    r = m.assume_role_requests(mark)[0]
    scope = r.headers["authorization"].split("Credential=")[1].split(",")[0]
    assert scope.split("/")[2:4] == ["eu-central-1", "sts"], \
        f"signed for {scope}; the profile's region is eu-central-1"


def test_fips_and_dualstack_with_configured_endpoint(t):
    """use_fips_endpoint / use_dualstack_endpoint with a configured endpoint:
    the endpoint is used (as botocore does), signed for the region, and
    --debug says that the FIPS and dual-stack settings were not applied."""
    sts = t.fake_sts(keys={"AKIASTATIC0000000009": ("static-secret-0009", None)})
    t.config("[profile static]\naws_access_key_id = AKIASTATIC0000000009\n"
             "aws_secret_access_key = static-secret-0009\n"
             "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
             "source_profile = static\nregion = us-west-2\nuse_fips_endpoint = true\n"
             f"use_dualstack_endpoint = true\nendpoint_url = {sts.url}\n")
    res = t.run(["--profile", "r", "--no-cache", "--debug"])
    t.ok(res)
    ar = sts.assume_role_requests()
    assert len(ar) == 1 and ar[0].sig.get("region") == "us-west-2", \
        [(r.status, r.sig) for r in ar]
    assert re.search(r"use_fips_endpoint.*use_dualstack_endpoint.*not applied", res.stderr), \
        "no --debug note that FIPS and dual-stack are not applied to the configured endpoint"


def test_region_env_overrides_profile_region(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"region = eu-central-1\n")
    mark = m.mark()
    t.ok(t.run(["--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint,
               AWS_REGION="ap-southeast-2", AWS_DEFAULT_REGION="sa-east-1"))
    r = m.assume_role_requests(mark)[0]
    scope = r.headers["authorization"].split("Credential=")[1].split(",")[0]
    assert scope.split("/")[2] == "ap-southeast-2", scope


def test_role_flags(t):
    m = t.moto
    t.config(_base_profile(m))
    mark = m.mark()
    doc = t.ok(t.run(["--role-arn", m.roles["reader"], "--source-profile", "base",
                      "--role-session-name", "flag-session", "--duration-seconds", "1800",
                      "--region", "us-west-2"],
                     AWS_ENDPOINT_URL_STS=m.endpoint))
    assert _who(m, doc).endswith(":assumed-role/reader/flag-session")
    left = (parse_exp(doc["Expiration"]) - servers.utcnow()).total_seconds()
    assert approx(left, 1800, 120), left
    r = m.assume_role_requests(mark)[0]
    assert r.form["DurationSeconds"] == "1800"
    scope = r.headers["authorization"].split("Credential=")[1].split(",")[0]
    assert scope.split("/")[2] == "us-west-2", scope


def test_two_hop_chain(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"[profile chained]\nrole_arn = {m.roles['chained']}\nsource_profile = reader\n"
             f"role_session_name = hop2\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "chained"], AWS_ENDPOINT_URL_STS=m.endpoint))
    assert _who(m, doc) == f"arn:aws:sts::{m.account}:assumed-role/chained/hop2"
    ars = m.assume_role_requests(mark)
    assert [r.form["RoleArn"] for r in ars] == [m.roles["reader"], m.roles["chained"]], ars
    assert all(r.status == 200 for r in ars), ars
    first, second = ars
    assert first.headers["authorization"].split("Credential=")[1].startswith(
        m.base["AccessKeyId"] + "/")
    assert "x-amz-security-token" in second.headers, "2nd hop not signed with a session"
    s3 = m.client("s3", doc)
    s3.put_object(Bucket=m.bucket, Key="from-chained", Body=b"x")


def test_external_id(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile partner]\nrole_arn = {m.roles['partner']}\nsource_profile = base\n"
             f"external_id = {m.external_id}\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "partner"], AWS_ENDPOINT_URL_STS=m.endpoint))
    assert ":assumed-role/partner/" in _who(m, doc)
    r = m.assume_role_requests(mark)[0]
    assert r.form.get("ExternalId") == m.external_id, r.form


def test_external_id_flag_wrong_is_refused(t):
    m = t.moto
    t.config(_base_profile(m))
    mark = m.mark()
    res = t.run(["--role-arn", m.roles["partner"], "--source-profile", "base",
                 "--external-id", "not-the-right-one"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 4, "AccessDenied")
    assert m.assume_role_requests(mark)[0].form.get("ExternalId") == "not-the-right-one"


def test_duration_seconds(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile long]\nrole_arn = {m.roles['long']}\nsource_profile = base\n"
             f"duration_seconds = 7200\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "long"], AWS_ENDPOINT_URL_STS=m.endpoint))
    left = (parse_exp(doc["Expiration"]) - servers.utcnow()).total_seconds()
    assert approx(left, 7200, 120), f"{left:.0f}s left, expected ~7200"
    ars = m.assume_role_requests(mark)
    assert [r.form.get("DurationSeconds") for r in ars] == ["7200"], ars


def test_role_session_name_configured(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile r]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"role_session_name = nightly-reports@example.com\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=m.endpoint))
    assert _who(m, doc).endswith("/reader/nightly-reports@example.com")
    assert m.assume_role_requests(mark)[0].form["RoleSessionName"] == \
        "nightly-reports@example.com"


def test_role_session_name_default(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile r]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=m.endpoint))
    name = m.assume_role_requests(mark)[0].form["RoleSessionName"]
    assert re.fullmatch(r"aws-credproc-[\w+=,.@-]{1,51}", name, re.ASCII), name
    t.note(f"default session name: {name} (local user {local_user()!r})")
    assert name == default_session_name(), \
        f"default session name {name!r}, expected {default_session_name()!r}"
    assert _who(m, doc).endswith("/reader/" + name)
    # stable: the same on a second run (it is part of the cache key)
    mark = m.mark()
    t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=m.endpoint, AWS_CREDPROC_CACHE_DIR=
               str(t.tmp / "cache2")))
    again = m.assume_role_requests(mark)
    if again:
        assert again[0].form["RoleSessionName"] == name


def test_credential_source_environment(t):
    m = t.moto
    t.config(f"[profile envrole]\nrole_arn = {m.roles['reader']}\n"
             f"credential_source = Environment\nrole_session_name = from-env\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "envrole"], AWS_ENDPOINT_URL_STS=m.endpoint,
                     AWS_ACCESS_KEY_ID=m.base["AccessKeyId"],
                     AWS_SECRET_ACCESS_KEY=m.base["SecretAccessKey"]))
    assert _who(m, doc).endswith("/reader/from-env")
    assert m.assume_role_requests(mark)[0].headers["authorization"].split(
        "Credential=")[1].startswith(m.base["AccessKeyId"] + "/")


def test_credential_source_environment_with_session_token(t):
    m = t.moto
    inst = m.instance_creds
    t.config(f"[profile envrole]\nrole_arn = {m.roles['chained']}\n"
             f"credential_source = Environment\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "envrole"], AWS_ENDPOINT_URL_STS=m.endpoint,
                     AWS_ACCESS_KEY_ID=inst["AccessKeyId"],
                     AWS_SECRET_ACCESS_KEY=inst["SecretAccessKey"],
                     AWS_SESSION_TOKEN=inst["Token"]))
    assert ":assumed-role/chained/" in _who(m, doc)
    r = m.assume_role_requests(mark)[0]
    assert r.headers.get("x-amz-security-token") == inst["Token"]


def test_credential_source_environment_security_token(t):
    """AWS_SECURITY_TOKEN, the old name of AWS_SESSION_TOKEN, is the session
    token of credential_source = Environment when AWS_SESSION_TOKEN is unset
    (botocore reads both)."""
    akid, secret, token = "ASIAENVOLDNAME000001", "env-old-name-secret", "env-old-name-token"
    sts = t.fake_sts(keys={akid: (secret, token)})
    t.config("[profile envrole]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
             "credential_source = Environment\nregion = us-east-1\n")
    t.ok(t.run(["--profile", "envrole", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url,
               AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret, AWS_SECURITY_TOKEN=token))
    ar = sts.assume_role_requests()
    assert [r.status for r in ar] == [200], [(r.status, r.note) for r in ar]
    assert ar[0].header("x-amz-security-token") == token
    # both set: AWS_SESSION_TOKEN, the current name, wins
    sts.clear()
    res = t.run(["--profile", "envrole", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret,
                AWS_SECURITY_TOKEN="stale-token", AWS_SESSION_TOKEN=token)
    t.ok(res)
    assert sts.assume_role_requests()[0].header("x-amz-security-token") == token


def test_credential_source_environment_missing(t):
    m = t.moto
    t.config(f"[profile envrole]\nrole_arn = {m.roles['reader']}\n"
             f"credential_source = Environment\n")
    mark = m.mark()
    res = t.run(["--profile", "envrole"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 3, any_of=["AWS_ACCESS_KEY_ID", "environment"])
    assert not m.assume_role_requests(mark)


def test_nested_credential_process_source(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile viaproc]\ncredential_process = {t.bin} --profile base\n"
             f"[profile r]\nrole_arn = {m.roles['reader']}\nsource_profile = viaproc\n"
             f"role_session_name = via-process\n")
    doc = t.ok(t.run(["--profile", "viaproc"]), static=True)
    assert doc["AccessKeyId"] == m.base["AccessKeyId"]
    doc = t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=m.endpoint))
    assert _who(m, doc).endswith("/reader/via-process")


def test_env_command(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    res = t.run(["env", "--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0, res.last_err
    vals = {}
    for line in res.stdout.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        mm = re.fullmatch(r"export (AWS_[A-Z_]+)=(.*)", line)
        assert mm, f"not an export line: {line!r}"
        v = mm.group(2)
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        vals[mm.group(1)] = v
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_CREDENTIAL_EXPIRATION"):
        assert k in vals, f"{k} not exported: {sorted(vals)}"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", vals[
        "AWS_CREDENTIAL_EXPIRATION"]), vals["AWS_CREDENTIAL_EXPIRATION"]
    assert vals["AWS_SECRET_ACCESS_KEY"] not in res.stderr
    # a shell can eval it, and the result works
    out = __import__("subprocess").run(
        ["/bin/sh", "-c", res.stdout + '\nprintf "%s\\n%s\\n%s" "$AWS_ACCESS_KEY_ID" '
         '"$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"'],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    akid, sk, tok = out.stdout.split("\n")
    assert akid == vals["AWS_ACCESS_KEY_ID"]
    ident = m.client("sts", {"AccessKeyId": akid, "SecretAccessKey": sk,
                             "SessionToken": tok}).get_caller_identity()
    assert ":assumed-role/reader/" in ident["Arn"]


def test_env_command_static(t):
    t.config("[profile static]\naws_access_key_id = AKIASTATIC0000000003\n"
             "aws_secret_access_key = static-secret-0003\n")
    res = t.run(["env", "--profile", "static"])
    assert res.rc == 0, res.last_err
    assert re.search(r"^export AWS_ACCESS_KEY_ID=['\"]?AKIASTATIC0000000003['\"]?$",
                     res.stdout, re.M), res.stdout
    assert re.search(r"^export AWS_SECRET_ACCESS_KEY=", res.stdout, re.M)
    assert not re.search(r"^export AWS_CREDENTIAL_EXPIRATION=", res.stdout, re.M)
    assert not re.search(r"^export AWS_SESSION_TOKEN=", res.stdout, re.M)


def test_debug_trace_has_no_secret(t):
    """--debug / AWS_CREDPROC_DEBUG=1: a useful trace on stderr, never a secret
    (the harness checks every run's stderr for the source and assumed secrets)."""
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n"
             f"external_id = ext-id-1234\n")
    miss = ("config file", "base: static keys", "assume role", "STS endpoint", "HTTP 200",
            "cache: miss", "resolved in")
    hit = ("config file", "cache: hit", "resolved in")
    for args, env, wants in ((["--profile", "reader", "--debug"], {}, miss),
                             (["--profile", "reader"], {"AWS_CREDPROC_DEBUG": "1"}, hit)):
        res = t.run(args, AWS_ENDPOINT_URL_STS=m.endpoint, **env)
        doc = t.ok(res)
        t.secret(doc["SecretAccessKey"])
        t.secret(doc["SessionToken"])
        for want in wants:
            assert want in res.stderr, f"debug trace lacks {want!r}: {res.stderr!r}"
        for secret in (m.base["SecretAccessKey"], doc["SecretAccessKey"], doc["SessionToken"]):
            assert secret not in res.stderr, "a secret reached the debug trace"
