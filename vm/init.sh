#!/bin/busybox sh
# /init of the test VMs (busybox sh). Mounts the kernel filesystems, loads the modules, sets up the
# network, runs each test binary under /t and powers off. vm/run.sh and vm/multihost.sh read the
# serial log: "BPFNET-VM: PASS|FAIL NAME" per binary and, last, "BPFNET-VM-DONE rc=N".
#
# Kernel command line (written by the runners):
#   bpfnet.kernel=LABEL     pinned kernel label, exported as BPFNET_KERNEL
#   bpfnet.timeout=DUR      -test.timeout of each binary (default 10m)
#   bpfnet.tests=A,B        run only these binaries (default: all, in /t/ORDER)
#   bpfnet.run=REGEX        -test.run for every binary (no spaces)
#   bpfnet.timescale=N      exported as BPFNET_E2E_TIME_SCALE: TCG runs code several times slower
#   bpfnet.role=ROLE bpfnet.addr=IP/LEN bpfnet.peers=ROLE=IP,...   multi-host runs only
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /dev/pts /run/netns && mount -t devpts devpts /dev/pts
ln -s /proc/self/fd /dev/fd 2>/dev/null
hostname bpfnet-vm
ip link set lo up

set -f # the command line may hold a -test.run regex: no globbing
KERNEL='' TIMEOUT=10m SCALE=1 TESTS='' RUN='' ROLE='' ADDR='' PEERS=''
for arg in $(cat /proc/cmdline); do
	case $arg in
	bpfnet.kernel=*) KERNEL=${arg#*=} ;;
	bpfnet.timeout=*) TIMEOUT=${arg#*=} ;;
	bpfnet.tests=*) TESTS=$(echo "${arg#*=}" | tr , ' ') ;;
	bpfnet.run=*) RUN=${arg#*=} ;;
	bpfnet.timescale=*) SCALE=${arg#*=} ;;
	bpfnet.role=*) ROLE=${arg#*=} ;;
	bpfnet.addr=*) ADDR=${arg#*=} ;;
	bpfnet.peers=*) PEERS=${arg#*=} ;;
	esac
done

echo "BPFNET-VM: kernel $(uname -r) (label ${KERNEL:-?}), $(nproc) cpu, $(awk '/MemTotal/ { print int($2/1024) }' /proc/meminfo) MiB${ROLE:+, role $ROLE}"
modfail=
for m in $(cat /lib/modules/vm/modules.order); do
	if ! out=$(insmod "/lib/modules/vm/$m.ko" 2>&1); then
		echo "BPFNET-VM: insmod $m failed: $out"
		modfail="$modfail $m"
	fi
done
echo "BPFNET-VM: modules loaded: $(awk '{ print $1 }' /proc/modules | tr '\n' ' ')"

export BPFNET_VM=1 BPFNET_KERNEL="$KERNEL" BPFNET_KERNEL_RELEASE="$(uname -r)" BPFNET_E2E_TIME_SCALE="$SCALE"
if [ -n "$ROLE" ]; then
	export BPFNET_VM_ROLE="$ROLE" BPFNET_VM_ADDR="$ADDR" BPFNET_VM_PEERS="$PEERS" BPFNET_VM_DEV=eth0
	ip addr add "$ADDR" dev eth0 && ip link set eth0 up ||
		echo "BPFNET-VM: cannot configure eth0 with $ADDR"
	echo "BPFNET-VM: $ROLE is $ADDR on eth0, peers $PEERS"
fi

[ -n "$TESTS" ] || TESTS=$(cat /t/ORDER)
passed=0 failed=0 rc=0
for name in $TESTS; do
	bin=/t/$name/$name.test
	echo "BPFNET-VM: RUN $name"
	if [ ! -x "$bin" ]; then
		echo "BPFNET-VM: FAIL $name (no such test binary)"
		failed=$((failed + 1)) rc=1
		continue
	fi
	start=$(date +%s)
	(cd "/t/$name" && exec "$bin" -test.v -test.timeout="$TIMEOUT" ${RUN:+-test.run="$RUN"} </dev/null)
	status=$?
	took=$(($(date +%s) - start))
	if [ $status = 0 ]; then
		echo "BPFNET-VM: PASS $name (${took}s)"
		passed=$((passed + 1))
	else
		echo "BPFNET-VM: FAIL $name (exit $status, ${took}s)"
		failed=$((failed + 1)) rc=1
	fi
done
if [ -n "$modfail" ]; then
	echo "BPFNET-VM: FAIL modules (insmod failed:$modfail)"
	rc=1
fi

echo "BPFNET-VM-DONE rc=$rc passed=$passed failed=$failed"
sync
poweroff -f
