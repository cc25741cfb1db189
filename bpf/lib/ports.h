/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Published ports: where a host address and port lead. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

/* published returns the target of addr:port/proto: a mapping on that very
 * address wins over one on every address (0.0.0.0). */
static __always_inline struct port_target *published(__u32 addr, __u16 port, __u8 proto)
{
	struct port_key key = { .host_ip = addr, .host_port = port, .proto = proto };
	struct port_target *t = bpf_map_lookup_elem(&bpfnet_ports, &key);

	if (t)
		return t;
	key.host_ip = 0;
	return bpf_map_lookup_elem(&bpfnet_ports, &key);
}

/* is_masquerade_port: port (network byte order) is one masquerade hands out. */
static __always_inline int is_masquerade_port(__u16 port)
{
	return bpf_ntohs(port) >= SNAT_PORT_FIRST;
}

static __always_inline int is_loopback(__u32 addr)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

static __always_inline int is_host_ip(__u32 addr)
{
	return bpf_map_lookup_elem(&bpfnet_host_ips, &addr) != NULL;
}

/* published_to_host is published() for packets that came in on a device.
 * Only the host's own addresses answer, as Docker's --dst-type LOCAL: a
 * packet the host merely routes keeps its destination, and one addressed
 * to 127.0.0.0/8 is forged (the kernel would drop it as a martian), so a
 * port published on 127.0.0.1 never answers it. */
static __always_inline struct port_target *published_to_host(__u32 addr, __u16 port, __u8 proto)
{
	if (is_loopback(addr) || !is_host_ip(addr))
		return NULL;
	return published(addr, port, proto);
}
