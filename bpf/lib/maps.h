/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Instance-wide maps, pinned by name in the instance's bpffs directory so
 * that every program of the instance shares them. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct endpoint_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_stats SEC(".maps");

/* An array: the verifier inlines its lookup, so reading a flag costs a load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct endpoint_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_endpoint_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_DROP_KEYS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct drop_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, struct port_key);
	__type(value, struct port_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ports SEC(".maps");

/* Published ports by where they lead: bpfnet_ports the other way round.
 * Read only for a reply that lost its flow: allocated as used. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct target_key);
	__type(value, struct published_as);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_published_as SEC(".maps");

/* Connection tracking in two tables (lib/ct.h). bpfnet_ct holds the
 * established flows: a hash, not an LRU, so that no new flow evicts one;
 * an entry goes when it expires (the sweep reclaims it), its flow closes
 * or the control plane flushes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_CT_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ct SEC(".maps");

/* Flows not confirmed yet (a SYN, a first datagram): an LRU of its own,
 * so a flood of them (forged SYNs, scans) evicts only its own kind. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DEFAULT_CT_NEW_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_new_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ct_new SEC(".maps");

/* The keys bpfnet_ct admitted, one slot each, walked by the sweep hand. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_CT_ENTRIES);
	__type(key, __u32);
	__type(value, struct ct_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ct_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_sweep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ct_sweep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_STAT_MAX);
	__type(key, enum ct_stat);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_ct_stats SEC(".maps");

/* LRU: a datagram's fragments follow each other within microseconds, so
 * the oldest entries are of datagrams long complete. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct frag_key);
	__type(value, struct frag_ports);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_UPLINKS);
	__type(key, __u32);
	__type(value, struct uplink_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_uplinks SEC(".maps");

/* Addresses of the host namespace (its devices and gateways), so socket
 * programs can tell "to this host" from "to elsewhere". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_host_ips SEC(".maps");

/* Per UDP socket: the published address it sent to, so replies seem to
 * come from there. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct udp_rev_key);
	__type(value, struct port_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_udp_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct host_netns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_host_netns SEC(".maps");
