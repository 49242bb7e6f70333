#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "simnet.h"

#define MAX_NODES 256
#define MAX_LINKS_PER 64
#define TICK_US 10000
/* The WebSocket frame header of a message of len bytes, as net.c charges
 * it: 2 bytes, 4 from 126 bytes on, and a 4-byte mask on the dialled side
 * of a link (here half of it: 2). Unlike net.c, the simulator does not put
 * the messages waiting on a link in one frame. */
#define FRAME_BYTES(len) ((len) < 126 ? 4 : 6)

enum ev_kind { EV_DELIVER, EV_UP_FREE, EV_TICK, EV_SEGMENT };

struct msgbuf {
	struct msgbuf *next;
	int from, to;
	int from_link;          /* the sender's link, whose window it holds */
	uint32_t gen_from, gen_to; /* node incarnations */
	size_t len;
	uint8_t data[];
};

struct event {
	int64_t t;
	uint64_t seq;
	enum ev_kind kind;
	int node;
	struct msgbuf *msg;
};

struct link {
	bool used;
	int peer;               /* node at the other end */
	struct msgbuf *head, *tail;
	size_t queued;
	size_t inflight;        /* sent, not yet through the receiver's downlink */
};

struct node {
	bool alive;
	uint32_t gen;
	struct sim_node_cfg cfg;
	struct sched *sched;
	struct simnet *net;
	int id;
	struct link link[MAX_LINKS_PER]; /* indexed by local link id */
	size_t queued;          /* bytes over all links */
	bool up_busy;
	unsigned rr;
	int64_t down_free_us;   /* downlink busy until */
	size_t down_pending;    /* bytes sent to it, not yet through its downlink */
	int64_t joined_us, died_us;
	struct sim_node_stats st;
};

struct simnet {
	int64_t now;
	int64_t latency;
	uint64_t seq;
	struct lc_rng rng;
	struct event *heap;
	size_t nheap, capheap;
	struct node *node[MAX_NODES];
	int nnodes;
	uint32_t layer_kbps[WIRE_LAYERS_MAX];
	int nlayers;
	int64_t seg_us;
	uint32_t next_seg;
	uint64_t hash[SCHED_WINDOW * 4][WIRE_LAYERS_MAX]; /* by segment % size */
};

static void heap_push(struct simnet *net, struct event e)
{
	if (net->nheap == net->capheap) {
		net->capheap = net->capheap ? net->capheap * 2 : 1024;
		net->heap = realloc(net->heap, net->capheap * sizeof *net->heap);
	}
	e.seq = net->seq++;
	size_t i = net->nheap++;
	while (i) {
		size_t p = (i - 1) / 2;
		struct event *q = &net->heap[p];
		if (q->t < e.t || (q->t == e.t && q->seq < e.seq))
			break;
		net->heap[i] = *q;
		i = p;
	}
	net->heap[i] = e;
}

static struct event heap_pop(struct simnet *net)
{
	struct event top = net->heap[0];
	struct event last = net->heap[--net->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= net->nheap)
			break;
		if (c + 1 < net->nheap &&
		    (net->heap[c + 1].t < net->heap[c].t ||
		     (net->heap[c + 1].t == net->heap[c].t && net->heap[c + 1].seq < net->heap[c].seq)))
			c++;
		if (last.t < net->heap[c].t || (last.t == net->heap[c].t && last.seq < net->heap[c].seq))
			break;
		net->heap[i] = net->heap[c];
		i = c;
	}
	net->heap[i] = last;
	return top;
}

static uint64_t Bps(uint32_t kbps) { return (uint64_t)kbps * 125; }

static void up_start(struct node *nd);

static int ops_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct node *nd = ctx;
	if (link >= MAX_LINKS_PER || !nd->link[link].used)
		return LC_ENOENT;
	int sz = wire_encoded_size(m);
	if (sz < 0)
		return sz;
	nd->st.msgs_out[m->type & 15]++;
	nd->st.msg_bytes_out[m->type & 15] += (uint64_t)sz;
	struct msgbuf *b = malloc(sizeof *b + (size_t)sz);
	if (!b)
		return LC_ENOMEM;
	int n = wire_encode(m, b->data, (size_t)sz);
	if (n < 0) {
		free(b);
		return n;
	}
	b->len = (size_t)n;
	b->next = NULL;
	b->from = nd->id;
	b->from_link = (int)link;
	b->to = nd->link[link].peer;
	b->gen_from = nd->gen;
	b->gen_to = nd->net->node[b->to]->gen;
	struct link *l = &nd->link[link];
	if (l->tail)
		l->tail->next = b;
	else
		l->head = b;
	l->tail = b;
	l->queued += b->len;
	nd->queued += b->len;
	nd->net->node[b->to]->down_pending += b->len;
	if (!nd->up_busy)
		up_start(nd);
	return 0;
}

/*
 * As the engine: the node's queue holds about 50 ms of its upload, and any
 * idle link takes one message, so urgent messages never wait behind a deep
 * queue. A link also holds no more than a window in flight.
 */
static size_t ops_room(void *ctx, uint32_t link)
{
	struct node *nd = ctx;
	if (link >= MAX_LINKS_PER || !nd->link[link].used)
		return 0;
	const struct link *l = &nd->link[link];
	/* TCP's ACK clock: a receiver whose downlink is backed up slows its
	 * senders down rather than letting a deep queue build. */
	const struct node *peer = nd->net->node[l->peer];
	if (peer->cfg.down_kbps && peer->down_pending > Bps(peer->cfg.down_kbps) / 10 &&
	    peer->down_pending > 8000)
		return 0;
	if (l->inflight > 64 * 1024)
		return 0;
	size_t cap = (size_t)(Bps(nd->cfg.up_kbps) * 50 / 1000);
	if (nd->queued == 0)
		return WIRE_MAX_MSG;
	return nd->queued < cap ? cap - nd->queued : 0;
}

static void ops_play(void *ctx, const struct sched_play *p)
{
	struct node *nd = ctx;
	struct simnet *net = nd->net;
	if (p->level >= 0) {
		for (int l = 0; l <= p->level; l++) {
			uint64_t h = wire_hash64(p->payload[l], p->len[l]);
			nd->st.played_bytes += p->len[l];
			if (h == net->hash[p->segment % (SCHED_WINDOW * 4)][l])
				nd->st.layer_hash_ok++;
			else
				nd->st.layer_hash_bad++;
		}
		if (p->lag_us > nd->st.lag_us_max)
			nd->st.lag_us_max = p->lag_us;
		nd->st.lag_sum_us += p->lag_us;
		nd->st.lag_n++;
	}
	nd->st.last_level_played = p->level;
	const char *dbg = getenv("SIM_DEBUG");
	if (dbg && atoi(dbg) == nd->id) {
		fprintf(stderr, "t=%.3f node %d plays seg %u level %d:", net->now / 1e6, nd->id,
			p->segment, p->level);
		for (int l = 0; l < 4; l++) {
			unsigned r = 0, k = 0;
			sched_gen_progress(nd->sched, p->segment, l, &r, &k);
			fprintf(stderr, " L%d %u/%u", l, r, k);
		}
		struct sched_stats st;
		sched_get_stats(nd->sched, &st);
		fprintf(stderr, " (level %d, in %llu dup %llu)\n", st.level,
			(unsigned long long)st.blocks_in, (unsigned long long)st.blocks_dup);
	}
}

static void up_start(struct node *nd)
{
	struct simnet *net = nd->net;
	for (unsigned i = 0; i < MAX_LINKS_PER; i++) {
		unsigned li = (nd->rr + i) % MAX_LINKS_PER;
		struct link *l = &nd->link[li];
		if (!l->used || !l->head)
			continue;
		struct msgbuf *b = l->head;
		l->head = b->next;
		if (!l->head)
			l->tail = NULL;
		l->queued -= b->len;
		l->inflight += b->len;
		nd->queued -= b->len;
		nd->rr = li + 1;
		int64_t tx = (int64_t)((b->len + FRAME_BYTES(b->len)) * 1000000 / Bps(nd->cfg.up_kbps));
		nd->up_busy = true;
		nd->st.up_bytes += b->len + FRAME_BYTES(b->len);
		heap_push(net, (struct event){ .t = net->now + tx, .kind = EV_UP_FREE, .node = nd->id });
		heap_push(net, (struct event){ .t = net->now + tx + net->latency, .kind = EV_DELIVER,
					       .node = b->to, .msg = b });
		return;
	}
	nd->up_busy = false;
}

/* The message left the network: give its window back to the sender. */
static void release(struct simnet *net, struct msgbuf *b)
{
	struct node *to = net->node[b->to];
	if (to->gen == (b->gen_to & 0x7fffffffu) && to->down_pending >= b->len)
		to->down_pending -= b->len;
	struct node *from = net->node[b->from];
	if (from->alive && from->gen == b->gen_from) {
		struct link *l = &from->link[b->from_link];
		if (l->used && l->peer == b->to && l->inflight >= b->len) {
			l->inflight -= b->len;
			sched_pump(from->sched, net->now);
		}
	}
	free(b);
}

/* SIM_TRACE=node:segment:layer prints that generation's arrivals (and
 * SIM_DEBUG=node each segment that node plays), for studying a schedule. */
static void trace(const struct simnet *net, const struct msgbuf *b, const struct wire_msg *m)
{
	const char *t = getenv("SIM_TRACE");
	int node, seg, layer;
	if (!t || sscanf(t, "%d:%d:%d", &node, &seg, &layer) != 3 || b->to != node)
		return;
	if (m->type == WIRE_BLOCK && (int)m->u.block.segment == seg && m->u.block.layer == layer)
		fprintf(stderr, "t=%.3f %d -> %d BLOCK flags %d\n", net->now / 1e6, b->from, b->to,
			m->u.block.flags);
	if (m->type == WIRE_PULL && (int)m->u.pull.segment == seg && m->u.pull.layer == layer)
		fprintf(stderr, "t=%.3f %d -> %d PULL flags %d count %d\n", net->now / 1e6, b->from,
			b->to, m->u.pull.flags, m->u.pull.count);
}

static int local_link(const struct node *nd, int peer)
{
	for (int i = 0; i < MAX_LINKS_PER; i++)
		if (nd->link[i].used && nd->link[i].peer == peer)
			return i;
	return -1;
}

static void deliver(struct simnet *net, struct msgbuf *b)
{
	struct node *to = net->node[b->to];
	struct node *from = net->node[b->from];
	if (!to->alive || to->gen != b->gen_to || from->gen != b->gen_from) {
		release(net, b);
		return;
	}
	int li = local_link(to, b->from);
	if (li < 0) {
		release(net, b);
		return;
	}
	/* Through the receiver's downlink. */
	if (to->cfg.down_kbps) {
		int64_t start = to->down_free_us > net->now ? to->down_free_us : net->now;
		int64_t done = start + (int64_t)(b->len * 1000000 / Bps(to->cfg.down_kbps));
		to->down_free_us = done;
		if (done > net->now) {
			/* Re-deliver when the downlink has carried it. */
			heap_push(net, (struct event){ .t = done, .kind = EV_DELIVER, .node = b->to,
						       .msg = b });
			to->down_free_us = done;
			b->gen_to |= 0x80000000u; /* mark: downlink already paid */
			return;
		}
	}
	struct wire_msg m;
	if (wire_decode(b->data, b->len, &m) == 0) {
		trace(net, b, &m);
		sched_on_message(to->sched, (uint32_t)li, &m, net->now, net->now);
	}
	release(net, b);
	sched_pump(to->sched, net->now);
}

struct simnet *simnet_new(uint64_t seed, int64_t latency_us)
{
	struct simnet *net = calloc(1, sizeof *net);
	lc_rng_seed(&net->rng, seed);
	net->latency = latency_us;
	net->seg_us = 1000000;
	return net;
}

void simnet_free(struct simnet *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->nheap; i++)
		free(net->heap[i].msg);
	free(net->heap);
	for (int i = 0; i < net->nnodes; i++) {
		struct node *nd = net->node[i];
		for (int l = 0; l < MAX_LINKS_PER; l++)
			for (struct msgbuf *b = nd->link[l].head, *n; b; b = n) {
				n = b->next;
				free(b);
			}
		sched_free(nd->sched);
		free(nd);
	}
	free(net);
}

void simnet_set_stream(struct simnet *net, const uint32_t *layer_kbps, int nlayers, int64_t seg_us)
{
	memcpy(net->layer_kbps, layer_kbps, (size_t)nlayers * sizeof *layer_kbps);
	net->nlayers = nlayers;
	net->seg_us = seg_us;
}

int simnet_add(struct simnet *net, const struct sim_node_cfg *cfg)
{
	if (net->nnodes == MAX_NODES)
		return LC_EFULL;
	struct node *nd = calloc(1, sizeof *nd);
	nd->alive = true;
	nd->cfg = *cfg;
	nd->net = net;
	nd->id = net->nnodes;
	nd->joined_us = net->now;
	nd->st.last_level_played = -1;
	struct sched_config sc;
	sched_config_default(&sc);
	sc.source = cfg->source;
	sc.coding = cfg->coding;
	sc.up_kbps = cfg->up_kbps;
	sc.down_kbps = cfg->down_kbps;
	sc.max_level = cfg->max_level;
	sc.seed = lc_rng_next(&net->rng);
	struct sched_ops ops = { .ctx = nd, .send = ops_send, .room = ops_room, .play = ops_play };
	if (sched_new(&nd->sched, &sc, &ops, net->now)) {
		free(nd);
		return LC_ENOMEM;
	}
	net->node[net->nnodes++] = nd;
	heap_push(net, (struct event){ .t = net->now + TICK_US, .kind = EV_TICK, .node = nd->id });
	if (cfg->source)
		heap_push(net, (struct event){ .t = net->now + net->seg_us, .kind = EV_SEGMENT,
					       .node = nd->id });
	return nd->id;
}

int simnet_link(struct simnet *net, int a, int b)
{
	struct node *na = net->node[a], *nb = net->node[b];
	int la = -1, lb = -1;
	for (int i = 0; i < MAX_LINKS_PER && la < 0; i++)
		if (!na->link[i].used)
			la = i;
	for (int i = 0; i < MAX_LINKS_PER && lb < 0; i++)
		if (!nb->link[i].used)
			lb = i;
	if (la < 0 || lb < 0)
		return LC_EFULL;
	na->link[la] = (struct link){ .used = true, .peer = b };
	nb->link[lb] = (struct link){ .used = true, .peer = a };
	/* Peer ids: the node index + 1 (non-zero). */
	sched_nbr_up(na->sched, (uint32_t)la, nb->cfg.source, nb->cfg.up_kbps, (uint64_t)b + 1,
		     net->now);
	sched_nbr_up(nb->sched, (uint32_t)lb, na->cfg.source, na->cfg.up_kbps, (uint64_t)a + 1,
		     net->now);
	sched_nbr_rtt(na->sched, (uint32_t)la, 2 * net->latency + 1000);
	sched_nbr_rtt(nb->sched, (uint32_t)lb, 2 * net->latency + 1000);
	return 0;
}

void simnet_kill(struct simnet *net, int id)
{
	struct node *nd = net->node[id];
	if (!nd->alive)
		return;
	nd->alive = false;
	nd->died_us = net->now;
	nd->gen++;
	for (int i = 0; i < MAX_LINKS_PER; i++) {
		struct link *l = &nd->link[i];
		if (!l->used)
			continue;
		struct node *peer = net->node[l->peer];
		int pl = local_link(peer, id);
		if (pl >= 0) {
			sched_nbr_down(peer->sched, (uint32_t)pl, net->now);
			struct link *p = &peer->link[pl];
			for (struct msgbuf *b = p->head, *n; b; b = n) {
				n = b->next;
				peer->queued -= b->len;
				free(b);
			}
			memset(p, 0, sizeof *p);
		}
		for (struct msgbuf *b = l->head, *n; b; b = n) {
			n = b->next;
			free(b);
		}
		memset(l, 0, sizeof *l);
	}
	nd->queued = 0;
}

static void make_segment(struct simnet *net, struct node *src)
{
	uint32_t num = net->next_seg++;
	struct wire_segment d = { .segment = num, .capture_us = net->now - net->seg_us,
				  .duration_us = (uint32_t)net->seg_us, .flags = WIRE_SEG_KEYFRAME,
				  .nlayers = (uint8_t)net->nlayers };
	uint8_t *pl[WIRE_LAYERS_MAX];
	for (int l = 0; l < net->nlayers; l++) {
		uint32_t size = (uint32_t)((uint64_t)net->layer_kbps[l] * 125 * (uint64_t)net->seg_us / 1000000);
		if (!size)
			size = 1;
		d.layer[l].size = size;
		d.layer[l].width = 320;
		d.layer[l].height = 180;
		d.layer[l].fps_milli = 30000;
		pl[l] = malloc(size);
		lc_rng_fill(&net->rng, pl[l], size);
		net->hash[num % (SCHED_WINDOW * 4)][l] = wire_hash64(pl[l], size);
	}
	sched_add_segment(src->sched, &d, (const uint8_t *const *)pl, net->now);
	for (int l = 0; l < net->nlayers; l++)
		free(pl[l]);
	sched_pump(src->sched, net->now);
}

void simnet_run_until(struct simnet *net, int64_t t_us)
{
	while (net->nheap && net->heap[0].t <= t_us) {
		struct event e = heap_pop(net);
		net->now = e.t;
		struct node *nd = net->node[e.node];
		switch (e.kind) {
		case EV_DELIVER:
			if (e.msg->gen_to & 0x80000000u) {
				e.msg->gen_to &= 0x7fffffffu;
				struct node *to = net->node[e.msg->to];
				if (to->alive && to->gen == e.msg->gen_to) {
					struct wire_msg m;
					int li = local_link(to, e.msg->from);
					if (li >= 0 && net->node[e.msg->from]->gen == e.msg->gen_from &&
					    wire_decode(e.msg->data, e.msg->len, &m) == 0) {
						trace(net, e.msg, &m);
						sched_on_message(to->sched, (uint32_t)li, &m, net->now,
								 net->now);
						sched_pump(to->sched, net->now);
					}
				}
				release(net, e.msg);
			} else {
				deliver(net, e.msg);
			}
			break;
		case EV_UP_FREE:
			if (!nd->alive)
				break;
			nd->up_busy = false;
			sched_pump(nd->sched, net->now);
			if (!nd->up_busy)
				up_start(nd);
			break;
		case EV_TICK:
			if (!nd->alive)
				break;
			sched_tick(nd->sched, net->now, net->now);
			heap_push(net, (struct event){ .t = net->now + TICK_US, .kind = EV_TICK,
						       .node = e.node });
			break;
		case EV_SEGMENT:
			if (!nd->alive)
				break;
			make_segment(net, nd);
			heap_push(net, (struct event){ .t = net->now + net->seg_us, .kind = EV_SEGMENT,
						       .node = e.node });
			break;
		}
	}
	net->now = t_us;
}

int64_t simnet_now(const struct simnet *net) { return net->now; }
int simnet_count(const struct simnet *net) { return net->nnodes; }

void simnet_stats(const struct simnet *net, int id, struct sim_node_stats *st)
{
	const struct node *nd = net->node[id];
	*st = nd->st;
	sched_get_stats(nd->sched, &st->sched);
	st->alive = nd->alive;
	st->joined_us = nd->joined_us;
}

double simnet_capacity_bytes(const struct simnet *net)
{
	double sum = 0;
	for (int i = 0; i < net->nnodes; i++) {
		const struct node *nd = net->node[i];
		int64_t end = nd->alive ? net->now : nd->died_us;
		sum += (double)Bps(nd->cfg.up_kbps) * (double)(end - nd->joined_us) / 1e6;
	}
	return sum;
}
