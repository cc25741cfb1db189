/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking for NAT: one entry per direction that needs a
 * rewrite, in two tables.
 *
 * A flow starts in bpfnet_ct_new (an LRU) and moves to bpfnet_ct when it
 * is confirmed: TCP when the originator acknowledges what the reply
 * direction sent (the handshake's last ACK; a sender of forged SYNs never
 * sees the SYN-ACK), UDP and ICMP echo when a reply comes. bpfnet_ct is a
 * hash that evicts nothing: each entry it admits takes a slot of
 * bpfnet_ct_ring, and a slot is reused only when the sweep hand finds its
 * entry expired or gone. When every slot the hand tries holds a live flow,
 * the table is full: the new flow stays unconfirmed and is counted.
 * Established flows are found with one lookup, as before. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "flow.h"
#include "ct_entry.h"

/* Slots of bpfnet_ct_ring the sweep hand tries per admission. */
enum { CT_SWEEP_TRIES = 8 };

/* ct_admit stores e under key in bpfnet_ct, in a ring slot the sweep hand
 * finds free or holding an expired entry, which it deletes. -1: full. */
static __always_inline int ct_admit(const struct ct_key *key, const struct ct_entry *e, __u64 now)
{
	__u32 zero = 0, slot;
	struct ct_sweep *s = bpf_map_lookup_elem(&bpfnet_ct_sweep, &zero);
	struct ct_entry *old;
	struct ct_key *k;

	if (!s || !s->size)
		return -1;
	for (int i = 0; i < CT_SWEEP_TRIES; i++) {
		bpf_spin_lock(&s->lock);
		slot = s->hand % s->size;
		s->hand++;
		bpf_spin_unlock(&s->lock);
		k = bpf_map_lookup_elem(&bpfnet_ct_ring, &slot);
		if (!k)
			return -1;
		old = bpf_map_lookup_elem(&bpfnet_ct, k);
		if (old && old->expires >= now)
			continue;
		if (old) {
			bpf_map_delete_elem(&bpfnet_ct, k);
			ct_count(CT_STAT_RECLAIMED);
		}
		*k = *key;
		if (bpf_map_update_elem(&bpfnet_ct, key, e, BPF_ANY)) {
			ct_count(CT_STAT_INSERT_FAILED);
			return -1;
		}
		return 0;
	}
	ct_count(CT_STAT_TABLE_FULL);
	return -1;
}

/* ct_confirm_flow moves the flow key names (and a masqueraded flow's
 * other entry) from bpfnet_ct_new to bpfnet_ct. A full table leaves the
 * flow where it is, working and unconfirmed: a later packet tries again.
 *
 * A global function: the verifier checks it once, on its own, instead of
 * once more (with its two sweeps) at each of the many places a packet may
 * confirm a flow. So it takes scalars only (the key by value: 5.10 allows
 * a global function no other pointer than the context) and looks the
 * entry up again; only a flow's confirming packet pays that lookup.
 * -1: not confirmed. */
__noinline int ct_confirm_flow(__u64 addrs, __u64 ports, __u64 now)
{
	struct ct_key key = ct_key_of(addrs, ports);
	struct ct_new_entry *h = bpf_map_lookup_elem(&bpfnet_ct_new, &key);
	struct ct_new_entry *p;
	struct ct_entry e;
	struct ct_key pk;

	if (!h)
		return -1;
	e = h->e;
	e.flags = 0;
	e.expires = now + ct_lifetime_of(key.proto, e.closing, 1);
	if (e.kind == CT_SNAT_ORIG || e.kind == CT_SNAT_REPLY) {
		pk = ct_partner(&key, &e);
		p = bpf_map_lookup_elem(&bpfnet_ct_new, &pk);
		if (p) {
			struct ct_entry pe = p->e;

			pe.flags = 0;
			pe.expires = e.expires;
			if (ct_admit(&pk, &pe, now))
				return -1;
			bpf_map_delete_elem(&bpfnet_ct_new, &pk);
		}
	}
	if (ct_admit(&key, &e, now))
		return -1;
	bpf_map_delete_elem(&bpfnet_ct_new, &key);
	ct_count(CT_STAT_CONFIRMED);
	return 0;
}

/* ct_confirm is ct_confirm_flow for key's unconfirmed entry, which the
 * caller has refreshed in place. */
static __always_inline void ct_confirm(const struct ct_key *key, __u64 now)
{
	ct_confirm_flow(ct_key_addrs(key), ct_key_ports(key), now);
}

/* ct_acks_reply: f, from the originator, acknowledges sequence space the
 * reply direction recorded in r sent. */
static __always_inline int ct_acks_reply(const struct flow *f, const struct ct_new_entry *r)
{
	if (!(r->e.flags & CT_SEEN_REPLY))
		return 0;
	if (f->key.proto != IPPROTO_TCP)
		return 1;
	if ((f->tcp_flags & (TCP_ACK | TCP_SYN | TCP_RST)) != TCP_ACK)
		return 0;
	return f->ack - r->reply_seq - 1 < r->reply_end - r->reply_seq;
}

/* ct_new_origin: a packet of the originator of h's flow. */
static __always_inline void ct_new_origin(const struct ct_key *key, struct ct_new_entry *h, const struct flow *f, __u64 now)
{
	struct ct_new_entry *r = h;

	ct_touch(&h->e, f, now, 0);
	if (h->e.kind == CT_SNAT_ORIG) {
		struct ct_key pk = ct_partner(key, &h->e);

		r = bpf_map_lookup_elem(&bpfnet_ct_new, &pk);
		if (!r)
			return;
	}
	if (ct_acks_reply(f, r))
		ct_confirm(key, now);
}

/* ct_new_reply: a packet of the reply direction of h's flow. TCP records
 * the sequence space it sends; anything else confirms the flow. */
static __always_inline void ct_new_reply(const struct ct_key *key, struct ct_new_entry *h, const struct flow *f, __u64 now)
{
	__u32 end = f->seq + f->seq_len;

	ct_touch(&h->e, f, now, 0);
	if (f->key.proto != IPPROTO_TCP) {
		ct_confirm(key, now);
		return;
	}
	if (!(h->e.flags & CT_SEEN_REPLY)) {
		h->reply_seq = f->seq;
		h->reply_end = end;
		h->e.flags |= CT_SEEN_REPLY;
	} else if ((__s32)(end - h->reply_end) > 0) {
		h->reply_end = end;
	}
}

/* ct_new_packet_of is ct_new_origin (origin set, or h an originator's
 * entry) or ct_new_reply for key's unconfirmed entry and the packet whose
 * fields are packed in its arguments, as ct_new_packet packs them. A
 * global function for the reason ct_confirm_flow is one; only packets of
 * unconfirmed flows pay its second lookup. */
__noinline int ct_new_packet_of(__u64 addrs, __u64 ports_proto, __u64 seq_ack, __u32 seq_len, __u64 now)
{
	struct flow f = {
		.key = ct_key_of(addrs, ports_proto),
		.seq = (__u32)seq_ack, .ack = (__u32)(seq_ack >> 32), .seq_len = seq_len,
		.tcp_flags = (__u8)(ports_proto >> 40),
	};
	struct ct_new_entry *h = bpf_map_lookup_elem(&bpfnet_ct_new, &f.key);

	if (!h)
		return -1;
	if ((ports_proto >> 48) & 1 || h->e.kind == CT_SNAT_ORIG)
		ct_new_origin(&f.key, h, &f, now);
	else
		ct_new_reply(&f.key, h, &f, now);
	return 0;
}

/* ct_new_packet: packet f of key's unconfirmed flow, from the flow's
 * originator when origin is set (else as key's entry says). */
static __always_inline void ct_new_packet(const struct ct_key *key, const struct flow *f, __u64 now, int origin)
{
	ct_new_packet_of(ct_key_addrs(key), ct_key_ports(key) | (__u64)f->tcp_flags << 40 | (__u64)(origin ? 1 : 0) << 48,
			 (__u64)f->seq | (__u64)f->ack << 32, f->seq_len, now);
}

/* ct_established finds the live entry of bpfnet_ct for the packet's own
 * tuple, refreshed, and copies it to out: the one lookup of an
 * established flow's packets. */
static __always_inline int ct_established(const struct ct_key *key, const struct flow *f, __u64 now, struct ct_entry *out)
{
	struct ct_entry *e = bpf_map_lookup_elem(&bpfnet_ct, key);

	if (!e || e->expires < now)
		return 0;
	ct_touch(e, f, now, 1);
	*out = *e;
	return 1;
}

/* ct_unconfirmed is ct_established for bpfnet_ct_new; the packet may
 * confirm the flow. */
static __always_inline int ct_unconfirmed(const struct ct_key *key, const struct flow *f, __u64 now, struct ct_entry *out)
{
	struct ct_new_entry *h = bpf_map_lookup_elem(&bpfnet_ct_new, key);

	if (!h || h->e.expires < now)
		return 0;
	*out = h->e; /* before ct_confirm frees h */
	ct_new_packet(key, f, now, 0);
	return 1;
}

/* ct_lookup is ct_established, then ct_unconfirmed. */
static __always_inline int ct_lookup(const struct ct_key *key, const struct flow *f, __u64 now, struct ct_entry *out)
{
	return ct_established(key, f, now, out) || ct_unconfirmed(key, f, now, out);
}

/* ct_peek finds the live entry for key in either table, untouched: an
 * ICMP error is no sign of life of the flow it is about. */
static __always_inline int ct_peek(const struct ct_key *key, struct ct_entry *out)
{
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *e = bpf_map_lookup_elem(&bpfnet_ct, key);
	struct ct_new_entry *h;

	if (e && e->expires >= now) {
		*out = *e;
		return 1;
	}
	h = bpf_map_lookup_elem(&bpfnet_ct_new, key);
	if (h && h->e.expires >= now) {
		*out = h->e;
		return 1;
	}
	return 0;
}

/* ct_in_use: a live entry holds the key packed in addrs and ports, in
 * either table. A global function, for loops that try many keys: the
 * verifier walks each of their tries. */
__noinline int ct_in_use(__u64 addrs, __u64 ports)
{
	struct ct_key key = ct_key_of(addrs, ports);
	struct ct_entry used;

	return ct_peek(&key, &used);
}

/* ct_create starts a flow in bpfnet_ct_new: key's entry says kind and
 * nat_addr:nat_port. ct_create_flow does it with scalars (ports: the
 * key's, the packet's closing << 40 and the kind << 48; nat: nat_addr |
 * nat_port << 32): a global function the verifier checks once. */
__noinline int ct_create_flow(__u64 addrs, __u64 ports, __u64 nat, __u32 ifindex, __u64 now)
{
	struct ct_key key = ct_key_of(addrs, ports);
	struct ct_new_entry h = {
		.e = {
			.nat_addr = (__u32)nat, .nat_port = (__u16)(nat >> 32), .kind = (__u8)(ports >> 48),
			.ifindex = ifindex, .closing = (__u8)(ports >> 40) & 1,
		},
	};

	h.e.expires = now + ct_lifetime_of(key.proto, h.e.closing, 0);
	if (bpf_map_update_elem(&bpfnet_ct_new, &key, &h, BPF_ANY)) {
		ct_count(CT_STAT_INSERT_FAILED);
		return -1;
	}
	ct_count(CT_STAT_NEW);
	return 0;
}

static __always_inline int ct_create(const struct ct_key *key, const struct flow *f, __u64 now,
				     enum ct_kind kind, __u32 nat_addr, __u16 nat_port, __u32 ifindex)
{
	__u64 closing = f->tcp_flags & (TCP_FIN | TCP_RST) ? CT_PACKED_CLOSING : 0;

	return ct_create_flow(ct_key_addrs(key), ct_key_ports(key) | closing | (__u64)kind << 48,
			      (__u64)nat_addr | (__u64)nat_port << 32, ifindex, now);
}

static __always_inline int ct_says(const struct ct_entry *e, enum ct_kind kind, __u32 nat_addr, __u16 nat_port)
{
	return e->kind == kind && e->nat_addr == nat_addr && e->nat_port == nat_port;
}

/* ct_refresh is for the originator's packets of a flow whose entry key
 * says kind and nat_addr:nat_port: an entry that does is refreshed in
 * place (one lookup when established) and it returns 1; one that says
 * otherwise is stale and deleted, and it returns 0, as when there is none.
 * Writing the entry again for every packet would take a lock each time and
 * forget that the flow closes. */
static __always_inline int ct_refresh(const struct ct_key *key, const struct flow *f, __u64 now,
				      enum ct_kind kind, __u32 nat_addr, __u16 nat_port, __u32 ifindex)
{
	struct ct_entry *e = bpf_map_lookup_elem(&bpfnet_ct, key);
	struct ct_new_entry *h;

	if (e && e->expires >= now) {
		if (ct_says(e, kind, nat_addr, nat_port)) {
			ct_touch(e, f, now, 1);
			if (e->ifindex != ifindex)
				e->ifindex = ifindex;
			return 1;
		}
		bpf_map_delete_elem(&bpfnet_ct, key);
	}
	h = bpf_map_lookup_elem(&bpfnet_ct_new, key);
	if (h && h->e.expires >= now && ct_says(&h->e, kind, nat_addr, nat_port)) {
		ct_new_packet(key, f, now, 1);
		return 1;
	}
	return 0;
}

/* ct_keep is ct_refresh, starting the flow over when it finds no entry. */
static __always_inline int ct_keep(const struct ct_key *key, const struct flow *f, __u64 now,
				   enum ct_kind kind, __u32 nat_addr, __u16 nat_port, __u32 ifindex)
{
	if (ct_refresh(key, f, now, kind, nat_addr, nat_port, ifindex))
		return 0;
	return ct_create(key, f, now, kind, nat_addr, nat_port, ifindex);
}
