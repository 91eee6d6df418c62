"""credential_source = EcsContainer against a loopback container endpoint."""

import servers


def test_ecs_container_source(t):
    m = t.moto
    ecs = t.ecs(credentials=m.instance_creds, token="Bearer-e2e-token-123")
    t.config(f"[profile task]\nrole_arn = {m.roles['chained']}\n"
             f"credential_source = EcsContainer\nrole_session_name = from-ecs\n")
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "task"], AWS_ENDPOINT_URL_STS=m.endpoint,
                     AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs.full_uri,
                     AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer-e2e-token-123"))
    assert m.client("sts", doc).get_caller_identity()["Arn"].endswith("/chained/from-ecs")
    assert [r.status for r in ecs.since()] == [200], ecs.since()
    assert m.assume_role_requests(mark)[0].headers.get("x-amz-security-token") == \
        m.instance_creds["Token"]


def test_ecs_container_source_missing(t):
    m = t.moto
    t.config(f"[profile task]\nrole_arn = {m.roles['chained']}\n"
             f"credential_source = EcsContainer\n")
    res = t.run(["--profile", "task"], AWS_ENDPOINT_URL_STS=m.endpoint)
    t.fail(res, 3, any_of=["AWS_CONTAINER_CREDENTIALS", "container", "ECS"])


def test_ecs_authorization_token_file_not_regular(t):
    """AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE that is a FIFO held open by a
    writer, an idle terminal or an endless device: refused at once, exit 3
    naming the file, the endpoint not called."""
    ecs = t.ecs(credentials={"AccessKeyId": "ASIAE2EUNUSED0000001",
                             "SecretAccessKey": "e2e-unused-secret-0001",
                             "Token": "e2e-unused-token", "Expiration": "2099-01-01T00:00:00Z"},
                token="Bearer-e2e-token-123")
    t.config("[profile task]\nrole_arn = arn:aws:iam::222222222222:role/x\n"
             "credential_source = EcsContainer\n")
    for label, path in t.special_files():
        res = t.run(["--profile", "task", "--timeout", "5"], timeout=30,
                    AWS_ENDPOINT_URL_STS=servers.closed_port_url(),
                    AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs.full_uri,
                    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=path)
        t.fail(res, 3, path, "not a regular file")
        assert res.elapsed < t.within(5), f"{label}: took {res.elapsed:.1f}s"
    assert not ecs.since(), "the container endpoint was called"
