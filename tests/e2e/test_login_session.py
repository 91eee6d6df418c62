"""Console sign-in sessions (`login_session`, the token cache `aws login`
leaves in ~/.aws/login/cache/<sha256 of the session name>.json; HOME is the
test's) against a loopback sign-in service (signin_server.SigninServer)
that checks each DPoP proof and rotates refresh tokens: the binary is
pointed at it with the standard AWS_ENDPOINT_URL_SIGNIN, which botocore
honours too."""

import datetime as _dt
import json
import os
import subprocess
import sys
import textwrap

import servers
import signin_server as ss
from harness import parse_exp, run_clean

SESSION = "arn:aws:iam::111122223333:user/alice"
PROFILE = "console"
HINT = f"aws login --profile {PROFILE}"


def _server(t, **kw):
    s = ss.SigninServer(**kw).start()
    t._servers.append(s)
    return s


def _cache_dir(t):
    return t.home / ".aws" / "login" / "cache"


def _token(t, s, left, **kw):
    path, doc = s.write_token(kw.pop("directory", _cache_dir(t)), SESSION, left, **kw)
    for x in s.secrets_of(doc):
        t.secret(x)
    return path, doc


def _config(t, extra=""):
    t.config(f"[profile {PROFILE}]\nlogin_session = {SESSION}\nregion = us-east-1\n" + extra)


def _env(s, **kw):
    return dict({"AWS_ENDPOINT_URL_SIGNIN": s.url}, **kw)


def _issued_secrets(t, s):
    for out in s.issued:
        t.secret(out["accessToken"]["secretAccessKey"])
        t.secret(out["accessToken"]["sessionToken"])
        t.secret(out["refreshToken"])


# ---------------------------------------------------------------- the token as it is

def test_login_valid_token_used_as_is(t):
    """More than the refresh threshold (5 min) left: the token cache's
    credentials and account id, no request, the file untouched."""
    s = _server(t)
    _config(t)
    path, doc = _token(t, s, 3600)
    before = path.read_bytes(), path.stat().st_ino
    got = t.ok(t.run(["--profile", PROFILE], **_env(s)))
    at = doc["accessToken"]
    assert (got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"]) == \
        (at["accessKeyId"], at["secretAccessKey"], at["sessionToken"])
    assert got["Expiration"] == at["expiresAt"]
    assert got["AccountId"] == ss.ACCOUNT
    assert not s.since(), f"the sign-in service was called: {s.since()}"
    assert (path.read_bytes(), path.stat().st_ino) == before, "the token file changed"


def test_login_cache_directory_variable(t):
    """AWS_LOGIN_CACHE_DIRECTORY (with ~ and $VAR expanded, as botocore
    expands it) names the token cache directory."""
    s = _server(t)
    _config(t)
    d = t.home / "elsewhere" / "login"
    _, doc = _token(t, s, 3600, directory=d)
    got = t.ok(t.run(["--profile", PROFILE], AWS_LOGIN_CACHE_DIRECTORY="~/elsewhere/login",
                     **_env(s)))
    assert got["AccessKeyId"] == doc["accessToken"]["accessKeyId"]
    t.run(["cache", "clear"])
    got = t.ok(t.run(["--profile", PROFILE], AWS_LOGIN_CACHE_DIRECTORY="$LOGIN_TOP/login",
                     LOGIN_TOP=t.home / "elsewhere", **_env(s)))
    assert got["AccessKeyId"] == doc["accessToken"]["accessKeyId"]


# ---------------------------------------------------------------- refresh

def _check_rewritten(path, before, s, extra_keys=()):
    st = path.stat()
    assert st.st_mode & 0o777 == 0o600, f"rewritten with mode {oct(st.st_mode & 0o777)}"
    after = json.loads(path.read_text())
    out = s.issued[-1]
    assert list(after) == list(before), f"members or their order changed: {list(after)}"
    for k in before:
        if k not in ("accessToken", "refreshToken"):
            assert after[k] == before[k], f"{k} changed"
    assert after["refreshToken"] == out["refreshToken"]
    at = after["accessToken"]
    assert list(at) == ["accessKeyId", "secretAccessKey", "sessionToken", "accountId",
                        "expiresAt"], list(at)
    assert at["accountId"] == before["accessToken"]["accountId"]
    for k in ("accessKeyId", "secretAccessKey", "sessionToken"):
        assert at[k] == out["accessToken"][k]
    exp = parse_exp(at["expiresAt"])
    want = servers.utcnow() + _dt.timedelta(seconds=out["expiresIn"])
    assert abs((exp - want).total_seconds()) < 10, (at["expiresAt"], want)
    return after


def test_login_refresh_near_expiry(t):
    """Under 5 minutes left: one CreateOAuth2Token with a valid DPoP proof
    (checked by the service), the token file replaced (a new inode: written
    aside and renamed), 0600, every member kept, the new refresh token in;
    the next call is served from our cache."""
    s = _server(t)
    _config(t)
    path, before = _token(t, s, 120, extra={"customMember": {"kept": [1, "two"]}})
    ino = path.stat().st_ino
    got = t.ok(t.run(["--profile", PROFILE], **_env(s)))
    _issued_secrets(t, s)
    reqs = s.token_requests()
    assert len(reqs) == 1 and reqs[0].status == 200, [(r.status, r.note) for r in reqs]
    assert path.stat().st_ino != ino, "the token file was rewritten in place, not replaced"
    after = _check_rewritten(path, before, s)
    assert got["AccessKeyId"] == after["accessToken"]["accessKeyId"]
    assert got["Expiration"] == after["accessToken"]["expiresAt"]
    assert got["AccountId"] == ss.ACCOUNT
    again = t.ok(t.run(["--profile", PROFILE], **_env(s)))
    assert again == got and len(s.token_requests()) == 1, "the second call was not a cache hit"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


def test_login_refresh_pkcs8_key_and_expired_token(t):
    """A PKCS#8 dpopKey works as well as a SEC1 one; credentials already
    expired are refreshed the same way."""
    s = _server(t)
    _config(t)
    path, before = _token(t, s, -600, pkcs8=True)
    got = t.ok(t.run(["--profile", PROFILE], **_env(s)))
    _issued_secrets(t, s)
    assert len(s.token_requests()) == 1 and s.token_requests()[0].status == 200
    after = _check_rewritten(path, before, s)
    assert got["SecretAccessKey"] == after["accessToken"]["secretAccessKey"]


def test_login_refresh_fails_while_still_valid(t):
    """A refresh that fails (service down) while the credentials still have
    a few minutes: they are used, with a warning."""
    _config(t)
    s = ss.SigninServer()  # never started: only writes the file
    _, doc = _token(t, s, 200)
    res = t.run(["--profile", PROFILE], AWS_ENDPOINT_URL_SIGNIN=servers.closed_port_url())
    got = t.ok(res)
    assert got["AccessKeyId"] == doc["accessToken"]["accessKeyId"]
    assert "could not refresh" in res.stderr


# ---------------------------------------------------------------- a person is needed

def test_login_no_session(t):
    s = _server(t)
    _config(t)
    res = t.run(["--profile", PROFILE], **_env(s))
    last = t.fail(res, 6, HINT, "does not exist")
    assert last.rstrip().endswith(f"`{HINT}`"), last
    assert not s.since()


def test_login_expired_session(t):
    """Expired credentials and a refresh token the service no longer takes
    (rotated away: TOKEN_EXPIRED; the user's credentials changed:
    USER_CREDENTIALS_CHANGED): exit 6 with the exact `aws login` line."""
    s = _server(t)
    _config(t)
    for kind in ("used", "revoked"):
        t.run(["cache", "clear"])
        _, doc = _token(t, s, -60)
        rt = doc["refreshToken"]
        del s.refresh[rt]
        getattr(s, kind).add(rt)
        m = s.mark()
        res = t.run(["--profile", PROFILE], **_env(s))
        last = t.fail(res, 6, HINT, "TOKEN_EXPIRED" if kind == "used" else "USER_CREDENTIALS_CHANGED")
        assert last.rstrip().endswith(f"`{HINT}`"), last
        assert len(s.token_requests(m)) == 1, "a refusal was retried"


def test_login_insufficient_permissions(t):
    s = _server(t)
    _config(t)
    _, doc = _token(t, s, -60)
    s.forbidden.add(doc["refreshToken"])
    res = t.run(["--profile", PROFILE], **_env(s))
    t.fail(res, 4, "INSUFFICIENT_PERMISSIONS")


def test_login_missing_fields(t):
    """Each member botocore requires, missing: exit 6 naming it, with the
    `aws login` line; the service is not called."""
    s = _server(t)
    _config(t)
    for field in ("accessToken", "refreshToken", "dpopKey", "clientId", "accessToken.accountId",
                  "accessToken.sessionToken", "accessToken.expiresAt"):
        t.run(["cache", "clear"])
        path, doc = _token(t, s, -60)
        if "." in field:
            del doc["accessToken"][field.split(".")[1]]
        else:
            del doc[field]
        path.write_text(json.dumps(doc))
        res = t.run(["--profile", PROFILE], **_env(s))
        last = t.fail(res, 6, field.split(".")[-1], HINT)
        assert last.rstrip().endswith(f"`{HINT}`"), last
    for bad in ("not json", "[]"):
        path.write_text(bad)
        t.fail(t.run(["--profile", PROFILE], **_env(s)), 6, HINT)
    assert not s.since()


def test_login_unusable_dpop_key(t):
    s = _server(t)
    _config(t)
    path, doc = _token(t, s, -60)
    doc["dpopKey"] = "-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----\n"
    path.write_text(json.dumps(doc))
    t.fail(t.run(["--profile", PROFILE], **_env(s)), 6, "dpopKey", HINT)
    assert not s.since()


# ---------------------------------------------------------------- the file's trust

def test_login_token_file_refused(t):
    """A token file owned by another user, writable by the group, or a
    symbolic link (to a good file elsewhere) is refused: exit 3 naming the
    file and why -- what the SSO source does with a token file it will not
    read (a FIFO, a terminal: exit 3, 'not a regular file')."""
    s = _server(t)
    _config(t)
    path, doc = _token(t, s, 3600)
    os.chown(path, 65534, 65534)
    t.fail(t.run(["--profile", PROFILE], **_env(s)), 3, str(path), "owned by uid 65534")
    os.chown(path, 0, 0)
    os.chmod(path, 0o620)
    t.fail(t.run(["--profile", PROFILE], **_env(s)), 3, str(path), "writable by group")
    os.chmod(path, 0o600)
    real = t.tmp / "real-token.json"
    os.rename(path, real)
    os.symlink(real, path)
    t.fail(t.run(["--profile", PROFILE], **_env(s)), 3, str(path), "symbolic link")
    path.unlink()
    os.mkfifo(path, 0o600)
    t.fail(t.run(["--profile", PROFILE, "--timeout", "5"], timeout=30, **_env(s)), 3, str(path),
           "not a regular file")
    assert not s.since()


# ---------------------------------------------------------------- many callers

def test_login_concurrent_callers_one_refresh(t):
    """8 processes at once, credentials due for a refresh: exactly one
    CreateOAuth2Token (a second would present a rotated refresh token), all
    print the same credentials. Once through our cache's lock, once with
    --no-cache through the token file's own lock."""
    s = _server(t)
    _config(t)
    for args in ([], ["--no-cache"]):
        _token(t, s, 60)
        m = s.mark()
        res = t.spawn_many(8, ["--profile", PROFILE, *args], **_env(s))
        _issued_secrets(t, s)
        docs = [t.ok(r) for r in res]
        reqs = s.token_requests(m)
        assert len(reqs) == 1, f"{args}: {len(reqs)} refreshes: {[(r.status, r.note) for r in reqs]}"
        assert all(d["AccessKeyId"] == docs[0]["AccessKeyId"] for d in docs), args


# ---------------------------------------------------------------- transport

def test_login_service_down(t):
    _config(t)
    s = ss.SigninServer()
    _token(t, s, -60)
    res = t.run(["--profile", PROFILE, "--timeout", "10"],
                AWS_ENDPOINT_URL_SIGNIN=servers.closed_port_url())
    t.fail(res, 5, "sign-in")


def test_login_service_errors_retried(t):
    """500s are retried (3 attempts), then exit 5; a 500 then a success is
    a success."""
    s = _server(t)
    _config(t)
    _token(t, s, -60)
    s.fail_next(500, times=3)
    res = t.run(["--profile", PROFILE], **_env(s))
    t.fail(res, 5, "500")
    assert len(s.token_requests()) == 3, [(r.status, r.note) for r in s.token_requests()]
    s.fail_next(503, times=1)
    m = s.mark()
    t.ok(t.run(["--profile", PROFILE], **_env(s)))
    _issued_secrets(t, s)
    assert [r.status for r in s.token_requests(m)] == [503, 200]


def test_login_no_region_no_endpoint(t):
    """Without a region or an endpoint a refresh cannot happen: exit 2 when
    one is due; the token's own credentials are fine without."""
    s = _server(t)
    t.config(f"[profile {PROFILE}]\nlogin_session = {SESSION}\n")
    _token(t, s, 3600)
    t.ok(t.run(["--profile", PROFILE]))
    t.run(["cache", "clear"])
    _token(t, s, -60)
    t.fail(t.run(["--profile", PROFILE]), 2, "region")


# ---------------------------------------------------------------- chains, explain

def test_login_root_of_two_hop_chain(t):
    """login -> role A -> role B in moto: the sign-in service hands out a
    session that moto knows (assumed with IAM keys created for the test),
    the first AssumeRole is signed with it."""
    m = t.moto
    key = m.base

    def creds():
        c = m.client("sts", key).assume_role(RoleArn=m.roles["instance-role"],
                                             RoleSessionName="console-alice",
                                             DurationSeconds=900)["Credentials"]
        return {"accessKeyId": c["AccessKeyId"], "secretAccessKey": c["SecretAccessKey"],
                "sessionToken": c["SessionToken"]}
    s = _server(t, credentials=creds)
    _config(t, f"[profile hop1]\nrole_arn = {m.roles['instance-role']}\nsource_profile = {PROFILE}\n"
               f"role_session_name = hop1\n"
               f"[profile hop2]\nrole_arn = {m.roles['chained']}\nsource_profile = hop1\n"
               f"role_session_name = hop2\nregion = us-east-1\n")
    _token(t, s, 60)
    mark = m.mark()
    doc = t.ok(t.run(["--profile", "hop2"], AWS_ENDPOINT_URL_STS=m.endpoint, **_env(s)))
    _issued_secrets(t, s)
    arn = m.client("sts", doc).get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{m.account}:assumed-role/chained/hop2", arn
    ars = m.assume_role_requests(mark)
    assert [r.form["RoleArn"] for r in ars] == [m.roles["instance-role"], m.roles["chained"]], ars
    login_key = s.issued[-1]["accessToken"]["accessKeyId"]
    assert ars[0].headers["authorization"].split("Credential=")[1].startswith(login_key + "/")
    assert ars[0].headers.get("x-amz-security-token") == s.issued[-1]["accessToken"]["sessionToken"]
    assert len(s.token_requests()) == 1


def test_login_explain(t):
    s = _server(t)
    _config(t)
    _token(t, s, 3600)
    res = t.run(["explain", "--profile", PROFILE], **_env(s))
    assert res.rc == 0, res.stderr
    assert "console sign-in" in res.stdout and SESSION in res.stdout, res.stdout
    assert str(_cache_dir(t)) in res.stdout and s.url + "/v1/token" in res.stdout, res.stdout
    assert not s.since()
    # as the root of a chain whose target has no region: the sign-in
    # service of the session profile's region (aws login writes it there)
    t.config(f"[profile {PROFILE}]\nlogin_session = {SESSION}\nregion = eu-west-1\n"
             f"[profile deploy]\nrole_arn = arn:aws:iam::222222222222:role/deployer\n"
             f"source_profile = {PROFILE}\n")
    res = t.run(["explain", "--profile", "deploy"])
    assert res.rc == 0, res.stderr
    assert "https://eu-west-1.signin.aws.amazon.com/v1/token" in res.stdout, res.stdout
    assert "assume role arn:aws:iam::222222222222:role/deployer" in res.stdout, res.stdout


# ---------------------------------------------------------------- botocore

# botocore's optional EC (awscrt) is not installed here: a test-side adapter
# over `cryptography` with exactly the calls botocore's login code makes.
BOTOCORE_DRIVER = textwrap.dedent("""
    import json, sys
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    class _Key:
        def __init__(self, key):
            self._key = key
        def get_public_coords(self):
            n = self._key.public_key().public_numbers()
            return n.x.to_bytes(32, "big"), n.y.to_bytes(32, "big")
        def sign(self, digest):
            return self._key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    class EC:  # the subset of awscrt.crypto.EC botocore's login code calls
        @staticmethod
        def new_key_from_der_data(der):
            return _Key(serialization.load_der_private_key(der, None))
        @staticmethod
        def decode_der_signature_to_padded_pair(sig, pad_to=32):
            r, s = utils.decode_dss_signature(sig)
            return r.to_bytes(pad_to, "big") + s.to_bytes(pad_to, "big")

    import botocore.compat, botocore.credentials
    botocore.compat.EC = botocore.credentials.EC = EC
    import botocore.session
    c = botocore.session.Session(profile=sys.argv[1]).get_credentials()
    f = c.get_frozen_credentials()
    print(json.dumps({"AccessKeyId": f.access_key, "SecretAccessKey": f.secret_key,
                      "SessionToken": f.token, "AccountId": getattr(f, "account_id", None),
                      "Expiration": c._expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ")}))
""")


def test_login_same_as_botocore(t):
    """botocore's LoginProvider and our binary, each on a copy of the same
    token cache (credentials due for a refresh), against the same service:
    the same request (method, path, body, DPoP header and payload members,
    jwk, htm, htu), the same credentials, the same rewritten token file."""
    fixed = {"accessKeyId": "ASIAFIXEDLOGIN000001", "secretAccessKey": "fixed-login-secret-0001",
             "sessionToken": "IQoJfixed-login-session-token-0001"}
    t.secret(fixed["secretAccessKey"])
    t.secret(fixed["sessionToken"])
    s = _server(t, credentials=lambda: dict(fixed))
    _config(t)
    theirs_dir, ours_dir = t.tmp / "botocore-cache", t.tmp / "ours-cache"
    p_theirs, before = _token(t, s, 120, directory=theirs_dir)
    p_ours = ours_dir / p_theirs.name
    ours_dir.mkdir()
    p_ours.write_bytes(p_theirs.read_bytes())
    os.chmod(p_ours, 0o600)
    rt = before["refreshToken"]
    bound = s.refresh[rt]

    script = t.tmp / "botocore_login.py"
    script.write_text(BOTOCORE_DRIVER)
    env = t.env(AWS_LOGIN_CACHE_DIRECTORY=theirs_dir, **_env(s))
    rc, out, err, note, _ = run_clean([sys.executable, str(script), PROFILE], env, timeout=60)
    assert rc == 0, f"botocore failed ({note}): {err[-2000:]}"
    theirs = json.loads(out)
    assert len(s.issued) == 1, f"botocore made {len(s.token_requests())} requests"
    # the same refresh token again for us (the service rotated it away)
    with s.lock:
        s.refresh[rt] = bound
    ours = t.ok(t.run(["--profile", PROFILE], AWS_LOGIN_CACHE_DIRECTORY=ours_dir, **_env(s)))
    _issued_secrets(t, s)
    reqs = s.token_requests()
    assert [r.status for r in reqs] == [200, 200], [(r.status, r.note) for r in reqs]
    b, o = reqs
    assert (b.method, b.path) == (o.method, o.path) == ("POST", "/v1/token")
    assert b.header("content-type").split(";")[0] == o.header("content-type").split(";")[0]
    assert json.loads(b.body) == json.loads(o.body), (b.body, o.body)
    bh, bp, _, _ = ss.parse_dpop(b.header("dpop"))
    oh, op, _, _ = ss.parse_dpop(o.header("dpop"))
    assert bh == oh, (bh, oh)  # typ, alg and the same jwk
    assert list(bh) == list(oh) and list(bh["jwk"]) == list(oh["jwk"])
    assert list(bp) == list(op) == ["htm", "htu", "iat", "jti"]
    assert (bp["htm"], bp["htu"]) == (op["htm"], op["htu"])
    assert abs(bp["iat"] - op["iat"]) < 60 and bp["jti"] != op["jti"]
    for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "AccountId"):
        assert theirs[k] == ours[k], k
    assert abs((parse_exp(theirs["Expiration"]) - parse_exp(ours["Expiration"])).total_seconds()) < 5
    ft, fo = json.loads(p_theirs.read_text()), json.loads(p_ours.read_text())
    assert ft["refreshToken"] == s.issued[0]["refreshToken"]
    assert fo["refreshToken"] == s.issued[1]["refreshToken"]
    et, eo = (parse_exp(f["accessToken"]["expiresAt"]) for f in (ft, fo))
    assert abs((et - eo).total_seconds()) < 5, (et, eo)
    for f in (ft, fo):
        f["refreshToken"] = "(rotated)"
        f["accessToken"]["expiresAt"] = "(now + expiresIn)"
    assert list(ft) == list(fo) and list(ft["accessToken"]) == list(fo["accessToken"])
    assert ft == fo, (ft, fo)
    t.note(f"botocore {__import__('botocore').__version__} and aws-credproc agree", show=True)


def test_login_cache_hit_loads_no_network_libs(t):
    """The second call is a hit of our cache: with the network module build,
    neither the module nor libcrypto (which the token's SHA-256 name and
    the DPoP proof need) is loaded."""
    from test_lazy_load import MODULE, _families, _loaded, _mode
    mode = _mode(t)
    s = _server(t)
    _config(t)
    _token(t, s, 3600)
    t.ok(t.run(["--profile", PROFILE], **_env(s)))
    res, loaded = _loaded(t, ["--profile", PROFILE], **_env(s))
    t.ok(res)
    if mode == "module":
        assert not _families(loaded), f"a cache hit loaded {sorted(_families(loaded))}"
        assert not any(MODULE in n or "/proc/self/fd/" in n for n in loaded), loaded
