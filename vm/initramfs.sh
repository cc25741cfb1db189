#!/usr/bin/env bash
# Builds what goes into a test VM's initramfs.
#   vm/initramfs.sh tests OUTDIR PKG...     static test binaries: OUTDIR/NAME/NAME.test (+ testdata)
#                                           and OUTDIR/ORDER; NAME is the package path, / -> _
#   vm/initramfs.sh pack LABEL TESTDIR OUT  /init + busybox + LABEL's modules + TESTDIR -> OUT
# Environment: VM_TAGS (go build tags for the tests), VM_BINS (main packages built static into
# /usr/local/bin), VM_FILES ("hostpath:guestpath ..." copied as they are).
# Prints "BUILD FAIL PKG" and exits 2 when some package does not compile; the others are built.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# test_name PKG: ./vm/smoke -> vm_smoke
test_name() {
	local p=${1#./}
	p=${p#"$(cd "$ROOT" && go list -m)"/}
	[ "$p" = . ] || [ -z "$p" ] && p=root
	printf '%s\n' "${p//\//_}"
}

build_tests() {
	local out=$1
	shift
	rm -rf "$out"
	mkdir -p "$out"
	: >"$out/ORDER"
	local pkg name dir failed=0
	for pkg in "$@"; do
		name=$(test_name "$pkg")
		mkdir -p "$out/$name"
		if ! (cd "$ROOT" && CGO_ENABLED=0 go test -c ${VM_TAGS:+-tags "$VM_TAGS"} \
			-ldflags='-s -w' -o "$out/$name/$name.test" "$pkg") >"$out/$name.build.log" 2>&1; then
			echo "BUILD FAIL $pkg"
			sed -n '1,20s/^/    /p' "$out/$name.build.log"
			rm -rf "${out:?}/$name"
			failed=1
			continue
		fi
		# go test -c writes nothing for a package without tests.
		if [ ! -f "$out/$name/$name.test" ]; then
			rm -rf "${out:?}/$name"
			continue
		fi
		if readelf -l "$out/$name/$name.test" | grep -c INTERP >/dev/null; then # -c reads all: no SIGPIPE
			die "$name.test is not static (CGO_ENABLED=0 should make it so)"
		fi
		dir=$(cd "$ROOT" && go list ${VM_TAGS:+-tags "$VM_TAGS"} -f '{{.Dir}}' "$pkg") || dir=
		if [ -n "$dir" ] && [ -d "$dir/testdata" ]; then cp -r "$dir/testdata" "$out/$name/"; fi
		echo "$name" >>"$out/ORDER"
	done
	local bin
	for bin in ${VM_BINS:-}; do
		mkdir -p "$out/bin"
		if ! (cd "$ROOT" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$out/bin/" "$bin") \
			>"$out/bin.build.log" 2>&1; then
			echo "BUILD FAIL $bin"
			sed -n '1,20s/^/    /p' "$out/bin.build.log"
			failed=1
		fi
	done
	[ $failed = 0 ] || exit 2
}

# busybox_path: the static busybox from Debian's busybox-static, unpacked once into the cache.
busybox_path() {
	local bb=$VM_CACHE/busybox/bin/busybox suite deb
	if [ ! -x "$bb" ]; then
		lock "$VM_CACHE"
		suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
		deb=$(deb_fetch "$suite" busybox-static)
		rm -rf "$VM_CACHE/busybox"
		dpkg-deb -x "$deb" "$VM_CACHE/busybox"
		[ -x "$bb" ] || die "$deb has no bin/busybox"
	fi
	printf '%s\n' "$bb"
}

pack() {
	local label=$1 tests=$2 out=$3 kdir bb stage f
	kdir=$VM_CACHE/kernels/$label
	[ -f "$kdir/modules.order" ] || die "kernel $label is not prepared (vm/kernels.sh $label)"
	bb=$(busybox_path)
	stage=$(mktemp -d "$VM_OUT/stage.XXXXXX")
	trap 'rm -rf "$stage"' RETURN
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,run,tmp,etc,lib/modules/vm,t}
	cp "$bb" "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	cp "$VM_DIR/init.sh" "$stage/init"
	chmod 755 "$stage/init"
	mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
	mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true
	cp "$kdir/modules.order" "$kdir/modules/"*.ko "$stage/lib/modules/vm/" 2>/dev/null ||
		cp "$kdir/modules.order" "$stage/lib/modules/vm/"
	cp -r "$tests"/. "$stage/t/"
	rm -f "$stage"/t/*.log
	if [ -d "$stage/t/bin" ]; then
		mv "$stage"/t/bin/* "$stage/usr/local/bin/"
		rmdir "$stage/t/bin"
	fi
	for f in ${VM_FILES:-}; do
		mkdir -p "$stage/$(dirname "${f#*:}")"
		cp -r "${f%%:*}" "$stage/${f#*:}"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$bb" cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$out.tmp"
	mv "$out.tmp" "$out"
}

case ${1:-} in
tests) shift && build_tests "$@" ;;
pack) shift && pack "$@" ;;
*) die "usage: $0 tests OUTDIR PKG... | pack LABEL TESTDIR OUT" ;;
esac
