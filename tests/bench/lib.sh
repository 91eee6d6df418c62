# tests/bench/lib.sh - shared set-up for tests/bench/hit.sh and cold.sh.
# Sourced, not run. Provides: a temp dir removed at exit, moto_server on a
# free loopback port (stopped at exit), an IAM role in it, a throwaway AWS
# config ([profile base] static keys, [profile role] role_arn/source_profile)
# and the environment that points aws-credproc at all of it.
#
# After bench_setup:
#   BIN        the aws-credproc under test (AWS_CREDPROC_BIN, default <repo>/build/cmd/aws-credproc)
#   PY         absolute path of a python3 that has boto3, botocore and moto
#   BENCH_TMP  the temp dir; BENCH_HOME a HOME inside it; CACHE_DIR our cache dir
#   MOTO_URL   http://127.0.0.1:<port>; ROLE_ARN

BENCH_REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${AWS_CREDPROC_BIN:-$BENCH_REPO/build/cmd/aws-credproc}
BENCH_TMP=
MOTO_PID=

bench_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

bench_cleanup() {
	bench_stop_moto
	if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
		rm -rf "$BENCH_TMP"
	fi
}

# Installs Debian packages when a command is missing (root only).
# Usage: bench_need COMMAND PACKAGE
bench_need() {
	if command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "# installing $2 (for $1)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; } ||
			bench_die "could not install $2"
	fi
	command -v "$1" >/dev/null 2>&1 || bench_die "$1 is missing (package $2)"
}

# Finds the real interpreter (not a pyenv shim: a shim costs a bash start on
# every run) of a python3 that can import boto3, botocore and moto.
bench_find_python() {
	for cand in ${BENCH_PYTHON:-} python3 /usr/bin/python3; do
		p=$("$cand" -c 'import sys, boto3, botocore, moto; print(sys.executable)' 2>/dev/null) || continue
		PY=$p
		return 0
	done
	bench_die "no python3 with boto3, botocore and moto (pip install 'moto[server]' boto3)"
}

bench_free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_start_moto() {
	port=$(bench_free_port)
	MOTO_URL=http://127.0.0.1:$port
	moto=$(dirname "$PY")/moto_server
	# moto_server without the AWS_* of the caller; auth is not enforced.
	if [ -x "$moto" ]; then
		env -u AWS_ENDPOINT_URL_STS -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE \
			"$moto" -H 127.0.0.1 -p "$port" >"$BENCH_TMP/moto.log" 2>&1 </dev/null &
	else
		env -u AWS_ENDPOINT_URL_STS -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE \
			"$PY" -m moto.server -H 127.0.0.1 -p "$port" >"$BENCH_TMP/moto.log" 2>&1 </dev/null &
	fi
	MOTO_PID=$!
	"$PY" - "$MOTO_URL" "$MOTO_PID" <<'EOF' || { cat "$BENCH_TMP/moto.log" >&2; bench_die "moto_server did not start"; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("moto_server exited")
    try:
        with urllib.request.urlopen(url + "/moto-api/data.json", timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("moto_server: no answer in 30 s")
EOF
}

bench_stop_moto() {
	if [ -n "$MOTO_PID" ]; then
		kill "$MOTO_PID" 2>/dev/null || true
		wait "$MOTO_PID" 2>/dev/null || true
		MOTO_PID=
	fi
}

# Creates the role in moto and writes the config. Exports the environment.
bench_setup() {
	[ -x "$BIN" ] || bench_die "no executable at $BIN (set AWS_CREDPROC_BIN)"
	BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
	bench_need hyperfine hyperfine
	bench_need /usr/bin/time time
	bench_find_python

	# Nothing from the caller's AWS environment may change what is measured.
	for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$v"
	done

	BENCH_TMP=$(mktemp -d /tmp/credproc-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	BENCH_HOME=$BENCH_TMP/home
	CACHE_DIR=$BENCH_TMP/credproc-cache
	mkdir -p "$BENCH_HOME"

	bench_start_moto

	ROLE_ARN=$(AWS_ACCESS_KEY_ID=setup AWS_SECRET_ACCESS_KEY=setup AWS_DEFAULT_REGION=us-east-1 \
		"$PY" - "$MOTO_URL" <<'EOF'
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
r = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
print(r["Role"]["Arn"])
EOF
	) || bench_die "could not create the role in moto"

	cat >"$BENCH_TMP/config" <<EOF
[profile base]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

[profile role]
role_arn = $ROLE_ARN
source_profile = base
EOF
	: >"$BENCH_TMP/credentials"
	export AWS_CONFIG_FILE="$BENCH_TMP/config"
	export AWS_SHARED_CREDENTIALS_FILE="$BENCH_TMP/credentials"
	export AWS_ENDPOINT_URL_STS="$MOTO_URL"
	export AWS_REGION=us-east-1
	export AWS_DEFAULT_REGION=us-east-1  # botocore reads only this one
	export AWS_CREDPROC_CACHE_DIR="$CACHE_DIR"
}

# Peak RSS (KiB) of one run of a command: bench_rss CMD ARGS...
bench_rss() {
	/usr/bin/time -f %M -o "$BENCH_TMP/rss" "$@" >/dev/null 2>"$BENCH_TMP/rss.err" ||
		{ cat "$BENCH_TMP/rss.err" >&2; bench_die "failed: $*"; }
	tail -n 1 "$BENCH_TMP/rss"
}
