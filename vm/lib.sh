# Shared by the vm/ scripts: paths, messages and the private apt configuration.
# Sourced, not run. Everything downloaded goes to $VM_CACHE, everything built to $VM_OUT.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$VM_DIR")
VM_CACHE=${VM_CACHE:-$VM_DIR/cache}
VM_OUT=${VM_OUT:-$VM_DIR/out}
VM_KERNELS_FILE=${VM_KERNELS_FILE:-$VM_DIR/kernels.txt}
VM_MODULES_FILE=${VM_MODULES_FILE:-$VM_DIR/modules.txt}
# A download that makes no progress for this long fails instead of hanging.
VM_NET_TIMEOUT=${VM_NET_TIMEOUT:-20}

say() { printf '%s\n' "vm: $*" >&2; }
die() { printf '%s\n' "vm: error: $*" >&2; exit 1; }

# lock DIR: holds DIR/.lock until the calling (sub)shell exits, so that two runs in one tree (the
# tree is shared) do not overwrite each other's files; waits up to VM_LOCK_WAIT seconds.
lock() {
	local fd
	mkdir -p "$1"
	exec {fd}>"$1/.lock"
	if ! flock -n "$fd"; then
		say "waiting for another vm run that holds ${1#"$ROOT"/}/.lock"
		flock -w "${VM_LOCK_WAIT:-3600}" "$fd" || die "${1#"$ROOT"/} is still locked by another vm run"
	fi
}

# kernel_line LABEL: prints "LABEL SUITE PACKAGE" from the pinned list, or fails.
kernel_line() {
	local line
	line=$(awk -v k="$1" '!/^#/ && $1 == k { print $1, $2, $3 }' "$VM_KERNELS_FILE")
	[ -n "$line" ] || die "kernel '$1' is not in $VM_KERNELS_FILE (known: $(kernel_labels | tr '\n' ' '))"
	printf '%s\n' "$line"
}

kernel_labels() { awk '!/^#/ && NF >= 3 { print $1 }' "$VM_KERNELS_FILE"; }

# need_cmd CMD PACKAGE: installs PACKAGE with apt-get when CMD is missing on the host.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	say "installing $2 (for $1)"
	local try
	for try in 1 2; do
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "$2" >/dev/null && break
		[ $try = 2 ] && die "could not install $2 with apt-get"
		timeout 300 apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null || true
	done
	command -v "$1" >/dev/null 2>&1 || die "$2 is installed but $1 is still missing"
}

# debian_mirrors: prints "main URI", "security URI" and "keyring FILE" taken from the machine's
# own apt sources (deb822 .sources files or one-line .list files).
debian_mirrors() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		case $f in
		*.sources)
			awk '
			function flush() {
				if (uri ~ /debian/ && types ~ /(^| )deb( |$)/) {
					kind = (suites ~ /-security/) ? "security" : "main"
					print kind, uri
					if (key != "") print "keyring", key
				}
				uri = ""; suites = ""; types = ""; key = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { suites = $0 }
			/^Signed-By:/ { key = $2 }
			END { flush() }' "$f"
			;;
		*)
			awk '$1 == "deb" {
				uri = ""; suite = ""
				for (i = 2; i <= NF; i++) {
					if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
					if (uri == "") uri = $i; else if (suite == "") suite = $i
				}
				if (uri ~ /debian/) print ((suite ~ /-security/) ? "security" : "main"), uri
			}' "$f"
			;;
		esac
	done
}

# apt_private SUITE ARGS...: runs apt-get with a configuration of its own for SUITE (bullseye,
# bookworm...): sources copied from the machine's Debian mirror lines with the suite changed,
# lists and archives under $VM_CACHE/apt/SUITE. The machine's apt setup is not touched.
apt_private() {
	local suite=$1
	shift
	local dir=$VM_CACHE/apt/$suite
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	if [ ! -s "$dir/sources.list" ]; then
		local mirrors main sec key
		mirrors=$(debian_mirrors)
		main=$(awk '$1 == "main" { print $2; exit }' <<<"$mirrors")
		sec=$(awk '$1 == "security" { print $2; exit }' <<<"$mirrors")
		key=$(awk '$1 == "keyring" { print $2; exit }' <<<"$mirrors")
		[ -n "$main" ] || die "no Debian mirror line found in /etc/apt/sources.list*"
		[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
		{
			echo "deb [signed-by=$key] $main $suite main"
			echo "deb [signed-by=$key] $main $suite-updates main"
			[ -n "$sec" ] && echo "deb [signed-by=$key] $sec $suite-security main"
		} >"$dir/sources.list.tmp"
		mv "$dir/sources.list.tmp" "$dir/sources.list"
	fi
	timeout "${APT_TIMEOUT:-300}" apt-get -q \
		-o Dir::Etc::sourcelist="$dir/sources.list" \
		-o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::Lists="$dir/lists" \
		-o Dir::Cache="$dir" \
		-o Dir::Cache::archives="$dir/archives" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Sandbox::User=root \
		-o Acquire::http::Timeout="$VM_NET_TIMEOUT" \
		-o Acquire::https::Timeout="$VM_NET_TIMEOUT" \
		-o Acquire::Retries=2 \
		"$@"
}

# apt_update SUITE: refreshes the private lists of SUITE when older than a day (or forced).
apt_update() {
	local stamp=$VM_CACHE/apt/$1/updated
	if [ "${2:-}" != force ] && [ -n "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		return 0
	fi
	say "apt-get update ($1, private lists in ${VM_CACHE#"$ROOT"/}/apt/$1)"
	local log=$VM_CACHE/apt/$1.update.log
	mkdir -p "$VM_CACHE/apt"
	if ! apt_private "$1" update >"$log" 2>&1 || grep -q '^\(E\|W\): Failed to fetch' "$log"; then
		sed 's/^/    /' "$log" | tail -n 8 >&2
		die "apt-get update for $1 failed (log: $log)"
	fi
	touch "$stamp"
}

# deb_fetch SUITE PACKAGE: prints the path of PACKAGE's .deb, downloading it once into
# $VM_CACHE/debs. A package the mirror does not serve fails fast with a clear message.
deb_fetch() {
	local suite=$1 pkg=$2 debs=$VM_CACHE/debs found
	mkdir -p "$debs"
	found=("$debs/$pkg"_*.deb)
	if [ -f "${found[0]}" ]; then
		printf '%s\n' "${found[0]}"
		return 0
	fi
	apt_update "$suite"
	local try
	for try in 1 2; do
		if (cd "$debs" && apt_private "$suite" download "$pkg") >"$debs/$pkg.log" 2>&1; then
			found=("$debs/$pkg"_*.deb)
			[ -f "${found[0]}" ] && { printf '%s\n' "${found[0]}"; return 0; }
		fi
		# Stale lists point at files the mirror dropped: refresh once and retry.
		[ $try = 1 ] && apt_update "$suite" force
	done
	sed 's/^/    /' "$debs/$pkg.log" | tail -n 5 >&2
	die "cannot download $pkg from $suite (pinned in ${VM_KERNELS_FILE#"$ROOT"/}?); Debian may have dropped it: pick the current name with 'apt-cache search' and update the pin"
}
