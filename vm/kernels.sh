#!/usr/bin/env bash
# Fetches the pinned kernels (vm/kernels.txt) and prepares each for booting:
#   vm/cache/kernels/LABEL/vmlinux        the ELF kernel extracted from the package's vmlinuz
#   vm/cache/kernels/LABEL/modules/*.ko   the modules of vm/modules.txt and their dependencies
#   vm/cache/kernels/LABEL/modules.order  insmod order, dependencies first
#   vm/cache/kernels/LABEL/release        uname -r of the kernel
# Usage: vm/kernels.sh [LABEL...]   (all pinned kernels when none is given)
# Nothing is installed on the host: apt-get download + dpkg-deb -x into vm/cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# extract_vmlinux VMLINUZ OUT: finds the compressed payload inside a bzImage by its magic bytes
# and decompresses it until an ELF comes out (the logic of the kernel's scripts/extract-vmlinux).
extract_vmlinux() {
	local img=$1 out=$2 magic fill cmd pos
	while read -r magic fill cmd; do
		for pos in $(LC_ALL=C tr "$magic\n$fill" "\n$fill=" <"$img" | LC_ALL=C grep -abo "^$fill" || true); do
			pos=${pos%%:*}
			tail -c "+$pos" "$img" | $cmd >"$out" 2>/dev/null || true
			if readelf -h "$out" >/dev/null 2>&1; then
				say "  vmlinux: ${cmd%% *} payload at byte $pos"
				return 0
			fi
		done
	done <<-'MAGIC'
		\037\213\010 xy gzip -dc
		\3757zXZ\000 abcde xz -dc
		(\265/\375 xxx zstd -dc
		\002!L\030 xxx lz4 -dc
		BZh xy bzip2 -dc
		\135\0\0\0 xxx xz -dc --format=lzma
	MAGIC
	rm -f "$out"
	die "no known compressed kernel found in $img"
}

# collect_modules MODDIR OUTDIR: copies the wanted modules and their dependencies, decompressed,
# to OUTDIR/modules and writes OUTDIR/modules.order (dependencies first).
collect_modules() {
	local moddir=$1 out=$2 f b
	declare -gA MOD_PATH=() MOD_BUILTIN=() MOD_STATE=()
	MOD_ORDER=()
	MOD_NOTES=()
	while read -r f; do
		b=${f##*/}
		b=${b%%.ko*}
		MOD_PATH[${b//-/_}]=$f
	done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
	if [ -f "$moddir/modules.builtin" ]; then
		while read -r f; do
			b=${f##*/}
			b=${b%.ko}
			MOD_BUILTIN[${b//-/_}]=1
		done <"$moddir/modules.builtin"
	fi
	mkdir -p "$out/modules"
	local want optional
	while read -r want; do
		optional=
		case $want in *\?) optional=1 want=${want%\?} ;; esac
		visit_module "$want" "$optional" "$out/modules" "(listed)"
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]//g' "$VM_MODULES_FILE")
	printf '%s\n' "${MOD_ORDER[@]}" >"$out/modules.order"
	printf '%s\n' "${MOD_NOTES[@]}" >"$out/modules.summary"
}

visit_module() {
	local name=${1//-/_} optional=$2 dest=$3 by=$4 src deps dep
	case ${MOD_STATE[$name]:-} in
	done) return 0 ;;
	visiting) die "module dependency cycle at $name" ;;
	esac
	if [ -n "${MOD_BUILTIN[$name]:-}" ]; then
		MOD_STATE[$name]="done"
		MOD_NOTES+=("$name built-in")
		return 0
	fi
	src=${MOD_PATH[$name]:-}
	if [ -z "$src" ]; then
		[ -n "$optional" ] || die "module $name (needed by $by) is neither a module nor built in"
		MOD_STATE[$name]="done"
		MOD_NOTES+=("$name absent")
		return 0
	fi
	MOD_STATE[$name]=visiting
	case $src in
	*.ko.xz) xz -dc "$src" >"$dest/$name.ko" ;;
	*.ko.zst) zstd -q -dc "$src" >"$dest/$name.ko" ;;
	*.ko.gz) gzip -dc "$src" >"$dest/$name.ko" ;;
	*) cp "$src" "$dest/$name.ko" ;;
	esac
	deps=$(tr '\0' '\n' <"$dest/$name.ko" | sed -n 's/^depends=//p')
	deps=${deps%%$'\n'*}
	for dep in ${deps//,/ }; do
		visit_module "$dep" "" "$dest" "$name"
	done
	MOD_STATE[$name]="done"
	MOD_ORDER+=("$name")
	MOD_NOTES+=("$name module${deps:+ (needs ${deps//,/ })}")
}

prepare_kernel() {
	local label suite pkg dir stamp deb
	read -r label suite pkg < <(kernel_line "$1")
	dir=$VM_CACHE/kernels/$label
	stamp="$pkg $(cksum <"$VM_MODULES_FILE")"
	if [ -f "$dir/vmlinux" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	say "kernel $label: $pkg ($suite)"
	deb=$(deb_fetch "$suite" "$pkg")
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp/root"
	local vmlinuz release moddir
	vmlinuz=$(find "$dir.tmp/root/boot" -name 'vmlinuz-*' 2>/dev/null)
	[ -f "$vmlinuz" ] || die "$deb has no single boot/vmlinuz-*"
	release=${vmlinuz##*/vmlinuz-}
	echo "$release" >"$dir.tmp/release"
	extract_vmlinux "$vmlinuz" "$dir.tmp/vmlinux"
	moddir=$dir.tmp/root/lib/modules/$release
	[ -d "$moddir" ] || moddir=$dir.tmp/root/usr/lib/modules/$release
	[ -d "$moddir" ] || die "$deb has no modules for $release"
	cp "$dir.tmp/root/boot/config-$release" "$dir.tmp/config" 2>/dev/null || true
	collect_modules "$moddir" "$dir.tmp"
	rm -rf "$dir.tmp/root"
	echo "$stamp" >"$dir.tmp/stamp"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	say "  $release: $(tr '\n' ' ' <"$dir/modules.order")"
}

main() {
	need_cmd dpkg-deb dpkg
	need_cmd readelf binutils
	need_cmd xz xz-utils
	need_cmd zstd zstd
	need_cmd lz4 lz4
	lock "$VM_CACHE"
	local labels=("$@")
	[ ${#labels[@]} -gt 0 ] || mapfile -t labels < <(kernel_labels)
	local k
	for k in "${labels[@]}"; do
		prepare_kernel "$k"
		printf '%s\n' "$VM_CACHE/kernels/$k"
	done
}

main "$@"
