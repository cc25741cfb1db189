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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_DROP_KEYS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct drop_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfnet_drops SEC(".maps");
