"""IAM Roles Anywhere as a source: credproc_rolesanywhere_* profile keys (and
the --rolesanywhere-* flags), CreateSession signed with the certificate's key.

RolesAnywhereServer is a loopback Roles Anywhere service that checks a
request the way the documentation describes it, independently of our C code:
it recomputes the canonical request (SigV4's, with the ARNs as the query and
the SHA-256 of the JSON body as the payload hash) and the string to sign,
verifies the signature with Python `cryptography` (RSA PKCS#1 v1.5 SHA-256 or
ECDSA SHA-256 over the string to sign) against the public key of the
certificate in X-Amz-X509, checks that the Credential= serial is that
certificate's, that the certificate (and the X-Amz-X509-Chain intermediates)
chain up to the trust anchor's CA and are within their validity dates, that
the trust anchor, profile and role ARNs are known, and returns a session of
the requested duration. Errors have the service's status codes and rest-json
shapes (x-amzn-ErrorType, {"message": ...}). The test PKI (a root CA, an
intermediate CA, leaf certificates) is generated with `cryptography` at test
time. The binary is pointed at the service with AWS_ENDPOINT_URL_ROLESANYWHERE.
"""

import datetime as _dt
import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

import servers

REGION = "eu-west-2"
ACCT = "123456789012"
TA = f"arn:aws:rolesanywhere:{REGION}:{ACCT}:trust-anchor/4579702c-b0c1-4ae2-a4c6-0c2d4d1f5a01"
PROFILE = f"arn:aws:rolesanywhere:{REGION}:{ACCT}:profile/6f4f2d1e-8f3b-4a9e-9c55-2a3b4c5d6e7f"
ROLE = f"arn:aws:iam::{ACCT}:role/ra-host"
ROLE_A = f"arn:aws:iam::{servers.ACCOUNT}:role/instance-role"
ROLE_B = f"arn:aws:iam::{servers.ACCOUNT}:role/chained"

_NOW = lambda: _dt.datetime.now(_dt.timezone.utc)  # noqa: E731


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_key, subject, issuer_key, issuer, ca=False, serial=None, days=(-1, 30)):
    now = _NOW()
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(subject_key.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(now + _dt.timedelta(days=days[0]))
         .not_valid_after(now + _dt.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key, hashes.SHA256())


class Pki:
    """A root CA (the trust anchor's), an intermediate CA, leaf certificates."""

    def __init__(self, d):
        self.dir = d
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = _cert(self.root_key, "e2e root CA", self.root_key, "e2e root CA", ca=True,
                          days=(-2, 3650))
        self.int_key = ec.generate_private_key(ec.SECP384R1())
        self.inter = _cert(self.int_key, "e2e intermediate CA", self.root_key, "e2e root CA",
                           ca=True, days=(-2, 365))
        self.n = 0

    def write(self, name, data):
        p = self.dir / name
        p.write_bytes(data)
        return p

    def leaf(self, kind="rsa", fmt="pkcs8", via_intermediate=False, days=(-1, 30), der=False):
        """A leaf certificate and its key file: (cert path, key path, key, cert)."""
        self.n += 1
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa"
               else ec.generate_private_key(ec.SECP256R1()))
        ik, iname = ((self.int_key, "e2e intermediate CA") if via_intermediate
                     else (self.root_key, "e2e root CA"))
        cert = _cert(key, f"host-{self.n}.example", ik, iname, days=days,
                     serial=int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        fmts = {"pkcs8": serialization.PrivateFormat.PKCS8,
                "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
                "sec1": serialization.PrivateFormat.TraditionalOpenSSL}
        kpem = key.private_bytes(serialization.Encoding.PEM, fmts[fmt],
                                 serialization.NoEncryption())
        cdata = (cert.public_bytes(serialization.Encoding.DER) if der
                 else cert.public_bytes(serialization.Encoding.PEM))
        cp = self.write(f"leaf{self.n}.{'der' if der else 'pem'}", cdata)
        kp = self.write(f"leaf{self.n}.key", kpem)
        return cp, kp, key, cert

    def chain_file(self):
        return self.write("chain.pem", self.inter.public_bytes(serialization.Encoding.PEM))


def _uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


class RolesAnywhereServer(servers.LoopbackServer):
    """POST /sessions, checked as the service documents it (see the module doc)."""

    def __init__(self, pki, mint=None):
        super().__init__()
        self.anchors = {TA: pki.root}
        self.profiles = {PROFILE: {ROLE, ROLE_A}}
        self.issued = []
        self.verified = []  # (algorithm, serial) of every request whose signature verified
        self.mint = mint    # fn(role_arn, duration) -> credentials dict, else random ones
        self.force = None   # (status, error type, message): answer this instead

    def sessions(self, mark=0):
        return [r for r in self.since(mark) if r.path == "/sessions"]

    def _error(self, status, etype, msg):
        return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", etype),
                        ("x-amzn-RequestId", secrets.token_hex(16))], \
            json.dumps({"message": msg}).encode()

    def handle(self, req):
        if req.method != "POST" or req.path != "/sessions":
            return self._error(404, "UnknownOperationException", "Not Found")
        if self.force:
            return self._error(*self.force)
        auth = req.header("Authorization") or ""
        m = re.fullmatch(r"(AWS4-X509-(?:RSA|ECDSA)-SHA256) Credential=([^/]+)/(\d{8})/([^/]+)/"
                         r"rolesanywhere/aws4_request, SignedHeaders=([a-z0-9;-]+), "
                         r"Signature=([0-9a-f]+)", auth)
        if not m:
            return self._error(403, "AccessDeniedException", "Missing or malformed Authorization")
        alg, serial, date8, region, signed, sig = m.groups()
        signed_list = signed.split(";")
        for h in ("host", "x-amz-date", "x-amz-x509"):
            if h not in signed_list:
                return self._error(403, "AccessDeniedException", f"{h} must be signed")
        if signed_list != sorted(signed_list):
            return self._error(403, "AccessDeniedException", "SignedHeaders not sorted")
        amz_date = req.header("X-Amz-Date") or ""
        try:
            t = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            return self._error(403, "AccessDeniedException", "Malformed X-Amz-Date")
        if abs((t - _NOW()).total_seconds()) > 300 or amz_date[:8] != date8:
            return self._error(403, "AccessDeniedException", "Signature expired")
        if region != REGION:
            return self._error(403, "AccessDeniedException", "Credential should be scoped to a "
                               f"valid region, not '{region}'")
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode(req.header("X-Amz-X509"),
                                                                   validate=True))
            chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                     for c in (req.header("X-Amz-X509-Chain") or "").split(",") if c]
        except Exception:
            return self._error(400, "ValidationException", "Invalid certificate")
        if str(leaf.serial_number) != serial:
            return self._error(403, "AccessDeniedException",
                               "Credential serial does not match the certificate")
        # the canonical request, recomputed from the wire
        q = sorted((_uri_encode(k), _uri_encode(v))
                   for k, vs in req.query.items() for v in vs)
        cq = "&".join(f"{k}={v}" for k, v in q)
        hdrs = {}
        for k, v in req.header_items:
            hdrs.setdefault(k.lower(), []).append(" ".join(v.split()))
        try:
            ch = "".join(f"{h}:{','.join(hdrs[h])}\n" for h in signed_list)
        except KeyError as e:
            return self._error(403, "AccessDeniedException", f"signed header {e} is missing")
        creq = "\n".join(["POST", "/sessions", cq, ch, signed,
                          hashlib.sha256(req.body).hexdigest()])
        sts = "\n".join([alg, amz_date, f"{date8}/{region}/rolesanywhere/aws4_request",
                         hashlib.sha256(creq.encode()).hexdigest()])
        req.note = creq
        pub = leaf.public_key()
        try:
            if alg == "AWS4-X509-RSA-SHA256" and isinstance(pub, rsa.RSAPublicKey):
                pub.verify(bytes.fromhex(sig), sts.encode(), padding.PKCS1v15(), hashes.SHA256())
            elif alg == "AWS4-X509-ECDSA-SHA256" and isinstance(pub, ec.EllipticCurvePublicKey):
                pub.verify(bytes.fromhex(sig), sts.encode(), ec.ECDSA(hashes.SHA256()))
            else:
                raise InvalidSignature()
        except (InvalidSignature, ValueError):
            return self._error(403, "AccessDeniedException", "Signature validation failed")
        with self.lock:
            self.verified.append((alg, serial))
        qd = {k: v[0] for k, v in req.query.items()}
        ta = qd.get("trustAnchorArn")
        if ta not in self.anchors:
            return self._error(404, "ResourceNotFoundException", "Trust anchor not found")
        # the path to the anchor's CA, each certificate within its dates
        now = _NOW()
        path, ca = [leaf] + chain, self.anchors[ta]
        for c in path:
            if not (c.not_valid_before_utc <= now <= c.not_valid_after_utc):
                return self._error(403, "AccessDeniedException",
                                   "Untrusted signing certificate: certificate expired or "
                                   "not yet valid")
        try:
            for a, b in zip(path, path[1:] + [ca]):
                a.verify_directly_issued_by(b)
        except (ValueError, TypeError, InvalidSignature):
            return self._error(403, "AccessDeniedException", "Untrusted signing certificate")
        prof, role = qd.get("profileArn"), qd.get("roleArn")
        if prof not in self.profiles:
            return self._error(404, "ResourceNotFoundException", "Profile not found")
        if role not in self.profiles[prof]:
            return self._error(403, "AccessDeniedException",
                               "Role is not in the profile's roles")
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return self._error(400, "ValidationException", "Malformed body")
        dur = body.get("durationSeconds", 3600)
        if not isinstance(dur, int) or not 900 <= dur <= 43200:
            return self._error(400, "ValidationException",
                               "1 validation error detected: durationSeconds")
        exp = now + _dt.timedelta(seconds=dur)
        if self.mint:
            cred = self.mint(role, dur)
        else:
            cred = {"accessKeyId": "ASIA" + secrets.token_hex(8).upper(),
                    "secretAccessKey": secrets.token_urlsafe(30),
                    "sessionToken": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60),
                    "expiration": servers.iso_z(exp)}
        with self.lock:
            self.issued.append(cred)
        doc = {"credentialSet": [{"assumedRoleUser": {"arn": role + "/" + serial,
                                                      "assumedRoleId": "AROA:" + serial},
                                  "credentials": cred, "packedPolicySize": 0,
                                  "roleArn": role, "sourceIdentity": "CN=" + serial}],
               "subjectArn": f"arn:aws:rolesanywhere:{REGION}:{ACCT}:subject/{serial}"}
        return 201, [("Content-Type", "application/json")], json.dumps(doc).encode()


# ---- fixtures ---------------------------------------------------------------

def _setup(t, mint=None):
    pki = Pki(t.tmp)
    s = RolesAnywhereServer(pki, mint=mint).start()
    t._servers.append(s)
    return pki, s


def _profile(cert, key, chain=None, name="host", extra=""):
    lines = [f"[profile {name}]",
             f"credproc_rolesanywhere_certificate = {cert}",
             f"credproc_rolesanywhere_private_key = {key}",
             f"credproc_rolesanywhere_trust_anchor_arn = {TA}",
             f"credproc_rolesanywhere_profile_arn = {PROFILE}",
             f"credproc_rolesanywhere_role_arn = {ROLE}"]
    if chain:
        lines.append(f"credproc_rolesanywhere_certificate_chain = {chain}")
    return "\n".join(lines) + "\n" + extra


def _env(s):
    return {"AWS_ENDPOINT_URL_ROLESANYWHERE": s.url}


def _remember(t, s):
    for c in s.issued:
        t.secret(c["secretAccessKey"])
        t.secret(c["sessionToken"])


# ---- the tests --------------------------------------------------------------

def test_ra_pem_keys_each_format(t):
    """RSA PKCS#1 and PKCS#8, EC SEC1 and PKCS#8 (this last one through an
    intermediate CA): each signs a request the service verifies; JSON output
    with the session's Expiration; the second call is a cache hit."""
    pki, s = _setup(t)
    chain = pki.chain_file()
    cases = [("rsa", "pkcs1", False), ("rsa", "pkcs8", False), ("ec", "sec1", False),
             ("ec", "pkcs8", True)]
    conf = ""
    for i, (kind, fmt, inter) in enumerate(cases):
        cp, kp, _, _ = pki.leaf(kind, fmt, via_intermediate=inter)
        conf += _profile(cp, kp, chain if inter else None, name=f"h{i}")
    t.config(conf)
    for i, (kind, fmt, inter) in enumerate(cases):
        mark = s.mark()
        doc = t.ok(t.run(["--profile", f"h{i}"], **_env(s)))
        [req] = s.sessions(mark)
        assert req.status == 201, f"{kind}/{fmt}: {req.status} {req.reply_body!r}"
        alg = "AWS4-X509-RSA-SHA256" if kind == "rsa" else "AWS4-X509-ECDSA-SHA256"
        assert s.verified[-1][0] == alg
        assert doc["AccessKeyId"] == s.issued[-1]["accessKeyId"]
        assert doc["Expiration"] == s.issued[-1]["expiration"]
        assert json.loads(req.body) == {"durationSeconds": 3600}
        assert ("x-amz-x509-chain" in req.header("Authorization")) == inter
        _remember(t, s)
        again = t.ok(t.run(["--profile", f"h{i}"], **_env(s)))
        assert again == doc and not s.sessions(mark)[1:], "second call is not a cache hit"


def test_ra_flags_duration_session_name_der(t):
    """The flags alone (no profile), a DER certificate, a session duration and
    a session name: what `aws_signing_helper credential-process` is given."""
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("ec", "pkcs8", der=True)
    t.config("")
    args = ["--rolesanywhere-certificate", str(cp), "--rolesanywhere-private-key", str(kp),
            "--rolesanywhere-trust-anchor-arn", TA, "--rolesanywhere-profile-arn", PROFILE,
            "--rolesanywhere-role-arn", ROLE, "--rolesanywhere-session-duration", "900",
            "--rolesanywhere-session-name", "build-42"]
    doc = t.ok(t.run(args, **_env(s)))
    [req] = s.sessions()
    assert json.loads(req.body) == {"durationSeconds": 900, "roleSessionName": "build-42"}
    assert req.query == {"profileArn": [PROFILE], "roleArn": [ROLE], "trustAnchorArn": [TA]}
    exp = _dt.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    life = exp.replace(tzinfo=_dt.timezone.utc) - _NOW()
    assert 800 < life.total_seconds() <= 900
    _remember(t, s)


def test_ra_key_does_not_match_certificate(t):
    pki, s = _setup(t)
    cp, _, _, _ = pki.leaf("rsa")
    _, kp2, _, _ = pki.leaf("rsa")
    t.config(_profile(cp, kp2))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 2, "does not belong", str(cp), str(kp2))
    assert not s.sessions()


def test_ra_signature_refused(t):
    """A certificate whose key the service does not see signing (the request is
    signed with another key in the same certificate's name): refused, exit 4."""
    pki, s = _setup(t)
    cp, kp, _, cert = pki.leaf("rsa")
    # a second certificate with the same serial and subject but another key:
    # the service verifies with the first certificate's key
    _, kp2, key2, _ = pki.leaf("rsa")
    fake = _cert(key2, "host-1.example", pki.root_key, "e2e root CA", serial=cert.serial_number)
    fp = pki.write("fake.pem", fake.public_bytes(serialization.Encoding.PEM))
    # the service trusts what it sees: make it see the first certificate
    orig = s.handle

    def swap(req):
        for i, (k, v) in enumerate(req.header_items):
            if k.lower() == "x-amz-x509":
                real = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
                req.header_items[i] = (k, real)
                req.headers["x-amz-x509"] = real
        return orig(req)
    s.handle = swap
    t.config(_profile(fp, kp2))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 4, "403", "AccessDeniedException", "Signature validation failed")


def test_ra_expired_certificate(t):
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("ec", "sec1", days=(-30, -1))
    t.config(_profile(cp, kp))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 4, "AccessDeniedException", "Untrusted signing certificate", "expired")


def test_ra_unknown_trust_anchor(t):
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("rsa")
    other = TA.replace("4579702c", "00000000")
    t.config(_profile(cp, kp).replace(TA, other))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 4, "404", "ResourceNotFoundException", "Trust anchor not found")


def test_ra_untrusted_ca(t):
    """A certificate from another CA: the chain check refuses it."""
    pki, s = _setup(t)
    (t.tmp / "other").mkdir()
    other = Pki(t.tmp / "other")
    cp, kp, _, _ = other.leaf("rsa")
    t.config(_profile(cp, kp))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 4, "Untrusted signing certificate")


def test_ra_service_down(t):
    pki, _ = _setup(t)
    cp, kp, _, _ = pki.leaf("rsa")
    t.config(_profile(cp, kp))
    res = t.run(["--profile", "host", "--timeout", "5"],
                AWS_ENDPOINT_URL_ROLESANYWHERE=servers.closed_port_url())
    t.fail(res, 5, "Roles Anywhere endpoint")


def test_ra_service_5xx(t):
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("rsa")
    s.force = (500, "InternalServerException", "try later")
    t.config(_profile(cp, kp))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 5, "500")
    assert len(s.sessions()) == 3, "a 5xx is retried (3 attempts)"


def test_ra_encrypted_key(t):
    pki, s = _setup(t)
    cp, _, key, _ = pki.leaf("rsa")
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"secret-pass"))
    kp = pki.write("enc.key", enc)
    t.config(_profile(cp, kp))
    res = t.run(["--profile", "host"], **_env(s))
    t.fail(res, 2, any_of=["encrypted"])
    assert not s.sessions()


def test_ra_missing_files(t):
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("rsa")
    t.config(_profile(t.tmp / "absent.pem", kp, name="nocert") +
             _profile(cp, t.tmp / "absent.key", name="nokey"))
    t.fail(t.run(["--profile", "nocert"], **_env(s)), 3, "absent.pem")
    t.fail(t.run(["--profile", "nokey"], **_env(s)), 3, "absent.key")
    assert not s.sessions()


def test_ra_missing_keys_named(t):
    t.config("[profile host]\ncredproc_rolesanywhere_certificate = /x.pem\n")
    res = t.run(["--profile", "host"])
    t.fail(res, 2, "credproc_rolesanywhere_private_key", "credproc_rolesanywhere_trust_anchor_arn",
           "credproc_rolesanywhere_profile_arn", "credproc_rolesanywhere_role_arn")


def test_ra_pin_value_in_argv_refused(t):
    t.config("")
    res = t.run(["--rolesanywhere-certificate", "/x.pem", "--rolesanywhere-private-key",
                 "pkcs11:token=t;object=k?pin-value=1234"])
    t.fail(res, 2, "a PIN never goes in argv")
    assert "1234" not in res.stderr


def test_ra_explain(t):
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("rsa")
    chain = pki.chain_file()
    t.config(_profile(cp, kp, chain))
    res = t.run(["explain", "--profile", "host"], **_env(s))
    assert res.rc == 0, res.stderr
    out = res.stdout
    for needle in ("IAM Roles Anywhere", ROLE, TA, PROFILE, str(cp), str(kp), str(chain),
                   s.url, "AWS_ENDPOINT_URL_ROLESANYWHERE", REGION, "cached credentials: none",
                   "next call: asks the Roles Anywhere service"):
        assert needle in out, f"explain lacks {needle!r}:\n{out}"
    assert not s.sessions(), "explain made a request"
    # without the override: the regional endpoint of the trust anchor's region
    res = t.run(["explain", "--profile", "host"])
    assert f"https://rolesanywhere.{REGION}.amazonaws.com" in res.stdout, res.stdout


def test_ra_two_hop_chain_against_moto(t):
    """Roles Anywhere profile -> role A -> role B, STS being moto with its auth
    on: the service mints its session as moto's (an AssumeRole of role A with
    moto's base user), so that moto accepts the keys of the first hop."""
    m = t.moto
    sts = m.client("sts", m.base)

    def mint(role, dur):
        c = sts.assume_role(RoleArn=ROLE_A, RoleSessionName="ra-session",
                            DurationSeconds=dur)["Credentials"]
        return {"accessKeyId": c["AccessKeyId"], "secretAccessKey": c["SecretAccessKey"],
                "sessionToken": c["SessionToken"], "expiration": servers.iso_z(c["Expiration"])}
    pki, s = _setup(t, mint=mint)
    cp, kp, _, _ = pki.leaf("ec", "pkcs8", via_intermediate=True)
    t.config(_profile(cp, kp, pki.chain_file()) +
             f"[profile a]\nrole_arn = {ROLE_A}\nsource_profile = host\n"
             f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = a\n")
    mark = m.mark()
    env = {**_env(s), "AWS_ENDPOINT_URL_STS": m.endpoint, "AWS_REGION": "us-east-1"}
    doc = t.ok(t.run(["--profile", "b"], **env))
    _remember(t, s)
    ars = m.assume_role_requests(mark)
    assert [r.form["RoleArn"] for r in ars] == [ROLE_A, ROLE_B], ars
    assert ars[0].header("X-Amz-Security-Token") == s.issued[-1]["sessionToken"]
    who = m.client("sts", {"AccessKeyId": doc["AccessKeyId"],
                           "SecretAccessKey": doc["SecretAccessKey"],
                           "SessionToken": doc["SessionToken"]}).get_caller_identity()
    assert ":assumed-role/chained/" in who["Arn"], who
    again = t.ok(t.run(["--profile", "b"], **env))
    assert again == doc and len(s.sessions()) == 1


# ---- keys in a PKCS#11 token and in a TPM (the fixtures of tests/keys) ------

KEYS = Path(__file__).resolve().parent.parent / "keys"


def _fixture(t, script, d, env=None):
    import os
    import subprocess

    import netns
    r = subprocess.run(["sh", str(KEYS / script), str(d)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=120)
    if r.returncode == 77:
        netns.unavailable(f"{script}: {r.stderr.strip()}")
    assert r.returncode == 0, f"{script} failed ({r.returncode}): {r.stderr}"


def _cert_for_public_key(t, pki, pub, name):
    """A leaf certificate from the root CA for a public key held elsewhere."""
    cert = _cert(type("K", (), {"public_key": lambda self: pub})(), name, pki.root_key,
                 "e2e root CA")
    return pki.write(name + ".pem", cert.public_bytes(serialization.Encoding.PEM))


def test_ra_softhsm_key(t):
    """A key that never leaves a SoftHSM2 token: pkcs11: URI, the PIN from a
    file, then from a command; a wrong PIN is refused before any request."""
    hsm = t.tmp / "hsm"
    hsm.mkdir()
    _fixture(t, "mk-softhsm.sh", hsm)
    module = (hsm / "module").read_text().strip()
    pki, s = _setup(t)
    ec_pub = serialization.load_der_public_key((hsm / "ec.pub.der").read_bytes())
    rsa_pub = serialization.load_der_public_key((hsm / "rsa.pub.der").read_bytes())
    ec_cert = _cert_for_public_key(t, pki, ec_pub, "hsm-ec")
    rsa_cert = _cert_for_public_key(t, pki, rsa_pub, "hsm-rsa")
    pin = pki.write("pin", b"1234\n")
    bad = pki.write("badpin", b"9999\n")
    t.config(_profile(ec_cert, "pkcs11:token=cp-test;object=ec;type=private", name="ec",
                      extra=f"credproc_rolesanywhere_pin_file = {pin}\n"
                            f"credproc_rolesanywhere_pkcs11_module = {module}\n") +
             _profile(rsa_cert, "pkcs11:token=cp-test;object=rsa;type=private", name="rsa",
                      extra="credproc_rolesanywhere_pin_command = echo 1234\n"
                            f"credproc_rolesanywhere_pkcs11_module = {module}\n") +
             _profile(ec_cert, "pkcs11:token=cp-test;object=ec;type=private", name="bad",
                      extra=f"credproc_rolesanywhere_pin_file = {bad}\n"
                            f"credproc_rolesanywhere_pkcs11_module = {module}\n"))
    env = {**_env(s), "SOFTHSM2_CONF": str(hsm / "softhsm2.conf")}
    doc = t.ok(t.run(["--profile", "ec"], **env))
    assert s.verified[-1][0] == "AWS4-X509-ECDSA-SHA256"
    assert doc["AccessKeyId"] == s.issued[-1]["accessKeyId"]
    t.ok(t.run(["--profile", "rsa"], **env))
    assert s.verified[-1][0] == "AWS4-X509-RSA-SHA256"
    _remember(t, s)
    n = len(s.sessions())
    res = t.run(["--profile", "bad"], **env)
    t.fail(res, 3, "refused the PIN")
    assert "9999" not in res.stderr and len(s.sessions()) == n
    # the flags: a pin-value in argv is refused, the pin file is fine
    uri = "pkcs11:token=cp-test;object=ec;type=private"
    t.ok(t.run(["--profile", "ec", "--no-cache", "--rolesanywhere-private-key", uri], **env))
    t.fail(t.run(["--profile", "ec", "--rolesanywhere-private-key", uri + "?pin-value=1234"],
                 **env), 2, "a PIN never goes in argv")


def _swtpm(t):
    import shutil
    import socket
    import subprocess

    import netns
    if not shutil.which("swtpm"):
        netns.unavailable("swtpm is not installed")
    state = t.tmp / "tpm-state"
    state.mkdir()
    for _ in range(8):
        port = servers.free_port()
        p = subprocess.Popen(["swtpm", "socket", "--tpm2",
                              "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                              "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                              "--tpmstate", f"dir={state}", "--flags",
                              "not-need-init,startup-clear"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.on_cleanup(lambda p=p: (p.terminate(), p.wait(5)))
        for _ in range(100):
            if p.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"swtpm:host=127.0.0.1,port={port}"
            except OSError:
                time.sleep(0.05)
    raise AssertionError("swtpm did not start")


def test_ra_tpm_key(t):
    """Keys in an swtpm TPM 2.0 through the tpm2 provider: a TSS2 PEM file (EC)
    and a persistent handle (RSA, with its authorization from a pin file)."""
    tcti = _swtpm(t)
    d = t.tmp / "tpm"
    _fixture(t, "mk-swtpm.sh", d, {"TPM2OPENSSL_TCTI": tcti})
    pki, s = _setup(t)
    load = lambda n: serialization.load_pem_public_key((d / n).read_bytes())  # noqa: E731
    ec_cert = _cert_for_public_key(t, pki, load("ec.pub.pem"), "tpm-ec")
    h2_cert = _cert_for_public_key(t, pki, load("h2.pub.pem"), "tpm-h2")
    auth = pki.write("tpm-auth", b"s3cret\n")
    t.config(_profile(ec_cert, d / "ec.tss2.pem", name="ec") +
             _profile(h2_cert, "handle:0x81000002", name="h2",
                      extra=f"credproc_rolesanywhere_pin_file = {auth}\n"))
    env = {**_env(s), "TPM2OPENSSL_TCTI": tcti}
    doc = t.ok(t.run(["--profile", "ec"], **env))
    assert s.verified[-1][0] == "AWS4-X509-ECDSA-SHA256"
    assert doc["AccessKeyId"] == s.issued[-1]["accessKeyId"]
    t.ok(t.run(["--profile", "h2"], **env))
    assert s.verified[-1][0] == "AWS4-X509-RSA-SHA256"
    _remember(t, s)


def test_ra_hit_loads_no_network_libs(t):
    """A cache hit of a Roles Anywhere profile reads the certificate (its
    identity) but loads neither the network module nor libcrypto; the miss
    before it loaded them."""
    import test_lazy_load as L
    mode = L._mode(t)
    pki, s = _setup(t)
    cp, kp, _, _ = pki.leaf("ec", "sec1")
    t.config(_profile(cp, kp))
    res, loaded = L._loaded(t, ["--profile", "host"], **_env(s))
    t.ok(res)
    assert L._families(loaded) >= {"libcrypto", "libcurl"}, loaded
    res, loaded = L._loaded(t, ["--profile", "host"], **_env(s))
    t.ok(res)
    assert len(s.sessions()) == 1, "not a hit"
    _remember(t, s)
    if mode == "module":
        assert not L._families(loaded), f"a hit loaded {sorted(L._families(loaded))}"
        assert not any(L.MODULE in n for n in loaded), loaded


def test_ra_role_in_the_same_profile(t):
    """role_arn in the Roles Anywhere profile itself (no source_profile): the
    role is assumed with the Roles Anywhere session, signed with its keys."""
    pki, s = _setup(t)
    sts = t.fake_sts()
    orig = s.handle

    def handle(req):
        status, hdr, body = orig(req)
        if status == 201:
            c = json.loads(body)["credentialSet"][0]["credentials"]
            sts.add_key(c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
        return status, hdr, body
    s.handle = handle
    cp, kp, _, _ = pki.leaf("rsa", "pkcs1")
    t.config(_profile(cp, kp, extra="role_arn = arn:aws:iam::222222222222:role/next\n"))
    doc = t.ok(t.run(["--profile", "host"], **_env(s), AWS_ENDPOINT_URL_STS=sts.url))
    _remember(t, s)
    [ar] = sts.assume_role_requests()
    assert ar.form["RoleArn"] == "arn:aws:iam::222222222222:role/next"
    assert ar.sig["akid"] == s.issued[-1]["accessKeyId"]
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_ra_regions_must_match(t):
    t.config(_profile("/x.pem", "/x.key").replace(
        f"arn:aws:rolesanywhere:{REGION}:{ACCT}:profile", f"arn:aws:rolesanywhere:us-east-1:{ACCT}:profile"))
    t.fail(t.run(["--profile", "host"]), 2, "different regions")


def test_ra_flags_keep_the_profiles_role(t):
    """A flag over a profile with role_arn and the Roles Anywhere keys: the
    profile's role is still assumed on top of the session."""
    pki, s = _setup(t)
    sts = t.fake_sts()
    orig = s.handle

    def handle(req):
        status, hdr, body = orig(req)
        if status == 201:
            c = json.loads(body)["credentialSet"][0]["credentials"]
            sts.add_key(c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
        return status, hdr, body
    s.handle = handle
    cp, kp, _, _ = pki.leaf("ec", "sec1")
    t.config(_profile(cp, t.tmp / "absent.key",
                      extra="role_arn = arn:aws:iam::222222222222:role/next\n"))
    doc = t.ok(t.run(["--profile", "host", "--rolesanywhere-private-key", str(kp),
                      "--rolesanywhere-session-duration", "1800"],
                     **_env(s), AWS_ENDPOINT_URL_STS=sts.url))
    _remember(t, s)
    [req] = s.sessions()
    assert json.loads(req.body) == {"durationSeconds": 1800}
    [ar] = sts.assume_role_requests()
    assert ar.form["RoleArn"] == "arn:aws:iam::222222222222:role/next"
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]
