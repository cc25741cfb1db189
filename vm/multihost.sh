#!/usr/bin/env bash
# make vm-test-multihost: three VMs (host1, host2, client) on one virtual Ethernet segment, each
# running the scenario test packages of vm/scenarios.txt with its role.
# Usage: vm/multihost.sh [LABEL]     kernel label from vm/kernels.txt (default $MULTIHOST_KERNEL)
# The segment is a QEMU socket netdev on a multicast group bound to 127.0.0.1: nothing leaves
# the machine. Addresses on the segment are 198.18.77.0/24 (a benchmarking range, RFC 2544).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
VM_MEM=${VM_MEM:-512} VM_SMP=${VM_SMP:-1} # three VMs share the machine's two CPUs
source "$VM_DIR/qemu.sh"
trap vm_stop_all EXIT INT TERM

MULTIHOST_KERNEL=${MULTIHOST_KERNEL:-5.10}
ROLES=(host1 host2 client)
declare -A ADDR=([host1]=198.18.77.1 [host2]=198.18.77.2 [client]=198.18.77.3)
declare -A MAC=([host1]=52:54:00:77:00:01 [host2]=52:54:00:77:00:02 [client]=52:54:00:77:00:03)

main() {
	need_cmd qemu-system-x86_64 qemu-system-x86
	command -v go >/dev/null || die "go is not on PATH"
	lock "$VM_OUT"
	local k=${1:-$MULTIHOST_KERNEL} t0=$SECONDS
	kernel_line "$k" >/dev/null
	mkdir -p "$VM_OUT"
	"$VM_DIR/kernels.sh" "$k" >/dev/null

	local pkgs tests=$VM_OUT/multihost-tests initrd=$VM_OUT/multihost.initramfs.gz
	mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$VM_DIR/scenarios.txt")
	say "building scenarios: ${pkgs[*]}"
	"$VM_DIR/initramfs.sh" tests "$tests" "${pkgs[@]}" || die "a scenario did not compile"
	"$VM_DIR/initramfs.sh" pack "$k" "$tests" "$initrd"

	# One multicast port per run, so that two runs on one machine do not share a segment.
	local port=${VM_MCAST_PORT:-$((20000 + $$ % 20000))} role peers r log waits=()
	say "booting ${ROLES[*]} on kernel $k, segment 239.255.77.1:$port on 127.0.0.1"
	for role in "${ROLES[@]}"; do
		peers=
		for r in "${ROLES[@]}"; do
			[ "$r" = "$role" ] || peers="${peers:+$peers,}$r=${ADDR[$r]}"
		done
		log=$VM_OUT/multihost-$role.log
		vm_start "$log" "$VM_CACHE/kernels/$k/vmlinux" "$initrd" \
			"bpfnet.kernel=$k bpfnet.role=$role bpfnet.addr=${ADDR[$role]}/24 bpfnet.peers=$peers${TEST_RUN:+ bpfnet.run=$TEST_RUN}" \
			-netdev "socket,id=seg,mcast=239.255.77.1:$port,localaddr=127.0.0.1" \
			-device "virtio-net-pci,netdev=seg,mac=${MAC[$role]},romfile="
		waits+=("$VM_PID:$log")
	done
	vm_wait "${waits[@]}"

	local fail=0
	local -A status=()
	for role in "${ROLES[@]}"; do
		log=$VM_OUT/multihost-$role.log
		echo "== $role (${ADDR[$role]}): ${VM_RESULT[$log]}"
		if vm_report "$log"; then status[$role]=PASS; else status[$role]=FAIL fail=1; fi
	done
	echo "== summary: kernel $k, $((SECONDS - t0))s"
	for role in "${ROLES[@]}"; do echo "   $role: ${status[$role]}"; done
	if [ $fail = 0 ]; then echo "   result: PASS"; else echo "   result: FAIL"; fi
	echo "vm-test-multihost: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
	return $fail
}

main "$@"
