/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU packet, byte and drop counters per endpoint. Per-CPU values need
 * no atomics; `bpfnet stats` sums the CPUs. */
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

static __always_inline void count_packet(__u32 slot, enum direction dir, __u32 len)
{
	struct endpoint_stats *s = bpf_map_lookup_elem(&bpfnet_stats, &slot);

	if (!s)
		return;
	if (dir == DIR_TO_CONTAINER) {
		s->rx_packets++;
		s->rx_bytes += len;
	} else {
		s->tx_packets++;
		s->tx_bytes += len;
	}
}

/* count_drop counts a drop: a global function, which the verifier checks
 * once rather than at each of the many places a packet is dropped. */
__noinline int count_drop(__u32 slot, __u32 reason, __u32 dir)
{
	struct drop_key key = { .slot = slot, .reason = reason, .direction = dir };
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&bpfnet_drops, &key);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&bpfnet_drops, &key, &one, BPF_NOEXIST);
	return 0;
}

/* Counts the drop and returns the verdict, so entry points write
 * `return drop(...)`. */
static __always_inline int drop(__u32 slot, enum drop_reason reason, enum direction dir)
{
	count_drop(slot, reason, dir);
	return TC_ACT_SHOT;
}
