"""Loopback servers for the aws-credproc end-to-end tests.

* MotoStack      -- moto_server on a free loopback port, set up with IAM users,
                    roles and a bucket, then with SigV4/IAM auth enforced; a
                    RecordingProxy in front of it counts and records requests.
* RecordingProxy -- thin reverse proxy that records every request (form
                    fields, headers) and the upstream's reply.
* ImdsServer     -- EC2 instance metadata service (IMDSv2 by default).
* FakeSts        -- scriptable STS speaking the awsQuery AssumeRole protocol,
                    verifying SigV4 signatures and recording every request.

Everything here is standard library plus boto3 (only for the moto setup).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

ACCOUNT = "123456789012"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ROLE_CHAINING_MESSAGE = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles "
    "assumed by role chaining."
)
MAX_SESSION_MESSAGE = (
    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
)


# --------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """URL of a loopback port where connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso_z(t: _dt.datetime, fraction: bool = False) -> str:
    t = t.astimezone(_dt.timezone.utc)
    if fraction:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml_escape(s: str) -> str:
    return (
        s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;")
    )


class RecordedRequest:
    """One HTTP request as a server saw it, plus the reply it got."""

    def __init__(self, method, path, header_items, body, client):
        self.time = time.time()
        self.method = method
        self.raw_path = path
        split = urllib.parse.urlsplit(path)
        self.path = split.path
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.header_items = list(header_items)
        self.headers = {}
        for k, v in self.header_items:
            self.headers.setdefault(k.lower(), v)
        self.body = body
        self.client = client
        self.form = {}
        ctype = self.headers.get("content-type", "")
        if method == "POST" and ctype.split(";")[0].strip().lower() == (
            "application/x-www-form-urlencoded"
        ):
            try:
                self.form = {
                    k: v[0]
                    for k, v in urllib.parse.parse_qs(
                        body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
                    ).items()
                }
            except UnicodeDecodeError:
                self.form = {}
        elif method == "GET":
            self.form = {k: v[0] for k, v in self.query.items()}
        self.status = None
        self.reply_body = b""
        self.note = ""

    @property
    def action(self):
        return self.form.get("Action")

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return (
            f"<{self.method} {self.raw_path} status={self.status} "
            f"form={self.form} headers={self.headers}>"
        )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loopback"
    sys_version = ""

    def log_message(self, fmt, *args):  # silence
        pass

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        body = self._read_body()
        req = RecordedRequest(
            self.command, self.path, self.headers.items(), body, self.client_address
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(req)
        try:
            status, headers, payload = owner.handle(req)
        except Exception as e:  # a bug in the test server: make it loud
            import traceback

            traceback.print_exc(file=sys.stderr)
            status, headers, payload = 500, [("Content-Type", "text/plain")], (
                f"test server error: {e!r}".encode()
            )
        req.status = status
        req.reply_body = payload
        if status is None:  # drop the connection without a reply
            self.close_connection = True
            return
        self.send_response(status)
        close = False
        for k, v in headers:
            if k.lower() == "connection" and v.lower() == "close":
                close = True
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if close:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _dispatch

    def send_response(self, code, message=None):
        # no automatic Server/Date headers: the owner decides
        self.log_request(code)
        self.send_response_only(code, message)


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # TLS handshake failures (a client refusing our certificate) and
        # resets are expected in some tests; record instead of printing
        owner = getattr(self, "owner", None)
        if owner is not None:
            with owner.lock:
                owner.errors.append(repr(sys.exc_info()[1]))


class HttpServer:
    """One listening socket (host:port; HTTPS when tls=(certfile, keyfile))
    served by `handler` in a thread: the one server base of the end-to-end
    tests (LoopbackServer, ForwardProxy, the namespace runners' listeners).
    `owner` is what _Handler hands each request to."""

    def __init__(self, handler, host: str = "127.0.0.1", port: int = 0, tls=None, owner=None):
        self._httpd = _ThreadingServer((host, port), handler)
        self._httpd.owner = owner
        self.owner = owner
        self.port = self._httpd.server_address[1]
        scheme = "http"
        if tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            # handshake in the handler thread, not in the accept loop
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True,
                                                 do_handshake_on_connect=False)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LoopbackServer(HttpServer):
    """Base: a threaded HTTP server (on 127.0.0.1 unless host is given)
    recording every request and answering through self.handle."""

    def __init__(self, port: int = 0, tls=None, host: str = "127.0.0.1"):
        """tls: (certfile, keyfile) to serve HTTPS."""
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        super().__init__(_Handler, host=host, port=port, tls=tls, owner=self)

    def clear(self):
        with self.lock:
            self.requests.clear()

    def mark(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int = 0) -> list[RecordedRequest]:
        with self.lock:
            return list(self.requests[mark:])

    def handle(self, req: RecordedRequest):  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------
# SigV4 verification (an implementation independent of the one under test)


def _uri_encode(s: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(s, safe=safe)


def sigv4_signature(method, path, query, header_items, signed_headers, body,
                    amz_date, scope, secret) -> str:
    """Compute the SigV4 signature the AWS way; header_items: (name, value)."""
    canonical_uri = path or "/"
    pairs = []
    for k, vs in query.items():
        for v in vs:
            pairs.append((_uri_encode(k), _uri_encode(v)))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    values = {}
    for k, v in header_items:
        values.setdefault(k.lower(), []).append(" ".join(v.strip().split()))
    canonical_headers = "".join(
        f"{h}:{','.join(values.get(h, []))}\n" for h in signed_headers
    )
    payload_hash = None
    for k, v in header_items:
        if k.lower() == "x-amz-content-sha256":
            payload_hash = v.strip()
    if payload_hash is None or payload_hash == "":
        payload_hash = hashlib.sha256(body).hexdigest()
    creq = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers,
         ";".join(signed_headers), payload_hash]
    )
    sts = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()]
    )
    date, region, service, term = scope.split("/")
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, term):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/([^,\s]+),\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)\s*$"
)


def verify_sigv4(req: RecordedRequest, keys: dict) -> tuple:
    """Check req's SigV4 signature against keys {akid: (secret, token|None)}.

    Returns (None, info) when valid, info = {"akid", "region", "service"};
    else ((status, code, message), info).
    """
    auth = req.header("authorization")
    info = {}
    if not auth:
        return (400, "MissingAuthenticationToken",
                "Request is missing Authentication Token"), info
    m = _AUTH_RE.match(auth)
    if not m:
        return (400, "IncompleteSignature",
                f"Authorization header requires 'Credential', 'Signature' and "
                f"'SignedHeaders' parameters. Authorization={auth}"), info
    akid, scope_rest, signed, signature = m.groups()
    scope = scope_rest
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aws4_request":
        return (400, "IncompleteSignature", f"Bad credential scope {scope}"), info
    info = {"akid": akid, "date": parts[0], "region": parts[1], "service": parts[2]}
    amz_date = req.header("x-amz-date")
    if not amz_date:
        return (400, "IncompleteSignature", "X-Amz-Date header missing"), info
    if not amz_date.startswith(parts[0]):
        return (403, "SignatureDoesNotMatch",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                "version of date from HTTP"), info
    try:
        t = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=_dt.timezone.utc)
    except ValueError:
        return (400, "IncompleteSignature", f"Bad X-Amz-Date {amz_date}"), info
    if abs((utcnow() - t).total_seconds()) > 900:
        return (403, "SignatureDoesNotMatch", "Signature expired"), info
    signed_headers = signed.split(";")
    if "host" not in signed_headers:
        return (403, "SignatureDoesNotMatch", "host header must be signed"), info
    if akid not in keys:
        return (403, "InvalidClientTokenId",
                "The security token included in the request is invalid."), info
    secret, token = keys[akid]
    if token is not None:
        if req.header("x-amz-security-token") != token:
            return (403, "InvalidClientTokenId",
                    "The security token included in the request is invalid."), info
        if "x-amz-security-token" not in signed_headers:
            # STS accepts an unsigned token header, but every SDK signs it;
            # record it so tests can look, and accept.
            req.note += "x-amz-security-token not signed; "
    want = sigv4_signature(
        req.method, urllib.parse.urlsplit(req.raw_path).path, req.query,
        req.header_items, signed_headers, req.body, amz_date, scope, secret,
    )
    if not hmac.compare_digest(want, signature):
        return (403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature "
                "you provided. Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details."), info
    return None, info


# --------------------------------------------------------------------------
# fake STS


def sts_error_xml(code: str, message: str, type_: str = "Sender",
                  request_id: str | None = None) -> bytes:
    rid = request_id or str(uuid.uuid4())
    return (
        f'<ErrorResponse xmlns="{STS_NS}">\n'
        f"  <Error>\n"
        f"    <Type>{type_}</Type>\n"
        f"    <Code>{_xml_escape(code)}</Code>\n"
        f"    <Message>{_xml_escape(message)}</Message>\n"
        f"  </Error>\n"
        f"  <RequestId>{rid}</RequestId>\n"
        f"</ErrorResponse>\n"
    ).encode()


class StsReply:
    """A scripted reply: an error, or raw bytes, or (None) a success.
    headers: extra response headers sent with a raw body (e.g. a
    Content-Length larger than the body plus Connection: close, to cut the
    reply short)."""

    def __init__(self, status=200, code=None, message="", type_="Sender", body=None,
                 content_type="text/xml", drop=False, headers=()):
        self.status, self.code, self.message, self.type_ = status, code, message, type_
        self.body, self.content_type, self.drop = body, content_type, drop
        self.headers = list(headers)


MFA_FAILED_MESSAGE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "


class FakeSts(LoopbackServer):
    """Scriptable STS (awsQuery AssumeRole / GetSessionToken / GetCallerIdentity).

    keys: {access_key_id: (secret, session_token_or_None)} accepted for signing.
    Credentials it issues are added to keys, so chains through it verify.
    Rules, applied in this order to every AssumeRole:
      1. SigV4 check (verify=True);
      2. parameter validation as STS does (RoleSessionName pattern/length,
         DurationSeconds 900..43200, ExternalId 2..1224 chars);
      3. chain_limit: requests signed with session credentials (role
         chaining) asking DurationSeconds > chain_limit get the real
         role-chaining ValidationError;
      4. max_session: DurationSeconds > max_session -> MaxSessionDuration error;
      5. the next queued reply (queue_error / queue_reply), if any;
      6. success, Expiration = now + DurationSeconds (fractional if asked),
         or now + `lifetime` seconds when lifetime is set (any value, even
         below STS's 900 s minimum: short-lived credentials for cache tests;
         the attribute may be changed between requests).
    reject_expired=True: a request (any action) signed with credentials this
    server issued, after their Expiration, gets STS's `400 ExpiredToken` ("The
    security token included in the request is expired"), as real STS answers;
    `expired_rejections` counts them. Off by default (older tests sign with
    short-lived credentials freely).

    MFA. GetSessionToken (signed, SigV4-checked like AssumeRole) needs
    SerialNumber and TokenCode; a TokenCode other than `mfa_code` gets STS's
    403 AccessDenied (MultiFactorAuthentication failed...), a request signed
    with session credentials gets 403 AccessDenied ("Cannot call
    GetSessionToken with session credentials"); DurationSeconds is 900..129600
    (default 43200), or `mfa_lifetime` seconds when set. The session it issues
    is added to keys and remembered as MFA-authenticated (`mfa_sessions`).
    AssumeRole with SerialNumber/TokenCode checks the code the same way.
    Roles in `mfa_roles` (ARNs) may be assumed only with MFA: a valid
    SerialNumber/TokenCode, or a signature by an MFA session; otherwise 403
    AccessDenied. `session_token_requests()` lists the GetSessionToken
    requests.
    """

    def __init__(self, keys=None, verify=True, chain_limit=3600, max_session=43200,
                 fractional_expiration=False, account=ACCOUNT, delay=0.0, tls=None,
                 lifetime=None, reject_expired=False, mfa_code="123456", mfa_lifetime=None,
                 mfa_roles=()):
        super().__init__(tls=tls)
        self.mfa_code = mfa_code
        self.mfa_lifetime = mfa_lifetime
        self.mfa_roles = set(mfa_roles)
        self.mfa_sessions: set[str] = set()  # akids issued by GetSessionToken
        self.reject_expired = reject_expired
        self.expired_rejections = 0
        self._expiry: dict[str, _dt.datetime] = {}  # issued akid -> Expiration
        self.lifetime = lifetime  # seconds; None: DurationSeconds
        self.delay = delay  # seconds to sleep before answering an AssumeRole
        self.keys = dict(keys or {})
        self.verify = verify
        self.chain_limit = chain_limit
        self.max_session = max_session
        self.fractional_expiration = fractional_expiration
        self.account = account
        self.queue: list[StsReply] = []
        self.issued: list[dict] = []

    # scripting
    def add_key(self, akid, secret, token=None):
        self.keys[akid] = (secret, token)

    def queue_error(self, status, code, message, type_="Sender", times=1):
        for _ in range(times):
            self.queue.append(StsReply(status, code, message, type_))

    def queue_reply(self, reply: StsReply, times=1):
        for _ in range(times):
            self.queue.append(reply)

    def assume_role_requests(self, mark=0):
        return [r for r in self.since(mark) if r.action == "AssumeRole"]

    def session_token_requests(self, mark=0):
        return [r for r in self.since(mark) if r.action == "GetSessionToken"]

    # protocol
    def _error(self, status, code, message, type_="Sender"):
        return status, [("Content-Type", "text/xml"),
                        ("x-amzn-RequestId", str(uuid.uuid4()))], \
            sts_error_xml(code, message, type_)

    def handle(self, req):
        if req.method not in ("POST", "GET") or req.path != "/":
            return self._error(404, "UnknownOperation", "Unknown operation")
        if req.method == "POST" and not req.form and req.body:
            return self._error(400, "InvalidAction",
                               "Could not parse the request body as a form")
        form = req.form
        action = form.get("Action")
        info = {}
        if self.verify:
            err, info = verify_sigv4(req, self.keys)
            if err:
                req.note += f"sigv4: {err[1]}; "
                return self._error(*err)
            if info.get("service") != "sts":
                return self._error(403, "SignatureDoesNotMatch",
                                   f"Credential should be scoped to correct service: 'sts'. ")
        req.sig = info
        if self.reject_expired:
            with self.lock:
                exp = self._expiry.get(info.get("akid", ""))
            if exp is not None and utcnow() >= exp:
                with self.lock:
                    self.expired_rejections += 1
                req.note += "expired credentials; "
                return self._error(400, "ExpiredToken",
                                   "The security token included in the request is expired")
        if form.get("Version") != "2011-06-15":
            return self._error(400, "InvalidAction",
                               f"Could not find operation {action} for version "
                               f"{form.get('Version')}")
        if action == "GetCallerIdentity":
            return self._caller_identity(req, info)
        if action == "GetSessionToken":
            return self._session_token(req, info)
        if action != "AssumeRole":
            return self._error(400, "InvalidAction",
                               f"Could not find operation {action} for version 2011-06-15")
        return self._assume_role(req, info)

    def _caller_identity(self, req, info):
        akid = info.get("akid", "")
        arn = f"arn:aws:iam::{self.account}:user/fake"
        for c in self.issued:
            if c["AccessKeyId"] == akid:
                arn = c["Arn"]
        body = _sts_response("GetCallerIdentity",
                             f"    <Arn>{_xml_escape(arn)}</Arn>\n"
                             f"    <UserId>AIDAFAKE</UserId>\n"
                             f"    <Account>{self.account}</Account>\n")
        return 200, [("Content-Type", "text/xml")], body

    def _assume_role(self, req, info):
        if self.delay:
            time.sleep(self.delay)
        form = req.form
        arn = form.get("RoleArn")
        name = form.get("RoleSessionName")
        if not arn:
            return self._error(400, "ValidationError",
                               "1 validation error detected: Value null at 'roleArn' "
                               "failed to satisfy constraint: Member must not be null")
        if name is None:
            return self._error(400, "ValidationError",
                               "1 validation error detected: Value null at "
                               "'roleSessionName' failed to satisfy constraint: Member "
                               "must not be null")
        if not re.fullmatch(r"[\w+=,.@-]*", name, re.ASCII):
            return self._error(400, "ValidationError",
                               f"1 validation error detected: Value '{name}' at "
                               f"'roleSessionName' failed to satisfy constraint: Member "
                               f"must satisfy regular expression pattern: [\\w+=,.@-]*")
        if not 2 <= len(name) <= 64:
            return self._error(400, "ValidationError",
                               f"1 validation error detected: Value '{name}' at "
                               f"'roleSessionName' failed to satisfy constraint: Member "
                               f"must have length {'less' if len(name) > 64 else 'greater'}"
                               f" than or equal to {64 if len(name) > 64 else 2}")
        duration, bad = self._duration(form, 3600, 43200)
        if bad:
            return bad
        ext = form.get("ExternalId")
        if ext is not None and not 2 <= len(ext) <= 1224:
            return self._error(400, "ValidationError",
                               f"1 validation error detected: Value '{ext}' at "
                               f"'externalId' failed to satisfy constraint: Member must "
                               f"have length greater than or equal to 2")
        mfa_error = self._mfa_check(req, info, arn)
        if mfa_error:
            return mfa_error
        chained = req.header("x-amz-security-token") is not None
        if chained and self.chain_limit is not None and duration > self.chain_limit:
            return self._error(400, "ValidationError", ROLE_CHAINING_MESSAGE)
        if self.max_session is not None and duration > self.max_session:
            return self._error(400, "ValidationError", MAX_SESSION_MESSAGE)
        if self.queue:
            r = self.queue.pop(0)
            if r.drop:
                return None, [], b""
            if r.body is not None:
                return r.status, [("Content-Type", r.content_type)] + r.headers, r.body
            if r.code is not None:
                return self._error(r.status, r.code, r.message, r.type_)
        return self._success(req, arn, name, duration)

    def _mfa_check(self, req, info, arn):
        """AssumeRole: a SerialNumber/TokenCode pair must be right; a role in
        mfa_roles needs one, or a signature by an MFA session."""
        form = req.form
        if "SerialNumber" in form or "TokenCode" in form:
            if not form.get("SerialNumber") or form.get("TokenCode") != self.mfa_code:
                req.note += "bad MFA code; "
                return self._error(403, "AccessDenied", MFA_FAILED_MESSAGE)
            return None
        if arn in self.mfa_roles and info.get("akid") not in self.mfa_sessions:
            req.note += "MFA required; "
            return self._error(403, "AccessDenied",
                               f"User: arn:aws:iam::{self.account}:user/fake is not authorized "
                               f"to perform: sts:AssumeRole on resource: {arn}")
        return None

    def _session_token(self, req, info):
        if self.delay:
            time.sleep(self.delay)
        form = req.form
        if req.header("x-amz-security-token") is not None:
            return self._error(403, "AccessDenied",
                               "Cannot call GetSessionToken with session credentials")
        duration, bad = self._duration(form, 43200, 129600)
        if bad:
            return bad
        serial, code = form.get("SerialNumber"), form.get("TokenCode")
        if not serial or not code:
            # Real STS issues a session without MFA; every caller here sends both.
            return self._error(400, "ValidationError",
                               "FakeSts: GetSessionToken without SerialNumber and TokenCode")
        if not re.fullmatch(r"\d{6}", code):
            return self._error(400, "ValidationError",
                               f"1 validation error detected: Value at 'tokenCode' failed to "
                               f"satisfy constraint: Member must satisfy regular expression "
                               f"pattern: [\\d]*")
        if code != self.mfa_code:
            req.note += "bad MFA code; "
            return self._error(403, "AccessDenied", MFA_FAILED_MESSAGE)
        life = duration if self.mfa_lifetime is None else self.mfa_lifetime
        cred = self._issue("FwoGZXIvYXdzEMFA", life,
                           Arn=f"arn:aws:iam::{self.account}:user/fake", Duration=duration,
                           SerialNumber=serial, Signer=info.get("akid"), mfa=True)
        # GetSessionToken lists the credentials in this order
        body = _sts_response("GetSessionToken", self._credentials_xml(
            cred, ("SessionToken", "SecretAccessKey", "Expiration", "AccessKeyId")))
        return 200, [("Content-Type", "text/xml"),
                     ("x-amzn-RequestId", str(uuid.uuid4()))], body

    def _success(self, req, arn, name, duration):
        life = duration if self.lifetime is None else self.lifetime
        role_name = arn.rsplit("/", 1)[-1]
        account = arn.split(":")[4] if arn.count(":") >= 5 else self.account
        assumed = f"arn:aws:sts::{account}:assumed-role/{role_name}/{name}"
        cred = self._issue("FwoGZXIvYXdzE", life, Arn=assumed, Duration=duration)
        body = _sts_response(
            "AssumeRole",
            f"    <AssumedRoleUser>\n"
            f"      <AssumedRoleId>AROAFAKEROLEID0000000:{_xml_escape(name)}</AssumedRoleId>\n"
            f"      <Arn>{_xml_escape(assumed)}</Arn>\n"
            f"    </AssumedRoleUser>\n"
            + self._credentials_xml(cred))
        return 200, [("Content-Type", "text/xml"),
                     ("x-amzn-RequestId", str(uuid.uuid4()))], body

    def _web_identity_success(self, req, arn, name, duration, subject=None):
        """An AssumeRoleWithWebIdentity success: AssumeRole's document under
        the web identity names, with SubjectFromWebIdentityToken if given."""
        status, headers, body = self._success(req, arn, name, duration)
        body = (body.replace(b"AssumeRoleResponse", b"AssumeRoleWithWebIdentityResponse")
                .replace(b"AssumeRoleResult", b"AssumeRoleWithWebIdentityResult"))
        if subject:
            body = body.replace(b"<Credentials>",
                                b"<SubjectFromWebIdentityToken>" + _xml_escape(subject).encode()
                                + b"</SubjectFromWebIdentityToken>\n    <Credentials>", 1)
        return status, headers, body

    def _duration(self, form, default, high):
        """DurationSeconds checked as STS does (900..high): (seconds, None),
        or (None, the error reply)."""
        if "DurationSeconds" not in form:
            return default, None
        try:
            duration = int(form["DurationSeconds"])
        except ValueError:
            return None, self._error(400, "ValidationError",
                                     f"Value '{form['DurationSeconds']}' for parameter "
                                     f"DurationSeconds is invalid.")
        if not 900 <= duration <= high:
            return None, self._error(400, "ValidationError",
                                     f"1 validation error detected: Value '{duration}' at "
                                     f"'durationSeconds' failed to satisfy constraint: Member "
                                     f"must have value {'greater' if duration < 900 else 'less'}"
                                     f" than or equal to {900 if duration < 900 else high}")
        return duration, None

    def _issue(self, token_prefix, life, mfa=False, **fields):
        """New credentials valid for `life` seconds, recorded in self.issued
        (with `fields`) and accepted for signing from now on; mfa: an
        MFA-authenticated session. Returns the record."""
        akid = "ASIA" + secrets.token_hex(8).upper()
        secret = secrets.token_urlsafe(30)
        token = token_prefix + secrets.token_urlsafe(60)
        exp = utcnow() + _dt.timedelta(seconds=life)
        cred = {"AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token,
                "Expiration": exp, **fields}
        with self.lock:
            self.issued.append(cred)
            self._expiry[akid] = exp
            if mfa:
                self.mfa_sessions.add(akid)
        self.add_key(akid, secret, token)
        return cred

    def _credentials_xml(self, cred,
                         order=("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")):
        text = {"AccessKeyId": _xml_escape(cred["AccessKeyId"]),
                "SecretAccessKey": _xml_escape(cred["SecretAccessKey"]),
                "SessionToken": _xml_escape(cred["SessionToken"]),
                "Expiration": iso_z(cred["Expiration"], self.fractional_expiration)}
        return ("    <Credentials>\n" + "".join(f"      <{k}>{text[k]}</{k}>\n" for k in order)
                + "    </Credentials>\n")


def _sts_response(action, result):
    """An STS awsQuery success document: `result` (indented XML lines)
    inside <{action}Result>, then the ResponseMetadata."""
    return (
        f'<{action}Response xmlns="{STS_NS}">\n'
        f"  <{action}Result>\n"
        f"{result}"
        f"  </{action}Result>\n"
        f"  <ResponseMetadata>\n"
        f"    <RequestId>{uuid.uuid4()}</RequestId>\n"
        f"  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    ).encode()


# --------------------------------------------------------------------------
# IMDS

_EC2_HTML = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t\t "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n"
    "  <title>{code} - {text}</title>\n"
    " </head>\n"
    " <body>\n"
    "  <h1>{code} - {text}</h1>\n"
    " </body>\n"
    "</html>\n"
)
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed"}


class ImdsServer(LoopbackServer):
    """EC2 instance metadata service, as EC2 behaves.

    credentials: dict with AccessKeyId, SecretAccessKey, Token, Expiration
    (datetime or "...Z" string). role=None: no instance profile (404).
    v1_allowed: token-less GETs are answered (IMDSv1); default: IMDSv2 required.
    token_status: if set, PUT /latest/api/token answers with that status
    (e.g. 404/405 for an IMDS without v2; 403 when IMDSv2 is off).
    token_failures: statuses for the first token PUTs, one each, in order
    (e.g. [503]: the first PUT gets 503, the next ones work normally).
    code, message: the credentials document's "Code" (default "Success") and
    an optional "Message", as EC2 sends when the instance profile's role
    cannot be assumed (e.g. "AssumeRoleUnauthorizedAccess").
    """

    TOKEN_PATH = "/latest/api/token"

    def __init__(self, credentials=None, role="instance-role", region="us-east-1",
                 v1_allowed=False, token_status=None, availability_zone=None,
                 token_failures=(), code="Success", message=None):
        super().__init__()
        self.code, self.message = code, message
        self.token_failures = list(token_failures)
        self.credentials = credentials
        self.role = role
        self.region = region
        self.az = availability_zone or (region + "a")
        self.v1_allowed = v1_allowed
        self.token_status = token_status
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.last_updated = utcnow() - _dt.timedelta(minutes=5)

    def _reply(self, status, body=b"", ctype="text/plain", extra=()):
        headers = [("Content-Type", ctype), ("Accept-Ranges", "none"),
                   ("Last-Modified", _http_date(self.last_updated)),
                   ("Date", _http_date(utcnow())), ("Server", "EC2ws"),
                   ("Connection", "close")]
        headers.extend(extra)
        return status, headers, body

    def _html(self, status, extra=()):
        body = _EC2_HTML.format(code=status, text=_REASONS[status]).encode()
        headers = [("Content-Type", "text/html"), ("Date", _http_date(utcnow())),
                   ("Server", "EC2ws"), ("Connection", "close")]
        headers.extend(extra)
        return status, headers, body

    def creds_json(self) -> bytes:
        c = self.credentials or {}
        exp = c.get("Expiration")
        if isinstance(exp, _dt.datetime):
            exp = iso_z(exp)
        doc = [("Code", self.code)]
        if self.message is not None:
            doc.append(("Message", self.message))
        doc.append(("LastUpdated", iso_z(self.last_updated)))
        if self.code == "Success":
            doc += [
                ("Type", "AWS-HMAC"),
                ("AccessKeyId", c.get("AccessKeyId")),
                ("SecretAccessKey", c.get("SecretAccessKey")),
                ("Token", c.get("Token") or c.get("SessionToken")),
                ("Expiration", exp),
            ]
        # EC2's own layout: two-space indent, " : " separators
        inner = ",\n".join(f'  "{k}" : {json.dumps(v)}' for k, v in doc)
        return ("{\n" + inner + "\n}").encode()

    def handle(self, req):
        path = req.path
        if path == self.TOKEN_PATH:
            if req.method != "PUT":
                return self._html(405)
            if req.header("x-forwarded-for") is not None:
                return self._html(403)
            if self.token_failures:
                with self.lock:
                    st = self.token_failures.pop(0) if self.token_failures else None
                if st is not None:
                    return self._html(st) if st in _REASONS else self._reply(st, b"")
            if self.token_status is not None:
                if self.token_status in _REASONS:
                    return self._html(self.token_status)
                return self._reply(self.token_status, b"")
            ttl = req.header("x-aws-ec2-metadata-token-ttl-seconds")
            try:
                ttl_n = int(ttl) if ttl is not None and ttl.strip().isdigit() else None
            except ValueError:
                ttl_n = None
            if ttl_n is None or not 1 <= ttl_n <= 21600:
                return self._html(400)
            token = "AQAEA" + secrets.token_urlsafe(36)[:49] + "=="
            with self.lock:
                self.tokens[token] = time.monotonic() + ttl_n
            return self._reply(200, token.encode(), extra=[
                ("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", str(ttl_n))])
        if req.method == "PUT":
            return self._html(405)
        if req.method not in ("GET", "HEAD"):
            return self._html(405)
        token = req.header("x-aws-ec2-metadata-token")
        extra = []
        if token is not None:
            with self.lock:
                exp = self.tokens.get(token)
            if exp is None or exp < time.monotonic():
                return self._html(401)
            extra = [("X-Aws-Ec2-Metadata-Token-Ttl-Seconds",
                      str(max(0, int(exp - time.monotonic()))))]
        elif not self.v1_allowed:
            return self._html(401)
        return self._metadata(path, extra)

    def _metadata(self, path, extra):
        base = "/latest/meta-data/iam/security-credentials"
        if path in (base, base + "/"):
            if self.role is None:
                return self._html(404, extra)
            return self._reply(200, self.role.encode(), extra=extra)
        if path.startswith(base + "/"):
            name = path[len(base) + 1:]
            if self.role is None or name != self.role or self.credentials is None:
                return self._html(404, extra)
            return self._reply(200, self.creds_json(), extra=extra)
        if path == "/latest/meta-data/placement/region":
            return self._reply(200, self.region.encode(), extra=extra)
        if path == "/latest/meta-data/placement/availability-zone":
            return self._reply(200, self.az.encode(), extra=extra)
        if path == "/latest/dynamic/instance-identity/document":
            doc = {"accountId": ACCOUNT, "architecture": "x86_64",
                   "availabilityZone": self.az, "imageId": "ami-0123456789abcdef0",
                   "instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro",
                   "pendingTime": iso_z(self.last_updated), "privateIp": "10.0.0.1",
                   "region": self.region, "version": "2017-09-30"}
            return self._reply(200, json.dumps(doc, indent=2).encode(), extra=extra)
        if path in ("/latest/meta-data", "/latest/meta-data/"):
            listing = "ami-id\ninstance-id\ninstance-type\nplacement/"
            if self.role is not None:
                listing += "\niam/"
            return self._reply(200, listing.encode(), extra=extra)
        if path in ("/latest/meta-data/iam", "/latest/meta-data/iam/"):
            if self.role is None:
                return self._html(404, extra)
            return self._reply(200, b"info\nsecurity-credentials/", extra=extra)
        return self._html(404, extra)


def _http_date(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


class EcsServer(LoopbackServer):
    """ECS/EKS container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI).

    token: the expected Authorization header value (None: not checked)."""

    def __init__(self, credentials, token=None, path="/v2/credentials/e2e"):
        super().__init__()
        self.credentials = credentials
        self.token = token
        self.cred_path = path
        self.full_uri = self.url + path

    def handle(self, req):
        hdr = [("Content-Type", "application/json")]
        if req.method != "GET":
            return 405, hdr, b'{"code":"MethodNotAllowed"}'
        if self.token is not None and req.header("authorization") != self.token:
            return 401, hdr, b'{"code":"AccessDeniedException","message":"Unauthorized"}'
        if req.path != self.cred_path:
            return 404, hdr, b'{"code":"NotFound"}'
        c = self.credentials
        exp = c["Expiration"]
        if isinstance(exp, _dt.datetime):
            exp = iso_z(exp)
        doc = {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/task-role",
               "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
               "Token": c.get("Token") or c.get("SessionToken"), "Expiration": exp}
        return 200, hdr, json.dumps(doc).encode()


class Blackhole:
    """A listening loopback socket that never answers (connects succeed via
    the kernel backlog, reads time out)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        return self

    def stop(self):
        self.sock.close()

    def since(self, mark=0):
        return []


class Trickle:
    """A loopback HTTP server that reads the request, sends a 200 status line
    and headers promising a large body, then one byte of it every `interval`
    seconds, forever: a reply that never completes (slow-read attack on the
    client). requests: how many connections it accepted."""

    def __init__(self, interval=0.3):
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        self._stop = threading.Event()
        self._thread = None

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                         b"Content-Length: 1000000\r\n\r\n<")
            while not self._stop.wait(self.interval):
                conn.sendall(b" ")
        except OSError:
            pass
        finally:
            conn.close()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.requests += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def start(self):
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.sock.close()

    def since(self, mark=0):
        return []


# --------------------------------------------------------------------------
# recording reverse proxy


class RecordingProxy(LoopbackServer):
    """Forwards every request unchanged (Host included, so SigV4 signatures
    made for the proxy's address still verify upstream) and records it."""

    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
           "upgrade", "proxy-connection", "content-length"}

    def __init__(self, upstream_host, upstream_port, delay=0.0):
        super().__init__()
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay  # seconds to hold every request before forwarding

    def handle(self, req):
        if self.delay:
            time.sleep(self.delay)
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            conn.putrequest(req.method, req.raw_path, skip_host=True,
                            skip_accept_encoding=True)
            for k, v in req.header_items:
                if k.lower() in self.HOP or k.lower() == "expect":
                    continue
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(req.body)))
            conn.endheaders(req.body)
            resp = conn.getresponse()
            body = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in self.HOP]
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(("Content-Type", "application/octet-stream"))
            m = re.search(rb"<Code>([^<]*)</Code>", body)
            if m:
                req.note += "code=" + m.group(1).decode(errors="replace") + "; "
            return resp.status, headers, body
        finally:
            conn.close()


class ForwardProxy(HttpServer):
    """An HTTP forward proxy (absolute-URI requests and CONNECT tunnels) that
    records what went through it: self.log = [(method, target), ...]."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_CONNECT(self):
                with owner.lock:
                    owner.log.append(("CONNECT", self.path))
                host, _, port = self.path.rpartition(":")
                try:
                    up = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                import select

                socks = [self.connection, up]
                try:
                    while True:
                        r, _, _ = select.select(socks, [], [], 15)
                        if not r:
                            break
                        done = False
                        for s_ in r:
                            data = s_.recv(65536)
                            if not data:
                                done = True
                                break
                            (up if s_ is self.connection else self.connection).sendall(data)
                        if done:
                            break
                finally:
                    up.close()
                    self.close_connection = True

            def _forward(self):
                with owner.lock:
                    owner.log.append((self.command, self.path))
                u = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
                try:
                    path = u.path + ("?" + u.query if u.query else "")
                    c.putrequest(self.command, path or "/", skip_host=True,
                                 skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() in RecordingProxy.HOP or k.lower() in (
                                "proxy-authorization", "expect"):
                            continue
                        c.putheader(k, v)
                    c.putheader("Content-Length", str(len(body)))
                    c.endheaders(body)
                    r = c.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in RecordingProxy.HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    c.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward

        super().__init__(H)

    def targets(self):
        with self.lock:
            return list(self.log)


def make_test_pki(directory, names=("localhost",), ips=("127.0.0.1",), valid=None,
                  ca_name="aws-credproc e2e CA") -> dict:
    """A throw-away CA and one server certificate for every name and address
    (default: localhost and 127.0.0.1), valid from valid[0] to valid[1]
    (default: from a day ago for 30 days). Returns {"ca", "cert", "key"}
    paths as strings."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = utcnow()
    nb, na = valid or (now - _dt.timedelta(days=1), now + _dt.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(nb).not_valid_after(na)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in sorted(names)]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(ips)]
    cn = sorted(ips)[0] if ips else sorted(names)[0]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    os.makedirs(directory, exist_ok=True)
    d = str(directory)
    paths = {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "server.pem"),
             "key": os.path.join(d, "server.key")}
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


# --------------------------------------------------------------------------
# moto


def _clean_server_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = "setup"
    env["AWS_SECRET_ACCESS_KEY"] = "setup"
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class MotoStack:
    """moto_server + RecordingProxy, with IAM/STS/S3 set up and auth enforced.

    After start():
      endpoint        -- URL to give the binary (the recording proxy)
      direct          -- moto's own URL
      base            -- {"AccessKeyId", "SecretAccessKey"} of IAM user `base`
      roles           -- {name: arn} for reader, chained, partner, denied,
                         instance-role, long
      instance_creds  -- credentials of a session of instance-role (for IMDS)
      bucket          -- S3 bucket name readable/writable by reader and chained
      external_id     -- the ExternalId partner's trust policy requires
    """

    EXTERNAL_ID = "e2e-external-7f3a"
    BUCKET = "e2e-credproc-bucket"

    def __init__(self, log_dir=None):
        self.proc = None
        self.proxy = None
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="moto-log-")
        self.log_path = os.path.join(self.log_dir, "moto_server.log")

    # lifecycle
    def start(self):
        port = free_port()
        self.direct = f"http://127.0.0.1:{port}"
        self._log = open(self.log_path, "wb")
        exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
        if not os.path.exists(exe):
            exe = "moto_server"
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_clean_server_env(), start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited {self.proc.returncode}; "
                                   f"see {self.log_path}")
            try:
                with urllib.request.urlopen(self.direct + "/moto-api/data.json",
                                            timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("moto_server did not come up in 30 s")
            time.sleep(0.1)
        self._setup()
        self.proxy = RecordingProxy("127.0.0.1", port).start()
        self.endpoint = self.proxy.url
        return self

    def stop(self):
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # moto control
    def set_auth(self, unchecked: str):
        """POST /moto-api/reset-auth: `unchecked` requests pass unchecked
        ("inf" = auth off, "0" = every request checked)."""
        req = urllib.request.Request(
            self.direct + "/moto-api/reset-auth", data=unchecked.encode(),
            method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def client(self, service, creds=None, direct=True, region="us-east-1"):
        import boto3
        from botocore.config import Config

        creds = creds or {"AccessKeyId": "setup", "SecretAccessKey": "setup"}
        return boto3.client(
            service,
            endpoint_url=self.direct if direct else self.endpoint,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken") or creds.get("Token"),
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}),
        )

    def _setup(self):
        self.set_auth("inf")
        iam = self.client("iam")
        sts = self.client("sts")
        s3 = self.client("s3")
        acct = ACCOUNT
        self.account = acct
        role = lambda n: f"arn:aws:iam::{acct}:role/{n}"  # noqa: E731
        base_arn = f"arn:aws:iam::{acct}:user/base"
        bucket = self.BUCKET
        s3_rw = {"Effect": "Allow",
                 "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
        assume_any = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}

        iam.create_user(UserName="base")
        k = iam.create_access_key(UserName="base")["AccessKey"]
        self.base = {"AccessKeyId": k["AccessKeyId"],
                     "SecretAccessKey": k["SecretAccessKey"]}
        iam.put_user_policy(UserName="base", PolicyName="assume",
                            PolicyDocument=_policy(assume_any))
        # a user with keys but no permissions at all
        iam.create_user(UserName="nobody")
        k = iam.create_access_key(UserName="nobody")["AccessKey"]
        self.nobody = {"AccessKeyId": k["AccessKeyId"],
                       "SecretAccessKey": k["SecretAccessKey"]}

        def mk(name, principal, policy_statements, condition=None, max_session=None):
            st = {"Effect": "Allow", "Principal": {"AWS": principal},
                  "Action": "sts:AssumeRole"}
            if condition:
                st["Condition"] = condition
            kw = {}
            if max_session:
                kw["MaxSessionDuration"] = max_session
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(st), **kw)
            if policy_statements:
                iam.put_role_policy(RoleName=name, PolicyName="p",
                                    PolicyDocument=_policy(*policy_statements))

        # reader: trusts only the base user; may write the bucket and assume on
        mk("reader", base_arn, [s3_rw, assume_any])
        # chained: trusts "*" (moto cannot match assumed-role sessions to roles)
        mk("chained", "*", [s3_rw])
        # partner: trusts base with an ExternalId condition
        mk("partner", base_arn, [s3_rw],
           condition={"StringEquals": {"sts:ExternalId": self.EXTERNAL_ID}})
        # denied: trusts someone else -> AccessDenied for base
        mk("denied", f"arn:aws:iam::{acct}:user/someone-else", [s3_rw])
        # long: max session 12 h, trusts base
        mk("long", base_arn, [s3_rw], max_session=43200)
        # instance-role: what the EC2 instance profile carries
        mk("instance-role", "*", [assume_any])
        self.roles = {n: role(n) for n in
                      ("reader", "chained", "partner", "denied", "long", "instance-role")}

        s3.create_bucket(Bucket=bucket)
        self.bucket = bucket
        self.external_id = self.EXTERNAL_ID

        r = sts.assume_role(RoleArn=self.roles["instance-role"],
                            RoleSessionName="i-0123456789abcdef0",
                            DurationSeconds=21600)
        c = r["Credentials"]
        self.instance_creds = {"AccessKeyId": c["AccessKeyId"],
                               "SecretAccessKey": c["SecretAccessKey"],
                               "Token": c["SessionToken"],
                               "Expiration": c["Expiration"]}
        self.instance_arn = r["AssumedRoleUser"]["Arn"]
        # from here on every request is checked (SigV4 + IAM policies + trust)
        self.set_auth("0")
        # make sure it is: a wrong secret must be refused
        from botocore.exceptions import ClientError

        try:
            self.client("sts", dict(self.base, SecretAccessKey="x" * 40)).get_caller_identity()
        except ClientError as e:
            if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
                raise RuntimeError(f"moto auth self-check: unexpected {e.response['Error']}")
        else:
            raise RuntimeError("moto auth is not enforced (wrong secret accepted)")

    # views on the proxy's log
    def mark(self):
        return self.proxy.mark()

    def requests(self, mark=0):
        return self.proxy.since(mark)

    def assume_role_requests(self, mark=0):
        return [r for r in self.proxy.since(mark) if r.action == "AssumeRole"]

    def secrets(self):
        """Secret strings that must never show up on stderr."""
        return [self.base["SecretAccessKey"], self.nobody["SecretAccessKey"],
                self.instance_creds["SecretAccessKey"], self.instance_creds["Token"]]


# --------------------------------------------------------------------------
# manual use: python3 tests/e2e/servers.py  (prints endpoints, Ctrl-C stops)

if __name__ == "__main__":
    stack = MotoStack().start()
    imds = ImdsServer(credentials=stack.instance_creds).start()
    fake = FakeSts(keys={stack.base["AccessKeyId"]: (stack.base["SecretAccessKey"], None)})
    fake.start()
    info = {
        "moto": stack.direct, "moto_via_recording_proxy": stack.endpoint,
        "base": stack.base, "roles": stack.roles, "bucket": stack.bucket,
        "external_id": stack.external_id, "imds": imds.url, "fake_sts": fake.url,
        "hint": "AWS_ENDPOINT_URL_STS=<moto_via_recording_proxy> "
                "AWS_EC2_METADATA_SERVICE_ENDPOINT=<imds>",
    }
    print(json.dumps(info, indent=2), flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        imds.stop()
        stack.stop()
