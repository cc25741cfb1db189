#!/usr/bin/env bash
# make vm-test: boots each pinned kernel (vm/kernels.txt) in QEMU with the project's test
# binaries in the initramfs and fails unless every kernel reports success.
# Usage: vm/run.sh [LABEL...]        e.g. vm/run.sh 5.10  (all pinned kernels when none given)
# Environment:
#   VM_PKGS="./a ./b"    test packages to run (default: every package with tests outside vm/ and
#                        bench/, plus ./vm/smoke)
#   VM_SELFTEST_FAIL=1   also run ./vm/selftest, a test that always fails (see vm/selfcheck.sh)
#   TEST_RUN=REGEX       -test.run for every binary;  TEST_TIMEOUT=10m  -test.timeout
#   VM_TIMEOUT=900 VM_MEM=1024 VM_SMP=2   per-VM limits;  VM_TAGS, VM_BINS, VM_FILES: see initramfs.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$VM_DIR/qemu.sh"
trap vm_stop_all EXIT INT TERM

# test_packages: the packages whose test binaries go into the guest.
test_packages() {
	if [ -n "${VM_PKGS:-}" ]; then
		printf '%s\n' $VM_PKGS # split on spaces
	else
		local mod
		mod=$(cd "$ROOT" && go list -m)
		(cd "$ROOT" && go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...) |
			grep -v -E "^$mod/(vm|bench|store/etcdstore)(/|\$)" || true # etcd: no kernel in it, and TCG would stretch its timeouts
		echo ./vm/smoke
	fi
	if [ "${VM_SELFTEST_FAIL:-}" = 1 ]; then
		echo ./vm/selftest
	fi
}

main() {
	need_cmd qemu-system-x86_64 qemu-system-x86
	command -v go >/dev/null || die "go is not on PATH"
	lock "$VM_OUT"
	local labels=("$@") t0=$SECONDS
	[ ${#labels[@]} -gt 0 ] || mapfile -t labels < <(kernel_labels)
	mkdir -p "$VM_OUT"

	local k
	for k in "${labels[@]}"; do kernel_line "$k" >/dev/null; done
	"$VM_DIR/kernels.sh" "${labels[@]}" >/dev/null

	local pkgs build_ok=1 tests=$VM_OUT/tests
	mapfile -t pkgs < <(test_packages)
	[ "${VM_SELFTEST_FAIL:-}" = 1 ] && export VM_TAGS="${VM_TAGS:+$VM_TAGS,}vmselftest"
	say "building ${#pkgs[@]} test binaries (CGO_ENABLED=0): ${pkgs[*]}"
	local tb=$SECONDS
	"$VM_DIR/initramfs.sh" tests "$tests" "${pkgs[@]}" || build_ok=0
	say "built in $((SECONDS - tb))s: $(tr '\n' ' ' <"$tests/ORDER")"

	local -A status=() took=()
	local log initrd start append
	for k in "${labels[@]}"; do
		start=$SECONDS
		initrd=$VM_OUT/$k.initramfs.gz
		log=$VM_OUT/$k.log
		"$VM_DIR/initramfs.sh" pack "$k" "$tests" "$initrd"
		append="bpfnet.kernel=$k${TEST_RUN:+ bpfnet.run=$TEST_RUN}"
		say "booting $k ($(cat "$VM_CACHE/kernels/$k/release")), log ${log#"$ROOT"/}"
		vm_start "$log" "$VM_CACHE/kernels/$k/vmlinux" "$initrd" "$append"
		vm_wait "$VM_PID:$log"
		took[$k]=$((SECONDS - start))
		echo "== kernel $k: $([ "${VM_RESULT[$log]}" = "done" ] && echo finished || echo "${VM_RESULT[$log]}") in ${took[$k]}s"
		if vm_report "$log"; then status[$k]=PASS; else status[$k]=FAIL; fi
	done

	echo "== summary ($((SECONDS - t0))s)"
	local fail=0
	if [ $build_ok = 0 ]; then
		echo "   build: FAIL (a test package did not compile, see above)"
		fail=1 TOTAL_FAILED=$((TOTAL_FAILED + 1))
	fi
	for k in "${labels[@]}"; do
		echo "   kernel $k: ${status[$k]} (${took[$k]}s)"
		[ "${status[$k]}" = PASS ] || fail=1
	done
	if [ $fail = 0 ]; then echo "   result: PASS"; else echo "   result: FAIL"; fi
	# The closing line: top-level tests over all kernels.
	echo "vm-test: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
	return $fail
}

main "$@"
