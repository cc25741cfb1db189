/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The endpoint a copy of the container programs serves: its identity as
 * load-time constants, and what every path of the programs asks of it.
 * Included by bpf/container.c only (it defines `config`). */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "common.h"
#include "maps.h"
#include "metrics.h"

volatile const struct endpoint_config config;

/* publishes_ports: whether replies from this endpoint may need reverse NAT.
 * Read per packet (a plain load) rather than compiled in, so publishing a
 * first port reloads nothing. */
static __always_inline int publishes_ports(void)
{
	__u32 slot = config.slot;
	struct endpoint_state *s = bpf_map_lookup_elem(&bpfnet_endpoint_state, &slot);

	return s && (s->flags & ENDPOINT_PUBLISHES_PORTS);
}

static __always_inline int in_subnet(__be32 addr)
{
	return (addr & config.subnet_mask) == config.subnet;
}

/* to_peer hands a frame to a container of the same network. Containers
 * reach their peers through the gateway's MAC (the host side of their
 * veth), so the frame is the host's (PACKET_HOST) when it arrives, and
 * stays the peer's after bpf_redirect_peer even on kernels that do not
 * reset the packet type there (5.10). The frame is not rewritten: writing
 * to a cloned skb (every TCP segment) would copy its head. */
static __always_inline int to_peer(struct __sk_buff *skb, const struct endpoint_info *peer)
{
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	count_packet(peer->slot, DIR_TO_CONTAINER, skb->len);
	return bpf_redirect_peer(peer->ifindex, 0);
}
