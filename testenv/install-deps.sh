#!/usr/bin/env bash
# Installs the Debian packages the real-server tests, the demo and the
# benchmarks need, but only those that are missing. Quiet on success; on
# failure it prints apt's output and exits non-zero.
#
# usage: testenv/install-deps.sh PACKAGE...
set -euo pipefail

missing=()
for pkg in "$@"; do
	case "$pkg" in
	postgresql)
		# Any major version will do: testenv picks the newest /usr/lib/postgresql/*/bin.
		if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then continue; fi
		;;
	nodejs)
		if command -v node >/dev/null && command -v npm >/dev/null; then continue; fi
		;;
	*)
		if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then continue; fi
		;;
	esac
	missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "install-deps: missing packages (${missing[*]}) and not root; install them with apt-get as root" >&2
		exit 1
	fi
fi
# nodejs on Debian ships npm separately.
for pkg in "${missing[@]}"; do [ "$pkg" = nodejs ] && missing+=(npm); done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock (shared machines): wait for it rather than fail.
apt=(apt-get -o DPkg::Lock::Timeout=300 -qq)
if ! { "${sudo[@]}" "${apt[@]}" update && "${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: FAILED to install ${missing[*]}" >&2
	exit 1
fi
