//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Programs on the host side of a container's veth pair. One copy is loaded
 * per endpoint with its identity in `config`, so knowing who sent a packet
 * costs no lookup; the forwarding decision is one hash lookup on the
 * destination address.
 *
 *   bpfnet_from_container: tc ingress, frames the container sent.
 *   bpfnet_to_container:   tc egress, frames the host stack sends to it.
 *
 * Flows to other hosts are routed here, not by the host stack: masqueraded
 * (or reverse-translated for a published port) and sent to the uplink with
 * bpf_redirect, so host firewall policy on forwarding does not apply and a
 * translated source (a host address) is never seen as a martian.
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
#include "lib/arp.h"
#include "lib/ct.h"
#include "lib/nat.h"
#include "lib/ports.h"
#include "lib/icmp.h"
#include "lib/endpoint.h"
#include "lib/hairpin.h"

/* Free masquerade ports tried for a new flow (lib/common.h has the range). */
enum { SNAT_TRIES = 32 };

/* Puts enums that no map or program type names in BTF, for bpf2go to
 * export to Go; never read. */
volatile const struct btf_exports {
	enum masquerade_range masquerade_range;
	enum limits limits;
	enum ct_flags ct_flags;
	enum slots slots;
} btf_exports;

static __always_inline int from_container_arp(struct __sk_buff *skb)
{
	const struct endpoint_info *peer;
	struct arp_eth_ipv4 *arp;

	arp = frame(skb, sizeof(*arp));
	if (!arp)
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	if (!arp_is_eth_ipv4(arp))
		return drop(config.slot, DROP_UNSUPPORTED_ARP, DIR_FROM_CONTAINER);
	/* Sender 0.0.0.0 is a duplicate address probe. */
	if (!mac_equal(arp->sender_mac, config.mac) || (arp->sender_ip != config.ip && arp->sender_ip != 0))
		return drop(config.slot, DROP_SPOOFED_ARP, DIR_FROM_CONTAINER);

	/* Replies and gratuitous ARP (a request for its own address) only
	 * reach the host. */
	if (arp->op != bpf_htons(ARPOP_REQUEST) || arp->target_ip == config.ip) {
		count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
		return TC_ACT_OK;
	}
	if (arp->target_ip == config.gateway_ip) {
		count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
		return arp_reply(skb, arp, config.gateway_mac);
	}
	peer = bpf_map_lookup_elem(&bpfnet_endpoints, &arp->target_ip);
	if (!peer)
		return drop(config.slot, DROP_UNKNOWN_NEIGHBOR, DIR_FROM_CONTAINER);
	if (peer->network != config.network)
		return drop(config.slot, DROP_OTHER_NETWORK, DIR_FROM_CONTAINER);
	/* Every neighbour is at the gateway's MAC: see to_peer. */
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	return arp_reply(skb, arp, config.gateway_mac);
}

/* snat_port_pick picks a free masquerade port on nat_addr for the flow
 * packed in addrs and ports (ct_create_flow's packing, closing included)
 * and records the reply direction. Only a flow's first packet gets here.
 * A global function, so the verifier walks its tries once, not on every
 * path to it; each try is a call for the same reason. The port (network
 * byte order; never 0), or -drop_reason. */
__noinline int snat_port_pick(__u64 addrs, __u64 ports, __u32 nat_addr, __u64 now)
{
	struct ct_key f = ct_key_of(addrs, ports);
	struct ct_key reply = { .saddr = f.daddr, .daddr = nat_addr, .sport = f.dport, .proto = f.proto };
	__u64 nat = (__u64)f.saddr | (__u64)f.sport << 32;
	__u64 closing_kind = (ports & CT_PACKED_CLOSING) | (__u64)CT_SNAT_REPLY << 48;
	__u32 start = bpf_get_prandom_u32();

	for (int i = 0; i < SNAT_TRIES; i++) {
		reply.dport = bpf_htons(SNAT_PORT_FIRST + (start + i) % SNAT_PORT_COUNT);
		if (ct_in_use(ct_key_addrs(&reply), ct_key_ports(&reply)))
			continue;
		if (ct_create_flow(ct_key_addrs(&reply), ct_key_ports(&reply) | closing_kind, nat, 0, now))
			return -DROP_CT_INSERT;
		return reply.dport;
	}
	return -DROP_NAT_NO_PORT;
}

static __always_inline int snat_port(const struct flow *f, __u32 nat_addr, __u64 now, __u16 *port)
{
	__u64 closing = f->tcp_flags & (TCP_FIN | TCP_RST) ? CT_PACKED_CLOSING : 0;
	int ret = snat_port_pick(ct_key_addrs(&f->key), ct_key_ports(&f->key) | closing, nat_addr, now);

	if (ret < 0)
		return -ret;
	*port = ret;
	return 0;
}

/* send_routed sends a packet the datapath routed itself (TTL decremented,
 * translated) out of the device fib chose. */
static __always_inline int send_routed(struct __sk_buff *skb, const struct bpf_fib_lookup *fib, int fib_ret)
{
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	if (fib_ret == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib->ifindex, NULL, 0, 0);
	if (set_macs(skb, fib->dmac, fib->smac))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	return bpf_redirect(fib->ifindex, 0);
}

/* route_out translates a flow leaving for another host and sends it to the
 * device the host's routing table chose. */
static __always_inline int route_out(struct __sk_buff *skb, const struct flow *f,
				     struct bpf_fib_lookup *fib, int fib_ret)
{
	__u64 now = bpf_ktime_get_ns();
	struct ct_key reply = ct_reverse(&f->key);
	struct uplink_info *up;
	struct ct_entry e;
	__u32 nat_addr;
	__u16 nat_port;

	if (f->ttl <= 1)
		goto stack; /* the host stack sends the ICMP time exceeded */
	if (ct_established(&f->key, f, now, &e) && (e.kind == CT_DNAT_REPLY || e.kind == CT_SNAT_ORIG))
		goto translate;
	if (config.flags & NETWORK_NO_MASQUERADE) {
		/* An established flow routed as it is: one more lookup. */
		struct ct_entry *r = bpf_map_lookup_elem(&bpfnet_ct, &reply);

		if (r && r->expires >= now && r->kind == CT_ROUTED_REPLY) {
			ct_touch(r, f, now, 1);
			goto stack;
		}
	}
	if (ct_unconfirmed(&f->key, f, now, &e) && (e.kind == CT_DNAT_REPLY || e.kind == CT_SNAT_ORIG))
		goto translate;
	up = bpf_map_lookup_elem(&bpfnet_uplinks, &fib->ifindex);
	if (!up)
		goto stack; /* not an uplink of this host: routed as it is */
	if (config.flags & NETWORK_NO_MASQUERADE) {
		/* Routed as it is; the uplink lets in only replies it knows. */
		if (ct_keep(&reply, f, now, CT_ROUTED_REPLY, f->key.saddr, f->key.sport, 0))
			return drop(config.slot, DROP_CT_INSERT, DIR_FROM_CONTAINER);
		goto stack;
	}
	if (publishes_ports() && (f->key.proto != IPPROTO_TCP || (f->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)) {
		int ret = restore_published(f, up->ip, now, &e);

		if (ret < 0)
			return drop(config.slot, DROP_NO_FLOW, DIR_FROM_CONTAINER);
		if (ret > 0)
			goto translate;
	}
	if ((f->key.proto == IPPROTO_TCP && (f->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) || f->echo_reply) {
		/* Mid-flow with no state (a flush, an expiry), or an echo
		 * reply to no request this host saw: a new source port would
		 * be a wrong translation the peer cannot place. */
		ct_count(CT_STAT_NO_FLOW);
		return drop(config.slot, DROP_NO_FLOW, DIR_FROM_CONTAINER);
	}
	int reason = snat_port(f, up->ip, now, &nat_port);
	if (reason)
		return drop(config.slot, reason, DIR_FROM_CONTAINER);
	if (ct_create(&f->key, f, now, CT_SNAT_ORIG, up->ip, nat_port, 0))
		return drop(config.slot, DROP_CT_INSERT, DIR_FROM_CONTAINER);
	e.nat_addr = up->ip;
	e.nat_port = nat_port;
translate:
	nat_addr = e.nat_addr;
	nat_port = e.nat_port;
	if (ip_dec_ttl(skb))
		goto stack;
	if (nat_rewrite(skb, f, 1, nat_addr, nat_port))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	return send_routed(skb, fib, fib_ret);
stack:
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	return TC_ACT_OK;
}

/* beyond_network handles TCP and UDP to anything but a container: the host
 * itself (maybe a published port), or another host. */
static __always_inline int beyond_network(struct __sk_buff *skb, const struct flow *f)
{
	struct bpf_fib_lookup fib = {
		.family = 2 /* AF_INET */,
		.tos = f->tos,
		.l4_protocol = f->key.proto,
		.sport = f->key.sport,
		.dport = f->key.dport,
		.tot_len = f->tot_len,
		.ipv4_src = f->key.saddr,
		.ipv4_dst = f->key.daddr,
		.ifindex = skb->ingress_ifindex,
	};
	int ret = BPF_FIB_LKUP_RET_NOT_FWDED;

	/* The gateway's address is the host's (on bpfnet0): no route to ask.
	 * A host-local connection's replies come this way. */
	if (f->key.daddr != config.gateway_ip)
		ret = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	switch (ret) {
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return hairpin(skb, f);
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return route_out(skb, f, &fib, ret);
	default: /* unreachable, prohibited...: the host stack answers */
		count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
		return TC_ACT_OK;
	}
}

/* icmp_error_flow finds the entry of the translated flow that an ICMP
 * error this container sends is about (a published port's, or a reply to
 * a masqueraded flow). The quote is a packet the container
 * received; its reverse is the container's own direction of the flow. */
static __always_inline int icmp_error_flow(struct __sk_buff *skb, struct icmp_error *err, struct ct_entry *e)
{
	struct ct_key key;

	if (parse_icmp_error(skb, err) || err->quoted.proto == IPPROTO_ICMP || err->quoted.daddr != config.ip)
		return 0;
	key = ct_reverse(&err->quoted);
	return ct_peek(&key, e) && (e->kind == CT_DNAT_REPLY || e->kind == CT_SNAT_ORIG);
}

/* icmp_error_out translates an ICMP error the container sends about a
 * translated flow, so that it names the addresses the other end used, and
 * routes it out. -1: not such an error, or not for another host; the host
 * stack takes it as it is. */
static __always_inline int icmp_error_out(struct __sk_buff *skb)
{
	struct icmp_error err;
	struct ct_entry e;
	__u32 addr;
	__u16 port;
	int ret;

	if (!icmp_error_flow(skb, &err, &e))
		return -1;
	addr = e.nat_addr;
	port = e.nat_port;

	struct bpf_fib_lookup fib = {
		.family = 2 /* AF_INET */,
		.l4_protocol = IPPROTO_ICMP,
		.tot_len = err.outer_tot_len,
		.ipv4_src = config.ip,
		.ipv4_dst = err.outer_daddr,
		.ifindex = skb->ingress_ifindex,
	};
	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	if (ip_dec_ttl(skb))
		return -1;
	if (icmp_error_nat(skb, &err, 0, addr, port))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	return send_routed(skb, &fib, ret);
}

/* reply_through_host sends back to peer, with the host's address and
 * port it used, a reply from a published port (or an ICMP error about
 * what came in that way) to a container that came in through the host.
 * -1: not such a packet. */
static __always_inline int reply_through_host(struct __sk_buff *skb, struct iphdr *ip, __u8 proto,
					      const struct endpoint_info *peer)
{
	struct icmp_error err;
	struct ct_entry e;
	struct flow f;

	if (parse_flow(skb, ip, &f) == 0) {
		__u64 now = bpf_ktime_get_ns();

		/* A TCP reply before the handshake completes has SYN (or ends
		 * the flow): other segments between peers skip bpfnet_ct_new, so
		 * they pay one lookup as before. */
		if (!ct_established(&f.key, &f, now, &e) &&
		    ((f.key.proto == IPPROTO_TCP && !(f.tcp_flags & (TCP_SYN | TCP_RST | TCP_FIN))) ||
		     !ct_unconfirmed(&f.key, &f, now, &e)))
			return -1;
		if (e.kind != CT_DNAT_REPLY)
			return -1;
		if (nat_rewrite(skb, &f, 1, e.nat_addr, e.nat_port))
			return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
		return to_peer(skb, peer);
	}
	if (proto != IPPROTO_ICMP)
		return -1;
	if (!icmp_error_flow(skb, &err, &e) || e.kind != CT_DNAT_REPLY)
		return -1;
	if (icmp_error_nat(skb, &err, 0, e.nat_addr, e.nat_port))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	return to_peer(skb, peer);
}

/* leaves_untranslated: a packet the NAT cannot translate would leave
 * through an uplink with the container's own address. */
static __always_inline int leaves_untranslated(struct __sk_buff *skb, __be32 daddr)
{
	struct bpf_fib_lookup fib = {
		.family = 2 /* AF_INET */,
		.ipv4_src = config.ip,
		.ipv4_dst = daddr,
		.ifindex = skb->ingress_ifindex,
	};
	int ret;

	if (config.flags & NETWORK_NO_MASQUERADE)
		return 0;
	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	return bpf_map_lookup_elem(&bpfnet_uplinks, &fib.ifindex) != NULL;
}

static __always_inline int from_container_ipv4(struct __sk_buff *skb)
{
	const struct endpoint_info *peer;
	struct iphdr *ip;
	struct flow f;
	__be32 daddr;
	__u8 proto;
	void *data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip));

	if (!data)
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	ip = data + sizeof(struct ethhdr);
	if (ipv4_malformed(skb, ip))
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	if (ip->saddr != config.ip)
		return drop(config.slot, DROP_SPOOFED_IP, DIR_FROM_CONTAINER);
	daddr = ip->daddr;
	proto = ip->protocol;

	/* The gateway's address is never a container's: a host-local
	 * connection's replies, to it, skip the lookup. */
	peer = daddr == config.gateway_ip ? NULL : bpf_map_lookup_elem(&bpfnet_endpoints, &daddr);
	if (peer) {
		/* A reply from a published port to a container that came in
		 * through the host's address goes back with that address. */
		if (publishes_ports()) {
			int verdict = reply_through_host(skb, ip, proto, peer);

			if (verdict >= 0)
				return verdict;
		}
		if (peer->network != config.network)
			return drop(config.slot, DROP_OTHER_NETWORK, DIR_FROM_CONTAINER);
		if (config.flags & NETWORK_ICC_DISABLED)
			return drop(config.slot, DROP_ICC_DISABLED, DIR_FROM_CONTAINER);
		return to_peer(skb, peer);
	}
	if (config.flags & NETWORK_INTERNAL) {
		if (!in_subnet(daddr))
			return drop(config.slot, DROP_INTERNAL_NETWORK, DIR_FROM_CONTAINER);
	} else if (parse_flow(skb, ip, &f) == 0) {
		return beyond_network(skb, &f);
	} else {
		if (proto == IPPROTO_ICMP) {
			int verdict = icmp_error_out(skb);

			if (verdict >= 0)
				return verdict;
		}
		if (leaves_untranslated(skb, daddr))
			return drop(config.slot, DROP_UNTRANSLATABLE, DIR_FROM_CONTAINER);
	}
	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	return TC_ACT_OK; /* the gateway, the host and beyond: the host stack routes it */
}

SEC("tc")
int bpfnet_from_container(struct __sk_buff *skb)
{
	struct ethhdr *eth;

	eth = frame(skb, sizeof(*eth));
	if (!eth)
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	if (!mac_equal(eth->h_source, config.mac))
		return drop(config.slot, DROP_SPOOFED_MAC, DIR_FROM_CONTAINER);
	/* The receive path moves a frame's (outer) tag out of the data
	 * before tc sees it: vlan_present tells. */
	if (skb->vlan_present)
		return drop(config.slot, DROP_VLAN, DIR_FROM_CONTAINER);

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return from_container_ipv4(skb);
	case bpf_htons(ETH_P_ARP):
		return from_container_arp(skb);
	case bpf_htons(ETH_P_8021Q):
	case bpf_htons(ETH_P_8021AD):
		return drop(config.slot, DROP_VLAN, DIR_FROM_CONTAINER);
	default:
		return drop(config.slot, DROP_UNSUPPORTED_L3, DIR_FROM_CONTAINER);
	}
}

SEC("tc")
int bpfnet_to_container(struct __sk_buff *skb)
{
	struct iphdr *ip;

	if (config.flags & NETWORK_INTERNAL && skb->protocol == bpf_htons(ETH_P_IP)) {
		void *data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip));

		if (!data)
			return drop(config.slot, DROP_MALFORMED, DIR_TO_CONTAINER);
		ip = data + sizeof(struct ethhdr);
		if (!in_subnet(ip->saddr))
			return drop(config.slot, DROP_INTERNAL_NETWORK, DIR_TO_CONTAINER);
	}
	if (skb->protocol == bpf_htons(ETH_P_IP))
		host_port_keep(skb);
	count_packet(config.slot, DIR_TO_CONTAINER, skb->len);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
