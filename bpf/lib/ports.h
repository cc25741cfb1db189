/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Published ports: where a host address and port lead, and the way back
 * for a reply that lost its flow. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "ct.h"

/* published returns the target of addr:port/proto: a mapping on that very
 * address wins over one on every address (0.0.0.0). */
static __always_inline struct port_target *published(__u32 addr, __u16 port, __u8 proto)
{
	struct port_key key = { .host_ip = addr, .host_port = port, .proto = proto };
	struct port_target *t = bpf_map_lookup_elem(&bpfnet_ports, &key);

	if (t)
		return t;
	key.host_ip = 0;
	return bpf_map_lookup_elem(&bpfnet_ports, &key);
}

/* is_masquerade_port: port (network byte order) is one masquerade hands out. */
static __always_inline int is_masquerade_port(__u16 port)
{
	return bpf_ntohs(port) >= SNAT_PORT_FIRST;
}

static __always_inline int is_loopback(__u32 addr)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

static __always_inline int is_host_ip(__u32 addr)
{
	return bpf_map_lookup_elem(&bpfnet_host_ips, &addr) != NULL;
}

/* published_to_host is published() for packets that came in on a device.
 * Only the host's own addresses answer, as Docker's --dst-type LOCAL: a
 * packet the host merely routes keeps its destination, and one addressed
 * to 127.0.0.0/8 is forged (the kernel would drop it as a martian), so a
 * port published on 127.0.0.1 never answers it. */
static __always_inline struct port_target *published_to_host(__u32 addr, __u16 port, __u8 proto)
{
	if (is_loopback(addr) || !is_host_ip(addr))
		return NULL;
	return published(addr, port, proto);
}

/* restore_published: a packet with no state from a port of this
 * container that a port is published to is a reply whose flow lost its
 * state (a flush, an upgrade), or new traffic from that port, which the
 * published port lets back in: either way it leaves from the published
 * address and port, as the port map says, and its flow starts over.
 * 1: translated as e says; 0: not a published port; -1: the port map is
 * ambiguous, the packet is dropped rather than sent from a guess. */
static __always_inline int restore_published(const struct flow *f, __u32 uplink_ip, __u64 now, struct ct_entry *e)
{
	struct target_key tk = { .ip = f->key.saddr, .port = f->key.sport, .proto = f->key.proto };
	struct published_as *pa = bpf_map_lookup_elem(&bpfnet_published_as, &tk);
	__u32 addr;
	__u16 port;

	if (!pa)
		return 0;
	if (pa->mappings != 1 || !pa->host_port) {
		ct_count(CT_STAT_NO_FLOW);
		return -1;
	}
	addr = pa->host_ip ? pa->host_ip : uplink_ip;
	port = pa->host_port;
	if (ct_create(&f->key, f, now, CT_DNAT_REPLY, addr, port, 0))
		return -1;
	ct_unconfirmed(&f->key, f, now, e); /* this packet is the flow's reply */
	e->nat_addr = addr;
	e->nat_port = port;
	ct_count(CT_STAT_RESTORED);
	return 1;
}
