/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ARP responder: containers learn neighbours from our maps, so no ARP
 * request ever leaves the sender's veth. */
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* From linux/if_arp.h, which drags in libc headers. */
enum {
	ARPHRD_ETHER = 1,
	ARPOP_REQUEST = 1,
	ARPOP_REPLY = 2,
};

struct arp_eth_ipv4 {
	struct ethhdr eth;
	__be16 hw_type;
	__be16 proto;
	__u8 hw_len;
	__u8 proto_len;
	__be16 op;
	__u8 sender_mac[ETH_ALEN];
	__be32 sender_ip;
	__u8 target_mac[ETH_ALEN];
	__be32 target_ip;
} __attribute__((packed));

static __always_inline int arp_is_eth_ipv4(const struct arp_eth_ipv4 *a)
{
	return a->hw_type == bpf_htons(ARPHRD_ETHER) && a->proto == bpf_htons(ETH_P_IP) &&
	       a->hw_len == ETH_ALEN && a->proto_len == 4;
}

/* Turns the request into the reply "target_ip is at mac" and sends it back
 * out of the interface it came in on, i.e. into the asking container. */
static __always_inline int arp_reply(struct __sk_buff *skb, const struct arp_eth_ipv4 *req,
				     const volatile __u8 *mac)
{
	struct arp_eth_ipv4 rep = *req;

	__builtin_memcpy(rep.eth.h_dest, req->eth.h_source, ETH_ALEN);
	__builtin_memcpy(rep.target_mac, req->sender_mac, ETH_ALEN);
	rep.target_ip = req->sender_ip;
	rep.sender_ip = req->target_ip;
	rep.op = bpf_htons(ARPOP_REPLY);
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		rep.eth.h_source[i] = mac[i];
		rep.sender_mac[i] = mac[i];
	}
	if (bpf_skb_store_bytes(skb, 0, &rep, sizeof(rep), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}
