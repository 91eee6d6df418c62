"""HTTPS to STS (AWS_CA_BUNDLE / ca_bundle), proxies, and the rule that the
metadata endpoints are never reached through a proxy."""

from test_fake_sts import BASE_KEY, ROLE_B, _static_base
from test_imds import FAKE_IMDS, _fake_imds_creds


def _tls_sts(t):
    pki = t.pki()
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None),
                           FAKE_IMDS["AccessKeyId"]: (FAKE_IMDS["SecretAccessKey"],
                                                      FAKE_IMDS["Token"])},
                     tls=(pki["cert"], pki["key"]))
    assert sts.url.startswith("https://")
    return sts, pki


def _cfg(t, extra=""):
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             + extra)


def test_https_sts_with_AWS_CA_BUNDLE(t):
    sts, pki = _tls_sts(t)
    _cfg(t)
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url,
                     AWS_CA_BUNDLE=pki["ca"]))
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_https_sts_with_profile_ca_bundle(t):
    sts, pki = _tls_sts(t)
    _cfg(t, f"ca_bundle = {pki['ca']}\n")
    doc = t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url))
    assert doc["AccessKeyId"] == sts.issued[-1]["AccessKeyId"]


def test_https_sts_untrusted_certificate(t):
    sts, pki = _tls_sts(t)
    _cfg(t)
    res = t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url)
    t.fail(res, 5, any_of=["certificate", "TLS", "SSL", "verify"])
    assert not sts.assume_role_requests(), "request sent over an unverified connection"


def test_sts_through_http_proxy(t):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    proxy = t.forward_proxy()
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, http_proxy=proxy.url))
    assert ("POST", sts.url + "/") in proxy.targets(), proxy.targets()
    assert len(sts.assume_role_requests()) == 1


def test_https_sts_through_connect_proxy(t):
    sts, pki = _tls_sts(t)
    proxy = t.forward_proxy()
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, AWS_CA_BUNDLE=pki["ca"],
               HTTPS_PROXY=proxy.url))
    assert ("CONNECT", f"127.0.0.1:{sts.port}") in proxy.targets(), proxy.targets()


def test_no_proxy_honoured(t):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    proxy = t.forward_proxy()
    _cfg(t)
    t.ok(t.run(["--profile", "b"], AWS_ENDPOINT_URL_STS=sts.url, http_proxy=proxy.url,
               no_proxy="127.0.0.1"))
    assert not proxy.targets(), proxy.targets()


def test_imds_never_through_proxy(t):
    imds = t.imds(credentials=_fake_imds_creds())
    sts = t.fake_sts(keys={FAKE_IMDS["AccessKeyId"]: (FAKE_IMDS["SecretAccessKey"],
                                                       FAKE_IMDS["Token"])})
    proxy = t.forward_proxy()
    t.config(f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n"
             f"region = us-east-1\n")
    t.ok(t.run(["--profile", "ec2"], AWS_ENDPOINT_URL_STS=sts.url,
               AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url, http_proxy=proxy.url,
               HTTPS_PROXY=proxy.url, ALL_PROXY=proxy.url, all_proxy=proxy.url))
    via_proxy = [x for x in proxy.targets() if f":{imds.port}" in x[1]]
    assert not via_proxy, f"IMDS reached through the proxy: {via_proxy}"
    assert imds.since(), "IMDS not contacted directly"
    assert any(f":{sts.port}" in x[1] for x in proxy.targets()), \
        f"STS did not go through the proxy: {proxy.targets()}"


def _closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_dead_proxy_is_named(t):
    # a proxy on a closed port: the error names the proxy (no userinfo) and
    # the variable it came from, not the endpoint as refusing
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    _cfg(t)
    port = _closed_port()
    res = t.run(["--profile", "b", "--no-cache", "--timeout", "5"],
                AWS_ENDPOINT_URL_STS=sts.url, http_proxy=f"http://user:pw@127.0.0.1:{port}")
    last = t.fail(res, 5, f"cannot connect to the proxy 'http://127.0.0.1:{port}/' "
                          f"(from http_proxy) for '{sts.url}")
    assert "user" not in res.stderr and ":pw@" not in res.stderr, res.stderr
    # HTTP_PROXY (upper case) is never used for http: (curl's rule): the
    # endpoint itself answers
    t.ok(t.run(["--profile", "b", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url,
               HTTP_PROXY=f"http://127.0.0.1:{port}"))
    # no_proxy exempts the host: no proxy named
    res = t.run(["--profile", "b", "--no-cache"], AWS_ENDPOINT_URL_STS=sts.url,
                http_proxy=f"http://127.0.0.1:{port}", no_proxy="127.0.0.1")
    t.ok(res)


def test_unresolvable_proxy_is_named(t):
    sts = t.fake_sts(keys={BASE_KEY[0]: (BASE_KEY[1], None)})
    _cfg(t)
    res = t.run(["--profile", "b", "--no-cache", "--timeout", "5"],
                AWS_ENDPOINT_URL_STS=sts.url, ALL_PROXY="http://no-such-proxy.invalid:3128")
    t.fail(res, 5, "cannot resolve the proxy 'http://no-such-proxy.invalid:3128/' "
                   "(from ALL_PROXY)")
