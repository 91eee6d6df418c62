#!/bin/sh
# tests/demo.sh - the main job end to end against a local STS.
#
# Installs what is missing to build and run (Debian packages only), builds,
# starts an STS on loopback that checks SigV4 (moto with IAM enforced when
# python3 can import moto and boto3; else the project's own loopback STS,
# tests/demo_sts.py, standard library only), writes a throwaway ~/.aws/config
# (a base user and a role), runs `aws-credproc --profile …` (secrets masked),
# then an AWS CLI call through a credential_process profile when the CLI is
# installed, and stops the server.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
# AWS_CREDPROC_DEMO_BIN: run that executable (the installed
# /usr/bin/aws-credproc in the Debian package's autopkgtest) instead of
# building one; then nothing is installed either (the test's Depends are).
# Not AWS_CREDPROC_BIN: the e2e suite exports that, and a demo run from it
# must still build from its own tree.
if [ -n "${AWS_CREDPROC_DEMO_BIN:-}" ]; then
	BIN=$AWS_CREDPROC_DEMO_BIN
	[ -x "$BIN" ] || { echo "demo.sh: AWS_CREDPROC_DEMO_BIN=$BIN is not executable" >&2; exit 1; }
else
	. "$SRC/tests/deps.sh"
	cp_deps_install demo

	[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" "$SRC" >/dev/null
	meson compile -C "$BUILD_DIR" >/dev/null
	BIN="$BUILD_DIR/cmd/aws-credproc"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aws-credproc-demo.XXXXXX")
STS_PID=
cleanup() {
	if [ -n "$STS_PID" ]; then
		kill "$STS_PID" 2>/dev/null || true
		wait "$STS_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if python3 -c 'import moto, boto3' 2>/dev/null && command -v moto_server >/dev/null; then
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
STS_PID=$!
ENDPOINT="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== moto (STS/IAM) on $ENDPOINT, auth enforced; creating a user and a role"
python3 - "$ENDPOINT" "$WORK" <<'PY'
import json, sys, urllib.request, boto3
ep, work = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
# The next 7 requests (this set-up) pass unchecked; everything after is checked.
urllib.request.urlopen(urllib.request.Request(ep + "/moto-api/reset-auth", data=b"7",
                       headers={"Content-Type": "text/plain"}, method="POST"))
iam = boto3.client("iam", **kw)
user = iam.create_user(UserName="demo-user")["User"]
key = iam.create_access_key(UserName="demo-user")["AccessKey"]
iam.put_user_policy(UserName="demo-user", PolicyName="assume", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
role = iam.create_role(RoleName="report-writer", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]},
                                            "Action": "sts:AssumeRole"}]}))["Role"]
iam.put_role_policy(RoleName="report-writer", PolicyName="whoami", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}))
open(work + "/setup.json", "w").write(json.dumps({"akid": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                                                  "role": role["Arn"]}))
PY
else
echo "== moto is not installed: using the project's own loopback STS (SigV4 checked as STS does)"
python3 "$SRC/tests/demo_sts.py" "$WORK" >"$WORK/sts.log" 2>&1 &
STS_PID=$!
for _ in $(seq 1 100); do [ -f "$WORK/setup.json" ] && break; sleep 0.1; done
[ -f "$WORK/setup.json" ] || { cat "$WORK/sts.log" >&2; echo "demo: the loopback STS did not start" >&2; exit 1; }
ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/setup.json")
echo "   on $ENDPOINT; it issued a user key; the role is report-writer"
fi
eval "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("AKID=%s SECRET=%s ROLE=%s" % (d["akid"], d["secret"], d["role"]))' "$WORK/setup.json")"

mkdir -p "$WORK/home/.aws"
cat >"$WORK/home/.aws/config" <<INI
[profile base]
aws_access_key_id = $AKID
aws_secret_access_key = $SECRET

[profile reports-role]
role_arn = $ROLE
source_profile = base
role_session_name = nightly-reports
duration_seconds = 3600

[profile reports]
credential_process = $BIN --profile reports-role
INI
echo "== ~/.aws/config (secret masked)"
sed 's/\(aws_secret_access_key = \).*/\1****/' "$WORK/home/.aws/config"

export HOME="$WORK/home" AWS_ENDPOINT_URL_STS="$ENDPOINT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export XDG_CACHE_HOME="$WORK/cache"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CA_BUNDLE

echo
echo "== aws-credproc --profile reports-role (secrets masked)"
"$BIN" --profile reports-role | sed -E 's/("(SecretAccessKey|SessionToken)":[[:space:]]*"[^"]{4})[^"]*"/\1****"/'

echo
if command -v aws >/dev/null; then
# --endpoint-url, not AWS_ENDPOINT_URL: the AWS CLI before 2.13 (Debian 12
# has 2.9) ignores the variable.
echo "== aws sts get-caller-identity --profile reports (through credential_process)"
aws sts get-caller-identity --profile reports --endpoint-url "$ENDPOINT" --output json
else
echo "== no AWS CLI (aws) on PATH: skipping the AWS CLI step (Debian: apt-get install awscli)"
fi
echo
echo "demo finished"
