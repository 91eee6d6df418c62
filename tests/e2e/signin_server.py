"""A loopback AWS sign-in service (console sign-in sessions, `aws login`):
CreateOAuth2Token as the service model botocore ships describes it
(data/signin/2023-01-01: rest-json, POST /v1/token, the tokenInput /
tokenOutput payloads, AccessDeniedException / ValidationException /
TooManyRequestsError / InternalServerException with {"error", "message"}),
plus the token cache files `aws login` leaves, for the tests.

The service checks every DPoP proof independently of the code under test
(Python `cryptography`): the JWT header (typ dpop+jwt, alg ES256, a P-256
jwk equal to the key the refresh token is bound to, i.e. the dpopKey of
the token cache it issued), the payload (htm POST, htu the exact URL of the
request, iat within IAT_WINDOW seconds, jti a UUID never seen before) and
the ES256 signature (raw r||s). Refresh tokens rotate: each is good once;
an old one is refused with AccessDeniedException TOKEN_EXPIRED."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path

import servers

CLIENT_ID = "arn:aws:signin:::devtools/same-device"
ACCOUNT = "111122223333"
IAT_WINDOW = 60
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_key(pkcs8=False):
    """A P-256 key and its PEM (SEC1 "EC PRIVATE KEY", or PKCS#8)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    return key, pem


def jwk_of(key) -> dict:
    n = key.public_key().public_numbers()
    return {"kty": "EC", "x": b64url(n.x.to_bytes(32, "big")),
            "y": b64url(n.y.to_bytes(32, "big")), "crv": "P-256"}


def parse_dpop(token: str):
    """(header, payload, signing input, raw signature) of a compact JWT."""
    h, p, s = token.split(".")
    return (json.loads(b64url_decode(h)), json.loads(b64url_decode(p)),
            f"{h}.{p}".encode(), b64url_decode(s))


def verify_es256(jwk: dict, signing_input: bytes, sig: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(sig) != 64:
        return False
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def cache_key(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


class SigninServer(servers.LoopbackServer):
    """POST /v1/token. `credentials`: a callable returning the next
    {"accessKeyId", "secretAccessKey", "sessionToken"} (default: random
    ones). `expires_in`: seconds of each answer. fail_next(status, error):
    scripted errors before the real handling."""

    def __init__(self, credentials=None, expires_in=900, account=ACCOUNT):
        super().__init__()
        self.credentials = credentials
        self.expires_in = expires_in
        self.account = account
        self.refresh = {}       # good refresh token -> jwk it is bound to
        self.used = set()       # rotated away: TOKEN_EXPIRED
        self.revoked = set()    # USER_CREDENTIALS_CHANGED
        self.forbidden = set()  # INSUFFICIENT_PERMISSIONS
        self.jtis = set()
        self.issued = []        # every tokenOutput answered
        self.dpop_errors = []   # why proofs were refused
        self._script = []
        self.delay = 0.0

    def fail_next(self, status, error="server_error", exc="InternalServerException", times=1):
        with self.lock:
            self._script += [(status, error, exc)] * times

    def _json(self, status, doc, exc=None):
        hdr = [("Content-Type", "application/json"),
               ("x-amzn-RequestId", secrets.token_hex(16))]
        if exc:
            hdr.append(("x-amzn-ErrorType", exc))
        return status, hdr, json.dumps(doc).encode()

    def _error(self, req, status, exc, error, message):
        req.note = f"{exc} {error}: {message}"
        return self._json(status, {"error": error, "message": message}, exc)

    def token_requests(self, mark=0):
        return [r for r in self.since(mark) if r.path == "/v1/token"]

    def handle(self, req):
        if req.method != "POST" or req.path != "/v1/token":
            return self._json(404, {"message": "Not Found"}, "UnknownOperationException")
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            scripted = self._script.pop(0) if self._script else None
        if scripted:
            status, error, exc = scripted
            return self._error(req, status, exc, error, "scripted failure")
        ctype = req.header("content-type", "").split(";")[0].strip()
        if ctype != "application/json":
            return self._error(req, 400, "ValidationException", "INVALID_REQUEST",
                               f"unexpected content type {ctype!r}")
        try:
            body = json.loads(req.body)
        except ValueError:
            return self._error(req, 400, "ValidationException", "INVALID_REQUEST", "not JSON")
        if not isinstance(body, dict) or body.get("grantType") != "refresh_token" \
                or body.get("clientId") != CLIENT_ID or not body.get("refreshToken"):
            return self._error(req, 400, "ValidationException", "INVALID_REQUEST",
                               "grantType refresh_token, clientId and refreshToken are required")
        rt = body["refreshToken"]
        with self.lock:
            if rt in self.revoked:
                return self._error(req, 403, "AccessDeniedException", "USER_CREDENTIALS_CHANGED",
                                   "The user's credentials changed; sign in again")
            if rt in self.forbidden:
                return self._error(req, 403, "AccessDeniedException", "INSUFFICIENT_PERMISSIONS",
                                   "Not allowed to use this session")
            bound = self.refresh.get(rt)
            if bound is None:
                return self._error(req, 401, "AccessDeniedException", "TOKEN_EXPIRED",
                                   "The refresh token is expired or was already used")
            why = self._check_dpop(req, bound)
            if why:
                self.dpop_errors.append(why)
                return self._error(req, 400, "ValidationException", "INVALID_REQUEST",
                                   f"invalid DPoP proof: {why}")
            del self.refresh[rt]
            self.used.add(rt)
            new_rt = "rt-" + secrets.token_urlsafe(48)
            self.refresh[new_rt] = bound
        cred = self.credentials() if self.credentials else {
            "accessKeyId": "ASIA" + secrets.token_hex(8).upper(),
            "secretAccessKey": secrets.token_urlsafe(30),
            "sessionToken": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60)}
        out = {"accessToken": cred, "tokenType": "aws_sigv4", "expiresIn": self.expires_in,
               "refreshToken": new_rt}
        with self.lock:
            self.issued.append(out)
        return self._json(200, out)

    def _check_dpop(self, req, bound_jwk):
        proof = req.header("dpop")
        if not proof:
            return "no DPoP header"
        try:
            header, payload, signing_input, sig = parse_dpop(proof)
        except Exception as e:  # noqa: BLE001
            return f"not a compact JWT ({e!r})"
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            return f"typ/alg {header.get('typ')!r}/{header.get('alg')!r}"
        if set(header) != {"typ", "alg", "jwk"}:
            return f"header members {sorted(header)}"
        if header.get("jwk") != bound_jwk:
            return "the jwk is not the key the refresh token is bound to"
        if set(payload) != {"htm", "htu", "iat", "jti"}:
            return f"payload members {sorted(payload)}"
        if payload["htm"] != "POST":
            return f"htm {payload['htm']!r}"
        if payload["htu"] != self.url + req.raw_path:
            return f"htu {payload['htu']!r}, the request went to {self.url + req.raw_path!r}"
        if not isinstance(payload["iat"], int) or abs(payload["iat"] - time.time()) > IAT_WINDOW:
            return f"iat {payload['iat']!r} outside the window"
        if not isinstance(payload["jti"], str) or not UUID_RE.match(payload["jti"]):
            return f"jti {payload['jti']!r} is not a UUID"
        if payload["jti"] in self.jtis:
            return "jti replayed"
        if not verify_es256(bound_jwk, signing_input, sig):
            return "bad signature"
        self.jtis.add(payload["jti"])
        return None

    # token cache files

    def write_token(self, directory, session, left, key_pem=None, pkcs8=False, extra=None,
                    credentials=None):
        """Writes the token cache file `aws login` leaves for `session`
        (credentials valid `left` more seconds) in `directory`, 0600, with
        a refresh token this service accepts. Returns (path, document)."""
        if key_pem is None:
            key, key_pem = new_key(pkcs8)
        else:
            from cryptography.hazmat.primitives import serialization
            key = serialization.load_pem_private_key(key_pem.encode(), None)
        rt = "rt-" + secrets.token_urlsafe(48)
        with self.lock:
            self.refresh[rt] = jwk_of(key)
        cred = credentials or {
            "accessKeyId": "ASIA" + secrets.token_hex(8).upper(),
            "secretAccessKey": secrets.token_urlsafe(30),
            "sessionToken": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60)}
        exp = servers.utcnow() + _dt.timedelta(seconds=left)
        doc = {"accessToken": dict(cred, accountId=self.account, expiresAt=servers.iso_z(exp)),
               "tokenType": "aws_sigv4", "clientId": CLIENT_ID, "refreshToken": rt,
               "idToken": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
               "dpopKey": key_pem}
        doc.update(extra or {})
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / (cache_key(session) + ".json")
        path.write_text(json.dumps(doc))
        os.chmod(path, 0o600)
        return path, doc

    def secrets_of(self, doc):
        a = doc.get("accessToken", {})
        return [a.get("secretAccessKey"), a.get("sessionToken"), doc.get("refreshToken"),
                doc.get("dpopKey")]
