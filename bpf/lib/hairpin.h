/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A container's packets to an address of the host: published ports taken
 * back in (hairpin), replies to host processes, the rest for the host
 * stack. Included by bpf/container.c after lib/endpoint.h. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "endpoint.h"
#include "ct.h"
#include "nat.h"
#include "ports.h"

/* hairpin_self sends a container's flow to its own published port back
 * into it, from the gateway's address: a packet from its own address would
 * be a martian to it. The reply comes back through hairpin_reply. */
static __always_inline int hairpin_self(struct __sk_buff *skb, const struct flow *f, const struct port_target *t)
{
	if (nat_rewrite(skb, f, 1, config.gateway_ip, f->key.sport) || nat_rewrite(skb, f, 0, config.ip, t->port) ||
	    set_dst_mac(skb, (const __u8 *)config.mac))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	count_packet(config.slot, DIR_TO_CONTAINER, skb->len);
	return bpf_redirect_peer(skb->ifindex, 0);
}

/* hairpin_reply turns a container's reply to itself, addressed to the
 * gateway by hairpin_self, back into one from the published port. */
static __always_inline int hairpin_reply(struct __sk_buff *skb, const struct flow *f, const struct ct_entry *e)
{
	if (nat_rewrite(skb, f, 1, e->nat_addr, e->nat_port) || nat_rewrite(skb, f, 0, config.ip, f->key.dport))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	count_packet(config.slot, DIR_TO_CONTAINER, skb->len);
	return bpf_redirect_peer(skb->ifindex, 0);
}

/* hairpin_keep keeps the entry of reply, the reply tuple of a flow to a
 * published port, as kind. A TCP segment other than a SYN starts no flow:
 * with no entry it is no hairpin but the reply to a host process whose
 * own port happens to be a published one, which the host stack gets.
 * 0: kept; 1: the host's; -1: no entry could be made. */
static __always_inline int hairpin_keep(const struct flow *f, const struct ct_key *reply, enum ct_kind kind, __u64 now)
{
	if (ct_refresh(reply, f, now, kind, f->key.daddr, f->key.dport, 0))
		return 0;
	if (f->key.proto == IPPROTO_TCP && (f->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return 1;
	return ct_create(reply, f, now, kind, f->key.daddr, f->key.dport, 0) ? -1 : 0;
}

/* hairpin sends a flow to a published port of this host (on any of its
 * addresses, the gateway's included) to the container behind it; the
 * rest goes to the host stack. The common packet here is the reply of a
 * host-local connection (connect4 pointed a host process at this
 * container), to the gateway's address: no entry, no published port. It
 * pays the port lookups and, when this endpoint publishes ports (a
 * host-local connection's target does), one lookup per conntrack table
 * for a reply to itself. A UDP datagram to a
 * published port looks for its own entry first: CT_TO_HOST, made by
 * bpfnet_to_container, says it answers a host process bound to that port. */
static __always_inline int hairpin(struct __sk_buff *skb, const struct flow *f)
{
	__u64 now = bpf_ktime_get_ns();
	int pub = publishes_ports(), known = 0;
	struct endpoint_info *peer;
	struct port_target *t;
	struct ct_key reply;
	struct ct_entry e;
	int kept;

	if (pub) {
		known = ct_established(&f->key, f, now, &e);
		if (known && e.kind == CT_HAIRPIN_SELF)
			return hairpin_reply(skb, f, &e);
	}
	/* The gateway's address is the host's: no need to ask bpfnet_host_ips. */
	if (f->key.daddr == config.gateway_ip)
		t = published(f->key.daddr, f->key.dport, f->key.proto);
	else
		t = published_to_host(f->key.daddr, f->key.dport, f->key.proto);
	if (!t) {
		/* A reply to itself before its flow is confirmed; looked for
		 * only here, so established flows pay no second lookup. */
		if (pub && ct_unconfirmed(&f->key, f, now, &e) && e.kind == CT_HAIRPIN_SELF)
			return hairpin_reply(skb, f, &e);
		goto host;
	}
	if (f->key.proto == IPPROTO_UDP) {
		if (!known)
			known = (!pub && ct_established(&f->key, f, now, &e)) || ct_unconfirmed(&f->key, f, now, &e);
		if (known && e.kind == CT_TO_HOST)
			goto host;
	}
	if (t->ip == config.ip) {
		reply = (struct ct_key){
			.saddr = config.ip, .daddr = config.gateway_ip,
			.sport = t->port, .dport = f->key.sport, .proto = f->key.proto,
		};
		kept = hairpin_keep(f, &reply, CT_HAIRPIN_SELF, now);
		if (kept > 0)
			goto host;
		if (kept < 0)
			return drop(config.slot, DROP_CT_INSERT, DIR_FROM_CONTAINER);
		return hairpin_self(skb, f, t);
	}
	peer = bpf_map_lookup_elem(&bpfnet_endpoints, &t->ip);
	if (!peer)
		return drop(config.slot, DROP_NOT_PUBLISHED, DIR_FROM_CONTAINER);
	reply = (struct ct_key){
		.saddr = t->ip, .daddr = f->key.saddr,
		.sport = t->port, .dport = f->key.sport, .proto = f->key.proto,
	};
	kept = hairpin_keep(f, &reply, CT_DNAT_REPLY, now);
	if (kept > 0)
		goto host;
	if (kept < 0)
		return drop(config.slot, DROP_CT_INSERT, DIR_FROM_CONTAINER);
	if (nat_rewrite(skb, f, 0, t->ip, t->port) || set_dst_mac(skb, peer->mac))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	return to_peer(skb, peer);
host:
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	return TC_ACT_OK;
}

/* host_port_keep_flow is host_port_keep's work for the datagram whose key
 * is packed in addrs and ports (ct_key_of's packing): ct_keep of its reply
 * tuple, where an unconfirmed entry is only refreshed (a UDP flow confirms
 * on its reply, never on the originator's packets, so ct_new_packet has
 * nothing to do here). A global function that calls no other but
 * ct_create_flow: the to-container program, otherwise a few instructions,
 * stays cheap to verify. */
__noinline int host_port_keep_flow(__u64 addrs, __u64 ports)
{
	struct flow f = { .key = ct_key_of(addrs, ports) };
	struct ct_key reply = ct_reverse(&f.key);
	__u64 now = bpf_ktime_get_ns();
	struct ct_new_entry *h;
	struct ct_entry *e;

	if (!published_to_host(f.key.saddr, f.key.sport, IPPROTO_UDP))
		return 0;
	e = bpf_map_lookup_elem(&bpfnet_ct, &reply);
	if (e && e->expires >= now) {
		if (ct_says(e, CT_TO_HOST, f.key.saddr, f.key.sport)) {
			ct_touch(e, &f, now, 1);
			return 0;
		}
		bpf_map_delete_elem(&bpfnet_ct, &reply);
	}
	h = bpf_map_lookup_elem(&bpfnet_ct_new, &reply);
	if (h && h->e.expires >= now && ct_says(&h->e, CT_TO_HOST, f.key.saddr, f.key.sport)) {
		ct_touch(&h->e, &f, now, 0);
		return 0;
	}
	return ct_create(&reply, &f, now, CT_TO_HOST, f.key.saddr, f.key.sport, 0);
}

/* host_port_keep: a UDP datagram the host sends this container from a
 * port that is also published on the sending address (a host process
 * bound to it) keeps its reply tuple as CT_TO_HOST, so that the
 * container's answers reach the process rather than the published port's
 * container. TCP needs no entry: a reply is never a lone SYN. */
static __always_inline void host_port_keep(struct __sk_buff *skb)
{
	void *data = frame(skb, sizeof(struct ethhdr) + sizeof(struct iphdr));
	struct iphdr *ip;
	__u64 addrs;
	__u32 hlen;
	__u8 *l4;

	if (!data)
		return;
	ip = data + sizeof(struct ethhdr);
	if (ip->protocol != IPPROTO_UDP || ip->daddr != config.ip || (ip->frag_off & bpf_htons(IP_OFFSET)) ||
	    ipv4_malformed(skb, ip))
		return;
	addrs = (__u64)ip->saddr | (__u64)ip->daddr << 32;
	hlen = (ip->ihl & 0xf) * 4;
	data = frame(skb, sizeof(struct ethhdr) + hlen + L4_PORTS_LEN);
	if (!data)
		return;
	l4 = data + sizeof(struct ethhdr) + (hlen & 0x3c);
	if ((void *)(l4 + L4_PORTS_LEN) > frame_end(skb))
		return;
	/* ct_key_ports' packing: sport, dport as on the wire, then proto. */
	host_port_keep_flow(addrs, (__u64)*(__u16 *)l4 | (__u64)*(__u16 *)(l4 + 2) << 16 | (__u64)IPPROTO_UDP << 32);
}
