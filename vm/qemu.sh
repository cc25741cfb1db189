# Boots test VMs under QEMU (TCG: KVM does not work on these machines), waits for the sentinel
# that vm/init.sh prints last, and reports what the serial log says. Sourced after lib.sh.

VM_MEM=${VM_MEM:-1024}          # MiB per VM
VM_SMP=${VM_SMP:-2}             # vCPUs per VM
VM_TIMEOUT=${VM_TIMEOUT:-900}   # seconds from boot to the sentinel before a VM is killed
TEST_TIMEOUT=${TEST_TIMEOUT:-10m} # -test.timeout of each test binary in the guest
VM_TIME_SCALE=${VM_TIME_SCALE:-5} # BPFNET_E2E_TIME_SCALE in the guest: timeouts stretch under TCG
VM_PIDS=()
VM_SENTINEL="BPFNET-VM-DONE"  # the line vm/init.sh prints last, with the guest's exit code

# vm_start LOG VMLINUX INITRD APPEND [QEMU ARGS...]: starts one VM in the background with its
# serial console in LOG; sets VM_PID.
vm_start() {
	local log=$1 kernel=$2 initrd=$3 append=$4
	shift 4
	: >"$log"
	qemu-system-x86_64 -accel tcg -cpu max -m "$VM_MEM" -smp "$VM_SMP" \
		-nodefaults -no-reboot -display none -serial "file:$log" \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=5 random.trust_cpu=on bpfnet.timeout=$TEST_TIMEOUT bpfnet.timescale=$VM_TIME_SCALE $append" \
		"$@" >"$log.qemu" 2>&1 </dev/null &
	VM_PID=$!
	VM_PIDS+=("$VM_PID")
}

# vm_stop_all: kills the VMs this script started that are still running (on exit or interrupt).
vm_stop_all() {
	local pid
	for pid in "${VM_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
}

# vm_forget PID: a VM that was waited for leaves VM_PIDS, so its pid, which the system may give
# to another process, is never killed.
vm_forget() {
	local pid keep=()
	for pid in "${VM_PIDS[@]}"; do
		[ "$pid" = "$1" ] || keep+=("$pid")
	done
	VM_PIDS=("${keep[@]}")
}

has_sentinel() { grep -aq "$VM_SENTINEL rc=" "$1" 2>/dev/null; }

# vm_wait PID:LOG...: waits until each VM has printed the sentinel and stopped, or VM_TIMEOUT
# seconds have passed (then it is killed). Sets VM_RESULT[LOG] to done, stopped or timeout.
declare -A VM_RESULT=()
vm_wait() {
	local start=$SECONDS pending=("$@") still item pid log
	while [ ${#pending[@]} -gt 0 ]; do
		still=()
		for item in "${pending[@]}"; do
			pid=${item%%:*} log=${item#*:}
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null || true
				vm_forget "$pid"
				if has_sentinel "$log"; then VM_RESULT[$log]="done"; else VM_RESULT[$log]=stopped; fi
			elif [ $((SECONDS - start)) -ge "$VM_TIMEOUT" ]; then
				kill "$pid" 2>/dev/null || true
				wait "$pid" 2>/dev/null || true
				vm_forget "$pid"
				VM_RESULT[$log]=timeout
			else
				still+=("$item")
			fi
		done
		pending=("${still[@]}")
		[ ${#pending[@]} -eq 0 ] || sleep 0.5
	done
}

# vm_report LOG: prints the per-binary and per-test results of one VM and returns 0 only
# when the guest reported rc=0. Adds its top-level test counts to TOTAL_PASSED, TOTAL_FAILED and
# TOTAL_SKIPPED (a VM that failed without a failing test line counts as one failure).
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0
vm_report() {
	local log=$1 result=${VM_RESULT[$1]:-stopped} rc counts p f s
	rc=$(tr -d '\r' <"$log" | sed -n "s/.*$VM_SENTINEL rc=\([0-9]*\).*/\1/p" | tail -n 1)
	counts=$(tr -d '\r' <"$log" | awk '
		/^--- PASS: / { p++ } /^--- FAIL: / { f++ } /^--- SKIP: / { s++ }
		END { print p + 0, f + 0, s + 0 }')
	read -r p f s <<<"$counts"
	if [ "$f" = 0 ] && ! { [ "$result" = "done" ] && [ "$rc" = 0 ]; }; then f=1; fi
	TOTAL_PASSED=$((TOTAL_PASSED + p)) TOTAL_FAILED=$((TOTAL_FAILED + f)) TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
	tr -d '\r' <"$log" | awk '
		/BPFNET-VM: kernel / { sub(/.*BPFNET-VM: /, ""); print "   " $0; next }
		/BPFNET-VM: (PASS|FAIL) / {
			sub(/.*BPFNET-VM: /, "")
			printf "   %s %s %s\n", $1, $2, substr($0, index($0, "(")); next
		}
		/BPFNET-VM: RUN / { print "   " $NF ":"; next }
		/BPFNET-VM: insmod / { sub(/.*BPFNET-VM: /, ""); print "   " $0; next }
		/^ *--- (PASS|FAIL|SKIP): / {
			match($0, /^ */); indent = RLENGTH
			sub(/^ *--- /, ""); sub(/:/, "")
			extra = ""
			if ($1 == "FAIL") extra = "  (log line " NR ")"
			if ($1 == "SKIP" && last != "") extra = "  " last
			last = ""
			# Passing subtests only with VM_VERBOSE=1: the suites grow.
			if (indent > 0 && $1 == "PASS" && ENVIRON["VM_VERBOSE"] != "1") next
			printf "      %*s%s%s\n", indent, "", $0, extra
			next
		}
		/^ +[A-Za-z0-9_]+\.go:[0-9]+: / { last = $0; sub(/^ +/, "", last) }
		/^panic: / { printf "   %s  (log line %d)\n", $0, NR }
		/capability: / { sub(/.*capability: /, ""); caps = caps " " $0; next }
		/Kernel panic|BUG: |Oops|WARNING: CPU/ { printf "   kernel: %s  (log line %d)\n", $0, NR }
		END { if (caps != "") print "   capabilities:" caps }
	'
	case $result in
	timeout) echo "   TIMEOUT: no '$VM_SENTINEL' line within ${VM_TIMEOUT}s; the VM was killed" ;;
	stopped) echo "   the VM stopped without printing '$VM_SENTINEL' (crash? see the end of the log)" ;;
	esac
	if [ "$result" = "done" ] && [ "$rc" = 0 ]; then
		return 0
	fi
	if [ "$result" != "done" ]; then
		tr -d '\r' <"$log" | tail -n 15 | sed 's/^/   | /'
		[ -s "$log.qemu" ] && sed 's/^/   qemu: /' "$log.qemu"
	fi
	echo "   guest log: ${log#"$ROOT"/}"
	return 1
}
