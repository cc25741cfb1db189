/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A packet's flow: its 5-tuple and what connection tracking and NAT need
 * of its headers. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "eth.h"

/* flow is a TCP, UDP or ICMP echo packet's tuple and where its ports sit. */
struct flow {
	struct ct_key key; /* as on the wire: saddr/daddr/sport/dport */
	__u32 l4_off;      /* offset of the TCP/UDP header, after any IPv4 options */
	__u32 seq;         /* TCP: sequence number, host byte order */
	__u32 ack;         /* TCP: acknowledgment number, host byte order */
	__u32 seq_len;     /* TCP: sequence space the segment takes (payload, SYN, FIN) */
	__u16 tot_len;     /* the IPv4 header's, host byte order */
	__u8 tos;
	__u8 ttl;
	__u8 tcp_flags;    /* the 13th byte of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
	__u8 no_l4;        /* a fragment after the first: ports from bpfnet_frags, no L4 header here */
	__u8 echo_reply;   /* ICMP: an echo reply, which answers a flow and never starts one */
};

enum {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_ACK = 0x10,
	TCP_SEQ_OFF = 4,
	TCP_ACK_OFF = 8,
	TCP_DOFF_OFF = 12,
	TCP_FLAGS_OFF = 13,
	TCP_HDR_MIN = 20,
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
	IPV4_HDR_MIN = 20,
};

/* ipv4_malformed: a header the host stack would drop, or one whose
 * lengths disagree with the frame. A GSO packet beyond 64 KiB (BIG TCP)
 * has total length 0. */
static __always_inline int ipv4_malformed(struct __sk_buff *skb, const struct iphdr *ip)
{
	__u32 tot_len = bpf_ntohs(ip->tot_len), room = skb->len - sizeof(struct ethhdr);

	if (ip->version != 4 || ip->ihl < 5)
		return 1;
	if (tot_len == 0 && room > 0xffff)
		return 0;
	return tot_len < ip->ihl * 4 || tot_len > room;
}

/* frag_key_of is the bpfnet_frags key of the datagram f belongs to. */
static __always_inline struct frag_key frag_key_of(const struct flow *f, __u16 id)
{
	struct frag_key k = { .saddr = f->key.saddr, .daddr = f->key.daddr, .id = id, .proto = f->key.proto };

	return k;
}

/* parse_flow fills f from the IPv4 header at ip (after Ethernet), options
 * included. It returns 0 for TCP, UDP and ICMP echo, -1 for anything NAT
 * leaves alone. A datagram in fragments is one flow: its first fragment
 * carries the ports and records them in bpfnet_frags, where the later ones
 * find them (as Cilium's fragment tracking; a later fragment that
 * overtakes the first is not translated). It may pull data: packet
 * pointers taken before are invalid. */
static __always_inline int parse_flow(struct __sk_buff *skb, struct iphdr *ip, struct flow *f)
{
	__u32 hlen = (ip->ihl & 0xf) * 4, need;
	struct frag_ports *fp;
	__u16 frag, id;
	void *data, *end;
	__u8 *l4;

	if (hlen < IPV4_HDR_MIN)
		return -1;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_ICMP)
		return -1;
	__builtin_memset(f, 0, sizeof(*f)); /* the key's padding is hashed too */
	f->key.saddr = ip->saddr;
	f->key.daddr = ip->daddr;
	f->key.proto = ip->protocol;
	f->tos = ip->tos;
	f->ttl = ip->ttl;
	f->tot_len = bpf_ntohs(ip->tot_len);
	f->l4_off = sizeof(struct ethhdr) + hlen;
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
	need = f->key.proto == IPPROTO_TCP ? TCP_HDR_MIN : f->key.proto == IPPROTO_UDP ? L4_PORTS_LEN : ICMP_HDR_LEN;
	data = frame(skb, f->l4_off + need);
	if (!data)
		return -1;
	/* The offset varies with the options: the verifier wants the bound
	 * checked on l4 itself. */
	l4 = data + sizeof(struct ethhdr) + (hlen & 0x3c);
	end = frame_end(skb);
	if ((void *)(l4 + need) > end)
		return -1;
	switch (f->key.proto) {
	case IPPROTO_TCP:
		if ((void *)(l4 + TCP_HDR_MIN) > frame_end(skb))
			return -1;
		f->tcp_flags = l4[TCP_FLAGS_OFF];
		f->seq = bpf_ntohl(*(__u32 *)(l4 + TCP_SEQ_OFF));
		f->ack = bpf_ntohl(*(__u32 *)(l4 + TCP_ACK_OFF));
		f->seq_len = f->tot_len - hlen - (l4[TCP_DOFF_OFF] >> 4) * 4 + !!(f->tcp_flags & TCP_SYN) +
			     !!(f->tcp_flags & TCP_FIN);
		f->key.sport = *(__u16 *)l4;
		f->key.dport = *(__u16 *)(l4 + 2);
		break;
	case IPPROTO_UDP:
		f->key.sport = *(__u16 *)l4;
		f->key.dport = *(__u16 *)(l4 + 2);
		break;
	default:
		if ((void *)(l4 + ICMP_HDR_LEN) > frame_end(skb))
			return -1;
		if (l4[0] == ICMP_ECHO)
			f->key.sport = *(__u16 *)(l4 + ICMP_ID_OFF);
		else if (l4[0] == ICMP_ECHOREPLY) {
			f->key.dport = *(__u16 *)(l4 + ICMP_ID_OFF);
			f->echo_reply = 1;
		} else
			return -1; /* errors: lib/icmp.h */
	}
	if (frag & IP_MF) {
		struct frag_key fk = frag_key_of(f, id);
		struct frag_ports ports = { .sport = f->key.sport, .dport = f->key.dport };

		bpf_map_update_elem(&bpfnet_frags, &fk, &ports, BPF_ANY);
	}
	return 0;
}
