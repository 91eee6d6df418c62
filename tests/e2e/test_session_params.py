"""AssumeRole session parameters, our keys (credproc_policy,
credproc_policy_arns, credproc_tags, credproc_transitive_tag_keys,
credproc_source_identity) and their flags: on the wire in STS's awsQuery
encoding, and part of the cache key."""

import json

BASE_KEY = ("AKIAFAKEPARAMS000001", "fake-params-secret-01")
ROLE = "arn:aws:iam::222222222222:role/tagged"
POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _setup(t, extra=""):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    t.config(f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
             f"aws_secret_access_key = {BASE_KEY[1]}\n"
             f"[profile r]\nrole_arn = {ROLE}\nsource_profile = base\n{extra}")
    return sts


def test_session_params_from_config(t):
    sts = _setup(t, f"credproc_policy = {json.dumps(POLICY)}\n"
                    "credproc_policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess, "
                    "arn:aws:iam::222222222222:policy/extra\n"
                    "credproc_tags = team=data, project=reports\n"
                    "credproc_transitive_tag_keys = team\n"
                    "credproc_source_identity = alice\n")
    t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=sts.url))
    [req] = sts.assume_role_requests()
    f = req.form
    assert json.loads(f["Policy"]) == POLICY
    assert f["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert f["PolicyArns.member.2.arn"] == "arn:aws:iam::222222222222:policy/extra"
    assert (f["Tags.member.1.Key"], f["Tags.member.1.Value"]) == ("team", "data")
    assert (f["Tags.member.2.Key"], f["Tags.member.2.Value"]) == ("project", "reports")
    assert f["TransitiveTagKeys.member.1"] == "team"
    assert f["SourceIdentity"] == "alice"


def test_session_params_flags_override_and_key_the_cache(t):
    sts = _setup(t, "credproc_tags = team=data\n")
    t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=sts.url))
    t.ok(t.run(["--profile", "r"], AWS_ENDPOINT_URL_STS=sts.url))
    assert len(sts.assume_role_requests()) == 1, "second call was not a cache hit"
    t.ok(t.run(["--profile", "r", "--tags", "team=ops", "--source-identity", "bob"],
               AWS_ENDPOINT_URL_STS=sts.url))
    reqs = sts.assume_role_requests()
    assert len(reqs) == 2, "changed session parameters reused the cached credentials"
    assert reqs[1].form["Tags.member.1.Value"] == "ops" and reqs[1].form["SourceIdentity"] == "bob"


def test_session_params_invalid_are_config_errors(t):
    sts = _setup(t)
    for args, word in ((["--policy", "{not json"], "policy"),
                       (["--tags", "novalue"], "key=value"),
                       (["--source-identity", "x"], "SourceIdentity")):
        res = t.run(["--profile", "r", "--no-cache", *args], AWS_ENDPOINT_URL_STS=sts.url)
        t.fail(res, 2, any_of=[word])
    assert not sts.assume_role_requests(), "an invalid parameter reached STS"
