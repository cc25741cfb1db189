/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

/* True when len bytes from the start of the frame can be read directly.
 * Headers of veth traffic are nearly always linear; the pull is the rare
 * fallback, so the common path makes no helper call. */
static __always_inline int linear_ok(struct __sk_buff *skb, __u32 len)
{
	if ((void *)(long)skb->data + len <= (void *)(long)skb->data_end)
		return 1;
	if (skb->len < len || bpf_skb_pull_data(skb, len))
		return 0;
	return (void *)(long)skb->data + len <= (void *)(long)skb->data_end;
}

static __always_inline int mac_equal(const __u8 *a, const volatile __u8 *b)
{
	return *(const __u32 *)a == *(const volatile __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const volatile __u16 *)(b + 4);
}
