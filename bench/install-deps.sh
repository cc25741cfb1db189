#!/bin/sh
# Installs, with apt-get and only when missing, what `make bench` needs:
# iperf3, iptables, conntrack, bpftool, and docker.io for its docker-proxy
# (the host-local goals' reference; no dockerd is started by this); with
# DOCKERD=1 also busybox-static (the offline image's shell).
set -eu

need=""
want() {
	command -v "$1" >/dev/null 2>&1 && return
	case " $need " in *" $2 "*) ;; *) need="$need $2" ;; esac
}
want iperf3 iperf3
want iptables iptables
want iptables-restore iptables
want conntrack conntrack
want bpftool bpftool
want nsenter util-linux
want ss iproute2
want docker-proxy docker.io
if [ "${DOCKERD:-}" = 1 ]; then
	want dockerd docker.io
	[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need="$need busybox-static"
	want file file
fi
[ -z "$need" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "bench: missing:$need; run as root (or install them) first" >&2
	exit 1
fi
echo "bench: installing$need" >&2

# docker.io's maintainer script would start dockerd in the root network
# namespace (where it rewrites iptables) on a machine whose init allows it:
# the standard Debian policy-rc.d hook forbids that for this install. The
# harness runs its own dockerd inside a namespace of its own.
cleanup_policy=""
case "$need" in *docker.io*)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		cleanup_policy=1
	fi
esac
trap 'if [ -n "$cleanup_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of $need is intended
apt-get install -y -qq --no-install-recommends $need >/dev/null
