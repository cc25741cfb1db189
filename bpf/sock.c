//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket programs on the root cgroup: a process of the host that connects
 * or sends to a published port on one of the host's own addresses
 * (127.0.0.1 included) is pointed straight at the container, with no
 * userland proxy and no per-packet translation. Replies to UDP sockets are
 * shown as coming from the address the process sent to.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/ports.h"

static __always_inline struct host_netns *host_netns(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&bpfnet_host_netns, &zero);
}

/* in_host_netns: sockets of other namespaces (containers, other
 * instances' hosts) are not ours. */
static __always_inline int in_host_netns(void *ctx, const struct host_netns *h)
{
	return h && h->cookie && bpf_get_netns_cookie(ctx) == h->cookie;
}

/* learn_host_netns records the namespace of the loader's probe socket: only
 * that socket, which the loader made in the host namespace, tells it. */
static __always_inline void learn_host_netns(struct bpf_sock_addr *ctx, struct host_netns *h)
{
	if (h->probe_cookie && bpf_get_socket_cookie(ctx) == h->probe_cookie)
		h->cookie = bpf_get_netns_cookie(ctx);
}

static __always_inline int to_this_host(__u32 ip)
{
	return is_loopback(ip) || is_host_ip(ip);
}

/* redirect points ctx at the container behind a published port, if any,
 * and returns the target. */
static __always_inline struct port_target *redirect(struct bpf_sock_addr *ctx, const struct host_netns *h)
{
	__u32 ip = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	struct port_target *t;

	if (!in_host_netns(ctx, h) || !to_this_host(ip))
		return NULL;
	t = published(ip, port, ctx->protocol);
	if (!t)
		return NULL;
	ctx->user_ip4 = t->ip;
	ctx->user_port = t->port;
	if (ctx->protocol == IPPROTO_UDP) {
		struct udp_rev_key key = { .cookie = bpf_get_socket_cookie(ctx), .ip = t->ip, .port = t->port };
		struct port_target orig = { .ip = ip, .port = port };
		struct port_target *known = bpf_map_lookup_elem(&bpfnet_udp_rev, &key);

		/* sendmsg runs per datagram: write the LRU map only when the
		 * socket sends somewhere new. */
		if (!known || known->ip != ip || known->port != port)
			bpf_map_update_elem(&bpfnet_udp_rev, &key, &orig, BPF_ANY);
	}
	return t;
}

SEC("cgroup/connect4")
int bpfnet_connect4(struct bpf_sock_addr *ctx)
{
	struct host_netns *h = host_netns();

	if (h && !h->cookie)
		learn_host_netns(ctx, h);
	else
		redirect(ctx, h);
	return 1;
}

SEC("cgroup/sendmsg4")
int bpfnet_sendmsg4(struct bpf_sock_addr *ctx)
{
	redirect(ctx, host_netns());
	return 1;
}

SEC("cgroup/recvmsg4")
int bpfnet_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct udp_rev_key key = {};
	struct port_target *orig;

	/* Every datagram of the machine comes here, most of them not of
	 * this instance's host: asked before anything else. */
	if (!in_host_netns(ctx, host_netns()))
		return 1;
	key.cookie = bpf_get_socket_cookie(ctx);
	key.ip = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	orig = bpf_map_lookup_elem(&bpfnet_udp_rev, &key);
	if (orig) {
		ctx->user_ip4 = orig->ip;
		ctx->user_port = orig->port;
	}
	return 1;
}

char __license[] SEC("license") = "Dual BSD/GPL";
