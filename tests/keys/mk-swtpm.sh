#!/bin/sh
# mk-swtpm.sh DIR - TPM 2.0 keys for tests/test-keystore.c, in the TPM that
# TPM2OPENSSL_TCTI names (the test starts an swtpm on a loopback port), with
# their files and public keys under DIR:
#   DIR/ec.tss2.pem, DIR/ec.pub.pem       EC P-256, TSS2 PEM (tpm2 provider)
#   DIR/rsa.tss2.pem, DIR/rsa.pub.pem     RSA 2048, TSS2 PEM
#   DIR/auth.tss2.pem, DIR/auth.pub.pem   EC P-256 with the authorization value "abc"
#   handle 0x81000001, DIR/h1.pub.pem     EC P-256, persistent, no authorization
#   handle 0x81000002, DIR/h2.pub.pem     RSA 2048, persistent, authorization "s3cret"
# The private keys never leave the TPM (a TSS2 file holds them wrapped by it).
# Exit 77: a tool is missing (openssl with the tpm2 provider, tpm2-tools).
set -eu
dir=$1
: "${TPM2OPENSSL_TCTI:?}"
TPM2TOOLS_TCTI=$TPM2OPENSSL_TCTI
export TPM2TOOLS_TCTI
for tool in openssl tpm2_createprimary tpm2_create tpm2_load tpm2_evictcontrol tpm2_flushcontext; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed" >&2; exit 77; }
done
modules=${OPENSSL_MODULES:-$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')}
[ -f "$modules/tpm2.so" ] || { echo "the tpm2 provider is not installed ($modules)" >&2; exit 77; }

mkdir -p "$dir"
prov="-provider tpm2 -provider base"
genkey() { # name algorithm options...
	name=$1; shift
	openssl genpkey $prov "$@" -out "$dir/$name.tss2.pem" 2>/dev/null
}
pub() { # in out [auth]
	if [ $# -eq 3 ]; then
		openssl pkey $prov -in "$1" -passin "pass:$3" -pubout -out "$2"
	else
		openssl pkey $prov -in "$1" -pubout -out "$2"
	fi
}
genkey ec -algorithm EC -pkeyopt group:P-256
genkey rsa -algorithm RSA -pkeyopt bits:2048
genkey auth -algorithm EC -pkeyopt group:P-256 -pkeyopt user-auth:abc
pub "$dir/ec.tss2.pem" "$dir/ec.pub.pem"
pub "$dir/rsa.tss2.pem" "$dir/rsa.pub.pem"
pub "$dir/auth.tss2.pem" "$dir/auth.pub.pem" abc

# Persistent keys. Without a resource manager every transient object stays
# loaded until flushed: flush after each step.
cd "$dir"
persist() { # handle algorithm [auth]
	tpm2_createprimary -Q -C o -c primary.ctx
	tpm2_flushcontext -t
	if [ $# -eq 3 ]; then
		tpm2_create -Q -C primary.ctx -G "$2" -p "$3" -u k.pub -r k.priv
	else
		tpm2_create -Q -C primary.ctx -G "$2" -u k.pub -r k.priv
	fi
	tpm2_flushcontext -t
	tpm2_load -Q -C primary.ctx -u k.pub -r k.priv -c k.ctx
	tpm2_flushcontext -t
	tpm2_evictcontrol -Q -C o -c k.ctx "$1"
	tpm2_flushcontext -t
	rm -f primary.ctx k.pub k.priv k.ctx
}
persist 0x81000001 ecc256
persist 0x81000002 rsa2048 s3cret
pub handle:0x81000001 h1.pub.pem
openssl pkey $prov -in "handle:0x81000002?pass" -passin pass:s3cret -pubout -out h2.pub.pem
