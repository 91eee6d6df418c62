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

Where the module is looked for (src/net-load.c): a candidate that is absent
or refused (a symbolic link, a file or a directory on its path owned by
another user or writable by others, a build-tree marker that is not ours)
is skipped for the next one; only when every candidate fails is it an error,
naming each. The tests build private layouts: a build tree as Meson leaves
it, and a prefix laid out as `meson install` lays it out (meson introspect).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import servers
from harness import Skip
from test_fake_sts import ROLE_B, _static_base, _sts

HEAVY = ("libcurl", "libxml2", "libcrypto")
HEAVY_RE = re.compile(r"^(libcurl|libxml2|libcrypto|libssl)(-[a-z]+)?\.so")
MODULE = "credproc-net.so"
MARKER = "credproc-net.build-tree"  # what meson writes next to the module in a build tree
ATTACKER = 65534

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


EXPORTS_LIST = Path(__file__).resolve().parents[2] / "src" / "exe-exports.list"
# What the toolchain puts in an executable's dynamic symbol table on its own:
# the linker's section-boundary symbols; copies of library data the
# executable references (copy relocations: stdout@GLIBC_2.2.5, optarg@...,
# versioned after their library); and, in a sanitizer build (.ci/run builds
# one with address,undefined), the sanitizer runtimes' own symbols
# (__asan_option_detect_stack_use_after_return, ...).
TOOLCHAIN_SYMS = {"_IO_stdin_used", "__bss_start", "_edata", "_end", "_init", "_fini",
                  "__data_start", "data_start", "__dso_handle"}
COPY_RELOC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*@+[A-Z][A-Za-z0-9_.]*$")
SANITIZER_RE = re.compile(r"^__(asan|ubsan|lsan|msan|tsan|hwasan|sanitizer)_")


def _nm(t, *args):
    if not shutil.which("nm"):
        raise Skip("nm (binutils) is not installed")
    out = subprocess.run(["nm", *args], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def _export_list():
    """The names in src/exe-exports.list (a --dynamic-list: { name; ... };)."""
    text = EXPORTS_LIST.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    body = re.fullmatch(r"\s*\{(.*)\}\s*;\s*", text, flags=re.S)
    assert body, f"{EXPORTS_LIST} is not one {{ ... }}; block"
    names = [n.strip() for n in body.group(1).split(";") if n.strip()]
    for n in names:
        assert re.fullmatch(r"cp_[a-z0-9_]+", n), f"{EXPORTS_LIST}: {n!r} is not one core function name"
    assert len(names) == len(set(names)), f"{EXPORTS_LIST} names a symbol twice"
    return set(names)


def test_lazy_load_executable_exports_exactly_the_list(t):
    """The executable's dynamic symbols are the list's, nothing more (a
    wildcard or a new export fails here), nothing less."""
    if _mode(t) != "module":
        raise Skip("net_module=false build: nothing is exported")
    want = _export_list()
    syms = _nm(t, "-D", "--defined-only", str(t.bin))
    toolchain = {s for s in syms
                 if s in TOOLCHAIN_SYMS or COPY_RELOC_RE.match(s) or SANITIZER_RE.match(s)}
    t.note(f"toolchain symbols left out: {sorted(toolchain)}")
    got = set(syms) - toolchain
    assert got == want, (f"exported but not listed: {sorted(got - want)}; "
                         f"listed but not exported: {sorted(want - got)}")


def test_lazy_load_module_calls_exactly_the_list(t):
    """The core functions the module calls (its undefined cp_* symbols) are
    the list: one it calls that is not listed would fail to resolve, one
    listed that it does not call is exported for nothing."""
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    mod = _build_module(t)
    want = _export_list()
    calls = {s for s in _nm(t, "-D", "--undefined-only", str(mod)) if s.startswith("cp_")}
    assert calls <= want, f"the module calls core functions the list lacks: {sorted(calls - want)}"
    assert calls == want, f"listed but never called by the module: {sorted(want - calls)}"
    defined = _nm(t, "-D", "--defined-only", str(mod))
    assert defined == ["cp_net_module_entry"], f"{mod} defines {defined}"


def _build_tree_at(d, mod, mode=0o644, owner=None):
    """The parts of a build tree the loader looks at, under d (the directory
    above the executable's): meson-private/, src/credproc-net.so (a copy of
    mod, or mod's bytes as given) and the marker meson writes, src/MARKER.
    owner: a uid to give them all (another user's tree)."""
    (d / "meson-private").mkdir(mode=0o755)
    (d / "src").mkdir(mode=0o755)
    m = d / "src" / MODULE
    if isinstance(mod, bytes):
        m.write_bytes(mod)
    else:
        shutil.copy2(mod, m)
    m.chmod(mode)
    marker = d / "src" / MARKER
    marker.write_text("an aws-credproc build tree\n")
    marker.chmod(0o644)
    if owner is not None:
        for p in (d / "meson-private", d / "src", m, marker):
            os.chown(p, owner, owner)
    return m


def _copy_tree(t, mod, mode=0o644):
    """A private build-tree layout: <d>/cmd/aws-credproc, <d>/src/credproc-net.so,
    <d>/src/credproc-net.build-tree, <d>/meson-private/."""
    d = t.tmp / "tree"
    (d / "cmd").mkdir(parents=True)
    d.chmod(0o755)
    exe = d / "cmd" / "aws-credproc"
    shutil.copy2(t.bin, exe)
    return exe, _build_tree_at(d, mod, mode)


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


# ------------------------------------------------------------------ candidates

def _install_layout(t):
    """(executable, module, configured module path): where `meson install`
    puts them, the first two relative to the prefix; from meson introspect
    of the build tree t.bin comes from, or skip."""
    build = Path(t.bin).resolve().parent.parent
    if not (build / "meson-private").is_dir() or not shutil.which("meson"):
        raise Skip(f"{t.bin} is not in a Meson build tree (or meson is missing)")

    def introspect(what):
        out = subprocess.run(["meson", "introspect", what, str(build)], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise Skip(f"meson introspect {what} failed: {out.stderr.strip()}")
        return json.loads(out.stdout)

    installed = introspect("--installed")
    prefix = [o["value"] for o in introspect("--buildoptions") if o["name"] == "prefix"][0]
    exe = installed.get(str(build / "cmd" / "aws-credproc"))
    mod = installed.get(str(build / "src" / MODULE))
    if not exe or not mod:
        raise Skip(f"the build installs no executable or module: {installed}")
    if not (exe.startswith(prefix + "/") and mod.startswith(prefix + "/")):
        raise Skip(f"bindir or libdir outside the prefix {prefix}: no relative candidate")
    return exe[len(prefix) + 1:], mod[len(prefix) + 1:], mod


def _prefix(t, mode=0o755):
    """A prefix laid out as `meson install` lays it out, every directory 0755
    and owned by root, the prefix itself `mode`. Returns (prefix, executable,
    installed module, configured module path)."""
    if _mode(t) != "module":
        raise Skip("net_module=false build: no module")
    if os.geteuid() != 0:
        raise Skip("needs root to lay out files of another user")
    exe_rel, mod_rel, configured = _install_layout(t)
    p = t.tmp / "prefix"
    exe, mod = p / exe_rel, p / mod_rel
    for f, src in ((exe, t.bin), (mod, _build_module(t))):
        f.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, f)
        f.chmod(0o755)
        for d in f.relative_to(p).parents:
            (p / d).chmod(0o755)
    p.chmod(mode)
    return p, exe, mod, configured


def _sts_run(t, exe):
    """A role profile against FakeSts, with --debug: the module must load."""
    sts = _sts(t)
    t.config(_static_base() + f"[profile b]\nrole_arn = {ROLE_B}\nsource_profile = base\n"
             f"region = us-east-1\n")
    return t.run([], cmd=[str(exe), "--profile", "b", "--no-cache", "--debug"],
                 AWS_ENDPOINT_URL_STS=sts.url)


def _loaded_from(res, mod):
    line = f"loading the network module {mod}\n"
    assert line in res.stderr, f"the module was not loaded from {mod}: {res.stderr!r}"


def test_lazy_load_attacker_build_tree_in_writable_prefix_skipped(t):
    """A world-writable prefix (sticky, as /tmp): another user (uid 65534)
    gives it a build tree of their own with a bogus module. Root's call
    skips it and loads the installed module."""
    p, exe, mod, _ = _prefix(t, mode=0o1777)
    bogus = _build_tree_at(exe.parent.parent, b"\x7fELF not a module", owner=ATTACKER)
    res = _sts_run(t, exe)
    t.ok(res)
    _loaded_from(res, mod)
    assert str(bogus.parent) in res.stderr and "65534" in res.stderr, \
        f"the skipped candidate is not traced with --debug: {res.stderr!r}"


def test_lazy_load_symlinked_module_skipped(t):
    """A module that is a symbolic link (to a good module) is refused
    (O_NOFOLLOW) and the next candidate is loaded."""
    p, exe, mod, _ = _prefix(t)
    link = _build_tree_at(exe.parent.parent, b"")
    link.unlink()
    link.symlink_to(mod)
    res = _sts_run(t, exe)
    t.ok(res)
    _loaded_from(res, mod)
    assert "symbolic link" in res.stderr, res.stderr


def test_lazy_load_module_in_writable_directory_skipped(t):
    """A good module in a group-writable directory is refused and the next
    candidate is loaded."""
    p, exe, mod, _ = _prefix(t)
    m = _build_tree_at(exe.parent.parent, _build_module(t))
    m.parent.chmod(0o775)
    res = _sts_run(t, exe)
    t.ok(res)
    _loaded_from(res, mod)
    assert "writable" in res.stderr, res.stderr


def test_lazy_load_writable_prefix_refused(t):
    """A world-writable prefix without the sticky bit: anyone may rename the
    module's directory away and put another there; nothing below it is
    loaded."""
    p, exe, mod, _ = _prefix(t, mode=0o777)
    res = _sts_run(t, exe)
    t.fail(res, 1, "cannot load the network module", str(mod), f"'{p}'", "writable")


def test_lazy_load_every_candidate_refused_named(t):
    """When no candidate can be used, the error names each with its reason."""
    p, exe, mod, configured = _prefix(t)
    os.chown(mod, ATTACKER, ATTACKER)
    bt = _build_tree_at(exe.parent.parent, _build_module(t), mode=0o664)
    res = _sts_run(t, exe)
    last = t.fail(res, 1, "cannot load the network module", str(bt), "writable", str(mod),
                  "65534")
    if not os.path.exists(configured):
        assert configured in last, f"the configured path {configured} is not named: {last}"
