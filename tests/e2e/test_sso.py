"""IAM Identity Center (SSO) as a source: the access token `aws sso login`
leaves in ~/.aws/sso/cache/<sha1>.json (HOME is the test's), its OIDC
refresh, and the portal's GetRoleCredentials, served by a loopback portal +
OIDC server (SsoServer) that follows the documented wire format (botocore's
sso and sso-oidc 2019-06-10 models): the binary is pointed at it with the
standard AWS_ENDPOINT_URL_SSO / AWS_ENDPOINT_URL_SSO_OIDC variables."""

import datetime as _dt
import hashlib
import json
import os
import secrets
import stat

import servers
from harness import approx, parse_exp

SESSION = "corp"
START_URL = "https://d-9067e2e000.awsapps.com/start"
ACCOUNT = "111122223333"
ROLE = "ReadOnly"
ROLE_NEXT = "arn:aws:iam::222222222222:role/report-writer"
CLIENT_ID = "e2e-client-id-0001"


class SsoServer(servers.LoopbackServer):
    """The portal (GET /federation/credentials) and SSO OIDC (POST /token).

    tokens: access tokens the portal accepts; refresh: {refresh token: True}
    that OIDC accepts with CLIENT_ID and client_secret. Role credentials
    live `lifetime` seconds."""

    def __init__(self, client_secret, lifetime=3600):
        super().__init__()
        self.tokens = set()
        self.refresh = set()
        self.client_secret = client_secret
        self.lifetime = lifetime
        self.issued = []
        self.roles = {(ACCOUNT, ROLE)}
        self.portal_status = None  # force an error status on the portal

    def _json(self, status, doc, error_type=None):
        hdr = [("Content-Type", "application/json"),
               ("x-amzn-RequestId", secrets.token_hex(16))]
        if error_type:
            hdr.append(("x-amzn-ErrorType", error_type))
        return status, hdr, json.dumps(doc).encode()

    def handle(self, req):
        if req.method == "GET" and req.path == "/federation/credentials":
            return self._portal(req)
        if req.method == "POST" and req.path == "/token":
            return self._create_token(req)
        return self._json(404, {"message": "Not Found"}, "UnknownOperationException")

    def _portal(self, req):
        q = {k: v[0] for k, v in req.query.items()}
        token = req.header("x-amz-sso_bearer_token")
        if set(q) != {"role_name", "account_id"}:
            return self._json(400, {"message": "role_name and account_id are required",
                                    "__type": "InvalidRequestException"},
                              "InvalidRequestException")
        if self.portal_status:
            return self._json(self.portal_status, {"message": "scripted failure"})
        if token not in self.tokens:
            return self._json(401, {"message": "Session token not found or invalid",
                                    "__type": "UnauthorizedException"},
                              "UnauthorizedException")
        if (q["account_id"], q["role_name"]) not in self.roles:
            return self._json(403, {"message": "No access", "__type": "ForbiddenException"},
                              "ForbiddenException")
        exp = servers.utcnow() + _dt.timedelta(seconds=self.lifetime)
        cred = {"accessKeyId": "ASIA" + secrets.token_hex(8).upper(),
                "secretAccessKey": secrets.token_urlsafe(30),
                "sessionToken": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60),
                "expiration": int(exp.timestamp()) * 1000}
        with self.lock:
            self.issued.append(cred)
        return self._json(200, {"roleCredentials": cred})

    def _create_token(self, req):
        if req.header("content-type", "").split(";")[0].strip() != "application/json":
            return self._json(400, {"error": "invalid_request",
                                    "error_description": "expected application/json"},
                              "InvalidRequestException")
        try:
            body = json.loads(req.body)
        except ValueError:
            return self._json(400, {"error": "invalid_request"}, "InvalidRequestException")
        if body.get("grantType") != "refresh_token":
            return self._json(400, {"error": "unsupported_grant_type"},
                              "UnsupportedGrantTypeException")
        if body.get("clientId") != CLIENT_ID or body.get("clientSecret") != self.client_secret:
            return self._json(401, {"error": "invalid_client"}, "InvalidClientException")
        if body.get("refreshToken") not in self.refresh:
            return self._json(400, {"error": "invalid_grant",
                                    "error_description": "Invalid refresh token provided"},
                              "InvalidGrantException")
        self.refresh.discard(body["refreshToken"])  # rotated
        access, refresh = "aoa" + secrets.token_urlsafe(40), "aorAAAA" + secrets.token_urlsafe(40)
        self.tokens.add(access)
        self.refresh.add(refresh)
        return self._json(200, {"accessToken": access, "tokenType": "Bearer",
                                "expiresIn": 28800, "refreshToken": refresh})

    def portal_requests(self, mark=0):
        return [r for r in self.since(mark) if r.path == "/federation/credentials"]

    def token_requests(self, mark=0):
        return [r for r in self.since(mark) if r.path == "/token"]


def _server(t, **kw):
    s = SsoServer(client_secret="e2e-client-secret-" + secrets.token_hex(8), **kw).start()
    t._servers.append(s)
    t.secret(s.client_secret)
    return s


def _env(s):
    return {"AWS_ENDPOINT_URL_SSO": s.url, "AWS_ENDPOINT_URL_SSO_OIDC": s.url}


def _token_path(t, key):
    return t.home / ".aws" / "sso" / "cache" / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def _write_token(t, s, key, left, refresh=True, registration_left=90 * 86400):
    """A token file as `aws sso login` writes it, valid `left` seconds more."""
    access = "aoa" + secrets.token_urlsafe(40)
    s.tokens.add(access)
    t.secret(access)
    now = servers.utcnow()
    doc = {"startUrl": START_URL, "region": "us-east-1", "accessToken": access,
           "expiresAt": servers.iso_z(now + _dt.timedelta(seconds=left))}
    if refresh:
        rt = "aorAAAA" + secrets.token_urlsafe(40)
        s.refresh.add(rt)
        t.secret(rt)
        doc.update({"clientId": CLIENT_ID, "clientSecret": s.client_secret,
                    "registrationExpiresAt": servers.iso_z(
                        now + _dt.timedelta(seconds=registration_left)),
                    "refreshToken": rt})
    p = _token_path(t, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc))
    os.chmod(p, 0o600)
    return access, doc


def _config(t, extra=""):
    t.config(f"[sso-session {SESSION}]\nsso_region = us-east-1\nsso_start_url = {START_URL}\n"
             f"sso_registration_scopes = sso:account:access\n"
             f"[profile dev]\nsso_session = {SESSION}\nsso_account_id = {ACCOUNT}\n"
             f"sso_role_name = {ROLE}\nregion = us-east-1\n" + extra)


def test_sso_profile(t):
    s = _server(t)
    _config(t)
    access, _ = _write_token(t, s, SESSION, 8 * 3600)
    doc = t.ok(t.run(["--profile", "dev", "--debug"], **_env(s)))
    [req] = s.portal_requests()
    assert req.raw_path == (f"/federation/credentials?role_name={ROLE}&account_id={ACCOUNT}"), \
        req.raw_path
    assert req.header("x-amz-sso_bearer_token") == access
    assert not req.header("authorization"), "GetRoleCredentials is unsigned"
    assert not s.token_requests(), "a token valid for hours was refreshed"
    issued = s.issued[-1]
    assert doc["AccessKeyId"] == issued["accessKeyId"]
    assert doc["SessionToken"] == issued["sessionToken"]
    assert parse_exp(doc["Expiration"]).timestamp() == issued["expiration"] // 1000
    assert doc.get("AccountId") == ACCOUNT


def test_sso_source_of_assume_role(t):
    s = _server(t)
    sts = t.fake_sts()
    _config(t, f"[profile writer]\nrole_arn = {ROLE_NEXT}\nsource_profile = dev\n")
    _write_token(t, s, SESSION, 8 * 3600)

    # the SSO role credentials must verify at STS: register each as issued
    orig = s._portal

    def portal(req):
        status, hdr, body = orig(req)
        if status == 200:
            c = json.loads(body)["roleCredentials"]
            sts.add_key(c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
            t.secret(c["secretAccessKey"])
        return status, hdr, body
    s._portal = portal

    env = {**_env(s), "AWS_ENDPOINT_URL_STS": sts.url}
    doc = t.ok(t.run(["--profile", "writer"], **env))
    [ar] = sts.assume_role_requests()
    assert ar.form["RoleArn"] == ROLE_NEXT
    sso_creds = s.issued[-1]
    assert ar.sig["akid"] == sso_creds["accessKeyId"], "AssumeRole not signed with the SSO role"
    assert ar.header("X-Amz-Security-Token") == sso_creds["sessionToken"]
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    # cached: the second call asks neither the portal nor STS
    again = t.ok(t.run(["--profile", "writer"], **env))
    assert again == doc and len(s.portal_requests()) == 1 and len(sts.assume_role_requests()) == 1


def test_sso_refresh_expired_token(t):
    s = _server(t)
    _config(t)
    old, before = _write_token(t, s, SESSION, -120)
    s.tokens.discard(old)  # the portal would refuse it anyway
    path = _token_path(t, SESSION)
    doc = t.ok(t.run(["--profile", "dev", "--debug"], **_env(s)))
    [tr] = s.token_requests()
    assert tr.header("content-type") == "application/json"
    assert json.loads(tr.body) == {"grantType": "refresh_token", "clientId": CLIENT_ID,
                                   "clientSecret": s.client_secret,
                                   "refreshToken": before["refreshToken"]}
    after = json.loads(path.read_text())
    assert after["accessToken"] != old and after["accessToken"] in s.tokens
    assert after["refreshToken"] != before["refreshToken"] and after["refreshToken"] in s.refresh
    t.secret(after["accessToken"])
    t.secret(after["refreshToken"])
    assert after["clientId"] == CLIENT_ID and after["clientSecret"] == s.client_secret
    assert after["registrationExpiresAt"] == before["registrationExpiresAt"]
    assert after["startUrl"] == START_URL and after["region"] == "us-east-1"
    left = (parse_exp(after["expiresAt"]) - servers.utcnow()).total_seconds()
    assert approx(left, 28800, 120), f"expiresAt {after['expiresAt']}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")], "temp file left"
    [pr] = s.portal_requests()
    assert pr.header("x-amz-sso_bearer_token") == after["accessToken"]
    assert doc["AccessKeyId"] == s.issued[-1]["accessKeyId"]


def test_sso_refresh_within_window(t):
    """Ten minutes left (< botocore's 15-minute window): refreshed first."""
    s = _server(t)
    _config(t)
    old, _ = _write_token(t, s, SESSION, 600)
    t.ok(t.run(["--profile", "dev"], **_env(s)))
    assert len(s.token_requests()) == 1
    assert s.portal_requests()[0].header("x-amz-sso_bearer_token") != old


def test_sso_expired_without_refresh(t):
    s = _server(t)
    _config(t)
    _write_token(t, s, SESSION, -60, refresh=False)
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 6, f"aws sso login --sso-session {SESSION}", "expired")
    assert not s.since(), "nothing should be asked"


def test_sso_expired_refresh_refused(t):
    s = _server(t)
    _config(t)
    _write_token(t, s, SESSION, -60)
    s.refresh.clear()  # the refresh token was revoked
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 6, f"aws sso login --sso-session {SESSION}", "invalid_grant")
    assert len(s.token_requests()) == 1 and not s.portal_requests()


def test_sso_missing_token(t):
    s = _server(t)
    _config(t)
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 6, f"aws sso login --sso-session {SESSION}", "does not exist")
    assert not s.since()


def test_sso_portal_401(t):
    s = _server(t)
    _config(t)
    access, _ = _write_token(t, s, SESSION, 8 * 3600)
    s.tokens.discard(access)  # signed out elsewhere
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 6, f"aws sso login --sso-session {SESSION}", "401")
    assert len(s.portal_requests()) == 1


def test_sso_role_not_assigned(t):
    s = _server(t)
    _config(t)
    s.roles.clear()
    _write_token(t, s, SESSION, 8 * 3600)
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 4, "403", "No access")


def test_sso_portal_down(t):
    s = _server(t)
    _config(t)
    s.portal_status = 503
    _write_token(t, s, SESSION, 8 * 3600)
    res = t.run(["--profile", "dev"], **_env(s))
    t.fail(res, 5, "503")
    assert len(s.portal_requests()) == 3, "503 is retried (3 attempts)"


def test_sso_legacy_profile(t):
    s = _server(t)
    t.config(f"[profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
             f"sso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\n")
    access, _ = _write_token(t, s, START_URL, 8 * 3600)
    doc = t.ok(t.run(["--profile", "legacy"], **_env(s)))
    [req] = s.portal_requests()
    assert req.header("x-amz-sso_bearer_token") == access
    assert doc["AccessKeyId"] == s.issued[-1]["accessKeyId"]


def test_sso_legacy_expired_not_refreshed(t):
    s = _server(t)
    t.config(f"[profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
             f"sso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\n")
    _write_token(t, s, START_URL, -60)
    res = t.run(["--profile", "legacy"], **_env(s))
    t.fail(res, 6, "aws sso login --profile legacy")
    assert not s.since(), "legacy tokens are never refreshed"


def test_sso_token_only_profile(t):
    s = _server(t)
    t.config(f"[sso-session {SESSION}]\nsso_region = us-east-1\nsso_start_url = {START_URL}\n"
             f"[profile tok]\nsso_session = {SESSION}\n")
    res = t.run(["--profile", "tok"], **_env(s))
    t.fail(res, 2, "access token instead of credentials")
    assert not s.since()


def test_sso_global_endpoint_url(t):
    """AWS_ENDPOINT_URL applies to SSO too (smithy-rs sso_override_global_env_url)."""
    s = _server(t)
    _config(t)
    _write_token(t, s, SESSION, 8 * 3600)
    t.ok(t.run(["--profile", "dev"], AWS_ENDPOINT_URL=s.url))
    assert len(s.portal_requests()) == 1


def test_sso_token_file_not_regular(t):
    """The token cache file is a FIFO held open by a writer, or a link to an
    idle terminal or an endless device: refused at once, exit 3 naming the
    file, neither the portal nor OIDC called."""
    s = _server(t)
    _config(t)
    path = _token_path(t, SESSION)
    for label, special in t.special_files(fifo=path):
        if special != str(path):
            path.unlink()
            os.symlink(special, path)
        res = t.run(["--profile", "dev", "--timeout", "5"], timeout=30, **_env(s))
        t.fail(res, 3, str(path),
               "not a regular file" if special == str(path) else "symbolic link")
        assert res.elapsed < t.within(5), f"{label}: took {res.elapsed:.1f}s"
    assert not s.since(), "the portal or OIDC was called"


def test_sso_token_file_not_ours(t):
    """A token file that someone else could have written (another user's,
    group- or world-writable, a symbolic link to a good token elsewhere) is
    not trusted with our credentials: exit 3 naming the file and why, the
    portal never called -- the rule of the console sign-in token cache."""
    s = _server(t)
    _config(t)
    _write_token(t, s, SESSION, 8 * 3600)
    path = _token_path(t, SESSION)
    t.ok(t.run(["--profile", "dev", "--no-cache"], **_env(s)))
    mark = len(s.since())
    os.chown(path, 65534, 65534)
    t.fail(t.run(["--profile", "dev", "--no-cache"], **_env(s)), 3, str(path),
           "owned by uid 65534")
    os.chown(path, os.geteuid(), os.getegid())
    for mode in (0o620, 0o602):
        os.chmod(path, mode)
        t.fail(t.run(["--profile", "dev", "--no-cache"], **_env(s)), 3, str(path),
               "writable by group or others")
    os.chmod(path, 0o600)
    real = t.tmp / "elsewhere.json"
    os.rename(path, real)
    os.symlink(real, path)
    t.fail(t.run(["--profile", "dev", "--no-cache"], **_env(s)), 3, str(path), "symbolic link")
    assert len(s.since()) == mark, "the portal or OIDC was called"
