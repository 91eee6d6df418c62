# tests/deps.sh - sourced by check.sh and demo.sh: install what is missing.
# Sets nothing; exits the caller with status 1 if packages cannot be installed.
cp_deps_install() {
	need_pkgs=""
	for p in meson ninja-build pkg-config gcc libc6-dev libcurl4-openssl-dev libssl-dev \
	         libxml2-dev libcjson-dev curl clang libclang-rt-14-dev valgrind binutils util-linux \
	         scdoc mandoc zsh fish bash-completion strace \
	         debhelper dpkg-dev fakeroot lintian rpm awscli faketime iproute2 tmux \
	         softhsm2 libengine-pkcs11-openssl opensc tpm2-openssl tpm2-tools swtpm swtpm-tools; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			need_pkgs="$need_pkgs $p"
	done
	if [ -n "$need_pkgs" ]; then
		if [ "$(id -u)" = 0 ]; then
			echo "installing:$need_pkgs" >&2
			apt-get update -qq >&2 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs >&2 || return 1
		else
			echo "missing packages (run as root to install them):$need_pkgs" >&2
			return 1
		fi
	fi
	if ! python3 -c 'import moto, boto3' 2>/dev/null; then
		echo "python3 lacks moto/boto3; trying pip" >&2
		python3 -m pip install -q 'moto[server]' boto3 >&2 || return 1
	fi
	return 0
}
