"""credential_source = EcsContainer against a loopback container endpoint."""


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
