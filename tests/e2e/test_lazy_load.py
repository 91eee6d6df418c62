"""Speed: libcurl, libxml2 and libcrypto are loaded only when the network is
needed (DESIGN.md "Speed").

Built with net_module=true (the default), the executable does not link them;
the network side is the module credproc-net.so, dlopened on the first network
call. Built with net_module=false, everything is one ordinary binary. The
build is recognised from the binary's NEEDED entries; when meson runs this
test it also says which build to expect ($CREDPROC_TEST_NET_MODULE), so that
a build that silently links everything fails.

What a run loaded is read from the dynamic loader's own trace
(LD_DEBUG=files, written to LD_DEBUG_OUTPUT), which needs no ptrace.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import servers
from harness import Skip

HEAVY = ("libcurl", "libxml2", "libcrypto")
HEAVY_RE = re.compile(r"^(libcurl|libxml2|libcrypto|libssl)(-[a-z]+)?\.so")
MODULE = "credproc-net.so"

STATIC = ("[profile static]\naws_access_key_id = AKIASTATIC0000000042\n"
          "aws_secret_access_key = static-secret-0042\n")
ROLE = STATIC + ("[profile role]\nrole_arn = arn:aws:iam::123456789012:role/lazy\n"
                 "source_profile = static\n")


def _readelf_needed(path):
    if not shutil.which("readelf"):
        raise Skip("readelf (binutils) is not installed")
    out = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def _family(name):
    m = HEAVY_RE.match(os.path.basename(name))
    return m.group(1) if m else None


def _mode(t):
    """'module' or 'linked', checked against what meson says was configured."""
    needed = _readelf_needed(t.bin)
    linked = {_family(n) for n in needed} - {None}
    mode = "linked" if linked else "module"
    t.note(f"NEEDED: {', '.join(needed)}")
    want = os.environ.get("CREDPROC_TEST_NET_MODULE")
    if want:
        assert want in ("true", "false"), f"CREDPROC_TEST_NET_MODULE={want!r}"
        expected = "module" if want == "true" else "linked"
        assert mode == expected, \
            f"built with net_module={want}, but the binary links {sorted(linked) or 'none'} " \
            f"of the network libraries"
    return mode


def _loaded(t, args, cmd=None, **env):
    """Runs the binary under LD_DEBUG=files; returns (result, loaded objects)."""
    d = t.tmp / f"ld-{len(t.runs)}"
    d.mkdir()
    res = t.run(args, cmd=cmd, LD_DEBUG="files", LD_DEBUG_OUTPUT=str(d / "trace"), **env)
    loaded = []
    for f in sorted(d.iterdir()):
        for line in f.read_text(errors="replace").splitlines():
            m = re.search(r"\bfile=(\S+)\s+\[\d+\];\s+(needed|dynamically loaded) by", line)
            if m and m.group(1) not in loaded:
                loaded.append(m.group(1))
    assert loaded, "LD_DEBUG=files produced no trace (is the loader ignoring it?)"
    t.note("loaded: " + ", ".join(loaded))
    return res, loaded


def _families(loaded):
    return {_family(n) for n in loaded} - {None}


def _role_run(t, cmd=None):
    t.config(ROLE)
    return _loaded(t, ["--profile", "role"], cmd=cmd, AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL_STS=servers.closed_port_url())


def _build_module(t):
    """The module next to a build-tree binary, or skip."""
    p = Path(t.bin).resolve().parent.parent / "src" / MODULE
    if not p.is_file():
        raise Skip(f"no {MODULE} in the build tree of {t.bin}")
    return p


# ------------------------------------------------------------------ the proof

def test_lazy_load_needed_entries(t):
    """net_module=true: not one network library is NEEDED by the executable;
    false: all of them are."""
    needed = _readelf_needed(t.bin)
    fams = {_family(n) for n in needed} - {None}
    if _mode(t) == "module":
        assert not fams, f"the executable links {sorted(fams)}: {needed}"
    else:
        for lib in HEAVY:
            assert lib in fams, f"net_module=false, but {lib} is not NEEDED: {needed}"


def test_lazy_load_static_profile_loads_no_network_libs(t):
    """No network needed (static keys, the stand-in for a cache hit)."""
    mode = _mode(t)
    t.config(STATIC)
    res, loaded = _loaded(t, ["--profile", "static"])
    t.ok(res, static=True)
    fams = _families(loaded)
    if mode == "module":
        assert not fams, f"a run without network loaded {sorted(fams)}"
        assert not any(MODULE in n or "/proc/self/fd/" in n for n in loaded), \
            f"a run without network loaded the network module: {loaded}"
    else:
        assert fams >= set(HEAVY), f"linked build, but only {sorted(fams)} loaded"


def test_lazy_load_role_profile_loads_them(t):
    """Network needed (AssumeRole against a closed loopback port): the module
    and, through it, libcurl, libxml2 and libcrypto are loaded."""
    mode = _mode(t)
    res, loaded = _role_run(t)
    t.fail(res, 5)
    assert "network module" not in res.stderr, res.last_err
    fams = _families(loaded)
    assert fams >= set(HEAVY), f"only {sorted(fams)} of {HEAVY} were loaded"
    if mode == "module":
        assert any(MODULE in n or "/proc/self/fd/" in n for n in loaded), \
            f"the network module is not among the loaded objects: {loaded}"


# ------------------------------------------------------------------ the module

def test_lazy_load_module_exports_one_symbol(t):
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    mod = _build_module(t)
    if not shutil.which("nm"):
        raise Skip("nm (binutils) is not installed")
    out = subprocess.run(["nm", "-D", "--defined-only", str(mod)], capture_output=True,
                         text=True, check=True).stdout
    syms = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert syms == ["cp_net_module_entry"], f"{mod} exports {syms}"


def _copy_tree(t, mod, mode=0o644):
    """A private build-tree layout: <d>/cmd/aws-credproc, <d>/src/credproc-net.so,
    <d>/meson-private/."""
    d = t.tmp / "tree"
    (d / "cmd").mkdir(parents=True)
    (d / "src").mkdir()
    (d / "meson-private").mkdir()
    exe = d / "cmd" / "aws-credproc"
    shutil.copy2(t.bin, exe)
    m = d / "src" / MODULE
    shutil.copy2(mod, m)
    m.chmod(mode)
    return exe, m


def test_lazy_load_module_found_next_to_a_moved_binary(t):
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    exe, m = _copy_tree(t, _build_module(t))
    res, loaded = _role_run(t, cmd=[str(exe), "--profile", "role"])
    t.fail(res, 5)
    assert _families(loaded) >= set(HEAVY), loaded


def test_lazy_load_refuses_writable_module(t):
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    exe, m = _copy_tree(t, _build_module(t), mode=0o664)
    res, loaded = _role_run(t, cmd=[str(exe), "--profile", "role"])
    t.fail(res, 1, "cannot load the network module", str(m), "writable")
    assert not _families(loaded), f"loaded {sorted(_families(loaded))} anyway"
    # a static profile needs no module, so it still works
    t.config(STATIC)
    t.ok(t.run(["--profile", "static"], cmd=[str(exe), "--profile", "static"]), static=True)


def test_lazy_load_refuses_module_of_another_user(t):
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    if os.geteuid() != 0:
        raise Skip("needs root to give the module to another user")
    exe, m = _copy_tree(t, _build_module(t))
    os.chown(m, 65534, 65534)
    res, _ = _role_run(t, cmd=[str(exe), "--profile", "role"])
    t.fail(res, 1, "cannot load the network module", str(m), "65534")


def test_lazy_load_no_environment_override(t):
    """Without a module where the binary looks, pointing the environment at
    one changes nothing: a clear error, not code loaded from that path."""
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    mod = _build_module(t)
    d = t.tmp / "bare" / "bin"
    d.mkdir(parents=True)
    exe = d / "aws-credproc"
    shutil.copy2(t.bin, exe)
    # what the binary would try last: the configured install path
    probe = subprocess.run(["strings", str(exe)], capture_output=True, text=True) \
        if shutil.which("strings") else None
    if probe and any(line.endswith("/aws-credproc/" + MODULE) and line.startswith("/")
                     and os.path.exists(line) for line in probe.stdout.splitlines()):
        raise Skip("a module is installed at the configured path on this machine")
    t.config(ROLE)
    res = t.run([], cmd=[str(exe), "--profile", "role"], AWS_REGION="us-east-1",
                AWS_ENDPOINT_URL_STS=servers.closed_port_url(),
                AWS_CREDPROC_MODULE=str(mod), AWS_CREDPROC_NET_MODULE=str(mod),
                LD_LIBRARY_PATH=str(mod.parent))
    t.fail(res, 1, "cannot load the network module")
