/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking for NAT: one LRU entry per direction that needs a
 * rewrite, with timeouts that suit TCP and UDP. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "eth.h"

#define SEC_NS 1000000000ULL

/* Timeouts as Cilium sets them: an established TCP flow lives long, a
 * closing one or a UDP flow briefly unless traffic refreshes it. */
enum ct_timeout {
	CT_TCP_LIFETIME = 21600,
	CT_TCP_CLOSING = 10,
	CT_TCP_SYN = 60,
	CT_UDP_LIFETIME = 60,
};

/* flow is a TCP or UDP packet's tuple and where its ports sit. */
struct flow {
	struct ct_key key; /* as on the wire: saddr/daddr/sport/dport */
	__u32 l4_off;      /* offset of the TCP/UDP header */
	__u16 tot_len;     /* the IPv4 header's, host byte order */
	__u8 tos;
	__u8 ttl;
	__u8 tcp_flags;    /* the 13th byte of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
	__u8 no_l4;        /* a fragment after the first: ports from bpfnet_frags, no L4 header here */
};

enum {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_ACK = 0x10,
	TCP_FLAGS_OFF = 13,
	L4_PORTS_LEN = 4,
};

/* ICMP echo is tracked like a port protocol: the identifier is the
 * requester's port, the responder's is 0. */
enum {
	ICMP_ECHOREPLY = 0,
	ICMP_ECHO = 8,
	ICMP_ID_OFF = 4,
	ICMP_HDR_LEN = 8,
};

enum {
	IP_MF = 0x2000,
	IP_OFFSET = 0x1fff,
};

/* frag_key_of is the bpfnet_frags key of the datagram f belongs to. */
static __always_inline struct frag_key frag_key_of(const struct flow *f, __u16 id)
{
	struct frag_key k = { .saddr = f->key.saddr, .daddr = f->key.daddr, .id = id, .proto = f->key.proto };

	return k;
}

/* parse_flow fills f from the IPv4 header at ip (after Ethernet). It
 * returns 0 for TCP, UDP and ICMP echo, -1 for anything NAT leaves alone.
 * A datagram in fragments is one flow: its first fragment carries the
 * ports and records them in bpfnet_frags, where the later ones find them
 * (as Cilium's fragment tracking; a later fragment that overtakes the
 * first is not translated). It may pull data: packet pointers taken
 * before are invalid. */
static __always_inline int parse_flow(struct __sk_buff *skb, struct iphdr *ip, struct flow *f)
{
	struct frag_ports *fp;
	__u16 frag, id;
	__u8 *l4;
	void *data;

	if (ip->ihl != 5)
		return -1; /* options: not translated */
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_ICMP)
		return -1;
	__builtin_memset(f, 0, sizeof(*f)); /* the key's padding is hashed too */
	f->key.saddr = ip->saddr;
	f->key.daddr = ip->daddr;
	f->key.proto = ip->protocol;
	f->tos = ip->tos;
	f->ttl = ip->ttl;
	f->tot_len = bpf_ntohs(ip->tot_len);
	f->l4_off = sizeof(struct ethhdr) + sizeof(*ip);
	frag = bpf_ntohs(ip->frag_off);
	id = ip->id; /* read now: pulling data below invalidates ip */
	if (frag & IP_OFFSET) {
		struct frag_key fk = frag_key_of(f, id);

		fp = bpf_map_lookup_elem(&bpfnet_frags, &fk);
		if (!fp)
			return -1;
		f->key.sport = fp->sport;
		f->key.dport = fp->dport;
		f->no_l4 = 1;
		return 0;
	}
	switch (f->key.proto) {
	case IPPROTO_TCP:
		data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip) + TCP_FLAGS_OFF + 1);
		if (!data)
			return -1;
		l4 = data + sizeof(struct ethhdr) + sizeof(*ip);
		f->tcp_flags = l4[TCP_FLAGS_OFF];
		f->key.sport = *(__u16 *)l4;
		f->key.dport = *(__u16 *)(l4 + 2);
		break;
	case IPPROTO_UDP:
		data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip) + L4_PORTS_LEN);
		if (!data)
			return -1;
		l4 = data + sizeof(struct ethhdr) + sizeof(*ip);
		f->key.sport = *(__u16 *)l4;
		f->key.dport = *(__u16 *)(l4 + 2);
		break;
	default:
		data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip) + ICMP_HDR_LEN);
		if (!data)
			return -1;
		l4 = data + sizeof(struct ethhdr) + sizeof(*ip);
		if (l4[0] == ICMP_ECHO)
			f->key.sport = *(__u16 *)(l4 + ICMP_ID_OFF);
		else if (l4[0] == ICMP_ECHOREPLY)
			f->key.dport = *(__u16 *)(l4 + ICMP_ID_OFF);
		else
			return -1; /* errors: lib/icmp.h */
	}
	if (frag & IP_MF) {
		struct frag_key fk = frag_key_of(f, id);
		struct frag_ports ports = { .sport = f->key.sport, .dport = f->key.dport };

		bpf_map_update_elem(&bpfnet_frags, &fk, &ports, BPF_ANY);
	}
	return 0;
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

static __always_inline __u64 ct_lifetime(const struct flow *f, __u8 closing)
{
	if (f->key.proto != IPPROTO_TCP)
		return CT_UDP_LIFETIME * SEC_NS; /* UDP and ICMP echo */
	if (closing)
		return CT_TCP_CLOSING * SEC_NS;
	if ((f->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		return CT_TCP_SYN * SEC_NS;
	return CT_TCP_LIFETIME * SEC_NS;
}

/* ct_lookup returns the live entry for key, refreshed by this packet. */
static __always_inline struct ct_entry *ct_lookup(const struct ct_key *key, const struct flow *f, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&bpfnet_ct, key);

	if (!e || e->expires < now)
		return NULL;
	if (f->tcp_flags & (TCP_FIN | TCP_RST))
		e->closing = 1;
	e->expires = now + ct_lifetime(f, e->closing);
	return e;
}

/* ct_live returns the entry for key if it has not expired, untouched: an
 * ICMP error is no sign of life of the flow it is about. */
static __always_inline struct ct_entry *ct_live(const struct ct_key *key)
{
	struct ct_entry *e = bpf_map_lookup_elem(&bpfnet_ct, key);

	return e && e->expires >= bpf_ktime_get_ns() ? e : NULL;
}

/* ct_store writes an entry for key. flags is BPF_ANY or BPF_NOEXIST. */
static __always_inline int ct_store(const struct ct_key *key, const struct flow *f, __u64 now,
				    enum ct_kind kind, __u32 nat_addr, __u16 nat_port, __u32 ifindex, __u64 flags)
{
	struct ct_entry e = {
		.nat_addr = nat_addr, .nat_port = nat_port, .kind = kind, .ifindex = ifindex,
		.closing = !!(f->tcp_flags & (TCP_FIN | TCP_RST)),
	};

	e.expires = now + ct_lifetime(f, e.closing);
	return bpf_map_update_elem(&bpfnet_ct, key, &e, flags);
}

/* ct_keep makes key's entry say kind, nat_addr:nat_port and ifindex: an
 * entry that already does is only refreshed in place. Writing it again for
 * every packet would take a new LRU node and a lock each time, and forget
 * that the flow is closing. */
static __always_inline int ct_keep(const struct ct_key *key, const struct flow *f, __u64 now,
				   enum ct_kind kind, __u32 nat_addr, __u16 nat_port, __u32 ifindex)
{
	struct ct_entry *e = ct_lookup(key, f, now);

	if (e && e->kind == kind && e->nat_addr == nat_addr && e->nat_port == nat_port && e->ifindex == ifindex)
		return 0;
	return ct_store(key, f, now, kind, nat_addr, nat_port, ifindex, BPF_ANY);
}
