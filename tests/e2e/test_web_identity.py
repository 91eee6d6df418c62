"""Web identity (EKS IRSA, CI OIDC): AssumeRoleWithWebIdentity, unsigned,
with the token file re-read at every call; as a profile, as the root of a
chain, and from AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN when no profile is
configured at all (EKS IRSA). The STS is a loopback one that answers
AssumeRoleWithWebIdentity in the real envelope and checks that the request
carries no signature."""

import re
import uuid

import servers
from harness import approx, parse_exp

ROLE_WI = "arn:aws:iam::222222222222:role/eks-pod"
ROLE_NEXT = "arn:aws:iam::333333333333:role/report-writer"
GOOD = "eyJhbGciOiJSUzI1NiJ9.e2e-token-one.sig"
GOOD2 = "eyJhbGciOiJSUzI1NiJ9.e2e-token-two.sig"


class WebIdentitySts(servers.FakeSts):
    """FakeSts that also answers AssumeRoleWithWebIdentity for known tokens."""

    def __init__(self, tokens=(GOOD, GOOD2), **kw):
        super().__init__(**kw)
        self.tokens = set(tokens)
        self.web_requests = []

    def handle(self, req):
        if req.form.get("Action") != "AssumeRoleWithWebIdentity":
            return super().handle(req)
        self.web_requests.append(req)
        if req.header("Authorization") or req.header("X-Amz-Security-Token"):
            return self._error(400, "InvalidParameterCombination",
                               "AssumeRoleWithWebIdentity must not be signed")
        form = req.form
        if form.get("Version") != "2011-06-15":
            return self._error(400, "InvalidAction", "bad version")
        if form.get("WebIdentityToken") not in self.tokens:
            return self._error(400, "InvalidIdentityToken",
                               "No OpenIDConnect provider found in your account")
        return self._web_identity_success(req, form["RoleArn"], form["RoleSessionName"],
                                          int(form.get("DurationSeconds", "3600")),
                                          subject="system:serviceaccount:default:e2e")


def _sts(t):
    s = WebIdentitySts().start()
    t._servers.append(s)
    t.secret(GOOD)
    t.secret(GOOD2)
    return s


def _token(t, text, name="token.jwt"):
    p = t.tmp / name
    p.write_text(text)
    return p


def test_web_identity_profile(t):
    sts = _sts(t)
    tok = _token(t, GOOD + "\n")
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {tok}\n"
             f"role_session_name = pod-session\n")
    res = t.run(["--profile", "pod"], AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION="us-east-1")
    doc = t.ok(res)
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
    [req] = sts.web_requests
    assert req.form["RoleArn"] == ROLE_WI and req.form["RoleSessionName"] == "pod-session"
    assert req.form["WebIdentityToken"] == GOOD, "token not sent verbatim (trimmed)"
    assert approx((parse_exp(doc["Expiration"]) - servers.utcnow()).total_seconds(), 3600, 120)


def test_web_identity_token_reread_every_call(t):
    """The token rotates: a refresh must read the file again."""
    sts = _sts(t)
    tok = _token(t, GOOD)
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {tok}\n")
    t.ok(t.run(["--profile", "pod", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url))
    tok.write_text(GOOD2)
    t.ok(t.run(["--profile", "pod", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url))
    assert [r.form["WebIdentityToken"] for r in sts.web_requests] == [GOOD, GOOD2]


def test_web_identity_cached(t):
    sts = _sts(t)
    tok = _token(t, GOOD)
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {tok}\n")
    a = t.ok(t.run(["--profile", "pod"], AWS_ENDPOINT_URL_STS=sts.url))
    b = t.ok(t.run(["--profile", "pod"], AWS_ENDPOINT_URL_STS=sts.url))
    assert a == b and len(sts.web_requests) == 1, "web identity credentials were not cached"


def test_web_identity_as_root_of_chain(t):
    sts = _sts(t)
    tok = _token(t, GOOD)
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {tok}\n"
             f"[profile writer]\nrole_arn = {ROLE_NEXT}\nsource_profile = pod\n")
    doc = t.ok(t.run(["--profile", "writer"], AWS_ENDPOINT_URL_STS=sts.url))
    assert len(sts.web_requests) == 1
    ars = sts.assume_role_requests()
    assert len(ars) == 1 and ars[0].form["RoleArn"] == ROLE_NEXT
    # the second hop is signed with the web identity session's credentials
    first = sts.issued[0]
    assert ars[0].header("X-Amz-Security-Token") == first["SessionToken"]
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_web_identity_from_environment(t):
    """EKS IRSA: no config at all, the web identity comes from the environment."""
    sts = _sts(t)
    tok = _token(t, GOOD)
    t.config("")
    doc = t.ok(t.run([], AWS_ENDPOINT_URL_STS=sts.url,
                     AWS_WEB_IDENTITY_TOKEN_FILE=str(tok), AWS_ROLE_ARN=ROLE_WI,
                     AWS_ROLE_SESSION_NAME="irsa-session"))
    [req] = sts.web_requests
    assert req.form["RoleArn"] == ROLE_WI and req.form["RoleSessionName"] == "irsa-session"
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_web_identity_environment_not_used_by_credential_source(t):
    """credential_source = Environment means the key variables only (as in the
    SDKs): a web identity in the environment must not be used for it."""
    sts = _sts(t)
    tok = _token(t, GOOD)
    t.config(f"[profile writer]\nrole_arn = {ROLE_NEXT}\ncredential_source = Environment\n")
    res = t.run(["--profile", "writer"], AWS_ENDPOINT_URL_STS=sts.url,
                AWS_WEB_IDENTITY_TOKEN_FILE=str(tok), AWS_ROLE_ARN=ROLE_WI)
    t.fail(res, 3, any_of=["AWS_ACCESS_KEY_ID"])
    assert not sts.web_requests


def test_web_identity_missing_token_file(t):
    sts = _sts(t)
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\n"
             f"web_identity_token_file = {t.tmp / 'absent.jwt'}\n")
    res = t.run(["--profile", "pod"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 3, any_of=["absent.jwt"])
    assert not sts.web_requests


def test_web_identity_invalid_token_refused(t):
    sts = _sts(t)
    tok = _token(t, "not-a-known-token")
    t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {tok}\n")
    res = t.run(["--profile", "pod"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, any_of=["InvalidIdentityToken"])
    assert "not-a-known-token" not in res.stderr, "the token reached stderr"
    assert len(sts.web_requests) == 1, "a refusal was retried"


def test_web_identity_token_file_not_regular(t):
    """A token file that is a FIFO held open by a writer, an idle terminal or
    an endless device: refused at once, exit 3 naming the file, STS not
    called (and the cache lock not held for ever)."""
    sts = _sts(t)
    for label, path in t.special_files():
        t.config(f"[profile pod]\nrole_arn = {ROLE_WI}\nweb_identity_token_file = {path}\n")
        res = t.run(["--profile", "pod", "--timeout", "5"], timeout=30,
                    AWS_ENDPOINT_URL_STS=sts.url)
        t.fail(res, 3, path, "not a regular file")
        assert res.elapsed < t.within(5), f"{label}: took {res.elapsed:.1f}s"
    assert not sts.web_requests
