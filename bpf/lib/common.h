/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every type and enum shared between the datapath and the Go control plane.
 * bpf2go exports them with -type; Go never redeclares them.
 */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

/* Sizes of the instance-wide maps. Go reads them back from the map specs:
 * endpoint slots are allocated below bpfnet_stats' max_entries. */
enum limits {
	MAX_ENDPOINTS = 8192,
	MAX_DROP_KEYS = 65536,
	MAX_PORTS = 65536,        /* published ports, all containers */
	MAX_UPLINKS = 64,
	DEFAULT_CT_ENTRIES = 131072, /* the loader may size bpfnet_ct otherwise */
	/* bpfnet_ct_new holds 1/CT_NEW_SHARE of bpfnet_ct's entries, at least CT_NEW_MIN. */
	CT_NEW_SHARE = 4,
	CT_NEW_MIN = 64,
	DEFAULT_CT_NEW_ENTRIES = DEFAULT_CT_ENTRIES / CT_NEW_SHARE,
};

/* Source ports (and ICMP echo identifiers) for masquerade: outside the
 * kernel's default ephemeral range (32768-60999), so a masqueraded flow
 * never takes a tuple a host socket holds. */
enum masquerade_range {
	SNAT_PORT_FIRST = 61000,
	SNAT_PORT_LAST = 65535,
	SNAT_PORT_COUNT = SNAT_PORT_LAST - SNAT_PORT_FIRST + 1,
};

/* Rows of bpfnet_stats and the drop counters: the host's (drops that
 * belong to no endpoint), then the endpoints'. */
enum slots {
	HOST_SLOT = 0,
	FIRST_ENDPOINT_SLOT = 1,
};

/* Why a packet was dropped. Names are shown by `bpfnet stats`, read from BTF. */
enum drop_reason {
	DROP_MALFORMED = 1,
	DROP_UNSUPPORTED_L3,      /* neither IPv4 nor ARP */
	DROP_SPOOFED_MAC,         /* source MAC is not the endpoint's */
	DROP_SPOOFED_IP,          /* source IPv4 is not the endpoint's */
	DROP_SPOOFED_ARP,         /* ARP sender MAC/IP is not the endpoint's */
	DROP_OTHER_NETWORK,       /* destination is an endpoint of another network */
	DROP_ICC_DISABLED,        /* container to container with icc=false */
	DROP_INTERNAL_NETWORK,    /* internal network, peer outside its subnet */
	DROP_UNKNOWN_NEIGHBOR,    /* ARP request for an address nobody holds */
	DROP_UNSUPPORTED_ARP,     /* ARP that is not Ethernet/IPv4 */
	DROP_NOT_PUBLISHED,       /* from the wire straight to a container, not via a published port */
	DROP_NAT_NO_PORT,         /* masquerade found no free source port */
	DROP_CT_INSERT,           /* a connection tracking entry could not be stored */
	DROP_FIB_LOOKUP,          /* no route from the host for a masqueraded flow */
	DROP_VLAN,                /* an 802.1Q or 802.1ad tag: containers send untagged frames */
	DROP_NO_FLOW,             /* a TCP segment of a flow with no state (flushed, expired): never
				   * translated as a new flow; the peer's retransmission or a reset follows */
	DROP_UNTRANSLATABLE,      /* would leave through an uplink untranslated (a protocol or a
				   * fragment the NAT cannot translate) */
	DROP_REASON_MAX,
};

/* Direction of a packet as seen from the container. */
enum direction {
	DIR_FROM_CONTAINER = 0,
	DIR_TO_CONTAINER = 1,
};

/* Per-network policy bits, fixed when the network is created. */
enum network_flags {
	NETWORK_ICC_DISABLED = 1 << 0,
	NETWORK_INTERNAL = 1 << 1,
	NETWORK_NO_MASQUERADE = 1 << 2,   /* enable_ip_masquerade=false */
};

/* Per-endpoint bits that change while its programs run (bpfnet_endpoint_state):
 * flipping one is a map update, not a program reload. */
enum endpoint_flags {
	ENDPOINT_PUBLISHES_PORTS = 1 << 0, /* replies from its ports need reverse NAT */
};

/* What a connection tracking entry does to the packets it matches. */
enum ct_kind {
	CT_DNAT_REPLY = 1, /* reply of a published-port flow: source becomes nat_addr:nat_port */
	CT_SNAT_ORIG = 2,  /* a masqueraded flow leaving: source becomes nat_addr:nat_port */
	CT_SNAT_REPLY = 3, /* reply to a masqueraded flow: destination becomes nat_addr:nat_port */
	CT_HAIRPIN_SELF = 4, /* a container's reply to itself through its published port: source
			      * becomes nat_addr:nat_port, destination the container */
	CT_ROUTED_REPLY = 5, /* reply to a flow a container sent out untranslated
			      * (enable_ip_masquerade=false): let in to nat_addr as it is */
	CT_TO_HOST = 6, /* a container's UDP reply to a host process whose port is also a
			 * published one: to the host as it is, not through the port
			 * (nat_addr:nat_port: the process's address and port) */
};

/* Value of bpfnet_endpoints, keyed by the endpoint's IPv4 address
 * (network byte order). Addresses are unique per instance: Docker's IPAM
 * rejects overlapping subnets. */
struct endpoint_info {
	__u32 ifindex;   /* host-side veth, in the instance's host namespace */
	__u32 network;   /* network number, local to the instance */
	__u32 slot;      /* row in bpfnet_stats */
	__u32 tunnel_ip; /* 0 for a local endpoint; the remote host for overlay */
	__u8 mac[6];
	__u8 pad[2];
};

/* Per-endpoint load-time configuration of the container programs. */
struct endpoint_config {
	__u32 ip;          /* network byte order, as are all addresses here */
	__u32 gateway_ip;
	__u32 subnet;
	__u32 subnet_mask;
	__u32 network;
	__u32 slot;
	enum network_flags flags;
	__u8 mac[6];
	__u8 gateway_mac[6];
};

/* Value of bpfnet_endpoint_state, indexed by endpoint slot. */
struct endpoint_state {
	enum endpoint_flags flags;
};

/* Value of bpfnet_stats (per CPU), indexed by endpoint slot. */
struct endpoint_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
};

/* Key of bpfnet_drops (per CPU): drops are rare, so only reasons that
 * happened take memory. */
struct drop_key {
	__u32 slot;
	enum drop_reason reason;
	enum direction direction;
};

/* Key of bpfnet_ports: a published host address and port. host_ip 0 is
 * every address of the host (Docker's 0.0.0.0). */
struct port_key {
	__u32 host_ip;
	__u16 host_port; /* network byte order, as are all ports here */
	__u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

/* Value of bpfnet_ports: where the published port leads. */
struct port_target {
	__u32 ip;
	__u16 port;
	__u8 pad[2];
};

/* Key of bpfnet_published_as: a container address and port that published
 * ports lead to. */
struct target_key {
	__u32 ip;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

/* Value of bpfnet_published_as: the host address and port a container's
 * port is published on, so that a reply from it whose flow lost its state
 * (a flush, an upgrade) gets its translation back from the port map. */
struct published_as {
	__u32 host_ip;    /* 0: every address (the uplink's is used) */
	__u16 host_port;  /* 0: unknown (after one of several mappings went) */
	__u16 mappings;   /* published ports that lead here: only 1 is unambiguous */
};

/* Key of bpfnet_ct: a packet's 5-tuple as the datapath sees it at the
 * point of lookup. */
struct ct_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* Key of bpfnet_frags: one IPv4 datagram in fragments, as on the wire. */
struct frag_key {
	__u32 saddr;
	__u32 daddr;
	__u16 id;
	__u8 proto;
	__u8 pad;
};

/* Value of bpfnet_frags: the ports of the datagram, which only its first
 * fragment carries (ICMP echo: the identifier, as in ct_key). */
struct frag_ports {
	__u16 sport;
	__u16 dport;
};

/* Bits of ct_entry.flags. */
enum ct_flags {
	CT_SEEN_REPLY = 1 << 0, /* the reply direction has sent (bpfnet_ct_new) */
};

/* Value of bpfnet_ct (established flows) and head of bpfnet_ct_new's. */
struct ct_entry {
	__u64 expires;    /* bpf_ktime_get_ns() deadline; past it the entry is free */
	__u32 nat_addr;
	__u16 nat_port;
	__u8 closing;     /* a TCP FIN or RST was seen: short timeout */
	__u8 flags;       /* enum ct_flags */
	enum ct_kind kind;
	__u32 ifindex;    /* CT_DNAT_REPLY: the uplink the flow came in on (0: hairpin), for listings */
};

/* Value of bpfnet_ct_new: a flow that is not confirmed yet. For TCP, the
 * sequence space the reply direction has sent, which the originator's ACK
 * must fall in to confirm the flow: a sender of forged SYNs never sees
 * the reply, so it cannot move its flows into bpfnet_ct. */
struct ct_new_entry {
	struct ct_entry e;
	__u32 reply_seq;  /* first sequence number the reply sent */
	__u32 reply_end;  /* one past the last */
};

/* Value of bpfnet_ct_sweep (one entry): the hand that walks
 * bpfnet_ct_ring, which holds the key of every entry bpfnet_ct admitted.
 * A slot is reused only when its entry has expired or is gone, so an
 * established entry is never evicted. */
struct ct_sweep {
	struct bpf_spin_lock lock;
	__u32 size;       /* slots of bpfnet_ct_ring (= entries of bpfnet_ct); set by the loader */
	__u64 hand;
};

/* Instance-wide connection tracking counters (bpfnet_ct_stats, per CPU),
 * indexed by this enum. Names are read from BTF, as drop reasons are. */
enum ct_stat {
	CT_STAT_NEW = 0,       /* a flow entered bpfnet_ct_new */
	CT_STAT_CONFIRMED,     /* a flow moved to bpfnet_ct: established */
	CT_STAT_RECLAIMED,     /* the sweep freed an expired established entry */
	CT_STAT_TABLE_FULL,    /* a flow stayed unconfirmed: the slots the sweep tried held live flows */
	CT_STAT_INSERT_FAILED, /* a map update failed */
	CT_STAT_NO_FLOW,       /* a reply or mid-flow packet found no entry: its flow's state is gone
				* (flushed, expired, evicted from bpfnet_ct_new) or it is forged */
	CT_STAT_RESTORED,      /* a published port's reply found no entry: translated from the port
				* map (bpfnet_published_as), its flow started over */
	CT_STAT_MAX,
};

/* Value of bpfnet_uplinks, keyed by ifindex: devices whose traffic is
 * masqueraded, and the source address to use. */
struct uplink_info {
	__u32 ip;
};

/* Key of bpfnet_udp_rev: a UDP socket that sent to a published port, and
 * the container address it was sent on to. */
struct udp_rev_key {
	__u64 cookie;
	__u32 ip;
	__u16 port;
	__u8 pad[2];
};

/* Value of bpfnet_host_netns (one entry): which network namespace is the
 * instance's host. From 5.14 the loader reads it with SO_NETNS_COOKIE; before,
 * the kernel tells a namespace's cookie only to BPF, so the loader makes a
 * socket in the host namespace, stores that socket's cookie (SO_COOKIE) as
 * probe_cookie and connects it: connect4 records the namespace of that one
 * socket, whatever other sockets connect to meanwhile. */
struct host_netns {
	__u64 cookie;       /* 0 until learned: the socket programs act nowhere */
	__u64 probe_cookie; /* the socket whose connect tells it; 0: none */
};
