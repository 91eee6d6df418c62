"""Clock skew: an STS that, like the real one, refuses signatures whose
X-Amz-Date is more than 5 minutes from its own clock, and says its time in
the Date header. The binary must retry once with STS's time and say how far
off the local clock is. The skew lives in the server, never in the binary."""

import datetime as _dt
import email.utils
import re

import servers
from harness import approx, parse_exp

_real_utcnow = servers.utcnow

BASE_KEY = ("AKIAFAKESKEW00000001", "fake-skew-secret-0001")
ROLE = "arn:aws:iam::222222222222:role/skewed"


class SkewedSts(servers.FakeSts):
    """FakeSts whose clock is `skew` seconds off the machine's."""

    def __init__(self, skew=0, refuse_always=False, **kw):
        super().__init__(**kw)
        self.skew = skew
        self.refuse_always = refuse_always

    def now(self):
        return _real_utcnow() + _dt.timedelta(seconds=self.skew)

    def handle(self, req):
        now = self.now()
        date_hdr = ("Date", email.utils.format_datetime(now.astimezone(_dt.timezone.utc),
                                                        usegmt=True))
        amz = req.header("X-Amz-Date")
        try:
            signed = _dt.datetime.strptime(amz or "", "%Y%m%dT%H%M%SZ").replace(
                tzinfo=_dt.timezone.utc)
        except ValueError:
            signed = None
        if signed is None or self.refuse_always or abs((signed - now).total_seconds()) > 300:
            limit = (now - _dt.timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
            status, headers, body = self._error(
                403, "SignatureDoesNotMatch",
                f"Signature expired: {amz} is now earlier than {limit} "
                f"({now.strftime('%Y%m%dT%H%M%SZ')} - 5 min.)")
            return status, headers + [date_hdr], body
        # Everything else (signature check, Expiration) runs on the server's clock.
        servers.utcnow = self.now
        try:
            status, headers, body = super().handle(req)
        finally:
            servers.utcnow = _real_utcnow
        return status, list(headers) + [date_hdr], body


def _setup(t, **kw):
    sts = SkewedSts(keys={BASE_KEY[0]: (BASE_KEY[1], None)}, **kw).start()
    t._servers.append(sts)
    t.secret(BASE_KEY[1])
    t.config(f"[profile base]\naws_access_key_id = {BASE_KEY[0]}\n"
             f"aws_secret_access_key = {BASE_KEY[1]}\n"
             f"[profile r]\nrole_arn = {ROLE}\nsource_profile = base\nregion = us-east-1\n")
    return sts


def test_local_clock_behind_is_corrected(t):
    sts = _setup(t, skew=3600)  # STS is an hour ahead: our clock is behind
    res = t.run(["--profile", "r", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(res)
    ars = sts.assume_role_requests()
    assert [r.status for r in ars] == [403, 200], [r.status for r in ars]
    assert re.search(r"clock.*about (59|60|61) min.*behind", res.stderr), \
        f"warning does not say how far off the clock is: {res.stderr!r}"


def test_local_clock_ahead_is_corrected(t):
    sts = _setup(t, skew=-900)  # our clock is 15 minutes ahead
    res = t.run(["--profile", "r", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url)
    t.ok(res)
    assert [r.status for r in sts.assume_role_requests()] == [403, 200]
    assert re.search(r"clock.*about (14|15|16) min.*ahead", res.stderr), res.stderr


def test_small_skew_is_not_retried(t):
    sts = _setup(t, skew=60, refuse_always=True)  # refused, but the clocks agree
    res = t.run(["--profile", "r", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, any_of=["SignatureDoesNotMatch"])
    assert len(sts.assume_role_requests()) == 1, "retried although the clocks agree"


def test_skew_retry_happens_once(t):
    sts = _setup(t, skew=7200, refuse_always=True)
    res = t.run(["--profile", "r", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 4, any_of=["clock"])
    assert len(sts.assume_role_requests()) == 2, \
        f"{len(sts.assume_role_requests())} attempts, expected exactly one retry"
    assert re.search(r"about (119|120|121) min", res.last_err), res.last_err
