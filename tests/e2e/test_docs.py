"""One list of options and sources: --help, the man page, the README options
table and the bash, zsh and fish completions name the same options and the
same credential_source values, and those are exactly what the binary accepts;
the commands of cmd/cli.c are those of all these places too.

The options come from the binary itself (its --help) and from the option
table of cmd/cli.c, which must agree; every other place is checked against
them. The credential_source values come from the binary: its refusal of an
unknown value lists the accepted ones, and each of them is then tried.
The environment variables are those named in src/ and cmd/ (string
literals), less the ones only written (`env` output).

The man page is checked as rendered (scdoc, then mandoc -T utf8): every
option is an entry of its own in OPTIONS, every environment variable is
named on an entry heading line in ENVIRONMENT (not buried in another
entry's text), every credential_source value is an entry of its own under
`credential_source`, and every source kind has an entry. No sentence of the
man page, --help, the README or the completions that names an accepted
credential_source value says it does not work ("unsupported", "not
implemented", "planned", ...).

scdoc, mandoc, bash and fish are installed when missing (root, apt-get);
without them the test skips, and under CI=true that is a failure."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import netns
from harness import run_clean

ROOT = Path(__file__).resolve().parent.parent.parent
CLI_C = ROOT / "cmd" / "cli.c"
MAN_SCD = ROOT / "doc" / "aws-credproc.1.scd"
README = ROOT / "README.md"
COMP = ROOT / "contrib" / "completions"
BASH_COMP = COMP / "aws-credproc"
ZSH_COMP = COMP / "_aws-credproc"
FISH_COMP = COMP / "aws-credproc.fish"

COMMANDS = {"env", "explain", "cache", "list", "exec"}
ROLE = "arn:aws:iam::123456789012:role/docs"

# Environment variable names in the C sources: the AWS ones, ours, and the
# few general ones we read.
ENV_LITERAL_RE = re.compile(
    r'"((?:AWS|XDG)_[A-Z0-9_]+|HOME|USER|(?:HTTPS?|ALL|NO)_PROXY|(?:https?|all|no)_proxy)"')
# Names in the sources that are written, never read: `env` prints them.
WRITTEN_ONLY = {"AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID"}

# Every kind of source, by the config key(s) that make it (each must be an
# entry heading of the man page, and named in the README's list of sources).
SOURCE_KINDS = {
    "static keys": ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"],
    "source profile": ["source_profile"],
    "credential source": ["credential_source"],
    "nested process": ["credential_process"],
    "web identity": ["web_identity_token_file"],
    "SSO session": ["sso_session", "sso_account_id", "sso_role_name"],
    "legacy SSO": ["sso_start_url", "sso_region"],
    "Roles Anywhere": ["credproc_rolesanywhere_certificate", "credproc_rolesanywhere_private_key"],
    "console sign-in": ["login_session"],
}


# ---------------------------------------------------------------- sources of truth

def _tool(name, pkg):
    path = netns._tool(name, pkg)
    if not path:
        netns.unavailable(f"{name} missing (apt-get install {pkg})")
    return path


def _table_options():
    """{long name: takes an argument} and {short letter: long name} from the
    getopt_long table of cmd/cli.c."""
    text = CLI_C.read_text()
    m = re.search(r"static const struct option opts\[\] = \{(.*?)\n\t\};", text, re.S)
    assert m, "cmd/cli.c: the option table (static const struct option opts[]) not found"
    longs, shorts = {}, {}
    for name, arg, val in re.findall(
            r'\{"([a-z][a-z0-9-]*)",\s*(no|required|optional)_argument,\s*NULL,\s*([^}]+?)\}',
            m.group(1)):
        assert arg != "optional", f"--{name}: optional arguments are not documented anywhere"
        longs["--" + name] = arg == "required"
        c = re.fullmatch(r"'(\w)'", val.strip())
        if c:
            shorts["-" + c.group(1)] = "--" + name
    assert len(longs) >= 10, f"cmd/cli.c: only {len(longs)} options parsed: {longs}"
    return longs, shorts


def _help(t):
    r = t.run(["--help"])
    assert r.rc == 0 and r.stderr == "", f"--help: exit {r.rc}, stderr {r.stderr!r}"
    return r.stdout


HELP_OPT_RE = re.compile(r"^  (?:(-[A-Za-z]), |    )(--[a-z][a-z0-9-]*)(?: (\S+))?(?: {2,}(.*))?$")


def _help_options(text):
    """[(short or None, long, argument placeholder or None, entry text)] of
    the Options: block of --help (an entry's text joins its continuation
    lines)."""
    m = re.search(r"^Options:\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    assert m, f"--help has no 'Options:' block:\n{text}"
    out = []
    for line in m.group(1).split("\n"):
        o = HELP_OPT_RE.match(line)
        if o:
            out.append([o.group(1), o.group(2), o.group(3), o.group(4) or ""])
        elif re.match(r"^ {10,}\S", line) and out:
            out[-1][3] += " " + line.strip()
        else:
            raise AssertionError(f"--help: a line of the Options: block that is neither an "
                                 f"option nor a continuation: {line!r}")
    return [tuple(x) for x in out]


def _accepted_sources(t):
    """The credential_source values the binary accepts: it lists them when
    it refuses an unknown one; each is then tried."""
    r = t.run(["--role-arn", ROLE, "--credential-source", "NoSuchSource", "explain"])
    assert r.rc == 2, f"an unknown credential_source must be refused with exit 2, got {r.rc}"
    m = re.search(r"\(expected ([^)]*)\)", r.last_err)
    assert m, f"the refusal does not list the accepted values: {r.last_err!r}"
    vals = re.split(r",\s*|\s+or\s+", m.group(1).strip())
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", v) for v in vals), vals
    for v in vals:
        a = t.run(["--role-arn", ROLE, "--credential-source", v, "explain"])
        assert a.rc == 0, f"--credential-source {v}: exit {a.rc} ({a.last_err!r}), but the " \
                          f"binary lists it as accepted"
        low = t.run(["--role-arn", ROLE, "--credential-source", v.lower(), "explain"])
        assert low.rc == 2, f"--credential-source {v.lower()} (wrong case) must be refused"
    return set(vals)


def _env_read():
    names = set()
    for d in (ROOT / "src", ROOT / "cmd"):
        for p in sorted(d.rglob("*.[ch]")):
            names |= set(ENV_LITERAL_RE.findall(p.read_text(errors="replace")))
    names -= WRITTEN_ONLY
    assert {"AWS_CONFIG_FILE", "AWS_REGION", "HOME"} <= names, f"env scan found only {names}"
    return names


# ---------------------------------------------------------------- the man page

def _render_man(t):
    """The man page as a person reads it: [(section, indent, text)] per
    non-blank line, and the raw text."""
    scdoc, mandoc = _tool("scdoc", "scdoc"), _tool("mandoc", "mandoc")
    src = MAN_SCD.read_text().replace("@VERSION@", "0").replace(
        "@MODULE_PATH@", "/usr/lib/aws-credproc/credproc-net.so")
    rc, roff, err, _, _ = run_clean([scdoc], dict(os.environ), input=src)
    assert rc == 0, f"scdoc failed: {err}"
    rc, text, err, _, _ = run_clean([mandoc, "-T", "utf8", "-O", "width=100"],
                                    dict(os.environ, LC_ALL="C.UTF-8"), input=roff)
    assert rc == 0, f"mandoc failed: {err}"
    text = re.sub(r".\x08", "", text)  # bold and underline overstrike
    lines = []
    section = None
    for raw in text.split("\n"):
        if not raw.strip():
            lines.append(None)
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0 and re.fullmatch(r"[A-Z][A-Z ]+", raw.strip()):
            section = raw.strip()
        lines.append((section, indent, raw.strip()))
    return lines


def _man_entries(lines):
    """Entries of the rendered page: a heading is a run of lines at one
    indent directly followed (no blank line) by a deeper line, its body.
    Returns [(section, indent, heading text, body text)]."""
    out = []
    i, n = 0, len(lines)
    while i < n:
        if lines[i] is None:
            i += 1
            continue
        sec, ind, _ = lines[i]
        j = i
        while j < n and lines[j] is not None and lines[j][1] == ind and lines[j][0] == sec:
            j += 1
        if j < n and lines[j] is not None and lines[j][1] > ind and ind > 0:
            head = " ".join(l[2] for l in lines[i:j])
            k = j
            body = []
            while k < n and (lines[k] is None or lines[k][1] > ind):
                if lines[k] is not None:
                    body.append(lines[k][2])
                k += 1
            out.append((sec, ind, head, " ".join(body)))
            i = j
        else:
            i = j if j > i else i + 1
    return out


def _heading_words(head):
    return set(re.findall(r"-{1,2}[A-Za-z][A-Za-z0-9-]*|[A-Za-z_][A-Za-z0-9_]*", head))


# ---------------------------------------------------------------- the tests

def test_help_matches_option_table(t):
    """--help lists exactly the options of cmd/cli.c's table, with their
    short forms, a placeholder exactly for those that take an argument."""
    longs, shorts = _table_options()
    helped = _help_options(_help(t))
    got = {}
    for short, long, arg, _ in helped:
        assert long not in got, f"--help lists {long} twice"
        got[long] = arg is not None
        if short:
            assert shorts.get(short) == long, f"--help: {short}, {long} but the table " \
                                              f"has {short} -> {shorts.get(short)}"
    helped_shorts = {s for s, *_ in helped if s}
    assert helped_shorts == set(shorts), \
        f"short options: --help {sorted(helped_shorts)}, cmd/cli.c {sorted(shorts)}"
    assert set(got) == set(longs), \
        f"--help lacks {sorted(set(longs) - set(got))}, names unknown {sorted(set(got) - set(longs))}"
    for o, arg in longs.items():
        assert got[o] == arg, f"{o}: takes an argument: {arg} (cmd/cli.c), --help shows " \
                              f"{'a' if got[o] else 'no'} placeholder"
    for o in longs:
        r = t.run([o, "x", "--help"] if longs[o] else [o, "--help"])
        assert r.rc == 0 or r.rc == 2 and "unknown option" not in r.stderr, \
            f"the binary does not know {o}: {r.last_err!r}"


def test_man_page_entries(t):
    """The rendered man page: each option an entry of its own in OPTIONS
    (and nothing else there), each environment variable named on an entry
    heading in ENVIRONMENT, no entry spliced into another."""
    longs, shorts = _table_options()
    lines = _render_man(t)
    entries = _man_entries(lines)
    sections = {l[0] for l in lines if l}
    for s in ("OPTIONS", "ENVIRONMENT", "CONFIGURATION", "EXIT STATUS"):
        assert s in sections, f"the rendered man page has no {s} section"
    opt_heads = [(h, b) for s, ind, h, b in entries if s == "OPTIONS"]
    seen = {}
    for head, body in opt_heads:
        words = [w for w in _heading_words(head) if w.startswith("-")]
        named = {shorts.get(w, w) for w in words}
        assert len(named) == 1 and named <= set(longs), \
            f"OPTIONS entry {head!r} is not one option of the binary (an entry spliced in?)"
        o = named.pop()
        assert o not in seen, f"OPTIONS has two entries for {o}"
        seen[o] = head
        for w in words:
            if w in shorts:
                assert shorts[w] == o, f"{head!r}: {w} is {shorts[w]}"
        has_arg = bool(re.search(r"--[a-z0-9-]+ \S", head))
        assert has_arg == longs[o], f"OPTIONS {head!r}: argument shown {has_arg}, " \
                                    f"the option takes one: {longs[o]}"
    missing = sorted(set(longs) - set(seen))
    assert not missing, f"the man page's OPTIONS has no entry for {missing}"
    for s, o in shorts.items():
        assert re.search(rf"(^|[ ,]){re.escape(s)},", seen[o]), \
            f"OPTIONS entry {seen[o]!r} does not show the short form {s}"

    env_heads = [h for s, ind, h, b in entries if s == "ENVIRONMENT"]
    env_named = set()
    for h in env_heads:
        env_named |= set(re.findall(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b|\b[A-Z]{3,}\b", h))
    # "(and their lowercase forms)" on the proxy entry
    for h in env_heads:
        if "lowercase" in h:
            env_named |= {w.lower() for w in re.findall(r"\b[A-Z]+_PROXY\b", h)}
    want = _env_read()
    missing = sorted(want - env_named)
    assert not missing, (f"environment variables read by the program without an ENVIRONMENT "
                         f"entry heading of their own: {missing}")
    # nothing the program reads is an entry heading anywhere but ENVIRONMENT
    elsewhere = [(s, h) for s, ind, h, b in entries if s != "ENVIRONMENT"
                 and set(re.findall(r"(?<![$\w])[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", h)) & want]
    assert not elsewhere, f"environment entries outside ENVIRONMENT: {elsewhere}"


def test_credential_sources_everywhere(t):
    """The credential_source values the binary accepts (an unknown one and a
    wrongly cased one are refused) are exactly those of --help, the man
    page (an entry each under credential_source, all named in the
    --credential-source entry), the README options table and the three
    completions; nothing calls one of them unsupported."""
    accepted = _accepted_sources(t)

    helped = {l: txt for _, l, _, txt in _help_options(_help(t))}
    assert "--credential-source" in helped
    m = re.search(r"([A-Z][A-Za-z0-9]+(?: \| [A-Z][A-Za-z0-9]+)+)", helped["--credential-source"])
    assert m, f"--help: the --credential-source entry lists no 'A | B' values: " \
              f"{helped['--credential-source']!r}"
    assert set(m.group(1).split(" | ")) == accepted, \
        f"--help lists {m.group(1)!r}, the binary accepts {sorted(accepted)}"

    lines = _render_man(t)
    entries = _man_entries(lines)
    text = " ".join(l[2] for l in lines if l)
    assert not re.search(r"not (yet )?supported|unsupported", text), \
        "the man page calls something unsupported: " + \
        re.search(r".{60}(not (yet )?supported|unsupported).{20}", text).group(0)
    cs = [(ind, b) for s, ind, h, b in entries if s == "CONFIGURATION" and h == "credential_source"]
    assert len(cs) == 1, f"the man page needs one CONFIGURATION entry 'credential_source', has {len(cs)}"
    cs_ind = cs[0][0]
    # the entries nested in it, up to the next entry at its level or above
    start = next(i for i, e in enumerate(entries) if e[0] == "CONFIGURATION"
                 and e[2] == "credential_source")
    nested = []
    for s, ind, h, b in entries[start + 1:]:
        if ind <= cs_ind or s != "CONFIGURATION":
            break
        nested.append(h)
    assert set(nested) == accepted and len(nested) == len(accepted), \
        f"man page: entries under credential_source {nested}, the binary accepts {sorted(accepted)}"
    opt = [b for s, ind, h, b in entries if s == "OPTIONS" and "--credential-source" in h]
    assert opt, "man page: no --credential-source entry"
    named = set(re.findall(r"\b[A-Z][a-z]+[A-Z0-9][A-Za-z0-9]*\b|\bEnvironment\b", opt[0]))
    assert accepted <= named, f"man page --credential-source names {sorted(named)}, " \
                              f"not all of {sorted(accepted)}"

    row = _readme_rows().get("--credential-source")
    assert row, "README options table: no --credential-source row"
    vals = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", row))
    assert vals == accepted, f"README options table names {sorted(vals)} for " \
                             f"--credential-source, the binary accepts {sorted(accepted)}"

    assert set(_bash_complete(t, "--credential-source", "")) == accepted, "bash completion"
    assert _zsh_spec()[1] == accepted, "zsh completion"
    assert set(_fish_complete(t, "aws-credproc --credential-source ")) == accepted, \
        "fish completion"


def _readme_rows():
    """{long option: row text} of the README options table (the table whose
    header is '| option | meaning |'); the short form is in the row too."""
    text = README.read_text()
    m = re.search(r"^\| option \| meaning \|\n\|[-|]+\|\n((?:\|.*\n)+)", text, re.M)
    assert m, "README.md: no '| option | meaning |' table"
    rows = {}
    for line in m.group(1).splitlines():
        cells = re.split(r"(?<!\\)\|", line)
        first = cells[1]
        code = " ".join(re.findall(r"`([^`]*)`", first))
        longs = re.findall(r"(?:^|\s)(--[a-z][a-z0-9-]*)", code)
        assert len(longs) == 1, f"README options table: row {line!r} names {longs}, not one option"
        assert longs[0] not in rows, f"README options table: two rows for {longs[0]}"
        rows[longs[0]] = line
    return rows


def test_readme_options_table(t):
    """The README options table has one row per option, with the short form
    and an argument placeholder exactly where the binary has them."""
    longs, shorts = _table_options()
    rows = _readme_rows()
    assert set(rows) == set(longs), \
        f"README options table lacks {sorted(set(longs) - set(rows))}, " \
        f"names unknown {sorted(set(rows) - set(longs))}"
    for o, row in rows.items():
        first = re.split(r"(?<!\\)\|", row)[1]
        has_arg = bool(re.search(rf"`{re.escape(o)} [^`]+`", first))
        assert has_arg == longs[o], f"README {o}: argument shown {has_arg}, takes one {longs[o]}"
    for s, o in shorts.items():
        assert f"`{s}`" in rows[o], f"README options table: the {o} row lacks {s}"


# ---------------------------------------------------------------- completions

def _bash_run(t, calls):
    """Runs the bash completion function for each word list in calls;
    returns one list of candidates per call."""
    bash = _tool("bash", "bash")
    script = [f"source {shlex.quote(str(BASH_COMP))}",
              'comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); '
              '_aws_credproc; printf "%s\\n" "${COMPREPLY[@]}"; echo "@@END@@"; }']
    for words in calls:
        script.append("comp aws-credproc " + " ".join(shlex.quote(w) for w in words))
    rc, out, err, _, _ = run_clean([bash, "--norc", "--noprofile", "-c", "\n".join(script)],
                                   t.env(AWS_CONFIG_FILE=t.tmp / "none"))
    assert rc == 0, f"bash completion script failed: {err}"
    res = [[]]
    for line in out.split("\n"):
        if line == "@@END@@":
            res.append([])
        elif line:
            res[-1].append(line)
    return res[:len(calls)]


def _bash_complete(t, *words):
    return _bash_run(t, [list(words)])[0]


def _fish_run(t, lines):
    fish = _tool("fish", "fish")
    env = t.env(XDG_CONFIG_HOME=t.tmp / "xdg-config", XDG_DATA_HOME=t.tmp / "xdg-data",
                AWS_CONFIG_FILE=t.tmp / "none")
    script = [f"source {shlex.quote(str(FISH_COMP))}"]
    for line in lines:
        script += [f"complete -C {shlex.quote(line)}", "echo @@END@@"]
    rc, out, err, _, _ = run_clean([fish, "--no-config", "-c", "\n".join(script)], env)
    assert rc == 0, f"fish completion script failed: {err}"
    res = [[]]
    for line in out.split("\n"):
        if line == "@@END@@":
            res.append([])
        elif line:
            res[-1].append(line.split("\t")[0])
    return res[:len(lines)]


def _fish_complete(t, line):
    return _fish_run(t, [line])[0]


def _zsh_spec():
    """({option: takes an argument}, credential_source values) from the
    _arguments specs of the zsh completion."""
    text = ZSH_COMP.read_text()
    m = re.search(r"^_arguments .*?\n(.*?)\n *'1::", text, re.S | re.M)
    assert m, "zsh completion: no _arguments block"
    opts, values = {}, set()
    for line in m.group(1).splitlines():
        s = re.match(r"^\s*'(?:\([^)]*\)'?)?(\{[^}]*\}|--?[A-Za-z][a-z0-9-]*[=+]?)", line)
        assert s, f"zsh completion: cannot read the spec {line!r}"
        for o in s.group(1).strip("{}").split(","):
            arg = o.endswith(("=", "+"))
            opts[o.rstrip("=+")] = arg
        if s.group(1).startswith("--credential-source"):
            v = re.search(r":\(([^)]*)\)'", line)
            assert v, f"zsh completion: --credential-source has no value list: {line!r}"
            values = set(v.group(1).split())
    return opts, values


def _check_completion_options(name, got, longs, shorts):
    want = set(longs) | set(shorts)
    assert set(got) == want, f"{name} completion lacks {sorted(want - set(got))}, " \
                             f"offers unknown {sorted(set(got) - want)}"


def test_completion_bash(t):
    """bash: `aws-credproc -<TAB>` offers every option; after each option
    and its value (if any), the commands are offered again (the option's
    argument is known to the function); after an option that takes a value,
    no command is offered in place of the value."""
    longs, shorts = _table_options()
    argful = [o for o, a in longs.items() if a] + [s for s, o in shorts.items() if longs[o]]
    flags = [o for o, a in longs.items() if not a and o not in ("--help", "--version")]
    calls = [["-"]]
    calls += [[o, "x", ""] for o in argful]
    calls += [[o, ""] for o in flags]
    calls += [[o, ""] for o in argful]
    res = _bash_run(t, calls)
    _check_completion_options("bash", res[0], longs, shorts)
    i = 1
    for o in argful:
        assert COMMANDS <= set(res[i]), f"bash: after '{o} x' the commands are not offered " \
                                        f"({res[i]}): {o} not known as taking a value?"
        i += 1
    for o in flags:
        assert COMMANDS <= set(res[i]), f"bash: after '{o}' the commands are not offered ({res[i]})"
        i += 1
    for o in argful:
        assert not COMMANDS & set(res[i]), f"bash: '{o} <TAB>' offers commands ({res[i]}) " \
                                           f"as its value"
        i += 1


def test_completion_zsh(t):
    """zsh: the _arguments specs name every option, with an argument
    exactly where the binary takes one."""
    longs, shorts = _table_options()
    opts, _ = _zsh_spec()
    _check_completion_options("zsh", opts, longs, shorts)
    for o, arg in opts.items():
        want = longs[shorts.get(o, o)]
        assert arg == want, f"zsh {o}: argument {arg}, the option takes one: {want}"
    zsh = _tool("zsh", "zsh")
    rc, _, err, _, _ = run_clean([zsh, "-n", str(ZSH_COMP)], t.env())
    assert rc == 0, f"zsh -n: {err}"


def test_completion_fish(t):
    """fish: `aws-credproc -<TAB>` and `--<TAB>` offer every option; after
    each option and its value, the commands are offered again; an option
    that takes a value offers no command in its place."""
    longs, shorts = _table_options()
    argful = [o for o, a in longs.items() if a]
    flags = [o for o, a in longs.items() if not a and o not in ("--help", "--version")]
    lines = ["aws-credproc -", "aws-credproc --"]
    lines += [f"aws-credproc {o} x " for o in argful]
    lines += [f"aws-credproc {o} " for o in flags]
    lines += [f"aws-credproc {o} " for o in argful]
    res = _fish_run(t, lines)
    _check_completion_options("fish", set(res[0]) | set(res[1]), longs, shorts)
    i = 2
    for o in argful:
        assert COMMANDS <= set(res[i]), f"fish: after '{o} x' the commands are not offered " \
                                        f"({res[i]}): {o} not known as taking a value?"
        i += 1
    for o in flags:
        assert COMMANDS <= set(res[i]), f"fish: after '{o}' the commands are not offered ({res[i]})"
        i += 1
    for o in argful:
        assert not COMMANDS & set(res[i]), f"fish: '{o} <TAB>' offers commands ({res[i]})"
        i += 1


def test_source_kinds_documented(t):
    """Every kind of source has a man page entry (its key on an entry
    heading of CONFIGURATION) and is named in the README's list of
    sources."""
    entries = _man_entries(_render_man(t))
    heads = set()
    for s, ind, h, b in entries:
        if s == "CONFIGURATION":
            heads |= _heading_words(h)
    readme = README.read_text()
    m = re.search(r"^Sources of the credentials that call STS:\n(.*?)\n\n[A-Z]", readme, re.S | re.M)
    assert m, "README.md: no 'Sources of the credentials that call STS:' list"
    sources = m.group(1)
    accepted = _accepted_sources(t)
    usage = t.run(["--help"]).stdout
    for kind, keys in SOURCE_KINDS.items():
        assert re.search(rf"\b{keys[0]}\b", usage), f"--help does not name {kind} ({keys[0]})"
        missing = [k for k in keys if k not in heads]
        assert not missing, f"man page: {kind}: no CONFIGURATION entry heading names {missing}"
        assert any(f"`{k}" in sources for k in keys), \
            f"README list of sources does not name {kind} ({keys[0]})"
    for v in accepted:
        assert f"`credential_source = {v}`" in sources, \
            f"README list of sources has no `credential_source = {v}` item"


def _cli_commands():
    """The commands cmd/cli.c dispatches on: {"env", "explain", "cache clear", ...}."""
    text = CLI_C.read_text()
    cmds = set(re.findall(r'strcmp\(command, "([a-z-]+)"\) == 0', text))
    assert cmds, "cmd/cli.c: no strcmp(command, ...) found"
    for parent, sub in re.findall(r'strcmp\(command, "([a-z-]+)"\) == 0\) \{\n'
                                  r'.*?strcmp\(argv\[optind\], "([a-z-]+)"\)', text, re.S):
        cmds.discard(parent)
        cmds.add(f"{parent} {sub}")
    return cmds


def test_commands_everywhere(t):
    """The commands of cmd/cli.c are those of --help, the man page's
    COMMANDS (an entry each) and SYNOPSIS, the README usage block and the
    three completions; an unknown command is refused."""
    cmds = _cli_commands()
    firsts = {c.split()[0] for c in cmds}
    r = t.run(["no-such-command"])
    assert r.rc == 2 and "unknown command" in r.last_err, r.last_err

    help_text = _help(t)
    m = re.search(r"^Commands:\n(.*?)(?:\n\n|\Z)", help_text, re.S | re.M)
    assert m, "--help has no 'Commands:' block"
    helped = {re.split(r"\s{2,}", l.strip())[0] for l in m.group(1).splitlines()
              if re.match(r"^  \S", l)} - {"(none)"}
    assert helped == cmds, f"--help lists commands {sorted(helped)}, cmd/cli.c has {sorted(cmds)}"

    lines = _render_man(t)
    man = {h for s, ind, h, b in _man_entries(lines) if s == "COMMANDS"} - {"(none)"}
    assert man == cmds, f"man page COMMANDS entries {sorted(man)}, cmd/cli.c has {sorted(cmds)}"
    synopsis = " ".join(l[2] for l in lines if l and l[0] == "SYNOPSIS")
    for c in cmds:
        assert f"aws-credproc {c} " in synopsis, f"man page SYNOPSIS lacks '{c}'"

    readme = README.read_text()
    m = re.search(r"^## Usage\n\n```\n(.*?)```", readme, re.S | re.M)
    assert m, "README.md: no usage block under '## Usage'"
    used = set()
    for l in m.group(1).splitlines():
        w = re.match(r"aws-credproc ((?:[a-z][a-z0-9-]* ?)+)", l)
        if w:
            used.add(w.group(1).strip())
    assert used == cmds, f"README usage names {sorted(used)}, cmd/cli.c has {sorted(cmds)}"

    bash = _bash_run(t, [[""]] + [[c, ""] for c in sorted(firsts)])
    assert set(bash[0]) == firsts, f"bash completion offers commands {bash[0]}, want {sorted(firsts)}"
    for c, got in zip(sorted(firsts), bash[1:]):
        subs = {x.split()[1] for x in cmds if x.startswith(c + " ")}
        assert subs == set(got), f"bash: '{c} <TAB>' offers {got}, want {sorted(subs)}"
    fish = _fish_run(t, ["aws-credproc "] + [f"aws-credproc {c} " for c in sorted(firsts)])
    assert set(fish[0]) == firsts, f"fish completion offers commands {fish[0]}, want {sorted(firsts)}"
    for c, got in zip(sorted(firsts), fish[1:]):
        subs = {x.split()[1] for x in cmds if x.startswith(c + " ")}
        assert subs <= set(got), f"fish: '{c} <TAB>' offers {got}, want {sorted(subs)}"
    zsh = ZSH_COMP.read_text()
    m = re.search(r"\bcmds=\(\n(.*?)\n\s*\)", zsh, re.S)
    assert m, "zsh completion: no cmds=( ... ) list"
    zc = set(re.findall(r"^\s*'([a-z][a-z0-9-]*):", m.group(1), re.M))
    assert zc == firsts, f"zsh completion offers commands {sorted(zc)}, want {sorted(firsts)}"


# ---------------------------------------------------------------- sources called unsupported

# Words that say a source does not work (yet), in any wording; the man page
# check above catches only "unsupported" and "not (yet) supported".
NOT_WORKING_RE = re.compile(
    r"\b(?:un(?:supported|implemented)|not (?:yet )?(?:supported|implemented|handled)"
    r"|(?:is|are)n't (?:yet )?(?:supported|implemented|handled)|reserved for"
    r"|not yet available|(?:not|n't) available yet"
    r"|(?:future|later|next) (?:release|version)|coming soon|planned)\b", re.I)


def _sentences(units):
    """The sentences of text units (paragraphs, table rows, entries), each
    with its whitespace collapsed."""
    out = []
    for u in units:
        u = " ".join(u.split())
        out += [s for s in re.split(r"(?<=[.!?;])\s+", u) if s]
    return out


def _readme_units():
    """README.md as paragraphs, with each table row and list item its own."""
    units = []
    for para in re.split(r"\n\s*\n", README.read_text()):
        cur = []
        for line in para.split("\n"):
            if re.match(r"\s*(?:\||[-*] |\d+\. )", line) and cur:
                units.append("\n".join(cur))
                cur = []
            cur.append(line)
        units.append("\n".join(cur))
    return units


def test_sources_not_called_unsupported(t):
    """No sentence that names a credential_source value the binary accepts
    says it does not work: not in the rendered man page, --help, the README
    or the completions ('EcsContainer ... unsupported' survived in the man
    page once, in other words it could come back)."""
    accepted = _accepted_sources(t)
    lines = _render_man(t)
    man_units, cur = [], []
    for l in lines + [None]:
        if l is None:
            if cur:
                man_units.append(" ".join(cur))
            cur = []
        else:
            cur.append(l[2])
    places = {
        "the man page": man_units,
        "--help": [txt for _, _, _, txt in _help_options(_help(t))]
                  + [p for p in _help(t).split("\n\n") if not p.startswith("Options:")],
        "README.md": _readme_units(),
        "the completions": [line for p in (BASH_COMP, ZSH_COMP, FISH_COMP)
                            for line in p.read_text().split("\n")],
    }
    bad = []
    for place, units in places.items():
        for s in _sentences(units):
            names = {v for v in accepted if re.search(rf"\b{v}\b", s)}
            m = NOT_WORKING_RE.search(s)
            if names and m:
                bad.append(f"{place}: {sorted(names)} {m.group(0)!r}: {s[:200]}")
    assert not bad, "a supported credential_source is called unsupported:\n" + "\n".join(bad)
