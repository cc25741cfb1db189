#!/usr/bin/env bash
# A two-minute tour of bpfnet in a private instance: its own "host" network
# namespace, state dir and bpffs, all removed at the end.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }

CGO_ENABLED=0 go build -o bin/bpfnet ./cmd/bpfnet
# The demo's own ping: iputils-ping is not on a fresh machine.
CGO_ENABLED=0 go build -o bin/demo-ping ./demo/ping
ping=bin/demo-ping
host=bpfnet-demo-$$
export BPFNET_ROOT=$(mktemp -d /tmp/bpfnet-demo.XXXXXX) BPFNET_HOST_NETNS=/run/netns/$host
cleanup() {
	bin/bpfnet system reset -f >/dev/null 2>&1 || true
	ip netns del "$host" 2>/dev/null || true
	rm -rf "$BPFNET_ROOT"
}
trap cleanup EXIT
ip netns add "$host"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
try() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@" || echo "(failed, as it should)"; }

say bin/bpfnet network ls
say bin/bpfnet network create demo
say bin/bpfnet network create --internal --subnet 10.123.0.0/24 isolated
say bin/bpfnet container create web --network demo
say bin/bpfnet container create client --network demo
say bin/bpfnet container create loner --network isolated
say bin/bpfnet container ls
ip='{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'
web=$(bin/bpfnet container inspect -f "$ip" web)
loner=$(bin/bpfnet container inspect -f "$ip" loner)
say bin/bpfnet exec client -- "$ping" -c 3 -i 0.2 "$web"
try bin/bpfnet exec client -- "$ping" -c 2 -i 0.2 -W 1 "$loner"
say bin/bpfnet stats
say bin/bpfnet network inspect isolated
