/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every type and enum shared between the datapath and the Go control plane.
 * bpf2go exports them with -type; Go never redeclares them.
 */
#pragma once

#include <linux/types.h>

/* Sizes of the instance-wide maps. Go reads them back from the map specs:
 * endpoint slots are allocated below bpfnet_stats' max_entries. */
enum limits {
	MAX_ENDPOINTS = 8192,
	MAX_DROP_KEYS = 65536,
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
