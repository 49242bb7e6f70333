/*
 * The scheduler in virtual time: a source and peers on the simulated network
 * of tests/sim (real sched, nc and wire; links with upload, download and
 * latency), checked against what AQCS and the layer ladder promise.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simnet.h"

/* Per-layer rates (kbps): cumulative 200 / 300 / 800 / 1600. */
static const uint32_t ladder[] = { 200, 100, 500, 800 };

static int add(struct simnet *net, bool source, uint32_t up, uint32_t down, bool coding)
{
	struct sim_node_cfg c = { .source = source, .coding = coding, .up_kbps = up,
				  .down_kbps = down, .max_level = 7 };
	return simnet_add(net, &c);
}

static void mesh(struct simnet *net)
{
	int n = simnet_count(net);
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++)
			ck_assert_int_eq(simnet_link(net, a, b), 0);
}

/* A source and n peers of one upload, all linked, on layers 0..nlayers-1
 * of the ladder (coded, 10 ms latency). */
static struct simnet *uniform_swarm(uint64_t seed, int nlayers, uint32_t src_up, int n,
				    uint32_t up)
{
	struct simnet *net = simnet_new(seed, 10000);
	simnet_set_stream(net, ladder, nlayers, 1000000);
	add(net, true, src_up, 0, true);
	for (int i = 0; i < n; i++)
		add(net, false, up, 0, true);
	mesh(net);
	return net;
}

START_TEST(test_heterogeneous_demand_limited)
{
	struct simnet *net = simnet_new(7, 10000);
	simnet_set_stream(net, ladder, 4, 1000000);
	static const uint32_t up[] = { 300, 500, 1000, 2000, 3000, 4000, 800, 1500 };
	static const uint32_t down[] = { 20000, 600, 20000, 1000, 20000, 20000, 20000, 400 };
	static const int want_level[] = { 3, 1, 3, 2, 3, 3, 3, 1 };
	add(net, true, 6000, 0, true);
	for (int i = 0; i < 8; i++)
		add(net, false, up[i], down[i], true);
	mesh(net);
	simnet_run_until(net, 30000000);
	for (int i = 1; i <= 8; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		const struct sched_stats *s = &st.sched;
		fprintf(stderr, "peer %d up %u down %u: level %d played %d startup %.0f ms, played %llu ok %llu stalls %llu, dup %.3f, lag max %.0f ms, hash ok %llu bad %llu pulls %llu repairs %llu\n",
			i, up[i - 1], down[i - 1], s->level, st.last_level_played, s->startup_us / 1e3,
			(unsigned long long)s->segments_played, (unsigned long long)s->segments_ok,
			(unsigned long long)s->stalls,
			s->bytes_in ? (double)s->bytes_in_dup / (double)s->bytes_in : 0,
			st.lag_us_max / 1e3, (unsigned long long)st.layer_hash_ok,
			(unsigned long long)st.layer_hash_bad, (unsigned long long)s->pulls_sent, (unsigned long long)s->repairs_sent);
	}
	for (int i = 0; i <= 8; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		uint32_t u = i ? up[i - 1] : 6000;
		fprintf(stderr, "node %d upload used %.2f in %llu dup %llu late %llu after-done %llu\n", i, (double)st.up_bytes / (u * 125.0 * 30),
			(unsigned long long)st.sched.blocks_in, (unsigned long long)st.sched.blocks_dup,
			(unsigned long long)st.sched.blocks_late, (unsigned long long)st.sched.blocks_after_done);
	}
	for (int i = 1; i <= 8; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		const struct sched_stats *s = &st.sched;
		double cont = s->segments_played ? (double)s->segments_ok / (double)s->segments_played : 0;
		ck_assert(s->started);
		ck_assert_uint_eq(s->stalls, 0);
		ck_assert(cont >= 0.99);
		ck_assert_uint_eq(st.layer_hash_bad, 0);
		ck_assert_int_le(s->startup_us, 3000000);
		ck_assert_int_eq(st.last_level_played, want_level[i - 1]);
	}
	simnet_free(net);
}
END_TEST

/* Supply-limited: ten equal peers want more than the swarm can upload.
 * AQCS should keep every upload busy with blocks that are innovative to
 * their receivers. */
START_TEST(test_supply_limited_utilisation)
{
	struct simnet *net = uniform_swarm(11, 4, 3000, 10, 1000);
	simnet_run_until(net, 5000000);
	uint64_t before = 0;
	for (int i = 1; i <= 10; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		before += st.sched.bytes_in_useful;
	}
	double cap0 = simnet_capacity_bytes(net);
	simnet_run_until(net, 35000000);
	uint64_t useful = 0;
	for (int i = 1; i <= 10; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		useful += st.sched.bytes_in_useful;
		fprintf(stderr, "peer %d level %d played %d stalls %llu dup %llu\n", i, st.sched.level,
			st.last_level_played, (unsigned long long)st.sched.stalls,
			(unsigned long long)st.sched.blocks_dup);
	}
	double util = (double)(useful - before) / (simnet_capacity_bytes(net) - cap0);
	fprintf(stderr, "supply-limited utilisation %.3f\n", util);
	for (int i = 0; i <= 10; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		fprintf(stderr, "node %d upload used %.2f\n", i, (double)st.up_bytes / ((i ? 1000 : 3000) * 125.0 * 35));
	}
	ck_assert(util > 0.8);
	simnet_free(net);
}
END_TEST

static int nop_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	(void)ctx;
	(void)link;
	(void)m;
	return 0;
}

static size_t nop_room(void *ctx, uint32_t link)
{
	(void)ctx;
	(void)link;
	return 1 << 20;
}

/* The base layer's block size at a source with n peers of the bench's
 * upload mix (50, 100, 150, 225, 350 kbit/s). */
static uint32_t base_block(unsigned n)
{
	static const uint32_t mix[5] = { 50, 100, 150, 225, 350 };
	struct sched_config cfg;
	sched_config_default(&cfg);
	cfg.source = true;
	cfg.up_kbps = 500;
	struct sched_ops ops = { .send = nop_send, .room = nop_room };
	struct sched *s;
	ck_assert_int_eq(sched_new(&s, &cfg, &ops, 0), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(sched_nbr_up(s, i + 1, false, mix[i % 5], i + 1, 0), 0);
	static uint8_t data[10750];
	const uint8_t *payload[1] = { data };
	struct wire_segment d = { .segment = 1, .nlayers = 1, .duration_us = 1000000 };
	d.layer[0].size = sizeof data;
	ck_assert_int_eq(sched_add_segment(s, &d, payload, 0), 0);
	ck_assert_uint_eq(d.layer[0].k, (sizeof data + d.layer[0].block_size - 1) /
						d.layer[0].block_size);
	sched_free(s);
	return d.layer[0].block_size;
}

/* Blocks shrink as the mesh grows, so that the peers with 90 % of the
 * upload still relay a block to all their neighbours within 1.2 s: at 30
 * peers a 100 kbit/s peer relays to 29 (B <= 517); at 10 the floor stays
 * at 1 KiB (header overhead); never under 512 bytes. */
START_TEST(test_block_floor)
{
	ck_assert_uint_eq(base_block(10), 1024);
	uint32_t b30 = base_block(30);
	ck_assert_uint_ge(b30, 512);
	ck_assert_uint_le((uint64_t)b30 * 29 * 8000, 100ull * 1200000);
	ck_assert_uint_eq(base_block(60 > SCHED_MAX_NBRS ? SCHED_MAX_NBRS : 60), 512);
}
END_TEST

/* What a scheduler sent, by link: the BLOCK headers (with their relay
 * lists) in order; and what it played. */
struct capture {
	unsigned budget; /* messages the links take from now on */
	size_t room;     /* bytes each link takes (0: 1 MiB while budget lasts) */
	unsigned n;
	uint32_t link[512];
	struct wire_block b[512];
	unsigned have[128];   /* HAVE messages per link */
	unsigned repair[128]; /* repair requests (PULL with REPAIR) per link */
	unsigned repair_count[128]; /* ... the blocks the last one asked for */
	unsigned done[128];   /* DONE messages per link */
	unsigned desc[128];   /* SEGMENT descriptors per link */
	unsigned ndlog;       /* ... and the first 64, in order */
	struct {
		uint32_t link, segment;
		uint8_t flags;
		uint16_t width;
	} dlog[64];
	unsigned nplay;
	uint32_t play_seg[64];
	int play_level[64];
	int64_t play_us[64];
	int64_t now_us;       /* the time of the last tick, for play_us */
};

static int cap_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct capture *c = ctx;
	if (c->budget)
		c->budget--;
	if (m->type == WIRE_HAVE && link < 128)
		c->have[link]++;
	if (m->type == WIRE_PULL && (m->u.pull.flags & WIRE_PULL_REPAIR) && link < 128) {
		c->repair[link]++;
		c->repair_count[link] = m->u.pull.count;
	}
	if (m->type == WIRE_DONE && link < 128)
		c->done[link]++;
	if (m->type == WIRE_SEGMENT && link < 128)
		c->desc[link]++;
	if (m->type == WIRE_SEGMENT && c->ndlog < 64)
		c->dlog[c->ndlog++] = (typeof(c->dlog[0])){ link, m->u.segment.segment,
							    m->u.segment.flags,
							    m->u.segment.layer[0].width };
	if (m->type == WIRE_BLOCK && c->n < 512) {
		c->link[c->n] = link;
		c->b[c->n++] = m->u.block;
	}
	return 0;
}

static size_t cap_room(void *ctx, uint32_t link)
{
	(void)link;
	const struct capture *c = ctx;
	return !c->budget ? 0 : c->room ? c->room : 1 << 20;
}

static void cap_play(void *ctx, const struct sched_play *p)
{
	struct capture *c = ctx;
	if (c->nplay < 64) {
		c->play_seg[c->nplay] = p->segment;
		c->play_level[c->nplay] = p->level;
		c->play_us[c->nplay++] = c->now_us;
	}
}

static void subscribe(struct sched *s, uint32_t link, uint8_t level, int64_t t)
{
	struct wire_msg m = { .type = WIRE_SUBSCRIBE };
	m.u.subscribe = (struct wire_subscribe){ .level = level, .cap = 7,
						 .flags = WIRE_SUB_SOURCE_LINK };
	ck_assert_int_eq(sched_on_message(s, link, &m, t, t), 0);
}

static void pull_from(struct sched *src, struct capture *cap, uint32_t link, int64_t t)
{
	cap->n = 0;
	cap->budget = 4; /* a pull is served before direct blocks */
	struct wire_msg pull = { .type = WIRE_PULL };
	pull.u.pull = (struct wire_pull){ .segment = 1, .layer = 2, .count = 4 };
	ck_assert_int_eq(sched_on_message(src, link, &pull, t, t), 0);
	sched_pump(src, t);
}

/* A 500 kbit/s source whose messages go to cap. */
static struct sched *open_source(struct capture *cap)
{
	struct sched_config cfg;
	sched_config_default(&cfg);
	cfg.source = true;
	cfg.up_kbps = 500;
	struct sched_ops ops = { .ctx = cap, .send = cap_send, .room = cap_room };
	struct sched *src;
	ck_assert_int_eq(sched_new(&src, &cfg, &ops, 0), 0);
	return src;
}

/* A 500 kbit/s source with 30 subscribed neighbours (links 1..30, peer ids
 * 101..130; link 1 at slow_up kbit/s, the others at 350) and segment 1 of
 * three layers (10000, 3000, 20000 bytes) captured at capture_us, added at
 * t with the wall clock at t; then a pull of 4 from `puller`, with room for
 * 4 messages; its messages go to a new capture, *capp. */
static struct sched *list_source(struct capture **capp, uint32_t slow_up, int64_t capture_us,
				 int64_t t, uint32_t puller, struct wire_segment *d)
{
	struct capture *cap = *capp = calloc(1, sizeof *cap);
	struct sched *src = open_source(cap);
	for (uint32_t i = 1; i <= 30; i++)
		ck_assert_int_eq(sched_nbr_up(src, i, false, i == 1 ? slow_up : 350, 100 + i, 0), 0);
	for (uint32_t i = 1; i <= 30; i++)
		subscribe(src, i, 2, 0);
	static uint8_t l0[10000], l1[3000], l2[20000];
	const uint8_t *payload[3] = { l0, l1, l2 };
	*d = (struct wire_segment){ .segment = 1, .nlayers = 3, .duration_us = 1000000,
				    .capture_us = capture_us };
	d->layer[0].size = sizeof l0;
	d->layer[1].size = sizeof l1;
	d->layer[2].size = sizeof l2;
	ck_assert_int_eq(sched_add_segment(src, d, payload, t), 0);
	sched_tick(src, t, t);
	pull_from(src, cap, puller, t);
	return src;
}

/* The forward blocks captured to `link`, which must all be of layer 1 and
 * up and carry a list of 1..max distinct ids of the other peers (101..130). */
static unsigned listed_blocks(const struct capture *cap, uint32_t link, unsigned max)
{
	unsigned listed = 0;
	for (unsigned i = 0; i < cap->n; i++) {
		const struct wire_block *b = &cap->b[i];
		if (cap->link[i] != link || !(b->flags & WIRE_BLOCK_FORWARD))
			continue;
		ck_assert_uint_ge(b->layer, 1);
		ck_assert(b->flags & WIRE_BLOCK_DESTS);
		ck_assert_uint_ge(b->ndest, 1);
		ck_assert_uint_le(b->ndest, max);
		for (unsigned j = 0; j < b->ndest; j++) {
			ck_assert_uint_ge(b->dest[j], 101);
			ck_assert_uint_le(b->dest[j], 130);
			ck_assert_uint_ne(b->dest[j], 100 + link);
			for (unsigned k = 0; k < j; k++)
				ck_assert_uint_ne(b->dest[k], b->dest[j]);
		}
		listed++;
	}
	return listed;
}

/* A peer (up_kbps) whose messages go to cap, with the source (500 kbit/s,
 * id 1) on link 100. */
static struct sched *peer_with_source(struct capture *cap, uint32_t up_kbps)
{
	struct sched_config cfg;
	sched_config_default(&cfg);
	cfg.up_kbps = up_kbps;
	struct sched_ops ops = { .ctx = cap, .send = cap_send, .room = cap_room, .play = cap_play };
	struct sched *p;
	ck_assert_int_eq(sched_new(&p, &cfg, &ops, 0), 0);
	ck_assert_int_eq(sched_nbr_up(p, 100, true, 500, 1, 0), 0);
	return p;
}

/* A 350 kbit/s peer with the source on link 100, its links open (a new
 * capture in *cap). */
static struct sched *open_peer(struct capture **cap)
{
	*cap = calloc(1, sizeof **cap);
	(*cap)->budget = 1000000;
	return peer_with_source(*cap, 350);
}

/* AQCS with relay lists. A relay that cannot send a block to all its
 * neighbours in time (1.2 s) gets upper-layer blocks with a list of as
 * many peers as it reaches in 0.6 s, the least covered first; the base layer
 * only goes to relays that reach all. A relay sends a listed block to the
 * listed neighbours alone, and its copies carry no list. */
START_TEST(test_relay_lists)
{
	struct capture *cap;
	/* Link 1: a 50 kbit/s peer (id 101); links 2..30: 350 kbit/s (102..130).
	 * Past the newcomers' grace (the relays have linked to them), 1.8 s to
	 * the deadline. */
	int64_t t = 1000000;
	struct wire_segment d;
	struct sched *src = list_source(&cap, 50, 0, t, 1, &d);
	/* The slow relay reaches 50 kbit/s * 0.6 s / (a block of 2 + 9 + k + B
	 * bytes, its coefficients counted in full) of its 29 neighbours. */
	unsigned reach = (unsigned)(50 * 600000ull / 8000 /
				    (WIRE_HDR_LEN + WIRE_BLOCK_HEAD + d.layer[1].k + d.layer[1].block_size));
	ck_assert_uint_lt(reach, 29);
	ck_assert_uint_ge(reach, 1);
	ck_assert_uint_ge(listed_blocks(cap, 1, reach), 1);
	/* A fast relay gets the base layer, to all (no list), as much as it
	 * relays to all before the deadline; then upper layers with lists. */
	pull_from(src, cap, 2, t);
	bool base = false;
	for (unsigned i = 0; i < cap->n; i++)
		if (cap->link[i] == 2 && (cap->b[i].flags & WIRE_BLOCK_FORWARD)) {
			ck_assert(!(cap->b[i].flags & WIRE_BLOCK_DESTS) == (cap->b[i].layer == 0));
			base |= cap->b[i].layer == 0;
		}
	ck_assert(base);
	sched_free(src);

	/* A relay: the source on link 100, peers 11..15 on links 1..5, and on
	 * link 6 a peer whose id has the low 16 bits of 12's (its tag). */
	struct sched *rel = peer_with_source(cap, 50);
	for (uint32_t i = 1; i <= 6; i++) {
		uint64_t id = i == 6 ? (1ULL << 16) | 12 : 10 + i;
		ck_assert_int_eq(sched_nbr_up(rel, i, false, 350, id, 0), 0);
		subscribe(rel, i, 2, 0);
	}
	static uint8_t coef[WIRE_K_MAX], data[512];
	coef[0] = 1;
	struct wire_msg m = { .type = WIRE_BLOCK };
	m.u.block = (struct wire_block){ .segment = 1, .layer = 1,
		.flags = WIRE_BLOCK_FORWARD | WIRE_BLOCK_SYSTEMATIC | WIRE_BLOCK_DESTS, .k = 4,
		.block_size = sizeof data, .coef = coef,
		.payload = data, .ndest = 3, .dest = { 12, 14, 99 } };
	cap->n = 0;
	cap->budget = 100;
	ck_assert_int_eq(sched_on_message(rel, 100, &m, t, t), 0);
	sched_pump(rel, t);
	unsigned to[7] = { 0 };
	for (unsigned i = 0; i < cap->n; i++) {
		ck_assert_uint_le(cap->link[i], 6);
		ck_assert_uint_eq(cap->b[i].flags, WIRE_BLOCK_SYSTEMATIC);
		ck_assert_uint_eq(cap->b[i].ndest, 0);
		to[cap->link[i]]++;
	}
	ck_assert_uint_eq(to[2] + to[4], 2);
	ck_assert_uint_eq(to[6], 1); /* tags alike: it gets the copy too */
	ck_assert_uint_eq(to[1] + to[3] + to[5], 0);
	/* Without a list: to every subscribed neighbour. */
	m.u.block.flags &= (uint8_t)~WIRE_BLOCK_DESTS;
	m.u.block.ndest = 0;
	coef[0] = 0;
	coef[1] = 1;
	cap->n = 0;
	cap->budget = 100;
	ck_assert_int_eq(sched_on_message(rel, 100, &m, t, t), 0);
	sched_pump(rel, t);
	ck_assert_uint_eq(cap->n, 6);
	sched_free(rel);
	free(cap);
}
END_TEST

/* HAVE goes once to a new neighbour, when it links; the rest it learns from
 * DONE. (A HAVE a second to every neighbour cost the slowest peers 9 % of
 * their upload at n = 30; to those linked in the last 3 s, 1-6 % of a
 * peer's upload in a flash crowd.) */
START_TEST(test_have_newcomers)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	ck_assert_int_eq(sched_nbr_up(p, 1, false, 350, 11, 0), 0);
	subscribe(p, 1, 2, 0);
	/* Rank 1 of 4 in segment 1's base layer. */
	static uint8_t coef[WIRE_K_MAX], data[512];
	coef[0] = 1;
	struct wire_msg m = { .type = WIRE_BLOCK };
	m.u.block = (struct wire_block){ .segment = 1, .layer = 0, .flags = WIRE_BLOCK_SYSTEMATIC,
		.k = 4, .block_size = sizeof data, .coef = coef,
		.payload = data };
	int64_t t = 5000000;
	ck_assert_int_eq(sched_on_message(p, 100, &m, t, t), 0);
	ck_assert_int_eq(sched_nbr_up(p, 2, false, 350, 12, t), 0);
	ck_assert_uint_eq(cap->have[2], 1); /* at once */
	for (; t <= 12000000; t += 10000) {
		if (t == 9000000)
			ck_assert_int_eq(sched_nbr_up(p, 3, false, 350, 13, t), 0);
		if (t == 6000000) {
			/* Its rank grows while link 2 is new. */
			coef[0] = 0;
			coef[1] = 1;
			ck_assert_int_eq(sched_on_message(p, 100, &m, t, t), 0);
		}
		sched_tick(p, t, t);
	}
	ck_assert_uint_eq(cap->have[1], 0);
	ck_assert_uint_eq(cap->have[2], 1); /* no periodic ones */
	ck_assert_uint_eq(cap->have[3], 1);
	ck_assert_uint_eq(cap->have[100], 0); /* the source needs none */
	sched_free(p);
	free(cap);
}
END_TEST

/* A relay that reaches all its neighbours, but not before the segment's
 * deadline, gets upper-layer blocks with a list of as many as it reaches by
 * then (the base layer only goes to all, in time). */
START_TEST(test_relay_lists_deadline)
{
	struct capture *cap;
	/* All at 350 kbit/s; captured so that its deadline (+ 1 s + 1.8 s) is
	 * 0.4 s away. A pull from link 2. */
	int64_t t = 3000000;
	struct wire_segment d;
	struct sched *src = list_source(&cap, 350, t - 2400000, t, 2, &d);
	/* In 0.4 s less the RTT (50 ms), at 90 % of 350 kbit/s: fewer blocks
	 * than its 29 neighbours. */
	unsigned fit = (unsigned)(350ull * 9 / 10 * 350000 / 8000 / (20 + d.layer[1].block_size));
	ck_assert_uint_lt(fit, 29);
	ck_assert_uint_ge(listed_blocks(cap, 2, fit), 1);
	sched_free(src);
	free(cap);
}
END_TEST

/* Segment `num` of one 2048-byte layer (4 blocks of 512 bytes, all zero),
 * captured at capture_us: its descriptor, from `link` to p at t. */
static void give_desc(struct sched *p, uint32_t link, uint32_t num, int64_t capture_us, int64_t t)
{
	static const uint8_t data[2048];
	struct wire_msg m = { .type = WIRE_SEGMENT };
	m.u.segment = (struct wire_segment){ .segment = num, .capture_us = capture_us,
					     .duration_us = 1000000, .flags = WIRE_SEG_FORMAT,
					     .nlayers = 1 };
	m.u.segment.layer[0] = (struct wire_layer_desc){ .size = sizeof data, .k = 4,
							 .block_size = 512, .width = 320,
							 .height = 180, .fps_milli = 30000,
							 .hash = wire_hash64(data, sizeof data) };
	ck_assert_int_eq(sched_on_message(p, link, &m, t, t), 0);
}

/* Its four blocks, systematic, from `link` to p at t. */
static void give_blocks(struct sched *p, uint32_t link, uint32_t num, int64_t t)
{
	static const uint8_t data[512];
	uint8_t coef[WIRE_K_MAX];
	for (int i = 0; i < 4; i++) {
		memset(coef, 0, 4);
		coef[i] = 1;
		struct wire_msg m = { .type = WIRE_BLOCK };
		m.u.block = (struct wire_block){ .segment = num, .layer = 0,
			.flags = WIRE_BLOCK_SYSTEMATIC, .k = 4, .block_size = 512,
			.coef = coef, .payload = data };
		ck_assert_int_eq(sched_on_message(p, link, &m, t, t), 0);
	}
}

static void tick_until(struct sched *p, struct capture *cap, int64_t *t, int64_t end)
{
	for (; *t <= end; *t += 10000) {
		cap->now_us = *t;
		sched_tick(p, *t, *t);
	}
}

/* Blocks do not carry the generation's true length: a generation whose
 * blocks all came before its descriptor completes (DONE, played, checked
 * against the hash) when the descriptor comes; one whose bytes are not the
 * descriptor's starts over. */
START_TEST(test_blocks_before_descriptor)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	int64_t t = 1100000;
	give_blocks(p, 100, 1, t);
	struct sched_stats st;
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.layer[0].gens_done, 0);
	ck_assert_uint_eq(cap->done[100], 0);
	ck_assert_uint_eq(st.blocks_dup, 0); /* all four kept */
	give_desc(p, 100, 1, 0, t);
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.layer[0].gens_done, 1);
	ck_assert_uint_eq(cap->done[100], 1);
	ck_assert_uint_eq(st.hash_failures, 0);
	tick_until(p, cap, &t, 3000000);
	ck_assert_uint_eq(cap->nplay, 1);
	ck_assert_uint_eq(cap->play_seg[0], 1);

	/* Segment 2's bytes are not what its descriptor hashes. */
	static const uint8_t ones[512] = { 1 };
	uint8_t coef[4];
	for (int i = 0; i < 4; i++) {
		memset(coef, 0, sizeof coef);
		coef[i] = 1;
		struct wire_msg m = { .type = WIRE_BLOCK };
		m.u.block = (struct wire_block){ .segment = 2, .layer = 0,
			.flags = WIRE_BLOCK_SYSTEMATIC, .k = 4, .block_size = 512,
			.coef = coef, .payload = ones };
		ck_assert_int_eq(sched_on_message(p, 100, &m, t, t), 0);
	}
	give_desc(p, 100, 2, 1000000, t);
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.hash_failures, 1);
	ck_assert_uint_eq(st.layer[0].gens_done, 1);
	ck_assert_uint_eq(cap->done[100], 1);
	/* Started over: the right blocks complete it. */
	give_blocks(p, 100, 2, t);
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.layer[0].gens_done, 2);
	ck_assert_uint_eq(cap->done[100], 2);
	sched_free(p);
	free(cap);
}
END_TEST

/* The source sends a block no pull asked for (a direct block) only where
 * the queue has room for another after it, so that a pull's answer never
 * waits behind a queue full of them; a pull is answered with room for one. */
START_TEST(test_direct_leaves_room)
{
	struct capture *cap = calloc(1, sizeof *cap);
	struct sched *src = open_source(cap);
	for (uint32_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(sched_nbr_up(src, i, false, 350, 100 + i, 0), 0);
		subscribe(src, i, 0, 0);
	}
	static uint8_t l0[10000];
	const uint8_t *payload[1] = { l0 };
	struct wire_segment d = { .segment = 1, .nlayers = 1, .duration_us = 1000000 };
	d.layer[0].size = sizeof l0;
	int64_t t = 100000;
	ck_assert_int_eq(sched_add_segment(src, &d, payload, t), 0);
	/* What room the source asks of a queue for one block (its
	 * coefficients counted in full). */
	size_t est = WIRE_HDR_LEN + WIRE_BLOCK_HEAD + d.layer[0].k + d.layer[0].block_size;
	cap->budget = 8;
	cap->room = 2 * est - 1;
	sched_tick(src, t, t);
	sched_pump(src, t);
	ck_assert_uint_eq(cap->n, 0);
	cap->room = 2 * est;
	sched_pump(src, t);
	ck_assert_uint_ge(cap->n, 1);
	ck_assert(!(cap->b[0].flags & WIRE_BLOCK_FORWARD));
	ck_assert_uint_eq(cap->b[0].block_size, d.layer[0].block_size);
	/* With room for one block only, a pull is answered all the same. */
	cap->n = 0;
	cap->budget = 8;
	cap->room = est;
	struct wire_msg pull = { .type = WIRE_PULL };
	pull.u.pull = (struct wire_pull){ .segment = 1, .layer = 0, .count = 1 };
	ck_assert_int_eq(sched_on_message(src, 2, &pull, t, t), 0);
	sched_pump(src, t);
	ck_assert_uint_ge(cap->n, 1);
	ck_assert_uint_eq(cap->link[0], 2);
	ck_assert(cap->b[0].flags & WIRE_BLOCK_FORWARD);
	sched_free(src);
	free(cap);
}
END_TEST

/* A newcomer commits to its first segment only at that segment's deadline:
 * the segment under way when it joined may complete after the next one
 * does (it missed the forward blocks and waits for repairs), and then it
 * starts there, a second sooner. */
START_TEST(test_start_first_deadline)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	/* Segments 1 and 2, captured at 0 and 1 s: deadlines at 2.8 and 3.8 s.
	 * Segment 2 is complete at 2.1 s, segment 1 at 2.5 s. */
	int64_t t = 1100000;
	give_desc(p, 100, 1, 0, t);
	give_desc(p, 100, 2, 1000000, t);
	give_blocks(p, 100, 2, 2100000);
	t = 2100000;
	tick_until(p, cap, &t, 2500000);
	ck_assert_uint_eq(cap->nplay, 0);
	give_blocks(p, 100, 1, t);
	tick_until(p, cap, &t, 4000000);
	ck_assert_uint_eq(cap->nplay, 2);
	ck_assert_uint_eq(cap->play_seg[0], 1);
	ck_assert_int_eq(cap->play_level[0], 0);
	ck_assert_int_ge(cap->play_us[0], 2800000);
	ck_assert_int_le(cap->play_us[0], 2810000);
	ck_assert_uint_eq(cap->play_seg[1], 2);
	ck_assert_int_eq(cap->play_level[1], 0);
	struct sched_stats st;
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.stalls, 0);
	ck_assert_int_le(st.startup_us, 2810000);
	/* Paused (left the swarm) while segments 3 and 4 came and passed; on
	 * resuming it starts again at the next deadline to come (segment 5's
	 * at 6.8 s), not with a burst of the segments it missed. */
	sched_set_active(p, false);
	give_desc(p, 100, 3, 2000000, t);
	give_blocks(p, 100, 3, t);
	give_desc(p, 100, 4, 3000000, t);
	give_blocks(p, 100, 4, t);
	tick_until(p, cap, &t, 6000000);
	give_desc(p, 100, 5, 4000000, t);
	give_blocks(p, 100, 5, t);
	sched_set_active(p, true);
	tick_until(p, cap, &t, 7000000);
	ck_assert_uint_eq(cap->nplay, 3);
	ck_assert_uint_eq(cap->play_seg[2], 5);
	ck_assert_int_ge(cap->play_us[2], 6800000);
	sched_get_stats(p, &st);
	ck_assert_uint_eq(st.stalls, 0);
	sched_free(p);
	free(cap);
}
END_TEST

/* A repair request from `link` to s for count blocks of segment 1's base
 * layer, at t. */
static void ask_repair(struct sched *s, uint32_t link, uint16_t count, int64_t t)
{
	struct wire_msg m = { .type = WIRE_PULL };
	m.u.pull = (struct wire_pull){ .segment = 1, .layer = 0, .flags = WIRE_PULL_REPAIR,
				       .count = count };
	ck_assert_int_eq(sched_on_message(s, link, &m, t, t), 0);
}

/* The source answers repair requests the shortest first, and drops one it
 * cannot meet before the deadline: spread over a flash crowd's requests in
 * turn, its upload completed none of them. So do the peers. */
START_TEST(test_source_repairs_shortest_first)
{
	struct capture *cap = calloc(1, sizeof *cap);
	struct sched *src = open_source(cap);
	for (uint32_t i = 1; i <= 3; i++)
		ck_assert_int_eq(sched_nbr_up(src, i, false, 350, 100 + i, 0), 0);
	/* Segment 1, captured at 0 (deadline 2.8 s); no subscriber, so only
	 * repairs go out. */
	static const uint8_t l0[10000];
	const uint8_t *payload[1] = { l0 };
	struct wire_segment d = { .segment = 1, .nlayers = 1, .duration_us = 1000000 };
	d.layer[0].size = sizeof l0;
	int64_t t = 1000000;
	ck_assert_int_eq(sched_add_segment(src, &d, payload, t), 0);
	sched_tick(src, t, t);
	ck_assert_uint_ge(d.layer[0].k, 8);
	ask_repair(src, 1, 8, t);
	ask_repair(src, 2, 2, t);
	cap->budget = 2;
	sched_pump(src, t);
	ck_assert_uint_eq(cap->n, 2);
	ck_assert_uint_eq(cap->link[0], 2);
	ck_assert_uint_eq(cap->link[1], 2);
	cap->budget = 100;
	sched_pump(src, t);
	ck_assert_uint_eq(cap->n, 10);
	for (unsigned i = 2; i < 10; i++)
		ck_assert_uint_eq(cap->link[i], 1);
	/* 0.1 s before the deadline: 100 blocks are more than 500 kbit/s
	 * sends by then. */
	t = 2700000;
	sched_tick(src, t, t);
	cap->budget = 0;
	ask_repair(src, 3, 100, t);
	cap->budget = 100;
	sched_pump(src, t);
	ck_assert_uint_eq(cap->n, 10);
	sched_free(src);

	/* A peer done with a segment answers the same way. */
	memset(cap, 0, sizeof *cap);
	cap->budget = 1000;
	struct sched *p = peer_with_source(cap, 350);
	for (uint32_t i = 1; i <= 2; i++)
		ck_assert_int_eq(sched_nbr_up(p, i, false, 350, 10 + i, 0), 0);
	t = 1100000;
	give_desc(p, 100, 1, 0, t);
	give_blocks(p, 100, 1, t);
	cap->n = 0;
	cap->budget = 0;
	ask_repair(p, 1, 3, t);
	ask_repair(p, 2, 1, t);
	cap->budget = 1;
	sched_pump(p, t);
	ck_assert_uint_eq(cap->n, 1);
	ck_assert_uint_eq(cap->link[0], 2);
	sched_free(p);
	free(cap);
}
END_TEST

/* A new segment's base layer goes to relays before the source answers the
 * repairs of an older one: in a flash crowd those repairs took its whole
 * upload, and the next segment reached nobody in time. */
START_TEST(test_newest_base_first)
{
	struct capture *cap;
	struct wire_segment d;
	int64_t t = 1000000;
	struct sched *src = list_source(&cap, 350, 0, t, 2, &d);
	t = 2000000;
	static const uint8_t l0[10000], l1[3000], l2[20000];
	const uint8_t *payload[3] = { l0, l1, l2 };
	struct wire_segment d2 = d;
	d2.segment = 2;
	d2.capture_us = 1000000;
	cap->budget = 0;
	ck_assert_int_eq(sched_add_segment(src, &d2, payload, t), 0);
	sched_tick(src, t, t);
	ask_repair(src, 4, 3, t);
	pull_from(src, cap, 3, t);
	ck_assert_uint_ge(cap->n, 1);
	ck_assert_uint_ne(cap->link[0], 4); /* to a relay (2 has a pull left) */
	ck_assert_uint_eq(cap->b[0].segment, 2);
	ck_assert_uint_eq(cap->b[0].layer, 0);
	ck_assert_uint_eq(cap->b[0].flags & (WIRE_BLOCK_FORWARD | WIRE_BLOCK_DESTS),
			  WIRE_BLOCK_FORWARD);
	bool repaired = false;
	for (unsigned i = 0; i < cap->n; i++)
		repaired |= cap->link[i] == 4;
	ck_assert(repaired); /* then the repair, before any other layer */
	sched_free(src);
	free(cap);
}
END_TEST

/* The laggards (peers that linked after a segment's base-layer blocks went
 * to all) get them from a relay, on a list, when the source's own upload
 * cannot complete them all before the deadline: a flash crowd's newcomers,
 * one by one from the source, missed it. */
START_TEST(test_laggard_lists)
{
	struct capture *cap;
	struct wire_segment d;
	/* Captured at 0: the deadline is at 2.8 s. Relays pull until the
	 * base layer no longer goes to all (every block went, or the direct
	 * blocks that came with the pulls covered a peer). */
	int64_t t = 1000000;
	struct sched *src = list_source(&cap, 350, 0, t, 2, &d);
	unsigned to_all = 0;
	for (uint32_t r = 3; r <= 16; r++) {
		for (unsigned i = 0; i < cap->n; i++)
			to_all += cap->b[i].layer == 0 && (cap->b[i].flags & WIRE_BLOCK_FORWARD) &&
				  !(cap->b[i].flags & WIRE_BLOCK_DESTS);
		pull_from(src, cap, r, t);
	}
	ck_assert_uint_ge(to_all, d.layer[0].k / 2);
	/* Four newcomers (links 31..34, ids 131..134) at 2 s. */
	t = 2000000;
	cap->budget = 0;
	for (uint32_t i = 31; i <= 34; i++) {
		ck_assert_int_eq(sched_nbr_up(src, i, false, 350, 100 + i, t), 0);
		subscribe(src, i, 2, t);
	}
	/* 0.45 s before the deadline, past the newcomers' grace: 4 x 10 blocks
	 * take the source more than 0.45 s. The relays' pulls (those still
	 * queued first) get base-layer blocks listing the newcomers. */
	t = 2350000;
	sched_tick(src, t, t);
	pull_from(src, cap, 25, t);
	unsigned listed = 0;
	for (unsigned i = 0; i < cap->n; i++) {
		const struct wire_block *b = &cap->b[i];
		if (b->layer != 0 || !(b->flags & WIRE_BLOCK_DESTS))
			continue;
		ck_assert(b->flags & WIRE_BLOCK_FORWARD);
		ck_assert_uint_eq(b->ndest, 4);
		for (unsigned j = 0; j < b->ndest; j++) {
			ck_assert_uint_ge(b->dest[j], 131);
			ck_assert_uint_le(b->dest[j], 134);
		}
		listed++;
	}
	ck_assert_uint_ge(listed, 1);
	sched_free(src);
	free(cap);
}
END_TEST

/* Repairs are asked of neighbours with odds in proportion to their upload:
 * taking those with the most upload to spare sent them to the slowest
 * peers (as they relay nothing), and at n = 30 they missed their own
 * segments. */
START_TEST(test_repair_by_upload)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	/* Links 1, 2 at 50 kbit/s, 3..29 at 350; all done with segments 1..8. */
	for (uint32_t i = 1; i <= 29; i++)
		ck_assert_int_eq(sched_nbr_up(p, i, false, i <= 2 ? 50 : 350, 10 + i, 0), 0);
	int64_t t = 0;
	for (uint32_t g = 1; g <= 8; g++) {
		give_desc(p, 100, g, (int64_t)(g - 1) * 1000000, t);
		for (uint32_t i = 1; i <= 29; i++) {
			struct wire_msg m = { .type = WIRE_DONE };
			m.u.done = (struct wire_done){ .segment = g, .layer = 0 };
			ck_assert_int_eq(sched_on_message(p, i, &m, t, t), 0);
		}
	}
	tick_until(p, cap, &t, 2000000);
	unsigned slow = cap->repair[1] + cap->repair[2], all = slow;
	for (uint32_t i = 3; i <= 29; i++)
		all += cap->repair[i];
	ck_assert_uint_eq(cap->repair[100], 0);
	ck_assert_uint_ge(all, 50);
	ck_assert_msg(slow * 10 <= all, "%u of %u repair requests to the 50 kbit/s peers", slow,
		      all);
	sched_free(p);
	free(cap);
}
END_TEST

/* A peer yet to start asks at once for the base layer, of neighbours done
 * with it (not the source), a few blocks at a time (served shortest first,
 * a whole generation waited too long); and nobody for a segment past its
 * deadline. */
START_TEST(test_repair_early_and_never_late)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	ck_assert_int_eq(sched_nbr_up(p, 1, false, 350, 11, 0), 0);
	int64_t t = 500000;
	give_desc(p, 100, 1, 0, t); /* deadline 2.8 s */
	struct wire_msg m = { .type = WIRE_DONE };
	m.u.done = (struct wire_done){ .segment = 1, .layer = 0 };
	ck_assert_int_eq(sched_on_message(p, 1, &m, t, t), 0);
	cap->now_us = t;
	sched_tick(p, t, t);
	ck_assert_uint_eq(cap->repair[1], 1);
	ck_assert_uint_eq(cap->repair_count[1], 3); /* of the 4 it lacks */
	ck_assert_uint_eq(cap->repair[100], 0);
	tick_until(p, cap, &t, 2800000);
	unsigned asked = cap->repair[1] + cap->repair[100];
	ck_assert_uint_ge(asked, 3);
	tick_until(p, cap, &t, 5000000);
	ck_assert_uint_eq(cap->repair[1] + cap->repair[100], asked);
	sched_free(p);
	free(cap);
}
END_TEST

/* DONE goes to the source, to the neighbours asked to repair the
 * generation, to neighbours linked in the last 3 s (they start up and ask
 * done ones for repairs at once) and to DONE_FANOUT (8) others drawn by
 * upload, not to every neighbour: at n = 30 that was a tenth of a 50
 * kbit/s peer's upload. */
START_TEST(test_done_fanout)
{
	struct capture *cap;
	struct sched *p = open_peer(&cap);
	sched_set_active(p, false); /* yet to start: it asks for repairs at once */
	/* Links 1..9 at 50 kbit/s, 10..29 at 350; link 30 comes at 6 s. */
	for (uint32_t i = 1; i <= 29; i++)
		ck_assert_int_eq(sched_nbr_up(p, i, false, i <= 9 ? 50 : 350, 10 + i, 0), 0);
	unsigned slow = 0, others = 0;
	for (uint32_t g = 1; g <= 8; g++) {
		int64_t t = 3500000 + (int64_t)(g - 1) * 1000000;
		if (t > 6000000 && t < 7000000)
			ck_assert_int_eq(sched_nbr_up(p, 30, false, 350, 40, 6000000), 0);
		bool newcomer = t > 6000000 && t < 9000000;
		give_desc(p, 100, g, t - 500000, t);
		/* Link g (slow) is the one done with it: asked at once. */
		struct wire_msg m = { .type = WIRE_DONE };
		m.u.done = (struct wire_done){ .segment = g, .layer = 0 };
		ck_assert_int_eq(sched_on_message(p, g, &m, t, t), 0);
		cap->now_us = t;
		sched_tick(p, t, t);
		ck_assert_uint_eq(cap->repair[g], 1);
		memset(cap->done, 0, sizeof cap->done);
		give_blocks(p, 100, g, t + 1000);
		ck_assert_uint_eq(cap->done[100], 1);
		ck_assert_uint_eq(cap->done[g], 1);
		if (newcomer)
			ck_assert_uint_eq(cap->done[30], 1);
		unsigned told = 0;
		for (uint32_t i = 1; i <= 30; i++) {
			ck_assert_uint_le(cap->done[i], 1);
			if (i != g && !(i == 30 && newcomer)) {
				told += cap->done[i];
				slow += i <= 9 ? cap->done[i] : 0;
			}
		}
		ck_assert_uint_eq(told, 8);
		others += told;
	}
	/* The 9 slow ones hold 6 % of the upload. */
	ck_assert_msg(slow * 5 <= others, "%u of %u DONEs to the 50 kbit/s peers", slow, others);
	sched_free(p);
	free(cap);
}
END_TEST

/* A newcomer mid-stream: with a link to the source it learns the live
 * segments from the source alone (peers do not each send it theirs: in a
 * flash crowd that was most of a slow peer's upload); without one, from
 * the peers. Both start playing. */
START_TEST(test_newcomer_descriptors)
{
	struct simnet *net = uniform_swarm(7, 2, 1200, 4, 600);
	simnet_run_until(net, 5000000);
	uint64_t before[5];
	for (int i = 1; i <= 4; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		before[i] = st.msgs_out[WIRE_SEGMENT];
	}
	int linked = add(net, false, 600, 0, true);
	for (int i = 0; i <= 4; i++)
		ck_assert_int_eq(simnet_link(net, linked, i), 0);
	simnet_run_until(net, 9000000);
	for (int i = 1; i <= 4; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		ck_assert_uint_eq(st.msgs_out[WIRE_SEGMENT], before[i]);
		before[i] = st.msgs_out[WIRE_SEGMENT];
	}
	struct sim_node_stats st;
	simnet_stats(net, linked, &st);
	ck_assert(st.sched.started);
	int far = add(net, false, 600, 0, true);
	for (int i = 1; i <= 4; i++)
		ck_assert_int_eq(simnet_link(net, far, i), 0);
	simnet_run_until(net, 13000000);
	uint64_t sent = 0;
	for (int i = 1; i <= 4; i++) {
		simnet_stats(net, i, &st);
		sent += st.msgs_out[WIRE_SEGMENT] - before[i];
	}
	ck_assert_uint_ge(sent, 4); /* the live segments, and the new ones */
	simnet_stats(net, far, &st);
	ck_assert(st.sched.started);
	simnet_free(net);
}
END_TEST

/* The source tells a new neighbour the live segments alone, not those past
 * their deadline that it still holds. */
/* Source: segment g of one 4000-byte layer, width x 180 at 30 fps,
 * captured in the second before t and added at t. */
static void add_format_seg(struct sched *src, uint32_t g, uint16_t width, int64_t t)
{
	static uint8_t l0[4000];
	const uint8_t *payload[1] = { l0 };
	struct wire_segment d = { .segment = g, .nlayers = 1, .duration_us = 1000000,
				  .capture_us = t - 1000000 };
	d.layer[0] = (struct wire_layer_desc){ .size = sizeof l0, .width = width,
					       .height = 180, .fps_milli = 30000 };
	ck_assert_int_eq(sched_add_segment(src, &d, payload, t), 0);
	sched_tick(src, t, t);
}

START_TEST(test_newcomer_live_descriptors)
{
	struct capture *cap = calloc(1, sizeof *cap);
	cap->budget = 1000000;
	struct sched *src = open_source(cap);
	ck_assert_int_eq(sched_nbr_up(src, 1, false, 350, 101, 0), 0);
	/* Segments 1..5 captured at 0..4 s, each ready 1 s later: at 5.5 s the
	 * deadlines (capture + 2.8 s) of 1..3 have passed; 4 and 5 are live. */
	for (uint32_t g = 1; g <= 5; g++)
		add_format_seg(src, g, 320, (int64_t)g * 1000000);
	int64_t t = 5500000;
	sched_tick(src, t, t);
	ck_assert_int_eq(sched_nbr_up(src, 2, false, 350, 102, t), 0);
	ck_assert_uint_eq(cap->desc[2], 2);
	sched_free(src);
	free(cap);
}
END_TEST

/* The descriptors' logged to `link`, in order: FORMAT (1) or not (0) in a
 * string, e.g. "100". */
static const char *desc_formats(const struct capture *cap, uint32_t link)
{
	static char f[65];
	unsigned n = 0;
	for (unsigned i = 0; i < cap->ndlog; i++)
		if (cap->dlog[i].link == link)
			f[n++] = cap->dlog[i].flags & WIRE_SEG_FORMAT ? '1' : '0';
	f[n] = 0;
	return f;
}

/* A descriptor carries the picture format (FORMAT) only when it is not the
 * last one its link carried: in the first on each link and after a change.
 * A peer takes a descriptor without it from the link's last format, and
 * refuses one on a link that never gave it. */
START_TEST(test_descriptor_format)
{
	struct capture *cap = calloc(1, sizeof *cap);
	cap->budget = 1000000;
	struct sched *src = open_source(cap);
	ck_assert_int_eq(sched_nbr_up(src, 1, false, 350, 101, 0), 0);
	add_format_seg(src, 1, 320, 1000000);
	add_format_seg(src, 2, 320, 2000000);
	ck_assert_str_eq(desc_formats(cap, 1), "10");
	ck_assert_uint_eq(cap->dlog[1].width, 0); /* not sent, zero */
	/* A new link gets the live ones, the first with the format. */
	ck_assert_int_eq(sched_nbr_up(src, 2, false, 350, 102, 2100000), 0);
	ck_assert_str_eq(desc_formats(cap, 2), "10");
	/* The format changes: both links get it again, once. */
	add_format_seg(src, 3, 640, 3000000);
	add_format_seg(src, 4, 640, 4000000);
	ck_assert_str_eq(desc_formats(cap, 1), "1010");
	ck_assert_str_eq(desc_formats(cap, 2), "1010");
	/* A link that goes down and comes back starts over. */
	sched_nbr_down(src, 1, 4100000);
	ck_assert_int_eq(sched_nbr_up(src, 1, false, 350, 101, 4200000), 0);
	ck_assert_uint_ge(strlen(desc_formats(cap, 1)), 5);
	ck_assert_int_eq(desc_formats(cap, 1)[4], '1');
	sched_free(src);

	/* A peer without a link to the source: link 5 tells it, links 6 and
	 * 8 and then 7 hear of the segments from it (8 subscribes late). */
	memset(cap, 0, sizeof *cap);
	cap->budget = 1000000;
	struct sched *p = peer_with_source(cap, 350);
	sched_nbr_down(p, 100, 0);
	for (uint32_t link = 5; link <= 8; link += link == 6 ? 2 : 1)
		ck_assert_int_eq(sched_nbr_up(p, link, false, 350, 200 + link, 0), 0);
	struct wire_msg sub = { .type = WIRE_SUBSCRIBE };
	sub.u.subscribe = (struct wire_subscribe){ .level = 0, .cap = 7 };
	ck_assert_int_eq(sched_on_message(p, 6, &sub, 0, 0), 0);
	static const uint8_t data[2048];
	struct wire_msg m = { .type = WIRE_SEGMENT };
	m.u.segment = (struct wire_segment){ .segment = 2, .capture_us = 1000000,
					     .duration_us = 1000000, .nlayers = 1 };
	m.u.segment.layer[0] = (struct wire_layer_desc){ .size = sizeof data, .k = 4,
							 .block_size = 512,
							 .hash = wire_hash64(data, sizeof data) };
	int64_t t = 1500000;
	ck_assert_int_lt(sched_on_message(p, 5, &m, t, t), 0); /* no format yet */
	m.u.segment.flags = WIRE_SEG_FORMAT;
	m.u.segment.layer[0].width = 320;
	m.u.segment.layer[0].height = 180;
	m.u.segment.layer[0].fps_milli = 30000;
	ck_assert_int_eq(sched_on_message(p, 5, &m, t, t), 0);
	/* Segment 1, the format left out: the link's. */
	m.u.segment.segment = 1;
	m.u.segment.capture_us = 0;
	m.u.segment.flags = 0;
	m.u.segment.layer[0].width = m.u.segment.layer[0].height = 0;
	m.u.segment.layer[0].fps_milli = 0;
	ck_assert_int_eq(sched_on_message(p, 5, &m, t, t), 0);
	ck_assert_str_eq(desc_formats(cap, 6), "10");
	/* Link 8 had them relayed before its SUBSCRIBE: not again after. */
	ck_assert_str_eq(desc_formats(cap, 8), "10");
	ck_assert_int_eq(sched_on_message(p, 8, &sub, t, t), 0);
	ck_assert_str_eq(desc_formats(cap, 8), "10");
	/* One layer more than the link's format: refused. */
	m.u.segment.segment = 3;
	m.u.segment.nlayers = 2;
	m.u.segment.layer[1] = m.u.segment.layer[0];
	ck_assert_int_lt(sched_on_message(p, 5, &m, t, t), 0);
	/* Link 7 comes up and wants descriptors: segment 1 first, whole,
	 * with the format it had from link 5. */
	ck_assert_int_eq(sched_nbr_up(p, 7, false, 350, 207, t), 0);
	ck_assert_int_eq(sched_on_message(p, 7, &sub, t, t), 0);
	ck_assert_str_eq(desc_formats(cap, 7), "10");
	for (unsigned i = 0; i < cap->ndlog; i++)
		if (cap->dlog[i].link == 7 && cap->dlog[i].flags & WIRE_SEG_FORMAT) {
			ck_assert_uint_eq(cap->dlog[i].segment, 1);
			ck_assert_uint_eq(cap->dlog[i].width, 320);
		}
	sched_free(p);
	free(cap);
}
END_TEST

/* Continuity of a node since it joined: segments on time / played. */
static double continuity(const struct sim_node_stats *st);

/* Descriptors: the source tells its neighbours; peers relay them only to a
 * neighbour that says (SUBSCRIBE) it has no link to the source. */
START_TEST(test_descriptor_relay)
{
	/* Peers whose upload is mostly taken: what they send back is slow to
	 * show who heard of a segment already. (Not quite all of it: node 7
	 * then lives on what two of them relay and repair, and at 300 kbit/s
	 * its continuity flips with the smallest change of timing.) */
	struct simnet *net = uniform_swarm(5, 2, 1200, 6, 400);
	/* Node 7 hears of the stream through peers 1 and 2 only. */
	int far = add(net, false, 400, 0, true);
	ck_assert_int_eq(simnet_link(net, 1, far), 0);
	ck_assert_int_eq(simnet_link(net, 2, far), 0);
	simnet_run_until(net, 20000000);
	for (int i = 3; i <= 6; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		ck_assert_uint_eq(st.msgs_out[WIRE_SEGMENT], 0);
	}
	uint64_t relayed = 0;
	for (int i = 1; i <= 2; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		relayed += st.msgs_out[WIRE_SEGMENT];
	}
	struct sim_node_stats st;
	simnet_stats(net, far, &st);
	/* About one copy per segment (20 s), at most one from each relay. */
	ck_assert_uint_ge(relayed, 17);
	ck_assert_uint_le(relayed, 2 * 21);
	ck_assert_uint_ge(st.sched.segments_played, 15);
	ck_assert_msg(continuity(&st) >= 0.95, "far node: continuity %.3f, %llu stalls of %llu",
		      continuity(&st), (unsigned long long)st.sched.stalls,
		      (unsigned long long)st.sched.segments_played);
	simnet_free(net);
}
END_TEST

static double continuity(const struct sim_node_stats *st)
{
	const struct sched_stats *s = &st->sched;
	return s->segments_played ? (double)s->segments_ok / (double)s->segments_played : 0;
}

/* The same swarm without coding: plain chunks, missing ones asked for by
 * name. It streams too, if with less margin. */
START_TEST(test_no_coding)
{
	struct simnet *net = simnet_new(5, 10000);
	simnet_set_stream(net, ladder, 4, 1000000);
	static const uint32_t up[] = { 3000, 2000, 1000, 4000, 800, 1500 };
	add(net, true, 6000, 0, false);
	for (int i = 0; i < 6; i++)
		add(net, false, up[i], 0, false);
	mesh(net);
	simnet_run_until(net, 20000000);
	for (int i = 1; i <= 6; i++) {
		struct sim_node_stats st;
		simnet_stats(net, i, &st);
		ck_assert(st.sched.started);
		ck_assert_uint_eq(st.sched.stalls, 0);
		ck_assert_uint_eq(st.layer_hash_bad, 0);
		ck_assert_int_ge(st.last_level_played, 2);
	}
	simnet_free(net);
}
END_TEST

/* Churn: three relays vanish mid-stream (their forward queues with them)
 * and three newcomers join; the survivors keep playing and the newcomers
 * start within two seconds. */
START_TEST(test_churn)
{
	struct simnet *net = simnet_new(21, 10000);
	simnet_set_stream(net, ladder, 4, 1000000);
	add(net, true, 8000, 0, true);
	for (int i = 0; i < 8; i++)
		add(net, false, 1500 + 250 * (uint32_t)i, 0, true);
	mesh(net);
	simnet_run_until(net, 10300000);
	for (int id = 2; id <= 4; id++)
		simnet_kill(net, id);
	simnet_run_until(net, 12500000);
	int fresh[3];
	for (int i = 0; i < 3; i++) {
		fresh[i] = add(net, false, 2000, 0, true);
		for (int j = 0; j < fresh[i]; j++) {
			struct sim_node_stats st;
			simnet_stats(net, j, &st);
			if (st.alive)
				ck_assert_int_eq(simnet_link(net, fresh[i], j), 0);
		}
	}
	simnet_run_until(net, 30000000);
	for (int id = 1; id <= 8; id++) {
		if (id >= 2 && id <= 4)
			continue;
		struct sim_node_stats st;
		simnet_stats(net, id, &st);
		ck_assert_msg(continuity(&st) >= 0.99, "survivor %d continuity %.3f", id,
			      continuity(&st));
		ck_assert_uint_eq(st.layer_hash_bad, 0);
	}
	for (int i = 0; i < 3; i++) {
		struct sim_node_stats st;
		simnet_stats(net, fresh[i], &st);
		ck_assert(st.sched.started);
		ck_assert_msg(st.sched.startup_us <= 2000000, "newcomer startup %lld us",
			      (long long)st.sched.startup_us);
		ck_assert(continuity(&st) >= 0.99);
	}
	simnet_free(net);
}
END_TEST

Suite *suite_sched(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("sim");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_heterogeneous_demand_limited);
	tcase_add_test(tc, test_supply_limited_utilisation);
	tcase_add_test(tc, test_no_coding);
	tcase_add_test(tc, test_churn);
	tcase_add_test(tc, test_descriptor_relay);
	tcase_add_test(tc, test_block_floor);
	tcase_add_test(tc, test_relay_lists);
	tcase_add_test(tc, test_relay_lists_deadline);
	tcase_add_test(tc, test_newcomer_descriptors);
	tcase_add_test(tc, test_newcomer_live_descriptors);
	tcase_add_test(tc, test_descriptor_format);
	tcase_add_test(tc, test_have_newcomers);
	tcase_add_test(tc, test_start_first_deadline);
	tcase_add_test(tc, test_blocks_before_descriptor);
	tcase_add_test(tc, test_direct_leaves_room);
	tcase_add_test(tc, test_source_repairs_shortest_first);
	tcase_add_test(tc, test_newest_base_first);
	tcase_add_test(tc, test_laggard_lists);
	tcase_add_test(tc, test_repair_by_upload);
	tcase_add_test(tc, test_repair_early_and_never_late);
	tcase_add_test(tc, test_done_fanout);
	suite_add_tcase(s, tc);
	return s;
}

