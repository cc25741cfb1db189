//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Program on the ingress of each host uplink. From the wire, only two
 * things reach a container: replies to its masqueraded flows and
 * connections to its published ports. Both are translated here and handed
 * straight to the container with bpf_redirect_peer, as are ICMP errors
 * about them; anything else addressed to a container is dropped and
 * counted.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ct.h"
#include "lib/nat.h"
#include "lib/ports.h"
#include "lib/icmp.h"

/* deliver rewrites the destination to addr:port and sends the packet into
 * the namespace of ep, the endpoint that holds addr. */
static __always_inline int deliver(struct __sk_buff *skb, const struct flow *f, const struct endpoint_info *ep,
				   __u32 addr, __u16 port)
{
	if (nat_rewrite(skb, f, 0, addr, port) || set_dst_mac(skb, ep->mac))
		return drop(ep->slot, DROP_MALFORMED, DIR_TO_CONTAINER);
	count_packet(ep->slot, DIR_TO_CONTAINER, skb->len);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* deliver_as_is sends an untranslated packet into ep's namespace. */
static __always_inline int deliver_as_is(struct __sk_buff *skb, const struct endpoint_info *ep)
{
	if (set_dst_mac(skb, ep->mac))
		return drop(ep->slot, DROP_MALFORMED, DIR_TO_CONTAINER);
	count_packet(ep->slot, DIR_TO_CONTAINER, skb->len);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* icmp_error_in hands an ICMP error about a container's flow to the
 * container: the quote is a packet the host put on the wire, so its
 * reverse finds the flow's reply entry (a masqueraded or unmasqueraded
 * flow), or its source is a published port with a flow to the quoted
 * destination. -1: the error is about no container's flow. */
static __always_inline int icmp_error_in(struct __sk_buff *skb)
{
	struct endpoint_info *ep;
	struct icmp_error err;
	struct port_target *t;
	struct ct_entry e;
	struct ct_key key;
	__u32 addr;
	__u16 port;

	if (parse_icmp_error(skb, &err))
		return -1;
	key = ct_reverse(&err.quoted);
	if (ct_peek(&key, &e) && (e.kind == CT_SNAT_REPLY || e.kind == CT_ROUTED_REPLY)) {
		addr = e.nat_addr;
		port = e.nat_port;
		ep = bpf_map_lookup_elem(&bpfnet_endpoints, &addr);
		if (!ep)
			return -1;
		if (e.kind == CT_ROUTED_REPLY)
			return deliver_as_is(skb, ep);
	} else {
		t = published_to_host(err.quoted.saddr, err.quoted.sport, err.quoted.proto);
		if (!t)
			return -1;
		addr = t->ip;
		port = t->port;
		key = (struct ct_key){
			.saddr = addr, .daddr = err.quoted.daddr,
			.sport = port, .dport = err.quoted.dport, .proto = err.quoted.proto,
		};
		if (!ct_peek(&key, &e) || e.kind != CT_DNAT_REPLY || e.nat_addr != err.quoted.saddr ||
		    e.nat_port != err.quoted.sport)
			return -1; /* no such flow through this address */
		ep = bpf_map_lookup_elem(&bpfnet_endpoints, &addr);
		if (!ep)
			return -1;
	}
	if (icmp_error_nat(skb, &err, 1, addr, port))
		return drop(ep->slot, DROP_MALFORMED, DIR_TO_CONTAINER);
	return deliver_as_is(skb, ep);
}

/* reply_in hands a reply to a container's flow (entry e) to it. */
static __always_inline int reply_in(struct __sk_buff *skb, const struct flow *f, const struct ct_entry *e)
{
	struct endpoint_info *ep = bpf_map_lookup_elem(&bpfnet_endpoints, &e->nat_addr);

	if (!ep)
		return drop(HOST_SLOT, DROP_NOT_PUBLISHED, DIR_TO_CONTAINER);
	if (e->kind == CT_ROUTED_REPLY)
		return deliver_as_is(skb, ep);
	return deliver(skb, f, ep, e->nat_addr, e->nat_port);
}

SEC("tc")
int bpfnet_from_uplink(struct __sk_buff *skb)
{
	struct endpoint_info *ep;
	struct port_target *t;
	struct ct_entry e;
	struct iphdr *ip;
	struct flow f;
	void *data;

	/* A tagged frame is for a VLAN device on top of the uplink. */
	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->vlan_present)
		return TC_ACT_OK;
	data = frame(skb, IP_OFF + sizeof(*ip));
	if (!data)
		return TC_ACT_OK;
	ip = data + IP_OFF;

	if (ip->protocol == IPPROTO_ICMP) {
		int verdict = icmp_error_in(skb);

		if (verdict >= 0)
			return verdict;
		data = frame(skb, IP_OFF + sizeof(*ip));
		if (!data)
			return TC_ACT_OK;
		ip = data + IP_OFF;
	}
	if (parse_flow(skb, ip, &f) == 0) {
		__u64 now = bpf_ktime_get_ns();

		if (ct_established(&f.key, &f, now, &e) && (e.kind == CT_SNAT_REPLY || e.kind == CT_ROUTED_REPLY))
			return reply_in(skb, &f, &e);
		t = published_to_host(f.key.daddr, f.key.dport, f.key.proto);
		if (t) {
			struct ct_key reply = {
				.saddr = t->ip, .daddr = f.key.saddr,
				.sport = t->port, .dport = f.key.sport, .proto = f.key.proto,
			};

			ep = bpf_map_lookup_elem(&bpfnet_endpoints, &t->ip);
			if (!ep)
				return drop(HOST_SLOT, DROP_NOT_PUBLISHED, DIR_TO_CONTAINER);
			if (ct_keep(&reply, &f, now, CT_DNAT_REPLY, f.key.daddr, f.key.dport, skb->ifindex))
				return drop(HOST_SLOT, DROP_CT_INSERT, DIR_TO_CONTAINER);
			return deliver(skb, &f, ep, t->ip, t->port);
		}
		/* Replies to flows not confirmed yet: after the published ports,
		 * so that established published flows pay no extra lookup. */
		if (ct_unconfirmed(&f.key, &f, now, &e) && (e.kind == CT_SNAT_REPLY || e.kind == CT_ROUTED_REPLY))
			return reply_in(skb, &f, &e);
		if (is_masquerade_port(f.key.dport) && is_host_ip(f.key.daddr))
			ct_count(CT_STAT_NO_FLOW); /* the host stack resets or drops it */
	}
	data = frame(skb, IP_OFF + sizeof(*ip));
	if (!data)
		return TC_ACT_OK;
	ip = data + IP_OFF;
	ep = bpf_map_lookup_elem(&bpfnet_endpoints, &ip->daddr);
	if (ep)
		return drop(ep->slot, DROP_NOT_PUBLISHED, DIR_TO_CONTAINER);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
