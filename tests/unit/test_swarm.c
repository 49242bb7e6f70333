/*
 * swarm suite: direct calls for the handshake rules, and a virtual-time
 * in-memory network (an event queue carrying encoded messages between many
 * swarm instances with a fixed one-way latency) for the swarm behaviour:
 * full mesh, partial mesh through gossip, leaves, failures, counts, flash
 * crowd, duplicate dials, refusals, leave and join again.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "swarm/swarm.h"
#include "wire/wire.h"

#define SEC 1000000LL
#define MS 1000LL

/* For the simulator's hot paths: ck_assert() reports every passing check to
 * the runner, which costs a system call each. */
#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c))                                                      \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);     \
	} while (0)

/* ======================================================================
 * Direct calls: a fake transport that records what swarm asks for.
 * ==================================================================== */

struct rec {
	struct wire_msg sent[128];
	uint32_t sent_link[128];
	unsigned nsent;
	uint32_t closed[16];
	int close_code[16];
	unsigned nclosed;
	uint32_t up[16];
	unsigned nup, ndown, ndown_failed;
	uint32_t next_handle;
	unsigned ndial;
	int dial_rc;
};

static int rec_dial(void *ctx, const char *host, uint16_t port, uint32_t *out)
{
	struct rec *r = ctx;
	(void)host;
	(void)port;
	r->ndial++;
	if (r->dial_rc)
		return r->dial_rc;
	*out = ++r->next_handle;
	return 0;
}

static int rec_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct rec *r = ctx;
	uint8_t buf[WIRE_MAX_MSG];
	ck_assert_int_gt(wire_encode(m, buf, sizeof buf), 0);
	if (r->nsent < 128) {
		r->sent[r->nsent] = *m;
		r->sent_link[r->nsent++] = link;
	}
	return 0;
}

static void rec_close(void *ctx, uint32_t link, int code, const char *reason)
{
	struct rec *r = ctx;
	(void)reason;
	if (r->nclosed < 16) {
		r->closed[r->nclosed] = link;
		r->close_code[r->nclosed++] = code;
	}
}

static void rec_up(void *ctx, uint32_t link, const struct swarm_nbr *n)
{
	struct rec *r = ctx;
	ck_assert_int_eq(n->state, SWARM_LINK_NEIGHBOUR);
	ck_assert_uint_eq(n->link, link);
	if (r->nup < 16)
		r->up[r->nup] = link;
	r->nup++;
}

static void rec_down(void *ctx, uint32_t link, bool failed)
{
	struct rec *r = ctx;
	(void)link;
	r->ndown++;
	r->ndown_failed += failed;
}

static struct swarm_ops rec_ops(struct rec *r)
{
	return (struct swarm_ops){ .ctx = r, .dial = rec_dial, .send = rec_send, .close = rec_close,
				   .nbr_up = rec_up, .nbr_down = rec_down };
}

static struct wire_msg hello_from(uint64_t id, uint8_t role, const char *stream, uint16_t port)
{
	struct wire_msg m = { .type = WIRE_HELLO };
	m.u.hello.proto = 1;
	m.u.hello.role = role;
	m.u.hello.peer_id = id;
	m.u.hello.port = port;
	strcpy(m.u.hello.host, "10.9.9.9");
	strcpy(m.u.hello.stream, stream);
	strcpy(m.u.hello.software, "test");
	return m;
}

/* A PING that asks for a PONG (ECHO). */
static struct wire_msg ping_msg(uint64_t nonce)
{
	struct wire_msg m = { .type = WIRE_PING };
	m.u.ping.nonce = (uint32_t)nonce;
	m.u.ping.flags = WIRE_PING_ECHO;
	return m;
}

/* The last message of a type sent on a link, or NULL. */
static const struct wire_msg *last_sent(const struct rec *r, uint32_t link, enum wire_type t)
{
	for (unsigned i = r->nsent; i-- > 0;)
		if (r->sent_link[i] == link && r->sent[i].type == t)
			return &r->sent[i];
	return NULL;
}

START_TEST(handshake_direct)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER,
				    .stream = "s", .host = "10.0.0.1", .port = 7000, .seed = 1 };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	ck_assert_int_eq(swarm_join(sw, 0), LC_ESTATE);
	ck_assert_uint_eq(r.ndial, 0); /* a tracker without a tracker address */

	/* An incoming link: HELLO goes out at once. */
	ck_assert_int_eq(swarm_on_link_open(sw, 7, false, "10.0.0.2", 40000, 1000), 0);
	const struct wire_msg *h = last_sent(&r, 7, WIRE_HELLO);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->u.hello.peer_id, 0x100);
	ck_assert_uint_eq(h->u.hello.role, WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER);
	ck_assert_str_eq(h->u.hello.stream, "s");
	ck_assert_uint_eq(h->u.hello.port, 7000);

	/* Its HELLO: accepted (our PING), not yet a neighbour. A peer with no
	 * advertised host is recorded at the address it came from. */
	struct wire_msg m = hello_from(0x200, WIRE_ROLE_PEER, "s", 7001);
	m.u.hello.host[0] = 0;
	ck_assert_int_eq(swarm_on_message(sw, 7, &m, 2000), 0);
	ck_assert_ptr_nonnull(last_sent(&r, 7, WIRE_PING));
	ck_assert_uint_eq(r.nup, 0);
	struct swarm_nbr n;
	ck_assert_int_eq(swarm_link_get(sw, 7, &n), 0);
	ck_assert_int_eq(n.state, SWARM_LINK_ACCEPTED);
	ck_assert_str_eq(n.host, "10.0.0.2");
	ck_assert_uint_eq(n.port, 7001);
	/* Its PING: both accepted -> neighbour, PONG echoes the nonce. */
	m = ping_msg(12345);
	ck_assert_int_eq(swarm_on_message(sw, 7, &m, 3000), 0);
	ck_assert_uint_eq(r.nup, 1);
	const struct wire_msg *pong = last_sent(&r, 7, WIRE_PONG);
	ck_assert_ptr_nonnull(pong);
	ck_assert_uint_eq(pong->u.ping.nonce, 12345);
	ck_assert(swarm_has_neighbour(sw, 0x200, NULL));
	/* RTT from a PONG to our PING (sent at 2000). */
	m.type = WIRE_PONG;
	m.u.ping.nonce = last_sent(&r, 7, WIRE_PING)->u.ping.nonce;
	ck_assert_int_eq(swarm_on_message(sw, 7, &m, 2000 + 40000), 0);
	ck_assert_int_eq(swarm_link_get(sw, 7, &n), 0);
	ck_assert_int_eq(n.rtt_us, 40000);
	ck_assert_int_eq(n.srtt_us, 40000);
	ck_assert_int_eq(n.rttvar_us, 20000);
	/* The scheduler's messages are the caller's on a neighbour link. */
	struct wire_msg d = { .type = WIRE_DONE };
	ck_assert_int_eq(swarm_on_message(sw, 7, &d, 4000), LC_ETYPE);

	/* A second incoming peer: the tracker answers its HELLO with PEERS
	 * naming the first (at its seen address), then PING. */
	ck_assert_int_eq(swarm_on_link_open(sw, 8, false, "10.0.0.3", 40001, 5000), 0);
	m = hello_from(0x300, WIRE_ROLE_PEER, "s", 7002);
	ck_assert_int_eq(swarm_on_message(sw, 8, &m, 5000), 0);
	const struct wire_msg *p = last_sent(&r, 8, WIRE_PEERS);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->u.peers.count, 1);
	ck_assert_uint_eq(p->u.peers.peer[0].peer_id, 0x200);
	ck_assert_str_eq(p->u.peers.peer[0].host, "10.0.0.2");
	ck_assert_uint_eq(p->u.peers.peer[0].port, 7001);

	/* A message before HELLO is a protocol error: BYE PROTOCOL, close 1002. */
	ck_assert_int_eq(swarm_on_link_open(sw, 9, false, "10.0.0.4", 40002, 6000), 0);
	m = ping_msg(1);
	ck_assert_int_eq(swarm_on_message(sw, 9, &m, 6000), LC_EPROTO);
	const struct wire_msg *bye = last_sent(&r, 9, WIRE_BYE);
	ck_assert_ptr_nonnull(bye);
	ck_assert_uint_eq(bye->u.bye.code, WIRE_BYE_PROTOCOL);
	ck_assert_uint_eq(r.closed[r.nclosed - 1], 9);
	ck_assert_int_eq(r.close_code[r.nclosed - 1], 1002);
	ck_assert_int_eq(swarm_link_get(sw, 9, &n), LC_ENOENT);
	/* Later traffic and the close of a forgotten link are ignored. */
	ck_assert_int_eq(swarm_on_message(sw, 9, &m, 6001), 0);
	swarm_on_link_closed(sw, 9, 1002, 6002);

	/* A second HELLO on a neighbour link is a protocol error too, and a
	 * neighbour lost that way is a failure. */
	m = hello_from(0x200, WIRE_ROLE_PEER, "s", 7001);
	ck_assert_int_eq(swarm_on_message(sw, 7, &m, 7000), LC_EPROTO);
	ck_assert_uint_eq(r.ndown, 1);
	ck_assert_uint_eq(r.ndown_failed, 1);
	struct swarm_stats st;
	swarm_get_stats(sw, 7000, &st);
	ck_assert_uint_eq(st.joins, 1);
	ck_assert_uint_eq(st.failures, 1);
	ck_assert_uint_eq(st.failures_1m, 1);

	/* Leave: BYE LEAVING on the open links; join again works. */
	unsigned closed0 = r.nclosed;
	ck_assert_int_eq(swarm_leave(sw, 8000), 0);
	ck_assert_int_eq(swarm_leave(sw, 8000), LC_ESTATE);
	ck_assert_uint_eq(r.nclosed, closed0 + 1);
	ck_assert_uint_eq(last_sent(&r, 8, WIRE_BYE)->u.bye.code, WIRE_BYE_LEAVING);
	swarm_get_stats(sw, 8000, &st);
	ck_assert_uint_eq(st.links, 0);
	ck_assert_uint_eq(st.known, 0);
	ck_assert(!st.joined);
	ck_assert_int_eq(swarm_join(sw, 9000), 0);
	swarm_free(sw);
}
END_TEST

static unsigned count_sent(const struct rec *r, uint32_t link, enum wire_type t)
{
	unsigned c = 0;
	for (unsigned i = 0; i < r->nsent; i++)
		c += r->sent_link[i] == link && r->sent[i].type == t;
	return c;
}

/* A link that becomes a neighbour: opened, HELLO (id, role), then a PING
 * (the first message after HELLO accepts the link). */
static void link_neighbour(struct swarm *sw, uint32_t link, uint64_t id, uint8_t role, int64_t now)
{
	ck_assert_int_eq(swarm_on_link_open(sw, link, false, "10.0.0.2", 40000, now), 0);
	struct wire_msg m = hello_from(id, role, "s", (uint16_t)(7000 + link));
	ck_assert_int_eq(swarm_on_message(sw, link, &m, now), 0);
	m = ping_msg(1);
	ck_assert_int_eq(swarm_on_message(sw, link, &m, now), 0);
}

/* A source and tracker that pings each second, liveness 5 s. */
static struct swarm_config ping_cfg(void)
{
	return (struct swarm_config){ .self_id = 0x100, .role = WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER,
				      .stream = "s", .host = "10.0.0.1", .port = 7000, .seed = 1,
				      .ping_interval_us = 1000000, .liveness_timeout_us = 5000000 };
}

/* Keepalives: an idle neighbour link gets a PING every interval; one that
 * carries the scheduler's messages only one every 5 s (the RTT sample),
 * and so does one where the peer's PINGs get our PONGs, which prove us
 * alive as well; the peer's silence is still noticed. */
START_TEST(ping_only_when_idle)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = ping_cfg();
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	for (uint32_t link = 7; link <= 9; link++)
		link_neighbour(sw, link, 0x200 + link, WIRE_ROLE_PEER, 0);
	ck_assert_uint_eq(r.nup, 3);
	unsigned p7 = count_sent(&r, 7, WIRE_PING), p8 = count_sent(&r, 8, WIRE_PING);
	unsigned p9 = count_sent(&r, 9, WIRE_PING), q8 = count_sent(&r, 8, WIRE_PONG);
	/* 10 s: link 7 busy both ways (a message each 100 ms); link 8 quiet
	 * but for the peer's own PINGs; link 9 quiet, the peer only answering
	 * ours (its PONG, 10 ms later). */
	for (int64_t t = 100000; t <= 10000000; t += 100000) {
		swarm_on_sent(sw, 7, t);
		swarm_on_activity(sw, 7, t);
		if (t % 1000000 == 0) {
			struct wire_msg m = ping_msg((uint64_t)t);
			ck_assert_int_eq(swarm_on_message(sw, 8, &m, t), 0);
		}
		unsigned before = count_sent(&r, 9, WIRE_PING);
		swarm_tick(sw, t);
		if (count_sent(&r, 9, WIRE_PING) > before)
			swarm_on_activity(sw, 9, t + 10000);
	}
	unsigned busy = count_sent(&r, 7, WIRE_PING) - p7;
	unsigned pinged = count_sent(&r, 8, WIRE_PING) - p8;
	unsigned idle = count_sent(&r, 9, WIRE_PING) - p9;
	ck_assert_uint_eq(count_sent(&r, 8, WIRE_PONG) - q8, 10);
	ck_assert_uint_ge(idle, 9);
	ck_assert_uint_ge(busy, 1);
	ck_assert_uint_le(busy, 3);
	ck_assert_uint_ge(pinged, 1);
	ck_assert_uint_le(pinged, 3);
	ck_assert_uint_eq(r.ndown, 0);
	/* The peer on link 7 goes silent while we keep sending: lost after
	 * the liveness timeout all the same. */
	for (int64_t t = 10100000; t <= 16000000; t += 100000) {
		swarm_on_sent(sw, 7, t);
		swarm_on_activity(sw, 9, t);
		if (t % 1000000 == 0) {
			struct wire_msg m = ping_msg((uint64_t)t);
			ck_assert_int_eq(swarm_on_message(sw, 8, &m, t), 0);
		}
		swarm_tick(sw, t);
	}
	ck_assert_uint_lt(r.nsent, 128); /* all recorded */
	ck_assert_uint_eq(r.ndown, 1);
	ck_assert_uint_eq(r.ndown_failed, 1);
	ck_assert(!swarm_has_neighbour(sw, 0x207, NULL));
	ck_assert(swarm_has_neighbour(sw, 0x208, NULL));
	ck_assert(swarm_has_neighbour(sw, 0x209, NULL));
	swarm_free(sw);
}
END_TEST

/* Messages of a type sent on a link, with a PING's ECHO flag set or not. */
static unsigned count_pings(const struct rec *r, uint32_t link, bool echo)
{
	unsigned c = 0;
	for (unsigned i = 0; i < r->nsent; i++)
		c += r->sent_link[i] == link && r->sent[i].type == WIRE_PING &&
		     !!(r->sent[i].u.ping.flags & WIRE_PING_ECHO) == echo;
	return c;
}

/* ECHO: a PING without it is a keepalive and gets no PONG; ours asks for
 * one only when an RTT sample is due or the neighbour has been quiet. The
 * nonce is the clock modulo 2^32: the RTT comes right across a wrap. */
START_TEST(ping_echo)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = ping_cfg();
	const int64_t t0 = 1000000;
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, t0), 0);
	link_neighbour(sw, 7, 0x207, WIRE_ROLE_PEER, t0);
	link_neighbour(sw, 8, 0x208, WIRE_ROLE_PEER, t0);
	unsigned q7 = count_sent(&r, 7, WIRE_PONG);
	unsigned e8 = count_pings(&r, 8, true), k8 = count_pings(&r, 8, false);
	/* 10 s: we send on link 7 and its peer only keeps alive (no ECHO);
	 * link 8's peer sends to us and we to it nothing. */
	for (int64_t t = t0 + 100000; t <= t0 + 10000000; t += 100000) {
		swarm_on_sent(sw, 7, t);
		swarm_on_activity(sw, 8, t);
		if ((t - t0) % 1000000 == 0) {
			struct wire_msg m = ping_msg((uint64_t)t);
			m.u.ping.flags = 0;
			ck_assert_int_eq(swarm_on_message(sw, 7, &m, t), 0);
		}
		swarm_tick(sw, t);
	}
	ck_assert_uint_eq(count_sent(&r, 7, WIRE_PONG), q7);
	/* Our keepalives on link 8 ask for nothing but the RTT samples (5 s
	 * apart with the source). */
	unsigned echo = count_pings(&r, 8, true) - e8, keep = count_pings(&r, 8, false) - k8;
	ck_assert_uint_ge(echo, 1);
	ck_assert_uint_le(echo, 3);
	ck_assert_uint_ge(keep, 6);
	/* A PING with ECHO is answered with its nonce. */
	struct wire_msg m = ping_msg(77);
	ck_assert_int_eq(swarm_on_message(sw, 7, &m, t0 + 10050000), 0);
	ck_assert_uint_eq(count_sent(&r, 7, WIRE_PONG), q7 + 1);
	ck_assert_uint_eq(last_sent(&r, 7, WIRE_PONG)->u.ping.nonce, 77);
	/* Link 8's peer goes quiet: our next PING asks for a PONG. */
	e8 = count_pings(&r, 8, true);
	int64_t t = t0 + 10100000;
	while (count_pings(&r, 8, true) == e8 && t < t0 + 13000000) {
		swarm_on_sent(sw, 7, t);
		swarm_on_activity(sw, 7, t);
		swarm_tick(sw, t);
		t += 100000;
	}
	ck_assert_uint_eq(count_pings(&r, 8, true), e8 + 1);
	m.type = WIRE_PONG;
	m.u.ping.nonce = last_sent(&r, 8, WIRE_PING)->u.ping.nonce;
	m.u.ping.flags = 0;
	ck_assert_int_eq(swarm_on_message(sw, 8, &m, t - 100000 + 25000), 0);
	struct swarm_nbr n;
	ck_assert_int_eq(swarm_link_get(sw, 8, &n), 0);
	ck_assert_int_eq(n.rtt_us, 25000);
	/* Sent 10 ms before the low 32 bits of the clock wrap, back 15 ms
	 * after. */
	m.u.ping.nonce = (uint32_t)-10000;
	ck_assert_int_eq(swarm_on_message(sw, 8, &m, ((int64_t)2 << 32) + 15000), 0);
	ck_assert_int_eq(swarm_link_get(sw, 8, &n), 0);
	ck_assert_int_eq(n.rtt_us, 25000);
	ck_assert_uint_lt(r.nsent, 128); /* all recorded */
	ck_assert_uint_eq(r.ndown, 0);
	swarm_free(sw);
}
END_TEST

/* On busy links a PING goes only for the RTT: every 5 intervals on a link
 * with the source (the scheduler paces pulls with it), every 20 between two
 * other peers (the RTT is only shown there). */
START_TEST(rtt_samples_by_role)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_PEER, .stream = "s",
				    .port = 7000, .seed = 4, .ping_interval_us = 1000000,
				    .liveness_timeout_us = 5000000 };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	link_neighbour(sw, 7, 0x207, WIRE_ROLE_PEER, 0);
	link_neighbour(sw, 8, 0x208, WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER, 0);
	ck_assert_uint_eq(r.nup, 2);
	unsigned p7 = count_sent(&r, 7, WIRE_PING), p8 = count_sent(&r, 8, WIRE_PING);
	for (int64_t t = 100000; t <= 40000000; t += 100000) {
		for (uint32_t link = 7; link <= 8; link++) {
			swarm_on_sent(sw, link, t);
			swarm_on_activity(sw, link, t);
		}
		swarm_tick(sw, t);
	}
	ck_assert_uint_lt(r.nsent, 64); /* all recorded */
	unsigned peer = count_sent(&r, 7, WIRE_PING) - p7;
	unsigned source = count_sent(&r, 8, WIRE_PING) - p8;
	ck_assert_uint_ge(source, 6);
	ck_assert_uint_le(source, 9);
	ck_assert_uint_ge(peer, 1);
	ck_assert_uint_le(peer, 3);
	ck_assert_uint_eq(r.ndown, 0);
	swarm_free(sw);
}
END_TEST

START_TEST(refusals_direct)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_PEER, .stream = "s",
				    .port = 7000, .proto_min = 1, .seed = 2 };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);

	/* Different stream. */
	swarm_on_link_open(sw, 1, false, "10.0.0.2", 1, 0);
	struct wire_msg m = hello_from(0x200, WIRE_ROLE_PEER, "other", 7001);
	ck_assert_int_eq(swarm_on_message(sw, 1, &m, 0), LC_EINVAL);
	ck_assert_uint_eq(last_sent(&r, 1, WIRE_BYE)->u.bye.code, WIRE_BYE_STREAM);
	ck_assert(!swarm_knows(sw, 0x200));
	/* Itself. */
	swarm_on_link_open(sw, 2, false, "10.0.0.2", 1, 0);
	m = hello_from(0x100, WIRE_ROLE_PEER, "s", 7000);
	ck_assert_int_eq(swarm_on_message(sw, 2, &m, 0), LC_EINVAL);
	ck_assert_uint_eq(last_sent(&r, 2, WIRE_BYE)->u.bye.code, WIRE_BYE_SELF);
	/* Too old a protocol level. */
	swarm_free(sw);
	cfg.proto_min = 2;
	cfg.proto = 2;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	swarm_on_link_open(sw, 3, false, "10.0.0.2", 1, 0);
	ck_assert_uint_eq(last_sent(&r, 3, WIRE_HELLO)->u.hello.proto, 2);
	m = hello_from(0x200, WIRE_ROLE_PEER, "s", 7001);
	ck_assert_int_eq(swarm_on_message(sw, 3, &m, 0), LC_EINVAL);
	ck_assert_uint_eq(last_sent(&r, 3, WIRE_BYE)->u.bye.code, WIRE_BYE_VERSION);
	/* Full: max 2 = the source slot + one other. The second other peer
	 * gets PEERS (naming the first) then BYE FULL; the source still fits. */
	swarm_free(sw);
	cfg.proto_min = 0;
	cfg.proto = 0;
	cfg.max_neighbours = 2;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	swarm_on_link_open(sw, 4, false, "10.0.0.4", 1, 0);
	m = hello_from(0x400, WIRE_ROLE_PEER, "s", 7004);
	ck_assert_int_eq(swarm_on_message(sw, 4, &m, 0), 0);
	m = ping_msg(1);
	ck_assert_int_eq(swarm_on_message(sw, 4, &m, 0), 0);
	ck_assert_uint_eq(r.nup, 1);
	swarm_on_link_open(sw, 5, false, "10.0.0.5", 1, 0);
	m = hello_from(0x500, WIRE_ROLE_PEER, "s", 7005);
	ck_assert_int_eq(swarm_on_message(sw, 5, &m, 0), LC_EAGAIN);
	const struct wire_msg *p = last_sent(&r, 5, WIRE_PEERS);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->u.peers.count, 1); /* a peer gossips its neighbours */
	ck_assert_uint_eq(p->u.peers.peer[0].peer_id, 0x400);
	ck_assert_uint_eq(last_sent(&r, 5, WIRE_BYE)->u.bye.code, WIRE_BYE_FULL);
	swarm_on_link_open(sw, 6, false, "10.0.0.6", 1, 0);
	m = hello_from(0x600, WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER, "s", 7006);
	ck_assert_int_eq(swarm_on_message(sw, 6, &m, 0), 0);
	struct swarm_stats st;
	swarm_get_stats(sw, 0, &st);
	ck_assert_uint_eq(st.refused_full, 1);
	swarm_free(sw);
}
END_TEST

/* PEERS on accept: the tracker answers every newcomer with PEERS; another
 * peer only where views are partial (it knows more peers than its
 * neighbour slots): in a full mesh each newcomer dials every peer, and a
 * PEERS from each repeated the tracker's. */
START_TEST(peers_on_accept)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_PEER, .stream = "s",
				    .port = 7000, .seed = 5, .max_neighbours = 4 };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	link_neighbour(sw, 101, 0x200, WIRE_ROLE_PEER, 0);
	link_neighbour(sw, 102, 0x300, WIRE_ROLE_PEER, 0);
	ck_assert_uint_eq(count_sent(&r, 101, WIRE_PEERS) + count_sent(&r, 102, WIRE_PEERS), 0);
	/* Told of three more: 5 peers known, 3 slots besides the source's. */
	struct wire_msg m = { .type = WIRE_PEERS };
	m.u.peers.count = 3;
	for (unsigned i = 0; i < 3; i++) {
		m.u.peers.peer[i].peer_id = 0x400 + i;
		m.u.peers.peer[i].port = (uint16_t)(7100 + i);
		snprintf(m.u.peers.peer[i].host, sizeof m.u.peers.peer[i].host, "10.0.1.%u", i);
	}
	ck_assert_int_eq(swarm_on_message(sw, 101, &m, 1000), 0);
	link_neighbour(sw, 103, 0x500, WIRE_ROLE_PEER, 2000);
	ck_assert_uint_eq(count_sent(&r, 103, WIRE_PEERS), 1);
	swarm_free(sw);

	/* The same peer with room for all it knows: no PEERS on accept. */
	memset(&r, 0, sizeof r);
	cfg.max_neighbours = 32;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	link_neighbour(sw, 101, 0x200, WIRE_ROLE_PEER, 0);
	ck_assert_int_eq(swarm_on_message(sw, 101, &m, 1000), 0);
	link_neighbour(sw, 103, 0x500, WIRE_ROLE_PEER, 2000);
	ck_assert_uint_eq(count_sent(&r, 103, WIRE_PEERS), 0);
	/* Gossip tells it within a few intervals (2 s, then 4 s). */
	for (int64_t t = 2000; t <= 8100000; t += 50000)
		swarm_tick(sw, t);
	ck_assert_uint_ge(count_sent(&r, 103, WIRE_PEERS), 1);
	swarm_free(sw);
}
END_TEST

static uint64_t peers_sent(const struct swarm *sw, int64_t now)
{
	struct swarm_stats st;
	swarm_get_stats(sw, now, &st);
	return st.peers_sent;
}

/* Gossip paced as Trickle: with the membership quiet, the interval doubles
 * up to 8 x gossip_interval (2 s); a new neighbour brings it back to 2 s at
 * once, and it grows again. */
START_TEST(gossip_trickle)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_PEER, .stream = "s",
				    .port = 7000, .seed = 3 };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	link_neighbour(sw, 1, 0x200, WIRE_ROLE_PEER, 0);
	link_neighbour(sw, 2, 0x300, WIRE_ROLE_PEER, 0);
	ck_assert_uint_eq(r.nup, 2);
	uint64_t at[4] = { 0 }; /* PEERS sent by 4 s, 30 s, 60 s, and 6 s after a join */
	for (int64_t t = 0; t <= 66 * SEC; t += 10 * MS) {
		if (t == 60 * SEC)
			link_neighbour(sw, 3, 0x400, WIRE_ROLE_PEER, t);
		swarm_on_activity(sw, 1, t);
		swarm_on_activity(sw, 2, t);
		if (t >= 60 * SEC)
			swarm_on_activity(sw, 3, t);
		swarm_tick(sw, t);
		if (t == 4 * SEC)
			at[0] = peers_sent(sw, t);
		if (t == 30 * SEC)
			at[1] = peers_sent(sw, t);
		if (t == 60 * SEC - 10 * MS)
			at[2] = peers_sent(sw, t);
	}
	at[3] = peers_sent(sw, 66 * SEC);
	ck_assert_uint_eq(r.nup, 3);
	ck_assert_uint_ge(at[0], 1);         /* the first within an interval */
	/* Below the neighbour limit a peer tells only news: nothing while
	 * the membership is quiet. */
	ck_assert_uint_eq(at[2] - at[1], 0);
	ck_assert_uint_ge(at[3] - at[2], 2); /* 2 s apart again after the join */
	/* The newcomer dialled us: it has our whole list (2 neighbours); an
	 * old neighbour told since, only the newcomer. */
	const struct wire_msg *p = last_sent(&r, 3, WIRE_PEERS);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->u.peers.count, 2);
	unsigned news = 0;
	for (uint32_t link = 1; link <= 2; link++) {
		p = last_sent(&r, link, WIRE_PEERS);
		if (p && p->u.peers.count == 1 && p->u.peers.peer[0].peer_id == 0x400)
			news++;
	}
	ck_assert_uint_ge(news, 1);
	swarm_free(sw);
}
END_TEST

/* Trickle's suppression: a peer that hears, each interval, a PEERS that
 * teaches it nothing sends none of its own; one that teaches it a peer
 * brings its own gossip back at once. */
START_TEST(gossip_suppressed)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .role = WIRE_ROLE_PEER, .stream = "s",
				    .port = 7000, .seed = 3 };
	r.next_handle = 100; /* dials get handles clear of links 1 and 2 */
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	link_neighbour(sw, 1, 0x200, WIRE_ROLE_PEER, 0);
	link_neighbour(sw, 2, 0x300, WIRE_ROLE_PEER, 0);
	struct wire_msg m = { .type = WIRE_PEERS };
	m.u.peers.count = 1;
	m.u.peers.peer[0] = (struct wire_peer){ .peer_id = 0x300, .port = 7300 };
	snprintf(m.u.peers.peer[0].host, sizeof m.u.peers.peer[0].host, "10.0.0.3");
	uint64_t quiet = 0, learned = 0;
	for (int64_t t = 0; t <= 70 * SEC; t += 10 * MS) {
		swarm_on_activity(sw, 1, t);
		swarm_on_activity(sw, 2, t);
		/* What the neighbour on link 1 gossips, each second: what we
		 * know; at 60 s, a peer we did not know. */
		if (t % SEC == 0 && t < 60 * SEC)
			ck_assert_int_eq(swarm_on_message(sw, 1, &m, t), 0);
		if (t == 60 * SEC) {
			m.u.peers.peer[0] = (struct wire_peer){ .peer_id = 0x500, .port = 7500 };
			snprintf(m.u.peers.peer[0].host, sizeof m.u.peers.peer[0].host, "10.0.0.5");
			ck_assert_int_eq(swarm_on_message(sw, 1, &m, t), 0);
		}
		swarm_tick(sw, t);
		if (t == 60 * SEC - 10 * MS)
			quiet = peers_sent(sw, t);
	}
	learned = peers_sent(sw, 70 * SEC) - quiet;
	struct swarm_stats st;
	swarm_get_stats(sw, 70 * SEC, &st);
	ck_assert_uint_eq(quiet, 0);
	ck_assert_uint_ge(st.peers_suppressed, 4); /* intervals of 2, 4, 8, 16 s ... */
	ck_assert_uint_ge(learned, 2);             /* back to 2 s, and nothing heard */
	swarm_free(sw);
}
END_TEST

/* ======================================================================
 * The in-memory network.
 * ==================================================================== */

struct sim;

enum ev_type { EV_TICK, EV_ACCEPT, EV_OPEN, EV_FAIL, EV_MSG, EV_CLOSED, EV_CALL };

struct ev {
	int64_t t;
	uint64_t seq;
	enum ev_type type;
	int node;
	uint32_t ep;
	uint8_t *data;
	size_t len;
	int code;
	void (*call)(struct sim *, int node);
};

struct ep {
	int node;
	uint32_t peer;    /* the other end */
	uint16_t port;    /* local port as the other side sees it */
	bool dialled;
	bool open, closed, notified;
};

struct node {
	struct swarm *sw;
	struct sim *sim;
	int idx;
	char host[32];
	uint16_t port;
	bool exists, alive;
	int64_t tick_at;
	int64_t first_nbr_us;     /* when it first had a neighbour, -1 never */
	unsigned ups, downs, downs_failed;
};

struct sim {
	int64_t now;
	int64_t lat;              /* one-way latency */
	int64_t connect_timeout;  /* dial of a silent host */
	struct ev *heap;
	size_t nheap, capheap;
	uint64_t seq;
	struct ep *eps;
	size_t neps, capeps;
	struct node *nodes;
	int nnodes;
	uint64_t msgs;
	uint64_t peers_with[8];   /* PEERS entries naming watch[i] */
	uint64_t watch[8];
	unsigned nwatch;
};

static void heap_push(struct sim *s, struct ev e)
{
	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 1024;
		s->heap = realloc(s->heap, s->capheap * sizeof *s->heap);
		REQUIRE(s->heap);
	}
	e.seq = s->seq++;
	size_t i = s->nheap++;
	while (i) {
		size_t p = (i - 1) / 2;
		struct ev *q = &s->heap[p];
		if (q->t < e.t || (q->t == e.t && q->seq < e.seq))
			break;
		s->heap[i] = *q;
		i = p;
	}
	s->heap[i] = e;
}

static bool ev_less(const struct ev *a, const struct ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static struct ev heap_pop(struct sim *s)
{
	struct ev top = s->heap[0];
	struct ev last = s->heap[--s->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap)
		s->heap[i] = last;
	return top;
}

static uint32_t ep_new(struct sim *s, int node)
{
	if (s->neps == s->capeps) {
		s->capeps = s->capeps ? s->capeps * 2 : 1024;
		s->eps = realloc(s->eps, s->capeps * sizeof *s->eps);
		REQUIRE(s->eps);
		if (!s->neps) {
			memset(&s->eps[0], 0, sizeof s->eps[0]);
			s->neps = 1; /* handle 0 unused */
		}
	}
	uint32_t h = (uint32_t)s->neps++;
	memset(&s->eps[h], 0, sizeof s->eps[h]);
	s->eps[h].node = node;
	return h;
}

static void schedule_tick(struct sim *s, int n)
{
	struct node *nd = &s->nodes[n];
	if (!nd->alive)
		return;
	int64_t w = swarm_next_wakeup(nd->sw, s->now);
	REQUIRE((w) >= (s->now));
	if (w < s->now + 1000)
		w = s->now + 1000; /* at most one tick per ms of virtual time */
	if (w < nd->tick_at) {
		nd->tick_at = w;
		heap_push(s, (struct ev){ .t = w, .type = EV_TICK, .node = n });
	}
}

static int find_node(struct sim *s, const char *host, uint16_t port)
{
	for (int i = 0; i < s->nnodes; i++)
		if (s->nodes[i].exists && s->nodes[i].port == port && !strcmp(s->nodes[i].host, host))
			return i;
	return -1;
}

static int sim_dial(void *ctx, const char *host, uint16_t port, uint32_t *out)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	uint32_t a = ep_new(s, nd->idx);
	s->eps[a].dialled = true;
	*out = a;
	int t = find_node(s, host, port);
	if (t < 0) { /* connection refused */
		heap_push(s, (struct ev){ .t = s->now + 2 * s->lat, .type = EV_FAIL, .node = nd->idx, .ep = a });
		return 0;
	}
	uint32_t b = ep_new(s, t);
	s->eps[a].peer = b;
	s->eps[b].peer = a;
	s->eps[b].port = (uint16_t)(40000 + a % 20000);
	heap_push(s, (struct ev){ .t = s->now + s->lat, .type = EV_ACCEPT, .node = t, .ep = b });
	return 0;
}

static int sim_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	REQUIRE((link) < (s->neps));
	struct ep *e = &s->eps[link];
	REQUIRE((e->node) == (nd->idx));
	REQUIRE(e->open);
	if (e->closed)
		return LC_ECLOSED;
	uint8_t buf[WIRE_MAX_MSG];
	int n = wire_encode(m, buf, sizeof buf);
	REQUIRE((n) > (0));
	if (m->type == WIRE_PEERS)
		for (unsigned i = 0; i < m->u.peers.count; i++)
			for (unsigned w = 0; w < s->nwatch; w++)
				if (m->u.peers.peer[i].peer_id == s->watch[w])
					s->peers_with[w]++;
	s->msgs++;
	uint8_t *copy = malloc((size_t)n);
	REQUIRE(copy);
	memcpy(copy, buf, (size_t)n);
	heap_push(s, (struct ev){ .t = s->now + s->lat, .type = EV_MSG, .node = s->eps[e->peer].node,
				  .ep = e->peer, .data = copy, .len = (size_t)n });
	return 0;
}

static void sim_close(void *ctx, uint32_t link, int code, const char *reason)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	(void)reason;
	struct ep *e = &s->eps[link];
	REQUIRE((e->node) == (nd->idx));
	if (e->closed)
		return;
	e->closed = true;
	/* The other side hears of it after the messages already sent; this
	 * side gets its close report too (swarm must ignore it). */
	if (e->peer)
		heap_push(s, (struct ev){ .t = s->now + s->lat, .type = EV_CLOSED,
					  .node = s->eps[e->peer].node, .ep = e->peer, .code = code });
	heap_push(s, (struct ev){ .t = s->now + s->lat, .type = EV_CLOSED, .node = nd->idx, .ep = link,
				  .code = code });
}

static void sim_up(void *ctx, uint32_t link, const struct swarm_nbr *n)
{
	struct node *nd = ctx;
	(void)n;
	REQUIRE(nd->sim->eps[link].open);
	nd->ups++;
	if (nd->first_nbr_us < 0)
		nd->first_nbr_us = nd->sim->now;
}

static void sim_down(void *ctx, uint32_t link, bool failed)
{
	struct node *nd = ctx;
	(void)link;
	nd->downs++;
	nd->downs_failed += failed;
}

static struct sim *sim_new(int nnodes, int64_t lat)
{
	struct sim *s = calloc(1, sizeof *s);
	REQUIRE(s);
	s->lat = lat;
	s->connect_timeout = 3 * SEC;
	s->nodes = calloc((size_t)nnodes, sizeof *s->nodes);
	s->nnodes = nnodes;
	ep_new(s, -1);
	return s;
}

static void sim_free(struct sim *s)
{
	for (int i = 0; i < s->nnodes; i++)
		swarm_free(s->nodes[i].sw);
	for (size_t i = 0; i < s->nheap; i++)
		free(s->heap[i].data);
	free(s->heap);
	free(s->eps);
	free(s->nodes);
	free(s);
}

/* Node i at 10.0.x.y:7000; node 0 is the tracker unless cfg says else. */
static void node_add(struct sim *s, int i, struct swarm_config *cfg)
{
	struct node *nd = &s->nodes[i];
	nd->sim = s;
	nd->idx = i;
	snprintf(nd->host, sizeof nd->host, "10.0.%d.%d", i / 250, i % 250 + 1);
	nd->port = cfg->port;
	nd->exists = nd->alive = true;
	nd->tick_at = INT64_MAX;
	nd->first_nbr_us = -1;
	struct swarm_ops ops = { .ctx = nd, .dial = sim_dial, .send = sim_send, .close = sim_close,
				 .nbr_up = sim_up, .nbr_down = sim_down };
	if (!cfg->self_id)
		cfg->self_id = 0x1000 + (uint64_t)i * 7919;
	if (!cfg->seed) /* SWARM_SEED varies the runs (development) */
		cfg->seed = 42 + (uint64_t)i + (getenv("SWARM_SEED") ? strtoull(getenv("SWARM_SEED"), NULL, 0) << 20 : 0);
	REQUIRE(swarm_new(cfg, &ops, &nd->sw) == 0);
}

static struct swarm_config peer_cfg(struct sim *s, int i)
{
	(void)i;
	return (struct swarm_config){ .role = WIRE_ROLE_PEER, .stream = "live", .port = 7000,
				      .host = NULL, .up_kbps = 1000, .down_kbps = 4000,
				      .tracker_host = s->nodes[0].host, .tracker_port = 7000 };
}

static void add_tracker(struct sim *s, unsigned max_nbrs)
{
	struct swarm_config c = { .role = WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER, .stream = "live",
				  .port = 7000, .up_kbps = 5000, .max_neighbours = max_nbrs };
	node_add(s, 0, &c);
}

static void call_join(struct sim *s, int n)
{
	REQUIRE(swarm_join(s->nodes[n].sw, s->now) == 0);
}

static void call_leave(struct sim *s, int n)
{
	REQUIRE(swarm_leave(s->nodes[n].sw, s->now) == 0);
}

/* Silent death: no more messages, no close seen by anyone. */
static void call_kill(struct sim *s, int n)
{
	s->nodes[n].alive = false;
}

static void at(struct sim *s, int64_t t, int n, void (*fn)(struct sim *, int))
{
	heap_push(s, (struct ev){ .t = t, .type = EV_CALL, .node = n, .call = fn });
}

static void deliver(struct sim *s, struct ev *e)
{
	struct node *nd = e->node >= 0 ? &s->nodes[e->node] : NULL;
	switch (e->type) {
	case EV_CALL:
		e->call(s, e->node);
		break;
	case EV_TICK:
		if (!nd->alive || e->t != nd->tick_at)
			return;
		nd->tick_at = INT64_MAX;
		swarm_tick(nd->sw, s->now);
		break;
	case EV_ACCEPT: {
		struct ep *b = &s->eps[e->ep];
		struct ep *a = &s->eps[b->peer];
		if (!nd->alive) { /* a silent host: the dialler times out */
			heap_push(s, (struct ev){ .t = s->now + s->connect_timeout - s->lat, .type = EV_FAIL,
						  .node = a->node, .ep = b->peer });
			return;
		}
		if (a->closed) /* dial cancelled */
			return;
		b->open = true;
		heap_push(s, (struct ev){ .t = s->now + s->lat, .type = EV_OPEN, .node = a->node, .ep = b->peer });
		swarm_on_link_open(nd->sw, e->ep, false, s->nodes[a->node].host, b->port, s->now);
		break;
	}
	case EV_OPEN: {
		struct ep *a = &s->eps[e->ep];
		if (!nd->alive || a->closed)
			return;
		a->open = true;
		swarm_on_link_open(nd->sw, e->ep, true, NULL, 0, s->now);
		break;
	}
	case EV_FAIL: {
		struct ep *a = &s->eps[e->ep];
		if (!nd->alive || a->closed)
			return;
		a->closed = true;
		a->notified = true;
		swarm_on_link_closed(nd->sw, e->ep, 1006, s->now);
		break;
	}
	case EV_MSG: {
		struct ep *b = &s->eps[e->ep];
		if (!nd->alive || b->closed)
			return;
		struct wire_msg m;
		REQUIRE(wire_decode(e->data, e->len, &m) == 0);
		int rc = swarm_on_message(nd->sw, e->ep, &m, s->now);
		REQUIRE(rc == 0 || rc == LC_EAGAIN || rc == LC_EINVAL);
		break;
	}
	case EV_CLOSED: {
		struct ep *b = &s->eps[e->ep];
		if (!nd->alive || b->notified)
			return;
		b->closed = true;
		b->notified = true;
		swarm_on_link_closed(nd->sw, e->ep, e->code, s->now);
		break;
	}
	}
	if (nd)
		schedule_tick(s, e->node);
}

static void run_until(struct sim *s, int64_t t_end)
{
	while (s->nheap && s->heap[0].t <= t_end) {
		struct ev e = heap_pop(s);
		s->now = e.t;
		deliver(s, &e);
		free(e.data);
	}
	s->now = t_end;
}

static uint64_t id_of(struct sim *s, int i) { return swarm_self_id(s->nodes[i].sw); }

static unsigned nbrs(struct sim *s, int i)
{
	struct swarm_stats st;
	swarm_get_stats(s->nodes[i].sw, s->now, &st);
	return st.neighbours;
}

static struct swarm_stats stats_of(struct sim *s, int i)
{
	struct swarm_stats st;
	swarm_get_stats(s->nodes[i].sw, s->now, &st);
	return st;
}

/* The neighbour relation is symmetric and every neighbour link is one sim
 * link seen from both ends; the scheduler's up/down calls match. A pair may
 * be caught between the two ends' updates (a PING or BYE in flight), so a
 * mismatch must be gone a few latencies later. */
static bool pair_ok(struct sim *s, int i, uint32_t link)
{
	struct swarm_nbr n;
	if (swarm_link_get(s->nodes[i].sw, link, &n) < 0 || n.state != SWARM_LINK_NEIGHBOUR)
		return true; /* gone meanwhile */
	struct ep *e = &s->eps[link];
	int j = s->eps[e->peer].node;
	if (!s->nodes[j].alive)
		return true;
	uint32_t back;
	return swarm_has_neighbour(s->nodes[j].sw, id_of(s, i), &back) && back == e->peer;
}

static void check_consistent(struct sim *s)
{
	struct swarm_nbr *v = malloc(1024 * sizeof *v);
	int (*bad)[2] = malloc(4096 * sizeof *bad);
	int nbad = 0;
	for (int i = 0; i < s->nnodes; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->exists || !nd->alive)
			continue;
		size_t n = swarm_neighbours(nd->sw, v, 1024);
		ck_assert_uint_le(n, 1024);
		ck_assert_uint_eq(nd->ups - nd->downs, n);
		for (size_t k = 0; k < n; k++) {
			struct ep *e = &s->eps[v[k].link];
			ck_assert_int_eq(e->node, i);
			ck_assert_uint_eq(id_of(s, s->eps[e->peer].node), v[k].peer_id);
			if (!pair_ok(s, i, v[k].link) && nbad < 4096) {
				bad[nbad][0] = i;
				bad[nbad++][1] = (int)v[k].link;
			}
		}
	}
	if (nbad) {
		run_until(s, s->now + 5 * s->lat);
		for (int b = 0; b < nbad; b++)
			ck_assert_msg(pair_ok(s, bad[b][0], (uint32_t)bad[b][1]),
				      "node %d: neighbour link %d not mirrored", bad[b][0], bad[b][1]);
	}
	free(bad);
	free(v);
}

static int neighbour_index(struct sim *s, uint64_t id)
{
	for (int i = 0; i < s->nnodes; i++)
		if (s->nodes[i].exists && id_of(s, i) == id)
			return i;
	return -1;
}

/* Nodes reachable from `from` over neighbour links, not passing through
 * `avoid` (-1: none). */
static int reachable(struct sim *s, int from, int avoid)
{
	int *queue = malloc((size_t)s->nnodes * sizeof *queue);
	bool *seen = calloc((size_t)s->nnodes, 1);
	struct swarm_nbr *v = malloc(512 * sizeof *v);
	int head = 0, tail = 0, count = 0;
	queue[tail++] = from;
	seen[from] = true;
	while (head < tail) {
		int i = queue[head++];
		count++;
		size_t n = swarm_neighbours(s->nodes[i].sw, v, 512);
		for (size_t k = 0; k < n && k < 512; k++) {
			int j = neighbour_index(s, v[k].peer_id);
			if (j >= 0 && j != avoid && !seen[j] && s->nodes[j].alive) {
				seen[j] = true;
				queue[tail++] = j;
			}
		}
	}
	free(queue);
	free(seen);
	free(v);
	return count;
}

static struct sim *mesh(int npeers, unsigned tracker_max, unsigned peer_max, int64_t stagger)
{
	struct sim *s = sim_new(npeers + 1, 10 * MS);
	add_tracker(s, tracker_max);
	at(s, 0, 0, call_join);
	for (int i = 1; i <= npeers; i++) {
		struct swarm_config c = peer_cfg(s, i);
		c.max_neighbours = peer_max;
		node_add(s, i, &c);
		at(s, 100 * MS + (i - 1) * stagger, i, call_join);
	}
	return s;
}

START_TEST(full_mesh_10)
{
	struct sim *s = mesh(10, 0, 0, 100 * MS);
	run_until(s, 10 * SEC);
	for (int i = 0; i <= 10; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_eq(st.neighbours, 10);
		ck_assert_uint_eq(st.links, 10); /* no duplicates or dials left over */
		ck_assert(st.source_linked);
		ck_assert_uint_eq(st.joins, 10);
		ck_assert_uint_eq(st.leaves, 0);
		ck_assert_uint_eq(st.failures, 0);
		ck_assert_uint_eq(st.known, 10);
	}
	check_consistent(s);
	/* RTT: two one-way latencies. */
	struct swarm_nbr v[16];
	size_t n = swarm_neighbours(s->nodes[3].sw, v, 16);
	ck_assert_uint_eq(n, 10);
	for (size_t k = 0; k < n; k++) {
		ck_assert_int_eq(v[k].srtt_us, 20 * MS);
		ck_assert_int_eq(v[k].rtt_us, 20 * MS);
		ck_assert_int_eq(v[k].state, SWARM_LINK_NEIGHBOUR);
	}
	/* Stable: nothing changes over a minute. */
	run_until(s, 70 * SEC);
	for (int i = 0; i <= 10; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_eq(st.neighbours, 10);
		ck_assert_uint_eq(st.joins, 10);
		ck_assert_uint_eq(st.failures, 0);
		ck_assert_uint_eq(st.known, 10);
	}
	check_consistent(s);
	sim_free(s);
}
END_TEST

START_TEST(partial_mesh_100)
{
	struct sim *s = mesh(100, 128, 8, 100 * MS);
	run_until(s, 60 * SEC);
	check_consistent(s);
	unsigned dmin = 99, dsum = 0;
	for (int i = 1; i <= 100; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_msg(st.source_linked, "peer %d not linked to the source", i);
		ck_assert_uint_le(st.neighbours, 8);
		if (st.neighbours < dmin)
			dmin = st.neighbours;
		dsum += st.neighbours;
	}
	ck_assert_uint_eq(nbrs(s, 0), 100);
	/* Near the target: each peer dials up to 3/4 of its 7 other slots and
	 * accepts up to all of them, plus the source. */
	ck_assert_uint_ge(dmin, 6);
	ck_assert_uint_ge(dsum, 100 * 7);
	/* Connected through the peers alone, not only through the source. */
	if (getenv("SWARM_DEBUG"))
		for (int i = 1; i <= 100; i++) {
			struct swarm_nbr v[16];
			size_t n = swarm_neighbours(s->nodes[i].sw, v, 16);
			fprintf(stderr, "%d:", i);
			for (size_t k = 0; k < n; k++)
				fprintf(stderr, " %d", neighbour_index(s, v[k].peer_id));
			fprintf(stderr, "\n");
		}
	ck_assert_int_eq(reachable(s, 1, 0), 100);
	ck_assert_int_eq(reachable(s, 0, -1), 101);
	/* Settled: exploration goes on only at peers with a free slot, so the
	 * rewiring is slow (each rewire is counted at both ends). */
	uint64_t rw0 = 0, rw1 = 0, ex = 0;
	run_until(s, 90 * SEC);
	for (int i = 1; i <= 100; i++)
		rw0 += stats_of(s, i).rewired;
	run_until(s, 150 * SEC);
	for (int i = 1; i <= 100; i++) {
		rw1 += stats_of(s, i).rewired;
		ex += stats_of(s, i).explored;
		ck_assert_uint_eq(stats_of(s, i).failures, 0);
	}
	if (getenv("SWARM_DEBUG"))
		fprintf(stderr, "rewired %llu by 90 s, %llu by 150 s, explored %llu\n",
			(unsigned long long)rw0, (unsigned long long)rw1, (unsigned long long)ex);
	ck_assert_uint_le(rw1 - rw0, 20);
	ck_assert_int_eq(reachable(s, 1, 0), 100);
	check_consistent(s);
	sim_free(s);
}
END_TEST

/* Every node that is alive and joined: peer gone from all its tables? */
static int tables_with(struct sim *s, uint64_t id)
{
	int n = 0;
	for (int i = 0; i < s->nnodes; i++)
		if (s->nodes[i].alive && id_of(s, i) != id && swarm_knows(s->nodes[i].sw, id))
			n++;
	return n;
}

START_TEST(bye_gone_within_1s)
{
	struct sim *s = mesh(10, 0, 0, 100 * MS);
	run_until(s, 10 * SEC);
	uint64_t gone = id_of(s, 4);
	s->watch[0] = gone;
	s->nwatch = 1;
	ck_assert_int_eq(tables_with(s, gone), 10);
	at(s, 10 * SEC, 4, call_leave);
	run_until(s, 11 * SEC);
	ck_assert_int_eq(tables_with(s, gone), 0);
	for (int i = 0; i <= 10; i++) {
		if (i == 4)
			continue;
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_eq(st.neighbours, 9);
		ck_assert_uint_eq(st.leaves, 1);
		ck_assert_uint_eq(st.leaves_1m, 1);
		ck_assert_uint_eq(st.failures, 0);
	}
	/* And nobody gossips it any more. */
	uint64_t before = s->peers_with[0];
	run_until(s, 40 * SEC);
	ck_assert_uint_eq(s->peers_with[0], before);
	ck_assert_int_eq(tables_with(s, gone), 0);
	check_consistent(s);

	/* Partial mesh: every neighbour and the tracker forget it within 1 s. */
	sim_free(s);
	s = mesh(60, 128, 8, 50 * MS);
	run_until(s, 30 * SEC);
	gone = id_of(s, 17);
	at(s, 30 * SEC, 17, call_leave);
	run_until(s, 31 * SEC);
	ck_assert(!swarm_knows(s->nodes[0].sw, gone));
	for (int i = 0; i <= 60; i++)
		if (i != 17)
			ck_assert(!swarm_has_neighbour(s->nodes[i].sw, gone, NULL));
	s->watch[0] = gone;
	s->nwatch = 1;
	run_until(s, 60 * SEC);
	ck_assert_uint_eq(s->peers_with[0], 0);
	sim_free(s);
}
END_TEST

START_TEST(failure_detected_and_replaced)
{
	struct sim *s = mesh(40, 128, 8, 50 * MS);
	run_until(s, 30 * SEC);
	check_consistent(s);
	int victim = 11;
	uint64_t vid = id_of(s, victim);
	int had[64], nhad = 0;
	for (int i = 0; i <= 40; i++)
		if (i != victim && swarm_has_neighbour(s->nodes[i].sw, vid, NULL))
			had[nhad++] = i;
	ck_assert_int_ge(nhad, 6);
	uint64_t rw[64];
	for (int k = 0; k < nhad; k++)
		rw[k] = stats_of(s, had[k]).rewired;
	at(s, 30 * SEC, victim, call_kill);
	/* Within the liveness timeout (5 s) of the last message, which may
	 * have been in flight at the kill, or sent up to a ping interval
	 * (2 s) before it. */
	run_until(s, 30 * SEC + 5 * SEC + 2 * s->lat + MS);
	for (int k = 0; k < nhad; k++) {
		struct node *nd = &s->nodes[had[k]];
		ck_assert(!swarm_has_neighbour(nd->sw, vid, NULL));
		struct swarm_stats st = stats_of(s, had[k]);
		ck_assert_uint_eq(st.leaves, 0);
		if (st.failures == 0) {
			/* It gave the dead peer's slot to a newcomer first. */
			ck_assert_uint_gt(st.rewired, rw[k]);
			continue;
		}
		ck_assert_uint_eq(st.failures, 1);
		/* The failure event, at its time (a replacement may follow). */
		struct swarm_event ev[SWARM_RECENT_EVENTS];
		size_t nev = swarm_recent_events(nd->sw, ev, SWARM_RECENT_EVENTS);
		size_t f = 0;
		while (f < nev && ev[f].kind != SWARM_EV_FAILURE)
			f++;
		ck_assert_uint_lt(f, nev);
		ck_assert_uint_eq(ev[f].peer_id, vid);
		ck_assert_int_le(ev[f].t_us, 35 * SEC + 2 * s->lat + MS);
		ck_assert_int_ge(ev[f].t_us, 33 * SEC);
		ck_assert_uint_ge(nd->downs_failed, 1);
	}
	/* Replaced: the former neighbours are back near their target. */
	run_until(s, 60 * SEC);
	for (int k = 0; k < nhad; k++)
		ck_assert_uint_ge(nbrs(s, had[k]), 6);
	check_consistent(s);
	ck_assert_int_eq(reachable(s, 1, 0), 39);
	sim_free(s);
}
END_TEST

START_TEST(churn_counts_exact)
{
	struct sim *s = mesh(12, 0, 0, 100 * MS);
	run_until(s, 10 * SEC);
	at(s, 10 * SEC, 2, call_leave);
	at(s, 11 * SEC, 5, call_kill);
	at(s, 12 * SEC, 7, call_leave);
	at(s, 13 * SEC, 8, call_kill);
	at(s, 14 * SEC, 9, call_leave);
	at(s, 15 * SEC, 10, call_kill);
	run_until(s, 40 * SEC);
	for (int i = 0; i <= 12; i++) {
		if (i == 2 || i == 5 || i == 7 || i == 8 || i == 9 || i == 10)
			continue;
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_eq(st.joins, 12);
		ck_assert_uint_eq(st.leaves, 3);
		ck_assert_uint_eq(st.failures, 3);
		ck_assert_uint_eq(st.neighbours, 6);
		ck_assert_uint_eq(st.leaves_1m, 3);
		ck_assert_uint_eq(st.failures_1m, 3);
		uint32_t c[SWARM_EV_KINDS];
		swarm_churn(s->nodes[i].sw, s->now, 60 * SEC, c);
		ck_assert_uint_eq(c[SWARM_EV_LEAVE], 3);
		ck_assert_uint_eq(c[SWARM_EV_FAILURE], 3);
		/* Events at their times: the last 10 s hold none. */
		swarm_churn(s->nodes[i].sw, s->now, 10 * SEC, c);
		ck_assert_uint_eq(c[SWARM_EV_LEAVE] + c[SWARM_EV_FAILURE], 0);
		ck_assert_uint_eq(s->nodes[i].downs_failed, 3);
	}
	/* A minute later the per-minute counts have drained, the totals stay. */
	run_until(s, 100 * SEC);
	struct swarm_stats st = stats_of(s, 1);
	ck_assert_uint_eq(st.leaves_1m + st.failures_1m + st.joins_1m, 0);
	ck_assert_uint_eq(st.failures, 3);
	check_consistent(s);
	sim_free(s);
}
END_TEST

static void join_at_random(struct sim *s, int n, int64_t base, int64_t span, struct lc_rng *r)
{
	at(s, base + (int64_t)lc_rng_below(r, (uint32_t)span), n, call_join);
}

START_TEST(flash_crowd_50)
{
	struct sim *s = sim_new(51, 10 * MS);
	add_tracker(s, 0); /* the default 32 */
	at(s, 0, 0, call_join);
	struct lc_rng r;
	lc_rng_seed(&r, 5);
	for (int i = 1; i <= 50; i++) {
		struct swarm_config c = peer_cfg(s, i);
		node_add(s, i, &c);
		join_at_random(s, i, 1 * SEC, 1 * SEC, &r);
	}
	run_until(s, 3 * SEC);
	for (int i = 1; i <= 50; i++) {
		ck_assert_int_ge(s->nodes[i].first_nbr_us, 1 * SEC);
		ck_assert_int_le(s->nodes[i].first_nbr_us, 3 * SEC);
	}
	run_until(s, 20 * SEC);
	check_consistent(s);
	unsigned linked = 0;
	for (int i = 1; i <= 50; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_ge(st.neighbours, 16);
		ck_assert_uint_le(st.neighbours, 32);
		linked += st.source_linked;
	}
	ck_assert_uint_eq(nbrs(s, 0), 32);
	ck_assert_uint_eq(linked, 32);
	ck_assert_int_eq(reachable(s, 1, 0), 50);
	sim_free(s);
}
END_TEST

/* Two peers that each know only the other and join at nearly the same time
 * dial each other at once: exactly one link survives, the same on both. */
START_TEST(duplicate_dials)
{
	for (int64_t delta = 0; delta <= 30 * MS; delta += 5 * MS) {
		struct sim *s = sim_new(2, 10 * MS);
		for (int i = 0; i < 2; i++) {
			s->nodes[i].sim = s;
			snprintf(s->nodes[i].host, sizeof s->nodes[i].host, "10.0.0.%d", i + 1);
		}
		for (int i = 0; i < 2; i++) {
			struct swarm_config c = { .role = WIRE_ROLE_PEER, .stream = "live", .port = 7000,
						  .tracker_host = s->nodes[1 - i].host, .tracker_port = 7000,
						  .self_id = i ? 0x50 : 0x90 };
			node_add(s, i, &c);
		}
		at(s, 0, 0, call_join);
		at(s, delta, 1, call_join);
		run_until(s, 10 * SEC);
		for (int i = 0; i < 2; i++) {
			struct swarm_stats st = stats_of(s, i);
			ck_assert_uint_eq(st.neighbours, 1);
			ck_assert_uint_eq(st.links, 1);
			ck_assert_uint_eq(st.joins, 1);
			ck_assert_uint_eq(st.failures, 0);
		}
		check_consistent(s);
		if (delta <= 10 * MS) { /* both dialled before hearing of the other */
			struct swarm_stats a = stats_of(s, 0), b = stats_of(s, 1);
			ck_assert_uint_ge(a.duplicates + b.duplicates, 1);
		}
		run_until(s, 30 * SEC);
		ck_assert_uint_eq(stats_of(s, 0).joins, 1);
		ck_assert_uint_eq(nbrs(s, 0), 1);
		ck_assert_uint_eq(nbrs(s, 1), 1);
		sim_free(s);
	}
}
END_TEST

START_TEST(stream_mismatch_refused)
{
	struct sim *s = sim_new(3, 10 * MS);
	add_tracker(s, 0);
	at(s, 0, 0, call_join);
	struct swarm_config c = peer_cfg(s, 1);
	c.stream = "another";
	node_add(s, 1, &c);
	at(s, 100 * MS, 1, call_join);
	c = peer_cfg(s, 2);
	c.proto_min = 1;
	node_add(s, 2, &c);
	at(s, 100 * MS, 2, call_join);
	run_until(s, 30 * SEC);
	ck_assert_uint_eq(nbrs(s, 1), 0);
	ck_assert_uint_eq(stats_of(s, 1).dials, 1); /* told once, no hammering */
	ck_assert(!swarm_knows(s->nodes[0].sw, id_of(s, 1)));
	ck_assert(!swarm_knows(s->nodes[1].sw, id_of(s, 0)));
	ck_assert_uint_ge(stats_of(s, 0).refused_other, 1);
	ck_assert_uint_eq(nbrs(s, 2), 1);
	ck_assert_uint_eq(nbrs(s, 0), 1);
	ck_assert_uint_eq(stats_of(s, 0).joins, 1);
	sim_free(s);

	/* An incompatible protocol level: the tracker wants level >= 2. */
	s = sim_new(2, 10 * MS);
	struct swarm_config t = { .role = WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER, .stream = "live",
				  .port = 7000, .proto = 2, .proto_min = 2 };
	node_add(s, 0, &t);
	at(s, 0, 0, call_join);
	c = peer_cfg(s, 1);
	node_add(s, 1, &c);
	at(s, 100 * MS, 1, call_join);
	run_until(s, 30 * SEC);
	ck_assert_uint_eq(nbrs(s, 0), 0);
	ck_assert_uint_eq(nbrs(s, 1), 0);
	ck_assert_uint_eq(stats_of(s, 1).dials, 1);
	sim_free(s);
}
END_TEST

START_TEST(self_dial_refused)
{
	struct sim *s = sim_new(1, 10 * MS);
	s->nodes[0].sim = s;
	snprintf(s->nodes[0].host, sizeof s->nodes[0].host, "10.0.0.1");
	struct swarm_config c = { .role = WIRE_ROLE_PEER | WIRE_ROLE_TRACKER, .stream = "live",
				  .port = 7000, .tracker_host = "10.0.0.1", .tracker_port = 7000 };
	node_add(s, 0, &c);
	at(s, 0, 0, call_join);
	run_until(s, 30 * SEC);
	struct swarm_stats st = stats_of(s, 0);
	ck_assert_uint_eq(st.dials, 1);
	ck_assert_uint_eq(st.neighbours, 0);
	ck_assert_uint_eq(st.links, 0);
	ck_assert_uint_eq(st.known, 0);
	sim_free(s);
}
END_TEST

START_TEST(leave_and_join_again)
{
	struct sim *s = mesh(10, 0, 0, 100 * MS);
	run_until(s, 10 * SEC);
	at(s, 10 * SEC, 3, call_leave);
	run_until(s, 12 * SEC);
	ck_assert_uint_eq(nbrs(s, 3), 0);
	ck_assert_uint_eq(stats_of(s, 3).links, 0);
	ck_assert(!stats_of(s, 3).joined);
	at(s, 12 * SEC, 3, call_join);
	run_until(s, 20 * SEC);
	for (int i = 0; i <= 10; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_uint_eq(st.neighbours, 10);
		ck_assert_uint_eq(st.failures, 0);
		if (i != 3) {
			ck_assert_uint_eq(st.leaves, 1);
			ck_assert_uint_eq(st.joins, 11);
		} else {
			ck_assert_uint_eq(st.joins, 20);
		}
	}
	check_consistent(s);
	sim_free(s);
}
END_TEST

/* A peer with port 0 does not listen: it dials, becomes a neighbour, and is
 * never gossiped; the tracker's full set answers PEERS then BYE FULL. */
START_TEST(non_listening_and_full)
{
	struct sim *s = sim_new(9, 10 * MS);
	add_tracker(s, 4);
	at(s, 0, 0, call_join);
	for (int i = 1; i <= 8; i++) {
		struct swarm_config c = peer_cfg(s, i);
		if (i == 2)
			c.port = 0;
		node_add(s, i, &c);
		at(s, 100 * MS + i * 100 * MS, i, call_join);
	}
	s->watch[0] = id_of(s, 2);
	s->nwatch = 1;
	run_until(s, 30 * SEC);
	check_consistent(s);
	ck_assert_uint_eq(s->peers_with[0], 0);
	ck_assert_uint_eq(nbrs(s, 0), 4);
	ck_assert_uint_ge(stats_of(s, 0).refused_full, 4);
	unsigned rejected = 0;
	if (getenv("SWARM_DEBUG"))
		for (int i = 0; i <= 8; i++) {
			struct swarm_stats st = stats_of(s, i);
			fprintf(stderr, "node %d: nbrs %u links %u known %u dials %llu fails %llu joins %llu failures %llu rewired %llu rej %llu dup %llu\n",
				i, st.neighbours, st.links, st.known, (unsigned long long)st.dials,
				(unsigned long long)st.dial_failures, (unsigned long long)st.joins,
				(unsigned long long)st.failures, (unsigned long long)st.rewired,
				(unsigned long long)st.rejected_full, (unsigned long long)st.duplicates);
		}
	for (int i = 1; i <= 8; i++) {
		ck_assert_uint_eq(nbrs(s, i), 8 - (stats_of(s, i).source_linked ? 0 : 1));
		rejected += stats_of(s, i).rejected_full > 0;
	}
	ck_assert_uint_ge(rejected, 4);
	/* Only the peers linked to it know the non-listening one. */
	for (int i = 0; i <= 8; i++)
		if (i != 2)
			ck_assert(swarm_knows(s->nodes[i].sw, id_of(s, 2)) ==
				  swarm_has_neighbour(s->nodes[i].sw, id_of(s, 2), NULL));
	sim_free(s);
}
END_TEST

/* Known peers that nobody mentions any more are forgotten after the TTL. */
START_TEST(known_expiry)
{
	struct rec r = { 0 };
	struct swarm_ops ops = rec_ops(&r);
	struct swarm_config cfg = { .self_id = 0x100, .stream = "s", .port = 7000, .max_neighbours = 1,
				    .tracker_host = "10.0.0.1", .tracker_port = 7000,
				    .known_ttl_us = 10 * SEC };
	struct swarm *sw;
	ck_assert_int_eq(swarm_new(&cfg, &ops, &sw), 0);
	ck_assert_int_eq(swarm_join(sw, 0), 0);
	ck_assert_uint_eq(r.ndial, 1);
	uint32_t t = r.next_handle;
	ck_assert_int_eq(swarm_on_link_open(sw, t, true, NULL, 0, 1000), 0);
	struct wire_msg m = hello_from(0x900, WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER, "s", 7000);
	ck_assert_int_eq(swarm_on_message(sw, t, &m, 2000), 0);
	struct wire_msg p = { .type = WIRE_PEERS };
	p.u.peers.count = 2;
	p.u.peers.peer[0] = (struct wire_peer){ .peer_id = 0xA, .port = 1 };
	strcpy(p.u.peers.peer[0].host, "h1");
	p.u.peers.peer[1] = (struct wire_peer){ .peer_id = 0xB, .port = 2 };
	strcpy(p.u.peers.peer[1].host, "h2");
	ck_assert_int_eq(swarm_on_message(sw, t, &p, 3000), 0);
	m = ping_msg(3000);
	ck_assert_int_eq(swarm_on_message(sw, t, &m, 3000), 0);
	ck_assert_uint_eq(r.nup, 1);
	ck_assert_uint_eq(r.ndial, 1); /* max 1: the source slot only */
	ck_assert(swarm_knows(sw, 0xA));
	/* Keep the link alive; mention only B again. */
	int64_t now = 3000;
	for (int k = 0; k < 14; k++) {
		now += SEC;
		m = ping_msg((uint64_t)now);
		swarm_on_message(sw, t, &m, now);
		if (k == 6) {
			p.u.peers.count = 1;
			p.u.peers.peer[0] = p.u.peers.peer[1];
			swarm_on_message(sw, t, &p, now);
		}
		swarm_tick(sw, now);
	}
	ck_assert(!swarm_knows(sw, 0xA));
	ck_assert(swarm_knows(sw, 0xB));
	ck_assert(swarm_knows(sw, 0x900));
	ck_assert(swarm_has_neighbour(sw, 0x900, NULL));
	swarm_free(sw);
}
END_TEST

/* A tracker that is not the source: the source registers with it like a
 * peer, the tracker names it first in its PEERS, and every peer links to it
 * although a peer's own neighbour slots are few. */
START_TEST(separate_tracker)
{
	struct sim *s = sim_new(42, 10 * MS);
	struct swarm_config t = { .role = WIRE_ROLE_PEER | WIRE_ROLE_TRACKER, .stream = "live",
				  .port = 7000, .max_neighbours = 8 };
	node_add(s, 0, &t);
	at(s, 0, 0, call_join);
	struct swarm_config src = { .role = WIRE_ROLE_SOURCE, .stream = "live", .port = 7000,
				    .max_neighbours = 64, .tracker_host = s->nodes[0].host,
				    .tracker_port = 7000 };
	node_add(s, 1, &src);
	at(s, 50 * MS, 1, call_join);
	for (int i = 2; i < 42; i++) {
		struct swarm_config c = peer_cfg(s, i);
		c.max_neighbours = 8;
		node_add(s, i, &c);
		at(s, 200 * MS + i * 50 * MS, i, call_join);
	}
	run_until(s, 30 * SEC);
	check_consistent(s);
	for (int i = 0; i < 42; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert_msg(st.source_linked, "node %d not linked to the source", i);
		if (i != 1)
			ck_assert_uint_ge(st.neighbours, 6);
	}
	ck_assert_uint_eq(nbrs(s, 1), 41);
	ck_assert_int_eq(reachable(s, 2, 1), 41);
	sim_free(s);
}
END_TEST

/* Scale: 500 peers, 24 neighbours, in virtual time. */
START_TEST(scale_500)
{
	struct sim *s = mesh(500, 600, 24, 20 * MS);
	run_until(s, 40 * SEC);
	check_consistent(s);
	for (int i = 1; i <= 500; i++) {
		struct swarm_stats st = stats_of(s, i);
		ck_assert(st.source_linked);
		ck_assert_uint_ge(st.neighbours, 18);
	}
	ck_assert_int_eq(reachable(s, 1, 0), 500);
	sim_free(s);
}
END_TEST

Suite *suite_swarm(void)
{
	Suite *s = suite_create("swarm");
	TCase *tc = tcase_create("direct");
	tcase_add_test(tc, handshake_direct);
	tcase_add_test(tc, ping_only_when_idle);
	tcase_add_test(tc, ping_echo);
	tcase_add_test(tc, rtt_samples_by_role);
	tcase_add_test(tc, refusals_direct);
	tcase_add_test(tc, gossip_trickle);
	tcase_add_test(tc, gossip_suppressed);
	tcase_add_test(tc, peers_on_accept);
	tcase_add_test(tc, known_expiry);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, full_mesh_10);
	tcase_add_test(tc, partial_mesh_100);
	tcase_add_test(tc, bye_gone_within_1s);
	tcase_add_test(tc, failure_detected_and_replaced);
	tcase_add_test(tc, churn_counts_exact);
	tcase_add_test(tc, flash_crowd_50);
	tcase_add_test(tc, duplicate_dials);
	tcase_add_test(tc, stream_mismatch_refused);
	tcase_add_test(tc, self_dial_refused);
	tcase_add_test(tc, leave_and_join_again);
	tcase_add_test(tc, non_listening_and_full);
	tcase_add_test(tc, separate_tracker);
	tcase_add_test(tc, scale_500);
	suite_add_tcase(s, tc);
	return s;
}
