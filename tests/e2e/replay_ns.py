#!/usr/bin/env python3
"""Replays one recorded smithy-rs credential-provider case inside a private
network + mount namespace; used by test_replay.py, not collected by run.py.

    unshare --map-root-user --net --mount --propagation private \\
        python3 replay_ns.py PLAN.json RESULT.json

PLAN.json (written by test_replay.py) gives the argv and environment of the
binary, the addresses to put on lo (169.254.169.254, 169.254.170.2, ...), the
host names to map in a bind-mounted /etc/hosts, the listeners (ip, port,
TLS or not), the server certificate, the recorded exchanges in order, the
request headers to compare, and a fake start time for libfaketime.

Inside the namespace nothing but lo exists, so the binary reaches only the
replay servers: a request to any other address fails at once. Each request
is matched against the next recorded one (method, URI with the query
compared as a set of pairs, and the headers listed in the plan, as the
smithy-rs runner does); a match gets the recorded status, headers and body,
anything else gets a 400 and is reported. RESULT.json gets the binary's exit
status, stdout and stderr, every request seen and every mismatch.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

import harness  # noqa: E402
import netns  # noqa: E402
import servers  # noqa: E402

DEFAULT_PORTS = {"http": 80, "https": 443}
MISMATCH_BODY = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
    "<Type>Sender</Type><Code>ReplayMismatch</Code><Message>{msg}</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")


def norm_uri(scheme, host, port, path_query):
    split = urllib.parse.urlsplit(path_query)
    query = sorted(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    return (scheme, (host or "").lower(), int(port or DEFAULT_PORTS[scheme]),
            split.path or "/", tuple(query))


def norm_recorded(uri):
    s = urllib.parse.urlsplit(uri)
    pq = s.path + ("?" + s.query if s.query else "")
    return norm_uri(s.scheme, s.hostname, s.port, pq)


def media_type(value):
    return value.split(";")[0].strip().lower()


def show_uri(n):
    scheme, host, port, path, query = n
    port_s = "" if DEFAULT_PORTS.get(scheme) == port else f":{port}"
    q = ("?" + urllib.parse.urlencode(list(query))) if query else ""
    return f"{scheme}://{host}{port_s}{path}{q}"


class Replay:
    """The recorded exchanges, consumed in order across all listeners."""

    def __init__(self, exchanges, check_headers):
        self.lock = threading.Lock()
        self.exchanges = exchanges
        self.check = [h.lower() for h in check_headers]
        self.next = 0
        self.seen = []        # every request, with what became of it
        self.mismatches = []  # human-readable, one per bad request

    def handle(self, listener, req):
        host_hdr = req.header("host") or listener["ip"]
        host = urllib.parse.urlsplit("//" + host_hdr).hostname or listener["ip"]
        actual = norm_uri(listener["scheme"], host, listener["port"], req.raw_path)
        entry = {
            "listener": f"{listener['scheme']}://{listener['ip']}:{listener['port']}",
            "method": req.method, "uri": show_uri(actual),
            "headers": {k.lower(): v for k, v in req.header_items},
            "body": req.body.decode("utf-8", "replace")[:4096],
        }
        with self.lock:
            self.seen.append(entry)
            i = self.next
            if i >= len(self.exchanges):
                msg = (f"request {len(self.seen)} ({req.method} {show_uri(actual)}) was not "
                       f"recorded: all {len(self.exchanges)} recorded requests were already "
                       f"answered")
                self.mismatches.append(msg)
                entry["outcome"] = "unexpected"
                return self._refuse(msg)
            ex = self.exchanges[i]
            diffs = []
            want_uri = norm_recorded(ex["uri"])
            if req.method != ex["method"]:
                diffs.append(f"method: recorded {ex['method']}, sent {req.method}")
            if actual != want_uri:
                diffs.append(f"uri: recorded {show_uri(want_uri)}, sent {show_uri(actual)}")
            for h in self.check:
                want = ex["headers"].get(h)
                got = req.header(h)
                if h == "content-type" and want and got:
                    # the media type: smithy-rs sends no charset, botocore and
                    # the JS SDK send "; charset=utf-8", and STS takes both
                    same = media_type(want) == media_type(got)
                else:
                    same = want == got
                if not same:
                    diffs.append(f"header {h}: recorded {want!r}, sent {got!r}")
            if diffs:
                msg = (f"request {len(self.seen)} does not match recorded request {i + 1} "
                       f"({ex['method']} {ex['uri']}): " + "; ".join(diffs))
                self.mismatches.append(msg)
                entry["outcome"] = "mismatch"
                return self._refuse(msg)
            self.next += 1
            entry["outcome"] = f"matched recorded request {i + 1}, replied {ex['status']}"
            if ex["status"] is None:
                return None, [], b""
            headers = [(k, v) for k, v in ex["response_headers"]
                       if k.lower() not in ("content-length", "transfer-encoding")]
            return ex["status"], headers, ex["body"].encode("utf-8")

    @staticmethod
    def _refuse(msg):
        body = MISMATCH_BODY.format(msg=servers._xml_escape(msg)).encode()
        return 400, [("Content-Type", "text/xml"), ("Connection", "close")], body


class Listener(servers.LoopbackServer):
    """One (ip, port, scheme) socket answering from the shared Replay."""

    def __init__(self, replay, spec, tls):
        self.replay = replay
        self.spec = spec
        super().__init__(port=spec["port"], host=spec["ip"],
                         tls=(tls["cert"], tls["key"]) if spec["scheme"] == "https" else None)

    def handle(self, req):
        return self.replay.handle(self.spec, req)


def main():
    plan_path, result_path = sys.argv[1], sys.argv[2]
    plan = json.loads(Path(plan_path).read_text())
    work = Path(plan["work"])
    result = {"setup_error": None, "rc": None, "stdout": "", "stderr": "", "note": "",
              "elapsed": 0.0, "requests": [], "mismatches": [], "unanswered": [],
              "server_errors": []}
    listeners = []
    replay = Replay(plan["exchanges"], plan["check_headers"])
    try:
        try:
            netns.setup_namespace(plan["ip_command"], plan["addresses"], plan["hosts"], work)
            for spec in plan["listeners"]:
                listeners.append(Listener(replay, spec, plan["tls"]))
            for lst in listeners:
                lst.start()
        except Exception:
            result["setup_error"] = traceback.format_exc()
            return
        argv = list(plan["argv"])
        env = dict(plan["env"])
        if plan.get("faketime") is not None:
            # libfaketime through its wrapper: the clock starts at the given
            # instant and runs on; the monotonic clock (timeouts, deadlines)
            # stays real. -m: the thread-safe variant (curl resolves in a thread).
            argv = [plan["faketime_bin"], "-m", "--exclude-monotonic",
                    "@%d" % plan["faketime"]] + argv
        rc, out, err, note, el = harness.run_clean(argv, env, timeout=plan["timeout"],
                                                   cwd=str(work))
        result.update(rc=rc, stdout=out, stderr=err, note=note, elapsed=el)
    finally:
        time.sleep(0.05)  # let a handler thread finish its bookkeeping
        for lst in listeners:
            try:
                lst.stop()
            except Exception:
                pass
            result["server_errors"] += [f"{lst.spec['scheme']}://{lst.spec['ip']}:"
                                        f"{lst.spec['port']}: {e}" for e in lst.errors]
        with replay.lock:
            result["requests"] = replay.seen
            result["mismatches"] = replay.mismatches
            result["unanswered"] = [f"recorded request {i + 1}: {ex['method']} {ex['uri']}"
                                    for i, ex in enumerate(replay.exchanges)
                                    if i >= replay.next]
        Path(result_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
