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

volatile const struct endpoint_config config;

static __always_inline int in_subnet(__be32 addr)
{
	return (addr & config.subnet_mask) == config.subnet;
}

static __always_inline int from_container_arp(struct __sk_buff *skb)
{
	const struct endpoint_info *peer;
	struct arp_eth_ipv4 *arp;

	arp = frame(skb, sizeof(*arp));
	if (!arp)
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	if (!arp_is_eth_ipv4(arp))
		return drop(config.slot, DROP_UNSUPPORTED_ARP, DIR_FROM_CONTAINER);
	if (!mac_equal(arp->sender_mac, config.mac) || arp->sender_ip != config.ip)
		return drop(config.slot, DROP_SPOOFED_ARP, DIR_FROM_CONTAINER);

	count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
	if (arp->op != bpf_htons(ARPOP_REQUEST))
		return TC_ACT_OK; /* gratuitous ARP and replies only reach the host */
	if (arp->target_ip == config.gateway_ip)
		return arp_reply(skb, arp, config.gateway_mac);

	peer = bpf_map_lookup_elem(&bpfnet_endpoints, &arp->target_ip);
	if (!peer)
		return drop(config.slot, DROP_UNKNOWN_NEIGHBOR, DIR_FROM_CONTAINER);
	if (peer->network != config.network)
		return drop(config.slot, DROP_OTHER_NETWORK, DIR_FROM_CONTAINER);
	return arp_reply(skb, arp, peer->mac);
}

static __always_inline int from_container_ipv4(struct __sk_buff *skb)
{
	const struct endpoint_info *peer;
	struct iphdr *ip;
	__be32 daddr;

	void *data = frame(skb, sizeof(struct ethhdr) + sizeof(*ip));

	if (!data)
		return drop(config.slot, DROP_MALFORMED, DIR_FROM_CONTAINER);
	ip = data + sizeof(struct ethhdr);
	if (ip->saddr != config.ip)
		return drop(config.slot, DROP_SPOOFED_IP, DIR_FROM_CONTAINER);
	daddr = ip->daddr;

	peer = bpf_map_lookup_elem(&bpfnet_endpoints, &daddr);
	if (peer) {
		if (peer->network != config.network)
			return drop(config.slot, DROP_OTHER_NETWORK, DIR_FROM_CONTAINER);
		if (config.flags & NETWORK_ICC_DISABLED)
			return drop(config.slot, DROP_ICC_DISABLED, DIR_FROM_CONTAINER);
		count_packet(config.slot, DIR_FROM_CONTAINER, skb->len);
		count_packet(peer->slot, DIR_TO_CONTAINER, skb->len);
		return bpf_redirect_peer(peer->ifindex, 0);
	}
	if ((config.flags & NETWORK_INTERNAL) && !in_subnet(daddr))
		return drop(config.slot, DROP_INTERNAL_NETWORK, DIR_FROM_CONTAINER);
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

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return from_container_ipv4(skb);
	case bpf_htons(ETH_P_ARP):
		return from_container_arp(skb);
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
	count_packet(config.slot, DIR_TO_CONTAINER, skb->len);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
