/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMP errors about translated flows. A router on the way answers a
 * translated packet (fragmentation needed, unreachable, TTL exceeded) to
 * the translated source, quoting the packet as it saw it; the container
 * that sent it must get the error about its own addresses and ports, or
 * path MTU discovery and connect errors break, as with netfilter's
 * RELATED handling. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "ct.h"
#include "nat.h"

enum {
	ICMP_DEST_UNREACH = 3,
	ICMP_TIME_EXCEEDED = 11,
	ICMP_PARAMETERPROB = 12,
	ICMP_CSUM_OFF = 2,
	/* Ethernet, IPv4 without options, the ICMP header, the quoted IPv4
	 * header and the 8 bytes of it every error must carry (RFC 792). */
	ICMP_ERR_INNER_IP = IP_OFF + sizeof(struct iphdr) + ICMP_HDR_LEN,
	ICMP_ERR_INNER_L4 = ICMP_ERR_INNER_IP + sizeof(struct iphdr),
	ICMP_ERR_MIN_LEN = ICMP_ERR_INNER_L4 + 8,
};

/* icmp_error is the quoted packet of an ICMP error: its tuple as on the
 * wire (for ICMP echo the identifier is sport, as parse_flow has it). */
struct icmp_error {
	struct ct_key quoted;
	__u32 outer_saddr;
	__u32 outer_daddr;
	__u16 outer_tot_len; /* host byte order */
};

/* parse_icmp_error fills err from an ICMP error quoting a TCP, UDP or ICMP
 * echo request packet; -1 for anything else. It may pull data. */
static __always_inline int parse_icmp_error(struct __sk_buff *skb, struct icmp_error *err)
{
	void *data = frame(skb, ICMP_ERR_MIN_LEN);
	struct iphdr *ip, *in;
	__u8 *icmp, *l4;

	if (!data)
		return -1;
	ip = data + IP_OFF;
	icmp = data + IP_OFF + sizeof(*ip);
	in = data + ICMP_ERR_INNER_IP;
	l4 = data + ICMP_ERR_INNER_L4;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_ICMP || (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	if (icmp[0] != ICMP_DEST_UNREACH && icmp[0] != ICMP_TIME_EXCEEDED && icmp[0] != ICMP_PARAMETERPROB)
		return -1;
	/* A quoted fragment other than the first carries no ports. */
	if (in->ihl != 5 || (in->frag_off & bpf_htons(0x1fff)))
		return -1;
	__builtin_memset(err, 0, sizeof(*err));
	err->outer_saddr = ip->saddr;
	err->outer_daddr = ip->daddr;
	err->outer_tot_len = bpf_ntohs(ip->tot_len);
	err->quoted.saddr = in->saddr;
	err->quoted.daddr = in->daddr;
	err->quoted.proto = in->protocol;
	switch (in->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		err->quoted.sport = *(__u16 *)l4;
		err->quoted.dport = *(__u16 *)(l4 + 2);
		return 0;
	case IPPROTO_ICMP:
		if (l4[0] != ICMP_ECHO)
			return -1;
		err->quoted.sport = *(__u16 *)(l4 + ICMP_ID_OFF);
		return 0;
	}
	return -1;
}

/* icmp_error_nat translates an error and its quote, which the quote's
 * translation made disagree with the addresses its sender knows:
 *   - inbound, to the container whose packet the quote was before
 *     translation: the outer destination and the quoted source become
 *     addr:port;
 *   - outbound, from a container about a packet it received translated:
 *     the outer source and the quoted destination become addr:port.
 *
 * The quoted header's checksum moves opposite to its address, so the ICMP
 * checksum, which covers both, changes only with the port. The quoted
 * TCP/UDP (or echo) checksum is left as it is: receivers match an error by
 * addresses and ports and never verify it (tcp_v4_err, __udp4_lib_err,
 * ping_err), and a TCP one is mostly not even quoted. */
__noinline int icmp_error_nat_skb(struct __sk_buff *skb, __u64 old_addrs, __u32 ports, __u32 addr, __u32 proto_inbound)
{
	int inbound = (proto_inbound >> 8) & 1;
	__u32 outer_off = IP_OFF + (inbound ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 quoted_off = ICMP_ERR_INNER_IP + (inbound ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
	__u32 outer_old = (__u32)old_addrs;
	__u32 quoted_old = (__u32)(old_addrs >> 32);
	__u16 port_old = (__u16)ports, port = (__u16)(ports >> 16);
	__u32 port_off = ICMP_ERR_INNER_L4 + ((__u8)proto_inbound == IPPROTO_ICMP ? ICMP_ID_OFF : inbound ? 0 : 2);

	if (bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), outer_old, addr, 4) ||
	    bpf_skb_store_bytes(skb, outer_off, &addr, 4, 0))
		return -1;
	if (bpf_l3_csum_replace(skb, ICMP_ERR_INNER_IP + offsetof(struct iphdr, check), quoted_old, addr, 4) ||
	    bpf_skb_store_bytes(skb, quoted_off, &addr, 4, 0))
		return -1;
	if (port == port_old)
		return 0;
	if (bpf_l4_csum_replace(skb, IP_OFF + sizeof(struct iphdr) + ICMP_CSUM_OFF, port_old, port, 2))
		return -1;
	return bpf_skb_store_bytes(skb, port_off, &port, 2, 0);
}

/* icmp_error_nat_skb does it with scalars: a global function, which the
 * verifier checks once rather than at every path to a translated error. */
static __always_inline int icmp_error_nat(struct __sk_buff *skb, const struct icmp_error *err, int inbound,
					  __u32 addr, __u16 port)
{
	__u32 outer_old = inbound ? err->outer_daddr : err->outer_saddr;
	__u32 quoted_old = inbound ? err->quoted.saddr : err->quoted.daddr;
	__u16 port_old = inbound ? err->quoted.sport : err->quoted.dport;

	return icmp_error_nat_skb(skb, (__u64)outer_old | (__u64)quoted_old << 32, (__u32)port_old | (__u32)port << 16,
				  addr, err->quoted.proto | (inbound ? 1u << 8 : 0));
}
