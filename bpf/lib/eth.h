/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

/* Returns the start of the frame when its first len bytes can be read
 * directly, NULL otherwise. Headers of veth traffic are nearly always
 * linear; the pull is the rare fallback, so the common path makes no helper
 * call. The verifier knows the returned pointer's range. */
static __always_inline void *frame(struct __sk_buff *skb, __u32 len)
{
	void *data, *end;

	/* Reload data and data_end: reusing an earlier load lets clang
	 * zero-extend data_end in a 32-bit register, which the verifier
	 * no longer accepts as a packet pointer. */
	asm volatile("" ::: "memory");
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;

	if (data + len <= end)
		return data;
	if (skb->len < len || bpf_skb_pull_data(skb, len))
		return NULL;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + len > end)
		return NULL;
	return data;
}

/* frame_end is skb->data_end, loaded where it is used: a copy clang kept
 * in a register may reach the verifier zero-extended, as no packet end. */
static __always_inline void *frame_end(struct __sk_buff *skb)
{
	void *end;

	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(end) : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return end;
}

static __always_inline int mac_equal(const __u8 *a, const volatile __u8 *b)
{
	return *(const __u32 *)a == *(const volatile __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const volatile __u16 *)(b + 4);
}
