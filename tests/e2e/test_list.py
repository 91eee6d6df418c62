"""`aws-credproc list`: every profile of the shared files, one line each,
sorted by name, with its source, the role it assumes and the time its cached
credentials have left; a profile that does not resolve is listed with its
error (exit 0). Never a secret, never a request, never the network module,
never a cache directory created."""

import re
import time

import servers
from test_fake_sts import BASE_KEY, ROLE_A, ROLE_B, _static_base, _sts
from test_lazy_load import MODULE, _families, _loaded, _mode

ROLE_C = "arn:aws:iam::444444444444:role/other"

EVERY_SOURCE = _static_base() + f"""\
[profile reports]
role_arn = {ROLE_B}
source_profile = base
[profile chained]
role_arn = {ROLE_A}
source_profile = reports
[profile self]
role_arn = {ROLE_C}
source_profile = self
aws_access_key_id = AKIASELF000000000001
aws_secret_access_key = self-secret-value-0001
[profile ec2]
role_arn = {ROLE_B}
credential_source = Ec2InstanceMetadata
[profile env]
role_arn = {ROLE_B}
credential_source = Environment
[profile ecs]
role_arn = {ROLE_B}
credential_source = EcsContainer
[profile proc]
credential_process = /bin/false
[profile wi]
role_arn = {ROLE_C}
web_identity_token_file = /nonexistent/token
[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = Admin
[profile signin]
login_session = arn:aws:iam::111122223333:user/me
[profile ra]
credproc_rolesanywhere_certificate = /nonexistent/cert.pem
credproc_rolesanywhere_private_key = /nonexistent/key.pem
credproc_rolesanywhere_trust_anchor_arn = arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/a
credproc_rolesanywhere_profile_arn = arn:aws:rolesanywhere:us-east-1:111122223333:profile/p
credproc_rolesanywhere_role_arn = {ROLE_C}
[profile broken]
role_arn = {ROLE_B}
source_profile = nope
"""

# name -> (source, role)
EXPECTED = {
    "base": ("static keys", "-"),
    "reports": ("role via base", ROLE_B),
    "chained": ("role via reports", ROLE_A),
    "self": ("role via static keys", ROLE_C),
    "ec2": ("role via IMDS", ROLE_B),
    "env": ("role via Environment", ROLE_B),
    "ecs": ("role via container", ROLE_B),
    "proc": ("process", "-"),
    "wi": ("web identity", ROLE_C),
    "sso": ("SSO", "-"),
    "signin": ("console sign-in", "-"),
    "ra": ("Roles Anywhere", ROLE_C),
}


def _rows(res):
    """{name: [columns]} from the table (columns split on 2+ spaces)."""
    lines = res.stdout.splitlines()
    assert lines and lines[0].split() == ["PROFILE", "SOURCE", "CACHE", "ROLE"], res.stdout
    rows = {}
    for line in lines[1:]:
        cols = re.split(r"\s{2,}", line.rstrip())
        rows[cols[0]] = cols[1:]
    names = [line.split()[0] for line in lines[1:]]
    assert names == sorted(names), f"not sorted: {names}"
    return rows


def _list_ok(t, *args, **env):
    res = t.run(["list", *args], **env)
    assert res.rc == 0, f"list exit {res.rc}: {res.last_err!r}"
    assert res.stderr == "", f"list wrote to stderr: {res.stderr!r}"
    return res


def test_list_every_source(t):
    t.config(EVERY_SOURCE)
    res = _list_ok(t, AWS_ENDPOINT_URL_STS=servers.closed_port_url())
    rows = _rows(res)
    for name, (source, role) in EXPECTED.items():
        assert name in rows, f"'{name}' is not listed:\n{res.stdout}"
        assert rows[name][0] == source, f"{name}: {rows[name]} (want {source})"
        assert rows[name][-1] == role, f"{name}: {rows[name]} (want {role})"
    for name in ("base", "proc"):
        assert rows[name][1] == "-", f"{name} is never cached: {rows[name]}"
    for name in ("reports", "ec2", "wi", "sso", "ra"):
        assert rows[name][1] == "none", f"{name}: {rows[name]}"
    assert rows["broken"][0].startswith("error: ") and "nope" in rows["broken"][0], rows["broken"]
    for secret in (BASE_KEY[1], "self-secret-value-0001", BASE_KEY[0]):
        assert secret not in res.stdout, "list printed a key"
    assert not (t.cache / "aws-credproc").exists(), "list created the cache directory"
    # 80 columns: everything before ROLE is compact; only a long ARN runs past.
    head = res.stdout.splitlines()[0]
    assert head.index("ROLE") <= 45, f"ROLE starts at column {head.index('ROLE')}:\n{res.stdout}"


def test_list_profiles_of_the_credentials_file(t):
    t.config(f"[profile reports]\nrole_arn = {ROLE_B}\nsource_profile = keys\n")
    t.credentials(f"[keys]\naws_access_key_id = {BASE_KEY[0]}\n"
                  f"aws_secret_access_key = {BASE_KEY[1]}\n")
    rows = _rows(_list_ok(t))
    assert rows["keys"] == ["static keys", "-", "-"], rows
    assert rows["reports"][0] == "role via keys", rows


def test_list_cached_uncached_expired(t):
    """A cache hit shows its time left, an entry past its expiration
    'expired', a profile never fetched 'none'; list makes no request."""
    long = _sts(t)
    short = _sts(t, lifetime=2)
    due = _sts(t, lifetime=6)
    t.config(_static_base() +
             f"[profile long]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"endpoint_url = {long.url}\nregion = us-east-1\n"
             f"[profile short]\nrole_arn = {ROLE_A}\nsource_profile = base\n"
             f"endpoint_url = {short.url}\nregion = us-east-1\n"
             f"[profile due]\nrole_arn = {ROLE_C}\nsource_profile = base\n"
             f"endpoint_url = {due.url}\nregion = us-east-1\n"
             f"[profile never]\nrole_arn = {ROLE_C}\nsource_profile = base\n"
             f"endpoint_url = {long.url}\nregion = us-east-1\n")
    t.ok(t.run(["--profile", "long"]))
    t.ok(t.run(["--profile", "short"]))
    t.ok(t.run(["--profile", "due"]))
    n_long, n_short = len(long.assume_role_requests()), len(short.assume_role_requests())
    time.sleep(4)
    rows = _rows(_list_ok(t))
    assert rows["long"][1] in ("59 min left", "60 min left"), rows["long"]
    assert rows["short"][1] == "expired", rows["short"]
    assert rows["never"][1] == "none", rows["never"]
    assert len(long.assume_role_requests()) == n_long and \
        len(short.assume_role_requests()) == n_short, "list called STS"
    # Inside the refresh margin (half of 6 s) the next call renews them.
    assert re.fullmatch(r"[12] s left \(renew\)", rows["due"][1]), rows["due"]


def test_list_loads_no_network_module(t):
    mode = _mode(t)
    t.config(EVERY_SOURCE)
    res, loaded = _loaded(t, ["list"])
    assert res.rc == 0, res.last_err
    if mode == "module":
        fams = _families(loaded)
        assert not fams, f"list loaded {sorted(fams)}"
        assert not any(MODULE in n or "/proc/self/fd/" in n for n in loaded), \
            f"list loaded the network module: {loaded}"


def test_list_takes_no_profile(t):
    t.config(_static_base())
    t.fail(t.run(["list", "--profile", "base"]), 2, "takes no --profile")


def test_list_empty_files(t):
    t.config("")
    res = _list_ok(t)
    assert res.stdout == "", res.stdout


def test_list_1000_profiles_is_fast(t):
    """1000 profiles (static keys and roles on them), half of the roles
    cached: the whole list in well under a second."""
    sts = _sts(t)
    parts = [_static_base(), f"[default]\nregion = us-east-1\nendpoint_url = {sts.url}\n"]
    for i in range(499):
        parts.append(f"[profile r{i:04d}]\nrole_arn = arn:aws:iam::222222222222:role/r{i}\n"
                     f"source_profile = base\nregion = us-east-1\nendpoint_url = {sts.url}\n")
    for i in range(499):
        parts.append(f"[profile k{i:04d}]\naws_access_key_id = AKIAK{i:015d}\n"
                     f"aws_secret_access_key = secret-{i}\n")
    t.config("".join(parts))
    for i in range(0, 20):
        t.ok(t.run(["--profile", f"r{i:04d}"]))
    best = None
    for _ in range(3):
        res = _list_ok(t)
        best = res.elapsed if best is None else min(best, res.elapsed)
    rows = _rows(res)
    assert len(rows) == 1000, len(rows)
    assert rows["r0000"][1] == "59 min left" or rows["r0000"][1] == "60 min left", rows["r0000"]
    assert rows["r0100"][1] == "none", rows["r0100"]
    t.note(f"list of 1000 profiles: {best * 1000:.1f} ms (best of 3)", show=True)
    assert best < 1.0, f"list of 1000 profiles took {best:.2f} s"


def test_list_json(t):
    """--json: the same rows as a JSON array; refused with other commands."""
    sts = _sts(t)
    t.config(EVERY_SOURCE + f"[profile cached]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"endpoint_url = {sts.url}\nregion = us-east-1\n")
    t.ok(t.run(["--profile", "cached"]))
    res = _list_ok(t, "--json")
    rows = {o["Profile"]: o for o in res.json()}
    table = _rows(_list_ok(t))
    assert list(rows) == sorted(table), (list(rows), sorted(table))
    for name, (source, role) in EXPECTED.items():
        assert rows[name]["Source"] == source, rows[name]
        assert rows[name]["Role"] == (None if role == "-" else role), rows[name]
    assert rows["base"]["Cache"] == "never" and rows["reports"]["Cache"] == "none", rows
    c = rows["cached"]
    assert c["Cache"] == "valid" and 3500 <= c["SecondsLeft"] <= 3600, c
    assert c["Expiration"].endswith("Z"), c
    assert set(rows["broken"]) == {"Profile", "Error"} and "nope" in rows["broken"]["Error"]
    assert BASE_KEY[1] not in res.stdout and "self-secret-value-0001" not in res.stdout
    t.fail(t.run(["explain", "--json"]), 2, "--json")
    t.config("")
    assert _list_ok(t, "--json").json() == []
