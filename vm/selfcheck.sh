#!/usr/bin/env bash
# make vm-test-selfcheck: tests of the harness itself. Passes only when
#   1. a test that fails inside the VM (vm/selftest, VM_SELFTEST_FAIL=1) makes vm/run.sh fail
#      and is named in its report;
#   2. a kernel package the mirror does not have fails quickly with a clear message;
#   3. a VM that does not finish in VM_TIMEOUT is killed and reported, not waited for.
# Usage: vm/selfcheck.sh [LABEL]   (default 5.10)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
k=${1:-5.10}
out=$VM_OUT/selfcheck
mkdir -p "$out"
bad=0
bad_count=0
check() { # check NAME RESULT (0 = as expected)
	if [ "$2" = 0 ]; then
		echo "selfcheck: ok   $1"
	else
		echo "selfcheck: FAIL $1"
		bad=1 bad_count=$((bad_count + 1))
	fi
}

echo "selfcheck: 1. a failing test in the guest"
VM_SELFTEST_FAIL=1 VM_PKGS=./vm/smoke "$VM_DIR/run.sh" "$k" >"$out/failing.out" 2>&1
rc=$?
sed 's/^/   | /' "$out/failing.out" | grep -E 'FAIL|vm-test:|guest log' || true
r=1
[ $rc != 0 ] && grep -q 'FAIL TestHarnessSeesFailure' "$out/failing.out" &&
	grep -q 'FAIL vm_selftest' "$out/failing.out" && grep -q '^vm-test: [0-9]* passed, [1-9][0-9]* failed' "$out/failing.out" && r=0
check "failing test -> vm/run.sh exit $rc, test and binary reported" $r

echo "selfcheck: 2. a kernel that cannot be downloaded"
printf '9.99 %s linux-image-9.99.0-1-amd64-unsigned\n' "$(. /etc/os-release && echo "$VERSION_CODENAME")" >"$out/kernels.txt"
start=$SECONDS
VM_KERNELS_FILE=$out/kernels.txt timeout 300 "$VM_DIR/kernels.sh" 9.99 >"$out/missing.out" 2>&1
rc=$?
took=$((SECONDS - start))
sed 's/^/   | /' "$out/missing.out" | tail -n 3
r=1
[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'cannot download linux-image-9.99' "$out/missing.out" && r=0
check "missing kernel -> exit $rc after ${took}s with a clear message" $r

echo "selfcheck: 3. a VM that does not finish in time"
start=$SECONDS
VM_TIMEOUT=2 VM_PKGS=./vm/smoke "$VM_DIR/run.sh" "$k" >"$out/timeout.out" 2>&1
rc=$?
took=$((SECONDS - start))
grep -E 'TIMEOUT|vm-test:' "$out/timeout.out" | sed 's/^/   | /'
r=1
[ $rc != 0 ] && grep -q 'TIMEOUT' "$out/timeout.out" && r=0
check "VM_TIMEOUT=2 -> killed and reported, exit $rc after ${took}s" $r

[ $bad = 0 ] || echo "selfcheck: outputs in ${out#"$ROOT"/}"
echo "vm-test-selfcheck: $((3 - bad_count)) passed, $bad_count failed"
exit $bad
