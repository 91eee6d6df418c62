"""`explain` (the cache issue): not collected until the command exists."""
import re

import servers
from harness import approx, default_session_name, local_user, parse_exp
from test_static_and_roles import _base_profile



def test_explain_shows_no_secret(t):
    m = t.moto
    t.config(_base_profile(m) +
             f"[profile reader]\nrole_arn = {m.roles['reader']}\nsource_profile = base\n")
    res = t.run(["explain", "--profile", "reader"], AWS_ENDPOINT_URL_STS=m.endpoint)
    assert res.rc == 0, f"explain exit {res.rc}: {res.last_err}"
    both = res.stdout + res.stderr
    assert m.base["SecretAccessKey"] not in both, "explain printed a secret"
    assert "reader" in both and "base" in both, "explain does not show the chain"
