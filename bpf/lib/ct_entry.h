/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack entries one at a time: their keys, the key of the other
 * direction or of a masqueraded flow's partner, and how long a packet
 * keeps an entry alive. The tables are ct.h's. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "flow.h"

#define SEC_NS 1000000000ULL

/* Timeouts as Cilium sets them: an established TCP flow lives long, an
 * unconfirmed or closing one or a UDP flow briefly unless traffic
 * refreshes it. */
enum ct_timeout {
	CT_TCP_LIFETIME = 21600,
	CT_TCP_CLOSING = 10,
	CT_TCP_SYN = 60,
	CT_UDP_LIFETIME = 60,
};

static __always_inline void ct_count(enum ct_stat stat)
{
	__u32 key = stat;
	__u64 *n = bpf_map_lookup_elem(&bpfnet_ct_stats, &key);

	if (n)
		*n += 1;
}

/* The tuple of the other direction. */
static __always_inline struct ct_key ct_reverse(const struct ct_key *k)
{
	struct ct_key r = {
		.saddr = k->daddr, .daddr = k->saddr,
		.sport = k->dport, .dport = k->sport, .proto = k->proto,
	};
	return r;
}

/* A key as scalars, for the global functions below: 5.10 lets a global
 * function take no pointer but the context. ct_key_ports also has room
 * above bit 40 for what a function needs of the packet. */
#define CT_PACKED_CLOSING (1ULL << 40) /* ct_create_flow: the packet closes the flow */

static __always_inline __u64 ct_key_addrs(const struct ct_key *k)
{
	return (__u64)k->saddr | (__u64)k->daddr << 32;
}

static __always_inline __u64 ct_key_ports(const struct ct_key *k)
{
	return (__u64)k->sport | (__u64)k->dport << 16 | (__u64)k->proto << 32;
}

static __always_inline struct ct_key ct_key_of(__u64 addrs, __u64 ports)
{
	struct ct_key k = {
		.saddr = (__u32)addrs, .daddr = (__u32)(addrs >> 32),
		.sport = (__u16)ports, .dport = (__u16)(ports >> 16), .proto = (__u8)(ports >> 32),
	};
	return k;
}

/* ct_partner is the key of the other entry of a masqueraded flow. */
static __always_inline struct ct_key ct_partner(const struct ct_key *k, const struct ct_entry *e)
{
	struct ct_key p = { .proto = k->proto };

	if (e->kind == CT_SNAT_ORIG) {
		p.saddr = k->daddr;
		p.sport = k->dport;
		p.daddr = e->nat_addr;
		p.dport = e->nat_port;
	} else {
		p.saddr = e->nat_addr;
		p.sport = e->nat_port;
		p.daddr = k->saddr;
		p.dport = k->sport;
	}
	return p;
}

static __always_inline __u64 ct_lifetime_of(__u8 proto, __u8 closing, int established)
{
	if (proto != IPPROTO_TCP)
		return CT_UDP_LIFETIME * SEC_NS; /* UDP and ICMP echo */
	if (closing)
		return CT_TCP_CLOSING * SEC_NS;
	return (established ? CT_TCP_LIFETIME : CT_TCP_SYN) * SEC_NS;
}

static __always_inline __u64 ct_lifetime(const struct flow *f, __u8 closing, int established)
{
	return ct_lifetime_of(f->key.proto, closing, established);
}

/* ct_touch refreshes e for a packet of its flow. */
static __always_inline void ct_touch(struct ct_entry *e, const struct flow *f, __u64 now, int established)
{
	if (f->tcp_flags & (TCP_FIN | TCP_RST))
		e->closing = 1;
	e->expires = now + ct_lifetime(f, e->closing, established);
}
