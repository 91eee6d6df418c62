#!/bin/sh
# mk-softhsm.sh DIR - a SoftHSM2 token for tests/test-keystore.c, all under DIR:
#   DIR/softhsm2.conf     (point SOFTHSM2_CONF at it)
#   DIR/tokens/           the token "cp-test", user PIN 1234, SO PIN 5678
#   key "ec"  (id 01): EC P-256, generated in the token; DIR/ec.pub.der
#   key "rsa" (id 02): RSA 2048, generated in the token; DIR/rsa.pub.der
# The private keys never leave the token; the public keys are read out (DER
# SubjectPublicKeyInfo) for verifying signatures.
# Exit 77: a tool or the module is missing (softhsm2, opensc's pkcs11-tool).
set -eu
dir=$1
module=${SOFTHSM2_MODULE:-}
if [ -z "$module" ]; then
	for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
		/usr/lib64/pkcs11/libsofthsm2.so /usr/lib/*/pkcs11/libsofthsm2.so; do
		if [ -f "$m" ]; then module=$m; break; fi
	done
fi
for tool in softhsm2-util pkcs11-tool; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed" >&2; exit 77; }
done
[ -n "$module" ] && [ -f "$module" ] || { echo "libsofthsm2.so not found" >&2; exit 77; }

mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$dir" >"$dir/softhsm2.conf"
SOFTHSM2_CONF=$dir/softhsm2.conf
export SOFTHSM2_CONF
softhsm2-util --init-token --free --label cp-test --so-pin 5678 --pin 1234 >/dev/null
p11() { pkcs11-tool --module "$module" --token-label cp-test "$@"; }
p11 --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label ec --id 01 >/dev/null
p11 --login --pin 1234 --keypairgen --key-type rsa:2048 --label rsa --id 02 >/dev/null
p11 --read-object --type pubkey --label ec -o "$dir/ec.pub.der" >/dev/null 2>&1
p11 --read-object --type pubkey --label rsa -o "$dir/rsa.pub.der" >/dev/null 2>&1
echo "$module" >"$dir/module"
