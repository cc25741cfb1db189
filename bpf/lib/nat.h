/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port rewrites with incremental checksum updates. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include "ct.h"

#define IP_OFF sizeof(struct ethhdr)

/* nat_rewrite replaces the source (src != 0) or destination address and
 * port of the packet described by f. For ICMP echo the "port" is the
 * identifier, and the checksum covers no addresses. UDP's optional
 * checksum stays 0 when it was 0 (BPF_F_MARK_MANGLED_0). A fragment after
 * the first has only its address rewritten. Packet pointers are invalid
 * afterwards.
 *
 * nat_rewrite_skb does it with what it needs of f packed in scalars
 * (addrs: old | new << 32; ports: old | new << 16; where: l4_off | proto
 * << 16 | src << 24 | no_l4 << 25): a global function, which the verifier
 * checks once instead of at each of the rewrites every path makes, and
 * which may take no pointer but the context. */
__noinline int nat_rewrite_skb(struct __sk_buff *skb, __u64 addrs, __u32 ports, __u32 where)
{
	__u32 old_addr = (__u32)addrs, new_addr = (__u32)(addrs >> 32);
	__u16 old_port = (__u16)ports, new_port = (__u16)(ports >> 16);
	__u32 l4_off = where & 0xffff;
	__u8 proto = (__u8)(where >> 16);
	int src = (where >> 24) & 1;
	__u32 addr_off = IP_OFF + (src ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
	__u32 port_off = l4_off + (src ? 0 : 2);
	__u64 l4flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 csum_off = l4_off + (proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) :
				   proto == IPPROTO_UDP ? offsetof(struct udphdr, check) : 2 /* ICMP */);

	if ((where >> 25) & 1)
		goto l3; /* the first fragment took the port and checksum changes */
	if (proto == IPPROTO_ICMP)
		port_off = l4_off + ICMP_ID_OFF;
	else if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, l4flags | BPF_F_PSEUDO_HDR | 4))
		return -1;
	if (old_port != new_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4flags | 2))
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, 2, 0))
			return -1;
	}
l3:
	if (bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), old_addr, new_addr, 4))
		return -1;
	if (bpf_skb_store_bytes(skb, addr_off, &new_addr, 4, 0))
		return -1;
	return 0;
}

static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct flow *f, int src,
				       __u32 new_addr, __u16 new_port)
{
	__u32 old_addr = src ? f->key.saddr : f->key.daddr;
	__u16 old_port = src ? f->key.sport : f->key.dport;

	return nat_rewrite_skb(skb, (__u64)old_addr | (__u64)new_addr << 32, (__u32)old_port | (__u32)new_port << 16,
			       (f->l4_off & 0xffff) | (__u32)f->key.proto << 16 | (src ? 1u << 24 : 0) |
				       (f->no_l4 ? 1u << 25 : 0));
}

/* set_dst_mac addresses a frame handed to a container by the datapath. */
static __always_inline int set_dst_mac(struct __sk_buff *skb, const __u8 *dst)
{
	return bpf_skb_store_bytes(skb, 0, dst, ETH_ALEN, 0);
}

/* set_macs rewrites the Ethernet addresses, for frames the datapath routes
 * to a device itself. */
static __always_inline int set_macs(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
	__u8 macs[2 * ETH_ALEN];

	__builtin_memcpy(macs, dst, ETH_ALEN);
	__builtin_memcpy(macs + ETH_ALEN, src, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0);
}

/* ip_dec_ttl decrements the TTL of a packet the datapath routes itself.
 * It returns -1 when the TTL runs out, for the host stack to answer. */
static __always_inline int ip_dec_ttl(struct __sk_buff *skb)
{
	void *data = frame(skb, IP_OFF + sizeof(struct iphdr));
	struct iphdr *ip;
	__u16 old, new;
	__u8 ttl;

	if (!data)
		return -1;
	ip = data + IP_OFF;
	ttl = ip->ttl;
	if (ttl <= 1)
		return -1;
	old = *(__u16 *)&ip->ttl; /* ttl and protocol share a checksum word */
	ttl--;
	new = old;
	*(__u8 *)&new = ttl;
	if (bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), old, new, 2))
		return -1;
	return bpf_skb_store_bytes(skb, IP_OFF + offsetof(struct iphdr, ttl), &ttl, 1, 0);
}
