/*
 * Layered AQCS with network coding: see sched.h for the policy. This file
 * keeps three kinds of state: the live segments (a window of generations,
 * each an encoder at the source or a decoder elsewhere), the neighbours (what
 * they subscribe to, hold and asked for) and the queues (the peer's forward
 * queue, the source's pull queue).
 */
#include <stdlib.h>
#include <string.h>

#include "nc/nc.h"
#include "sched/sched.h"

#define FWD_MAX 512          /* forward queue entries */
#define PULLQ_MAX SCHED_MAX_NBRS
#define REPQ_MAX 16          /* repair requests kept per neighbour */
#define NBR_NEW_US 3000000   /* a neighbour linked this recently starts up: it gets DONEs */
#define NEWCOMER_US 300000 /* source: forward blocks do not count for a newer neighbour */
#define DESC_RELAY_DELAY_US 300000 /* a peer with a source link relays descriptors after */
#define SOURCE_HORIZON_US 4000000 /* the source serves a segment this long */
#define DEFAULT_UP_KBPS 1000000
#define SCHED_MAX_BLOCK 4096
#define RELAY_BOUND_US 1200000  /* longest a forwarded block may take to relay */
#define BLOCK_FLOOR 512         /* the smallest block the source picks ... */
#define BLOCK_CEIL 1024         /* ... and the largest floor for a generation's blocks */
#define RELAY_SHARE 90          /* % of the peers' upload that should be able to relay */
#define LIST_LAYER_MIN 1        /* relay lists for this layer and up; the base layer
				 * goes only to relays that reach all in time */
#define EARLY_REPAIR_MAX 3      /* blocks per early repair request (a peer yet to start) */
#define DONE_FANOUT 8          /* neighbours told of a decoded generation, besides the
				 * source, those asked to repair it and newcomers */
#define LIST_BOUND_US 600000    /* a listed relay sends its copies within this */
/* A list names fewer than all of a relay's neighbours. */
_Static_assert(SCHED_MAX_NBRS <= WIRE_DEST_MAX, "a relay list holds any neighbour set");

struct gen {
	bool live;
	uint16_t k;
	uint32_t B, len;
	struct nc_enc *enc;      /* source */
	struct nc_dec *dec;      /* everyone else */
	uint8_t *data;           /* the generation's bytes once complete */
	bool done;
	uint32_t f_sent;         /* source: forward blocks issued */
	uint32_t sent;           /* source: blocks issued in all */
	int64_t first_us, last_innov_us, done_us;
	int64_t done_wall_us;
	int64_t repair_us;       /* last repair request sent */
	uint64_t asked;          /* neighbour slots asked to repair it */
	uint8_t *chunk_have;     /* no-coding: which chunks are held (k bytes) */
};

struct seg {
	bool used;
	uint32_t num;
	bool have_desc;
	struct wire_segment desc;
	int64_t first_us;        /* first heard of (source: added) */
	bool played;
	bool desc_relayed;       /* peer: the descriptor went to who lacked it */
	int64_t desc_us;         /* peer: when the descriptor came */
	bool counted;            /* level adaptation looked at it */
	uint8_t level_at_start;  /* our subscription when it was first heard of */
	struct gen gen[WIRE_LAYERS_MAX];
};

struct rep {
	uint32_t seg;
	uint8_t layer;
	uint16_t count;
	bool want;               /* no-coding: the chunks in `mask` */
	uint8_t mask[WIRE_K_MAX / 8];
};

/* The layers' picture format, as a SEGMENT with FORMAT carries it (each
 * link remembers the last one it sent and received; 0 layers: none yet). */
struct seg_fmt {
	uint8_t nlayers;
	uint16_t width[WIRE_LAYERS_MAX], height[WIRE_LAYERS_MAX];
	uint32_t fps_milli[WIRE_LAYERS_MAX];
};

struct nbr {
	bool used;
	uint32_t link;
	bool is_source;
	bool hears_source;       /* it has a link to the source (its SUBSCRIBE says) */
	bool subscribed;         /* a SUBSCRIBE came */
	uint32_t up_kbps;
	int64_t rtt_us;
	int level;               /* their subscription, -1: none */
	/* Their state per window slot. */
	uint32_t have_seg[SCHED_WINDOW];
	uint16_t have_rank[SCHED_WINDOW][WIRE_LAYERS_MAX];
	uint8_t have_done[SCHED_WINDOW];
	uint16_t nf[SCHED_WINDOW][WIRE_LAYERS_MAX]; /* source: direct blocks sent */
	uint16_t fbase[SCHED_WINDOW][WIRE_LAYERS_MAX]; /* source: forward blocks before it came */
	uint16_t nl[SCHED_WINDOW][WIRE_LAYERS_MAX]; /* source: listed forward blocks to it */
	uint64_t peer_id;        /* 0: unknown (it is never on a relay list) */
	struct rep rep[REPQ_MAX];
	unsigned nrep;
	bool in_pullq;
	uint64_t relay_bytes;    /* source: its relay work we gave it, not yet drained */
	int64_t relay_us;        /* ... as of then */
	uint32_t knows[SCHED_WINDOW];  /* per slot: a segment it told us of */
	int64_t up_us;           /* neighbour since */
	uint64_t blocks_in, blocks_useful, blocks_out; /* on this link */
	struct seg_fmt fmt_tx, fmt_rx; /* the last format sent, received */
	uint32_t desc_sent[SCHED_WINDOW]; /* per slot: segment + 1 whose descriptor we sent */
};

struct fwd {
	uint32_t seg;
	uint8_t layer;
	uint8_t flags;
	uint16_t k;
	uint32_t B;
	uint64_t dests;          /* neighbour slots still to send to */
	uint8_t *buf;            /* k coefficients then B payload bytes */
};

struct pullreq {
	int nbr;
	unsigned count;
	int level;
};

struct sched {
	struct sched_config cfg;
	struct sched_ops ops;
	struct lc_rng rng;
	int64_t created_us;

	struct seg seg[SCHED_WINDOW];
	bool any_seg;
	uint32_t newest;

	struct nbr nbr[SCHED_MAX_NBRS];
	int source_nbr;          /* slot of the source, -1 */

	/* Peer: forward queue and pull state. */
	struct fwd fwd[FWD_MAX];
	unsigned fwd_head, fwd_n;
	uint64_t fwd_bytes;      /* sum over entries of B * |dests| */
	unsigned pull_out;       /* blocks asked of the source, not yet come */
	int64_t pull_us;

	/* Source: pull queue. */
	struct pullreq pullq[PULLQ_MAX];
	unsigned pullq_head, pullq_n;
	unsigned rr;             /* round robin position for direct blocks */
	int64_t pull_lead_us;    /* forward work kept ahead, beyond a round trip */
	unsigned rr_fwd;         /* first destination tried for a forwarded block */

	/* Subscription and playback. */
	int level;               /* layers 0..level are played and repaired */
	int top;                 /* highest level the cap and download allow */
	unsigned probe_ok;       /* segments in a row with the probe layer complete */
	int64_t level_change_us, shortfall_us;
	uint32_t level_from_seg; /* segments from here on were asked at `level` */
	bool started;
	uint32_t play_next;      /* next segment to play */
	bool paused;             /* left the swarm: no deadlines, no stalls */
	uint32_t s0;             /* first segment played */
	int64_t cap0_us;         /* capture time of s0 (wall) */
	int64_t dur_us;          /* segment duration */
	int64_t wall_us;         /* wall clock at the last input */
	int64_t tick_wall_us;    /* ... and at the last tick */

	uint8_t *scratch;        /* one block: coefficients + payload */
	struct lc_rate rx;       /* bytes received, for the download headroom */
	struct sched_stats st;
};

void sched_config_default(struct sched_config *c)
{
	memset(c, 0, sizeof *c);
	c->coding = true;
	c->max_level = WIRE_LAYERS_MAX - 1;
	c->pull_blocks = 8;
	c->buffer_us = 1800000;
	c->stable_us = 3000000;
	c->repair_us = 500000;
	c->seed = 1;
}

void sched_pick_block(size_t len, uint32_t min_block, uint32_t *block_size, uint16_t *k)
{
	/* Near SCHED_TARGET_K blocks of min_block .. SCHED_MAX_BLOCK bytes:
	 * small enough that a relay forwards one to a few dozen neighbours
	 * quickly; k grows past the target for big layers. */
	size_t b = (len + SCHED_TARGET_K - 1) / SCHED_TARGET_K;
	if (b < min_block)
		b = min_block;
	if (b > SCHED_MAX_BLOCK)
		b = SCHED_MAX_BLOCK;
	if (len && (len + b - 1) / b > WIRE_K_MAX)
		b = (len + WIRE_K_MAX - 1) / WIRE_K_MAX;
	size_t kk = len ? (len + b - 1) / b : 1;
	if (len && len < b)
		b = len; /* one short block: no padding on the wire */
	*block_size = (uint32_t)b;
	*k = (uint16_t)kk;
}

static uint64_t up_Bps(const struct sched *s)
{
	return (uint64_t)(s->cfg.up_kbps ? s->cfg.up_kbps : DEFAULT_UP_KBPS) * 125;
}

/* ---- segments and generations ---------------------------------------- */

/* Neighbours other than the source. */
static unsigned peer_nbrs(const struct sched *s)
{
	unsigned nd = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++)
		nd += s->nbr[n].used && !s->nbr[n].is_source;
	return nd;
}

/* Does a peer with this upload relay blocks of B bytes to nd neighbours,
 * each block to all of them within RELAY_BOUND_US? (Else it relays none:
 * a forwarded block would come too late to be of use.) */
static bool relays_blocks(uint64_t B, unsigned nd, uint64_t up_kbps)
{
	return B * nd * 8000 <= up_kbps * RELAY_BOUND_US;
}

/*
 * To how many of its nd neighbours a peer with this upload relays a block
 * (a message of msg bytes): all of them if it reaches them all within
 * RELAY_BOUND_US; else, with coding, a list the source gives (DESTS) of
 * as many as it reaches within LIST_BOUND_US, half that bound, so that the
 * listed copies are not the late ones (with lists sized to the full bound,
 * layer 1 came late: at n = 30 half the viewers ended on layer 0 and the
 * played rate fell 4 %). 0: it relays none.
 */
static unsigned relay_reach(uint64_t msg, unsigned nd, uint64_t up_kbps)
{
	uint64_t m = up_kbps * RELAY_BOUND_US / 8000 / (msg ? msg : 1);
	if (m >= nd)
		return nd;
	m = up_kbps * LIST_BOUND_US / 8000 / (msg ? msg : 1);
	return m < nd ? (unsigned)m : nd;
}

static struct seg *seg_find(const struct sched *s, uint32_t num)
{
	const struct seg *g = &s->seg[num % SCHED_WINDOW];
	return g->used && g->num == num ? (struct seg *)g : NULL;
}

static void gen_clear(struct gen *g)
{
	nc_enc_free(g->enc);
	nc_dec_free(g->dec);
	free(g->data);
	free(g->chunk_have);
	memset(g, 0, sizeof *g);
}

static void seg_clear(struct seg *g)
{
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		gen_clear(&g->gen[l]);
	memset(g, 0, sizeof *g);
}

static void fwd_drop_dest(struct sched *s, uint32_t seg, int layer, int nbr);
static int update_top(struct sched *s, const struct wire_segment *d);
static bool seg_stale(const struct sched *s, uint32_t num);

/* The deadline of a segment whose descriptor came: the end of its capture
 * plus the playout buffer, on the wall clock. */
static int64_t desc_deadline(const struct sched *s, const struct seg *g)
{
	int64_t dur = g->desc.duration_us ? g->desc.duration_us : 1000000;
	return g->desc.capture_us + dur + s->cfg.buffer_us;
}

/*
 * The slot for segment num, evicting an older one. NULL if num is older than
 * what the window holds (too late to be of use).
 */
static struct seg *seg_get(struct sched *s, uint32_t num, int64_t now_us)
{
	struct seg *g = seg_find(s, num);
	if (g)
		return g;
	if (s->any_seg && num + SCHED_WINDOW <= s->newest)
		return NULL;
	if (s->started && num < s->play_next)
		return NULL;
	g = &s->seg[num % SCHED_WINDOW];
	if (g->used) {
		if (g->num > num)
			return NULL;
		seg_clear(g);
	}
	g->used = true;
	g->num = num;
	g->first_us = now_us;
	g->level_at_start = (uint8_t)(s->level < 0 ? 0 : s->level);
	if (!s->any_seg || num > s->newest) {
		s->newest = num;
		s->any_seg = true;
	}
	return g;
}

/*
 * What we subscribe to: every layer up to what our cap and download allow.
 * Layers above our level come last in every sender's order, so they take
 * only upload that would otherwise go unused (and play when they happen to
 * complete); when the layer just above ours keeps arriving complete, the
 * level moves up (see adapt()).
 */
static int sub_level(const struct sched *s)
{
	return s->level < 0 ? -1 : s->top;
}

/* A generation's decoder, from its first block or its descriptor. len is
 * the true length, from the descriptor (0: not known yet; blocks do not
 * carry it). */
static int gen_setup_dec(struct sched *s, struct gen *gn, uint16_t k, uint32_t B, uint32_t len,
			 int64_t now_us)
{
	if (len > (uint32_t)k * B)
		return LC_EPROTO;
	if (gn->live) {
		if (gn->k != k || gn->B != B || (len && gn->len && gn->len != len))
			return LC_EPROTO;
		if (len)
			gn->len = len;
		return 0;
	}
	int rc = nc_dec_new(&gn->dec, k, B, (size_t)k * B);
	if (rc)
		return rc;
	if (!s->cfg.coding) {
		gn->chunk_have = calloc(k, 1);
		if (!gn->chunk_have) {
			nc_dec_free(gn->dec);
			gn->dec = NULL;
			return LC_ENOMEM;
		}
	}
	gn->live = true;
	gn->k = k;
	gn->B = B;
	gn->len = len;
	gn->first_us = gn->last_innov_us = now_us;
	return 0;
}

/* ---- messages to neighbours ------------------------------------------ */

static int send_msg(struct sched *s, int n, const struct wire_msg *m)
{
	if (!s->nbr[n].used)
		return LC_ENOENT;
	int sz = wire_encoded_size(m);
	if (sz > 0)
		s->st.msg_bytes_out += (uint64_t)sz;
	return s->ops.send(s->ops.ctx, s->nbr[n].link, m);
}

static void send_all(struct sched *s, const struct wire_msg *m, int except)
{
	for (int n = 0; n < SCHED_MAX_NBRS; n++)
		if (s->nbr[n].used && n != except)
			send_msg(s, n, m);
}

static void send_subscribe(struct sched *s, int n)
{
	struct wire_msg m = { .type = WIRE_SUBSCRIBE };
	m.u.subscribe.level = s->level < 0 ? WIRE_LEVEL_NONE : (uint8_t)sub_level(s);
	m.u.subscribe.cap = s->cfg.max_level;
	if (s->source_nbr >= 0)
		m.u.subscribe.flags = WIRE_SUB_SOURCE_LINK;
	if (s->cfg.source) {
		m.u.subscribe.level = WIRE_LEVEL_NONE;
		m.u.subscribe.cap = 0;
	}
	if (n >= 0)
		send_msg(s, n, &m);
	else
		send_all(s, &m, -1);
}

/* HAVE: the ranks of the live segments, once to a new neighbour (what it
 * learns later comes in DONE). Periodic HAVEs to the neighbours that were
 * starting up (one a second each, for 3 s) took 1-6 % of a peer's upload
 * (the slower, the more) in a flash crowd of 30, in the very second its
 * repairs were most needed; early repairs ask done neighbours only, and
 * those send them DONE (see send_done). */
static void send_have(struct sched *s, int to)
{
	struct wire_msg m = { .type = WIRE_HAVE };
	struct wire_have *h = &m.u.have;
	for (unsigned i = 0; i < SCHED_WINDOW; i++) {
		uint32_t num = s->newest - (SCHED_WINDOW - 1) + i;
		if (s->newest < SCHED_WINDOW - 1 && num > s->newest)
			continue;
		struct seg *g = seg_find(s, num);
		/* Past its deadline a segment is of no use to anyone. */
		if (!g || seg_stale(s, num))
			continue;
		struct wire_have_seg *e = &h->seg[h->count];
		e->segment = num;
		int nl = 0;
		for (int l = 0; l < WIRE_LAYERS_MAX; l++) {
			const struct gen *gn = &g->gen[l];
			if (!gn->live)
				continue;
			nl = l + 1;
			if (gn->done) {
				e->done |= (uint8_t)(1u << l);
				e->rank[l] = gn->k;
			} else if (gn->dec) {
				e->rank[l] = (uint16_t)nc_dec_rank(gn->dec);
			} else {
				e->rank[l] = 0;
			}
		}
		if (!nl)
			continue;
		e->nlayers = (uint8_t)nl;
		for (int l = 0; l < nl; l++)
			if (!(e->done >> l & 1) && e->rank[l] == 0 && g->gen[l].live && g->gen[l].done)
				e->rank[l] = 1;
		h->count++;
	}
	if (h->count)
		send_msg(s, to, &m);
}

static void fmt_of(const struct wire_segment *d, struct seg_fmt *f)
{
	memset(f, 0, sizeof *f);
	f->nlayers = d->nlayers;
	for (unsigned l = 0; l < d->nlayers; l++) {
		f->width[l] = d->layer[l].width;
		f->height[l] = d->layer[l].height;
		f->fps_milli[l] = d->layer[l].fps_milli;
	}
}

/* The inverse: f's format into d's layers, FORMAT set; or, with f NULL,
 * none (zero, FORMAT clear), as a descriptor without it carries. */
static void fmt_put(const struct seg_fmt *f, struct wire_segment *d)
{
	static const struct seg_fmt zero;
	if (f)
		d->flags |= WIRE_SEG_FORMAT;
	else
		d->flags &= (uint8_t)~WIRE_SEG_FORMAT;
	f = f ? f : &zero;
	for (unsigned l = 0; l < d->nlayers; l++) {
		d->layer[l].width = f->width[l];
		d->layer[l].height = f->height[l];
		d->layer[l].fps_milli = f->fps_milli[l];
	}
}

/* A descriptor to neighbour n (every neighbour if n < 0), with the format
 * only if it is not the last one the link carried. g->desc always has it. */
static void send_segment_desc(struct sched *s, int n, const struct seg *g)
{
	if (!g->have_desc)
		return;
	if (n < 0) {
		for (int i = 0; i < SCHED_MAX_NBRS; i++)
			if (s->nbr[i].used)
				send_segment_desc(s, i, g);
		return;
	}
	struct nbr *nb = &s->nbr[n];
	struct wire_msg m = { .type = WIRE_SEGMENT };
	struct wire_segment *d = &m.u.segment;
	struct seg_fmt f;
	*d = g->desc;
	fmt_of(d, &f);
	if (!memcmp(&f, &nb->fmt_tx, sizeof f))
		fmt_put(NULL, d);
	if (send_msg(s, n, &m))
		return;
	nb->desc_sent[g->num % SCHED_WINDOW] = g->num + 1;
	if (d->flags & WIRE_SEG_FORMAT)
		nb->fmt_tx = f;
}

/* ---- neighbours --------------------------------------------------------- */

static int nbr_find(const struct sched *s, uint32_t link)
{
	for (int n = 0; n < SCHED_MAX_NBRS; n++)
		if (s->nbr[n].used && s->nbr[n].link == link)
			return n;
	return -1;
}

static bool nbr_done(const struct nbr *nb, uint32_t seg, int layer)
{
	unsigned slot = seg % SCHED_WINDOW;
	return nb->have_seg[slot] == seg && (nb->have_done[slot] >> layer & 1);
}

static unsigned nbr_rank(const struct nbr *nb, uint32_t seg, int layer)
{
	unsigned slot = seg % SCHED_WINDOW;
	if (nb->have_seg[slot] != seg)
		return 0;
	return nb->have_rank[slot][layer];
}

static void nbr_knows(struct nbr *nb, uint32_t seg)
{
	nb->knows[seg % SCHED_WINDOW] = seg;
}

static void nbr_have_slot(struct nbr *nb, uint32_t seg)
{
	unsigned slot = seg % SCHED_WINDOW;
	if (nb->have_seg[slot] != seg) {
		nb->have_seg[slot] = seg;
		memset(nb->have_rank[slot], 0, sizeof nb->have_rank[slot]);
		memset(nb->nf[slot], 0, sizeof nb->nf[slot]);
		memset(nb->fbase[slot], 0, sizeof nb->fbase[slot]);
		memset(nb->nl[slot], 0, sizeof nb->nl[slot]);
		nb->have_done[slot] = 0;
	}
}

int sched_nbr_up(struct sched *s, uint32_t link, bool is_source, uint32_t up_kbps,
		 uint64_t peer_id, int64_t now_us)
{
	if (nbr_find(s, link) >= 0)
		return LC_EINVAL;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		struct nbr *nb = &s->nbr[n];
		if (nb->used)
			continue;
		memset(nb, 0, sizeof *nb);
		nb->used = true;
		nb->link = link;
		nb->is_source = is_source;
		nb->up_kbps = up_kbps;
		nb->peer_id = peer_id;
		nb->rtt_us = 50000;
		nb->up_us = now_us;
		nb->level = -1;
		for (int i = 0; i < SCHED_WINDOW; i++)
			nb->have_seg[i] = nb->knows[i] = UINT32_MAX;
		if (is_source)
			s->source_nbr = n;
		/* Forward blocks already on their way do not reach a newcomer. */
		for (int i = 0; s->cfg.source && i < SCHED_WINDOW; i++) {
			const struct seg *g = &s->seg[i];
			if (!g->used)
				continue;
			nbr_have_slot(nb, g->num);
			for (int l = 0; l < WIRE_LAYERS_MAX; l++)
				nb->fbase[i][l] = (uint16_t)g->gen[l].f_sent;
		}
		/* A link to the source: every neighbour learns that it need
		 * not relay descriptors to us any more. */
		send_subscribe(s, is_source ? -1 : n);
		/* A newcomer learns the live segments at once from the source
		 * (not those past their deadline, which it keeps serving for
		 * a while: in a flash crowd its upload counts most); from a
		 * peer only if it has no link to the source (its SUBSCRIBE
		 * tells, see there). */
		for (int i = 0; s->cfg.source && i < SCHED_WINDOW; i++)
			if (s->seg[i].used && !seg_stale(s, s->seg[i].num))
				send_segment_desc(s, n, &s->seg[i]);
		if (!s->cfg.source && !is_source)
			send_have(s, n);
		return 0;
	}
	return LC_EFULL;
}

static void pullq_remove(struct sched *s, int n)
{
	unsigned w = 0;
	for (unsigned i = 0; i < s->pullq_n; i++) {
		struct pullreq p = s->pullq[(s->pullq_head + i) % PULLQ_MAX];
		if (p.nbr != n)
			s->pullq[(s->pullq_head + w++) % PULLQ_MAX] = p;
	}
	s->pullq_n = w;
	s->nbr[n].in_pullq = false;
}

void sched_nbr_down(struct sched *s, uint32_t link, int64_t now_us)
{
	(void)now_us;
	int n = nbr_find(s, link);
	if (n < 0)
		return;
	pullq_remove(s, n);
	for (unsigned i = 0; i < s->fwd_n; i++) {
		struct fwd *f = &s->fwd[(s->fwd_head + i) % FWD_MAX];
		if (f->dests >> n & 1) {
			f->dests &= ~(1ULL << n);
			s->fwd_bytes -= f->B;
		}
	}
	for (unsigned i = 0; i < SCHED_WINDOW; i++)
		for (int l = 0; l < WIRE_LAYERS_MAX; l++)
			s->seg[i].gen[l].asked &= ~(1ULL << n); /* the slot may be reused */
	bool was_source = s->source_nbr == n;
	if (was_source) {
		s->source_nbr = -1;
		s->pull_out = 0;
	}
	memset(&s->nbr[n], 0, sizeof s->nbr[n]);
	if (was_source)
		send_subscribe(s, -1); /* descriptors must come from neighbours now */
}

void sched_nbr_rtt(struct sched *s, uint32_t link, int64_t rtt_us)
{
	int n = nbr_find(s, link);
	if (n >= 0 && rtt_us > 0)
		s->nbr[n].rtt_us = rtt_us;
}

/* ---- forward queue (peer) ------------------------------------------------ */

static void fwd_pop_empty(struct sched *s)
{
	while (s->fwd_n && !s->fwd[s->fwd_head].dests) {
		free(s->fwd[s->fwd_head].buf);
		s->fwd[s->fwd_head].buf = NULL;
		s->fwd_head = (s->fwd_head + 1) % FWD_MAX;
		s->fwd_n--;
	}
}

static void fwd_drop_dest(struct sched *s, uint32_t seg, int layer, int nbr)
{
	for (unsigned i = 0; i < s->fwd_n; i++) {
		struct fwd *f = &s->fwd[(s->fwd_head + i) % FWD_MAX];
		if (f->seg == seg && f->layer == layer && (f->dests >> nbr & 1)) {
			f->dests &= ~(1ULL << nbr);
			s->fwd_bytes -= f->B;
		}
	}
	fwd_pop_empty(s);
}

static void fwd_push(struct sched *s, const struct wire_block *b, int from)
{
	uint64_t dests = 0;
	unsigned nd = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		const struct nbr *nb = &s->nbr[n];
		if (!nb->used || nb->is_source || n == from || nbr_done(nb, b->segment, b->layer))
			continue;
		if (b->flags & WIRE_BLOCK_DESTS) {
			/* The source's list (it counted the block for them). */
			bool listed = false;
			for (unsigned i = 0; i < b->ndest && !listed; i++)
				listed = nb->peer_id && b->dest[i] == wire_dest_tag(nb->peer_id);
			if (!listed)
				continue;
		} else if (nb->level < b->layer) {
			continue;
		}
		dests |= 1ULL << n;
		nd++;
	}
	if (!dests || s->fwd_n == FWD_MAX)
		return;
	uint8_t *buf = malloc((size_t)b->k + b->block_size);
	if (!buf)
		return;
	memcpy(buf, b->coef, b->k);
	memcpy(buf + b->k, b->payload, b->block_size);
	struct fwd *f = &s->fwd[(s->fwd_head + s->fwd_n) % FWD_MAX];
	f->seg = b->segment;
	f->layer = b->layer;
	f->flags = b->flags & WIRE_BLOCK_SYSTEMATIC;
	f->k = b->k;
	f->B = b->block_size;
	f->dests = dests;
	f->buf = buf;
	s->fwd_n++;
	s->fwd_bytes += (uint64_t)nd * b->block_size;
}

/* ---- sending blocks -------------------------------------------------------- */

/* A BLOCK's size with k coefficients in full (a systematic one's is 1). */
static size_t block_msg_size(uint16_t k, uint32_t B)
{
	return WIRE_HDR_LEN + WIRE_BLOCK_HEAD + (size_t)k + B;
}

static bool has_room(struct sched *s, int n, size_t bytes)
{
	return s->ops.room(s->ops.ctx, s->nbr[n].link) >= bytes;
}

static int send_block_msg(struct sched *s, int n, const struct wire_block *b)
{
	struct wire_msg m = { .type = WIRE_BLOCK };
	m.u.block = *b;
	int rc = send_msg(s, n, &m);
	if (rc == 0) {
		s->st.blocks_out++;
		s->nbr[n].blocks_out++;
		s->st.bytes_out += b->block_size;
	}
	return rc;
}

static int send_block(struct sched *s, int n, uint32_t seg, uint8_t layer, uint8_t flags,
		      uint16_t k, uint32_t B, const uint8_t *coef, const uint8_t *payload)
{
	struct wire_block b = { .segment = seg, .layer = layer, .flags = flags, .k = k,
				.block_size = B, .coef = coef, .payload = payload };
	return send_block_msg(s, n, &b);
}

/* A fresh source block of generation gn (systematic first, then random; in
 * no-coding mode chunk `idx`). */
static int source_block(struct sched *s, struct gen *gn, int idx, uint8_t **coef,
			uint8_t **payload, uint8_t *flags)
{
	*coef = s->scratch;
	*payload = s->scratch + gn->k;
	*flags = 0;
	int rc;
	if (!s->cfg.coding) {
		rc = nc_enc_systematic(gn->enc, (unsigned)idx % gn->k, *coef, *payload);
		*flags = WIRE_BLOCK_SYSTEMATIC;
	} else {
		unsigned seq = gn->sent;
		rc = nc_enc_next(gn->enc, &s->rng, *coef, *payload);
		if (seq < gn->k)
			*flags = WIRE_BLOCK_SYSTEMATIC;
	}
	if (rc >= 0)
		gn->sent++;
	return rc < 0 ? rc : 0;
}

/* Coverage of neighbour n for a source generation: forward blocks reach all
 * subscribers, direct ones count for n alone. */
static unsigned coverage(const struct sched *s, const struct gen *gn, int n, uint32_t seg, int l)
{
	const struct nbr *nb = &s->nbr[n];
	unsigned slot = seg % SCHED_WINDOW;
	if (nb->have_seg[slot] != seg)
		return gn->f_sent;
	return gn->f_sent - nb->fbase[slot][l] + nb->nl[slot][l] + nb->nf[slot][l];
}

static bool subscriber_needs(const struct sched *s, const struct gen *gn, int n, uint32_t seg, int l)
{
	const struct nbr *nb = &s->nbr[n];
	if (!nb->used || nb->is_source || nb->level < l || nbr_done(nb, seg, l))
		return false;
	return coverage(s, gn, n, seg, l) < gn->k;
}

/* Source: a laggard of gn: a subscriber that needs it and missed some of
 * its forward blocks (it linked after they went). */
static bool laggard(const struct sched *s, const struct gen *gn, int n, uint32_t seg, int l)
{
	return subscriber_needs(s, gn, n, seg, l) && coverage(s, gn, n, seg, l) < gn->f_sent;
}

static bool source_serves(const struct sched *s, const struct seg *g, int64_t now_us)
{
	return g->used && now_us - g->first_us < SOURCE_HORIZON_US && !seg_stale(s, g->num);
}

/* Source: layer l of the i-th oldest segment of the window, if it is live
 * and still served; NULL otherwise. */
static struct gen *source_gen(struct sched *s, unsigned i, int l, int64_t now_us, struct seg **gs)
{
	struct seg *g = seg_find(s, s->newest - (SCHED_WINDOW - 1) + i);
	if (!g || !source_serves(s, g, now_us) || l >= g->desc.nlayers || !g->gen[l].live)
		return NULL;
	*gs = g;
	return &g->gen[l];
}

/* Source: the neighbours a relay forwards to (about as many as ours). */
static unsigned relay_fanout(const struct sched *s)
{
	unsigned nd = peer_nbrs(s);
	return nd > 1 ? nd - 1 : 1;
}

/* Source: the relay work of a puller still queued, as estimated from the
 * forward blocks it was given and its advertised upload. */
static uint64_t relay_backlog(const struct sched *s, int puller, int64_t now_us)
{
	const struct nbr *nb = &s->nbr[puller];
	uint64_t drained = (uint64_t)(now_us - nb->relay_us) * nb->up_kbps / 8000;
	return nb->relay_bytes > drained ? nb->relay_bytes - drained : 0;
}

/* Source: how many copies of a block of gn the puller sends before g's
 * deadline, after what it has still to relay, at its advertised upload
 * (with a tenth spared for its control messages and repairs);
 * SCHED_MAX_NBRS, more than any fanout, when its upload or the clock is
 * unknown. */
static unsigned relay_fit(const struct sched *s, int puller, const struct seg *g,
			  const struct gen *gn, int64_t now_us)
{
	const struct nbr *nb = &s->nbr[puller];
	if (!nb->up_kbps || !s->wall_us || !g->have_desc)
		return SCHED_MAX_NBRS;
	int64_t left = desc_deadline(s, g) - s->wall_us - nb->rtt_us;
	if (left <= 0)
		return 0;
	uint64_t bytes = (uint64_t)left * nb->up_kbps * 9 / 10 / 8000;
	uint64_t backlog = relay_backlog(s, puller, now_us);
	if (bytes <= backlog)
		return 0;
	uint64_t n = (bytes - backlog) / block_msg_size(gn->k, gn->B);
	return n > SCHED_MAX_NBRS ? SCHED_MAX_NBRS : (unsigned)n;
}

static void relay_given(struct sched *s, int puller, const struct gen *gn, int64_t now_us,
			unsigned fanout)
{
	struct nbr *nb = &s->nbr[puller];
	nb->relay_bytes = relay_backlog(s, puller, now_us) +
			  (uint64_t)block_msg_size(gn->k, gn->B) * fanout;
	nb->relay_us = now_us;
}

/*
 * Source: how puller would relay a forward block of gn (layer l of segment
 * g). If it reaches all its neighbours within RELAY_BOUND_US and before g's
 * deadline (relay_fit), to all of them: returns their number, *nlist = 0.
 * Else (coding, layer LIST_LAYER_MIN and up) to a list of as many as it
 * reaches (relay_reach) and by the deadline, the subscribers that still
 * need it, the least covered first: returns the list's length in *nlist
 * and list[] (0: nobody to list, or it relays none). Late for all is where
 * the newest segment's upper layers, served last, often are. A newcomer is
 * listed once the relays have linked to it (NEWCOMER_US).
 * With `laggards` (coding only, any layer): a list in any case, of the
 * subscribers that missed forward blocks already sent (they linked after).
 */
static unsigned forward_plan(struct sched *s, int puller, const struct seg *g, const struct gen *gn,
			     int l, bool laggards, int64_t now_us, int *list, unsigned *nlist)
{
	unsigned all = relay_fanout(s);
	const struct nbr *pb = &s->nbr[puller];
	unsigned fit = relay_fit(s, puller, g, gn, now_us);
	uint32_t num = g->num;
	*nlist = 0;
	if (!s->cfg.coding || !pb->up_kbps)
		return !laggards && fit >= all ? all : 0;
	unsigned reach = relay_reach(block_msg_size(gn->k, gn->B), all, pb->up_kbps);
	if (!laggards && reach >= all && fit >= all)
		return all;
	if (fit < reach)
		reach = fit;
	if (l < LIST_LAYER_MIN && !laggards)
		return 0;
	uint32_t key[SCHED_MAX_NBRS];
	unsigned nc = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		const struct nbr *nb = &s->nbr[n];
		if (n == puller || !nb->peer_id || now_us - nb->up_us < NEWCOMER_US ||
		    !(laggards ? laggard(s, gn, n, num, l) : subscriber_needs(s, gn, n, num, l)))
			continue;
		/* Coverage first, a random tie-break so that lists spread. */
		uint32_t k = coverage(s, gn, n, num, l) << 16 | lc_rng_below(&s->rng, 1u << 16);
		unsigned j = nc++;
		for (; j > 0 && key[j - 1] > k; j--) {
			key[j] = key[j - 1];
			list[j] = list[j - 1];
		}
		key[j] = k;
		list[j] = n;
	}
	*nlist = nc < reach ? nc : reach;
	return *nlist;
}

/* Source: may a forward block of gn go to all (fresh blocks up to k, and
 * only while no subscriber is covered already; else direct blocks or
 * lists finish)? */
static bool to_all_open(const struct sched *s, const struct gen *gn, uint32_t num, int l)
{
	if (gn->f_sent >= gn->k)
		return false;
	bool any = false;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		const struct nbr *nb = &s->nbr[n];
		if (!nb->used || nb->is_source || nb->level < l || nbr_done(nb, num, l))
			continue;
		if (coverage(s, gn, n, num, l) >= gn->k)
			return false;
		any = true;
	}
	return any;
}

/* Source: the most urgent generation (lowest layer, then oldest segment) up
 * to layer `level` (of the newest segment alone if `newest`) that still
 * needs forward blocks and that the puller itself has not decoded (a block
 * it relays is then useful to it too), with the puller's relay plan for it
 * (see forward_plan). Where the base layer cannot go to all (all its fresh
 * blocks went, or they do not reach all in time), a block listing the
 * laggards goes: a flash crowd's newcomers get it from relays rather than
 * one by one from the source. */
static bool source_pick_forward(struct sched *s, int puller, int level, bool newest,
				int64_t now_us, struct seg **gs, int *gl, int *list,
				unsigned *nlist, unsigned *fanout)
{
	for (int l = 0; l <= level && l < WIRE_LAYERS_MAX; l++) {
		for (unsigned i = 0; i < SCHED_WINDOW; i++) {
			struct seg *g;
			struct gen *gn = source_gen(s, i, l, now_us, &g);
			if (!gn || (newest && g->num != s->newest) ||
			    nbr_done(&s->nbr[puller], g->num, l))
				continue;
			unsigned fo = forward_plan(s, puller, g, gn, l, false, now_us, list, nlist);
			if (fo && !*nlist && !to_all_open(s, gn, g->num, l))
				fo = 0;
			if (!fo && l < LIST_LAYER_MIN && !newest)
				fo = forward_plan(s, puller, g, gn, l, true, now_us, list, nlist);
			if (!fo)
				continue;
			*gs = g;
			*gl = l;
			*fanout = fo;
			return true;
		}
	}
	return false;
}

/* Source: a forward block reaches a newcomer only once the relays have
 * linked to it too (it dials them after the tracker's PEERS); until then it
 * is not counted for the newcomer, which gets direct blocks instead. */
static void forward_skips_newcomers(struct sched *s, uint32_t seg, int l, int64_t now_us)
{
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		struct nbr *nb = &s->nbr[n];
		if (!nb->used || nb->is_source || now_us - nb->up_us >= NEWCOMER_US)
			continue;
		nbr_have_slot(nb, seg);
		unsigned slot = seg % SCHED_WINDOW;
		if (nb->fbase[slot][l] < UINT16_MAX)
			nb->fbase[slot][l]++;
	}
}

/* Serve the pull queue: the first signal (in arrival order) whose link has
 * room and whose puller takes a block of layer `level` or lower (of the
 * newest segment if `newest`) gets one fresh block marked FORWARD. */
static bool source_serve_pull(struct sched *s, int level, bool newest, int64_t now_us)
{
	for (unsigned i = 0; i < s->pullq_n; i++) {
		unsigned qi = (s->pullq_head + i) % PULLQ_MAX;
		struct pullreq *p = &s->pullq[qi];
		int n = p->nbr;
		struct seg *g;
		int l, list[SCHED_MAX_NBRS];
		unsigned nlist, fanout;
		if (!source_pick_forward(s, n, p->level < level ? p->level : level, newest, now_us,
					 &g, &l, list, &nlist, &fanout))
			continue; /* nothing for it now: keep it for the next segment */
		struct gen *gn = &g->gen[l];
		if (!has_room(s, n, block_msg_size(gn->k, gn->B) + (nlist ? 1 + 2 * (size_t)nlist : 0)))
			continue;
		uint8_t *coef, *payload, flags;
		if (source_block(s, gn, (int)gn->f_sent, &coef, &payload, &flags))
			return false;
		struct wire_block b = { .segment = g->num, .layer = (uint8_t)l,
					.flags = flags | WIRE_BLOCK_FORWARD, .k = gn->k,
					.block_size = gn->B, .coef = coef,
					.payload = payload };
		unsigned slot = g->num % SCHED_WINDOW;
		if (nlist) {
			/* Listed: it counts for them and for the relay alone. */
			b.flags |= WIRE_BLOCK_DESTS;
			for (unsigned j = 0; j < nlist; j++) {
				struct nbr *d = &s->nbr[list[j]];
				nbr_have_slot(d, g->num);
				d->nl[slot][l]++;
				uint16_t tag = wire_dest_tag(d->peer_id);
				bool dup = false;
				for (unsigned t = 0; t < b.ndest && !dup; t++)
					dup = b.dest[t] == tag;
				if (!dup)
					b.dest[b.ndest++] = tag;
			}
			nbr_have_slot(&s->nbr[n], g->num);
			s->nbr[n].nl[slot][l]++;
		} else {
			gn->f_sent++;
			forward_skips_newcomers(s, g->num, l, now_us);
		}
		relay_given(s, n, gn, now_us, fanout);
		send_block_msg(s, n, &b);
		s->st.pulls_served++;
		if (--p->count == 0) {
			s->nbr[n].in_pullq = false;
			/* Close the gap in the ring. */
			for (unsigned j = i; j + 1 < s->pullq_n; j++)
				s->pullq[(s->pullq_head + j) % PULLQ_MAX] =
					s->pullq[(s->pullq_head + j + 1) % PULLQ_MAX];
			s->pullq_n--;
		}
		return true;
	}
	return false;
}

/* Can `blocks` blocks of gn (of segment g) still go out of our upload
 * before g's deadline? */
static bool in_time(const struct sched *s, const struct seg *g, const struct gen *gn,
		    unsigned blocks)
{
	if (!s->wall_us || !g->have_desc)
		return true;
	int64_t left = desc_deadline(s, g) - s->wall_us;
	uint64_t bytes = (uint64_t)blocks * block_msg_size(gn->k, gn->B);
	return left > 0 && bytes * 1000000 <= (uint64_t)left * up_Bps(s);
}

/* Source: what the laggards of gn (subscribers that missed forward blocks
 * already sent: they linked after) lack, in blocks. */
static unsigned laggards_need(const struct sched *s, const struct gen *gn, uint32_t num, int l)
{
	unsigned need = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++)
		if (laggard(s, gn, n, num, l))
			need += gn->k - coverage(s, gn, n, num, l);
	return need;
}

enum { DIRECT_ANY, DIRECT_LAGGARDS, DIRECT_LAGGARDS_ALL };

/* Direct (no-forward) blocks: what the relays leave, when no pull signal can
 * be answered (DIRECT_ANY). Laggards, before the pulls of upper layers: a
 * newcomer missed the forward blocks of the base layers already under way,
 * so it gets them directly (it starts playing sooner); the one nearest to
 * complete first, and only while it can complete before the deadline
 * (spread evenly over a flash crowd, the source's upload completed
 * nobody's). With DIRECT_LAGGARDS_ALL, only where the source's upload
 * completes all the laggards in time, ahead of the base layer's pulls;
 * else relays take them on lists (source_pick_forward) first.
 * A direct block goes only where the queue has room for another block
 * after it: the answer to a pull that may come meanwhile waits behind at
 * most one block no pull asked for. (Filled to the brim with direct
 * blocks, 50 ms of the source's upload, the pulls' answers came late, the
 * relays ran dry, and whether a third block fit decided the run: supply-
 * limited n = 10 in the simulator gave util 0.75 to 0.96 as the size
 * estimate of a block moved by a few bytes.) */
static bool source_serve_direct(struct sched *s, int64_t now_us, int mode)
{
	bool laggards = mode != DIRECT_ANY;
	for (int l = 0; l < (laggards ? 1 : WIRE_LAYERS_MAX); l++) {
		for (unsigned i = 0; i < SCHED_WINDOW; i++) {
			struct seg *g;
			struct gen *gn = source_gen(s, i, l, now_us, &g);
			if (!gn)
				continue;
			uint32_t num = g->num;
			if (mode == DIRECT_LAGGARDS_ALL &&
			    !in_time(s, g, gn, laggards_need(s, gn, num, l)))
				return false; /* nor a later generation's before them */
			/* Else the subscriber with the least coverage, so that
			 * all of them stay level and forward blocks (which reach
			 * all) never overshoot anyone. */
			int best = -1;
			unsigned best_cov = UINT32_MAX;
			for (unsigned j = 0; j < SCHED_MAX_NBRS; j++) {
				int n = (int)((s->rr + j) % SCHED_MAX_NBRS);
				if (!(laggards ? laggard(s, gn, n, num, l)
					       : subscriber_needs(s, gn, n, num, l)))
					continue;
				unsigned cov = coverage(s, gn, n, num, l);
				if (laggards) {
					if (!in_time(s, g, gn, gn->k - cov))
						continue;
					cov = gn->k - cov; /* what it lacks: the least first */
				}
				if (cov < best_cov && has_room(s, n, 2 * block_msg_size(gn->k, gn->B))) {
					best = n;
					best_cov = cov;
				}
			}
			if (best < 0)
				continue;
			struct nbr *nb = &s->nbr[best];
			nbr_have_slot(nb, num);
			unsigned slot = num % SCHED_WINDOW;
			/* No-coding: direct chunks count down from the top so they
			 * meet the forward ones only when all are sent. */
			int idx = gn->k - 1 - nb->nf[slot][l];
			uint8_t *coef, *payload, flags;
			if (source_block(s, gn, idx, &coef, &payload, &flags))
				return false;
			nb->nf[slot][l]++;
			send_block(s, best, num, (uint8_t)l, flags, gn->k, gn->B, coef, payload);
			s->rr = (unsigned)best + 1;
			return true;
		}
	}
	return false;
}

/* Relay one forwarded block: the lowest layer first, then the oldest
 * segment, to a destination with room, the destinations in turn (a block
 * that expires in the queue then costs every neighbour alike). */
static bool peer_serve_forward(struct sched *s)
{
	struct fwd *best = NULL;
	int best_n = -1;
	for (unsigned i = 0; i < s->fwd_n; i++) {
		struct fwd *f = &s->fwd[(s->fwd_head + i) % FWD_MAX];
		if (f->dests && seg_stale(s, f->seg)) {
			/* Past its deadline: of no use to anyone now. */
			s->st.fwd_expired += (uint64_t)__builtin_popcountll(f->dests);
			s->fwd_bytes -= (uint64_t)f->B * (uint64_t)__builtin_popcountll(f->dests);
			f->dests = 0;
		}
		if (!f->dests)
			continue;
		if (best && (f->layer > best->layer ||
			     (f->layer == best->layer && f->seg >= best->seg)))
			continue;
		for (unsigned j = 0; j < SCHED_MAX_NBRS; j++) {
			int n = (int)((s->rr_fwd + j) % SCHED_MAX_NBRS);
			if (!(f->dests >> n & 1) || !has_room(s, n, block_msg_size(f->k, f->B)))
				continue;
			best = f;
			best_n = n;
			break;
		}
	}
	if (!best)
		return false;
	best->dests &= ~(1ULL << best_n);
	s->rr_fwd = (unsigned)best_n + 1;
	s->fwd_bytes -= best->B;
	send_block(s, best_n, best->seg, best->layer, best->flags, best->k, best->B,
		   best->buf, best->buf + best->k);
	fwd_pop_empty(s);
	return true;
}

static void rep_drop(struct nbr *nb, unsigned i)
{
	memmove(&nb->rep[i], &nb->rep[i + 1], (nb->nrep - i - 1) * sizeof nb->rep[0]);
	nb->nrep--;
}

/* The generation a repair request of neighbour nb asks for, if we can
 * still answer it (live, not stale, neighbour not done, something held);
 * NULL otherwise (*gs: its segment). */
static struct gen *rep_gen(const struct sched *s, const struct nbr *nb, const struct rep *r,
			   struct seg **gs)
{
	struct seg *g = seg_find(s, r->seg);
	struct gen *gn = g ? &g->gen[r->layer] : NULL;
	if (!gn || !gn->live || !r->count || nbr_done(nb, r->seg, r->layer) ||
	    seg_stale(s, r->seg) || (!s->cfg.source && !nc_dec_rank(gn->dec)))
		return NULL;
	*gs = g;
	return gn;
}

/* One answer to a repair request: a recoded block (or a wanted chunk). */
static bool serve_repair_one(struct sched *s, int n)
{
	struct nbr *nb = &s->nbr[n];
	while (nb->nrep) {
		struct rep *r = &nb->rep[0];
		struct seg *g;
		struct gen *gn = rep_gen(s, nb, r, &g);
		if (!gn) {
			rep_drop(nb, 0);
			continue;
		}
		if (!has_room(s, n, block_msg_size(gn->k, gn->B)))
			return false;
		uint8_t *coef = s->scratch, *payload = s->scratch + gn->k, flags = 0;
		int rc = LC_ENOENT;
		if (r->want) {
			/* The first wanted chunk we hold. */
			for (unsigned i = 0; i < gn->k; i++) {
				if (!(r->mask[i / 8] >> (i % 8) & 1))
					continue;
				r->mask[i / 8] &= (uint8_t)~(1u << (i % 8));
				if (s->cfg.source) {
					rc = nc_enc_systematic(gn->enc, i, coef, payload);
				} else if (gn->done) {
					memset(coef, 0, gn->k);
					coef[i] = 1;
					memcpy(payload, nc_dec_block(gn->dec, i), gn->B);
					rc = 0;
				} else if (gn->chunk_have && gn->chunk_have[i]) {
					/* Held, not yet decoded: find it among the blocks
					 * the decoder keeps as they came. */
					const uint8_t *hc, *hp;
					for (unsigned j = 0; j < nc_dec_rank(gn->dec); j++)
						if (nc_dec_held(gn->dec, j, &hc, &hp) == 0 && hc[i]) {
							memcpy(coef, hc, gn->k);
							memcpy(payload, hp, gn->B);
							rc = 0;
							break;
						}
				}
				if (rc >= 0)
					break;
			}
			flags = WIRE_BLOCK_SYSTEMATIC;
			if (rc < 0)
				r->count = 0;
		} else if (!s->cfg.coding) {
			r->count = 0; /* plain chunks are asked for by name (WANT) */
		} else if (s->cfg.source) {
			rc = nc_enc_coded(gn->enc, &s->rng, coef, payload);
		} else {
			rc = nc_dec_recode(gn->dec, &s->rng, coef, payload);
		}
		if (rc >= 0) {
			send_block(s, n, r->seg, r->layer, flags, gn->k, gn->B, coef, payload);
			s->st.repairs_served++;
		}
		if (r->count)
			r->count--;
		if (!r->count)
			rep_drop(nb, 0);
		return rc >= 0;
	}
	return false;
}

/*
 * The repair request to answer next: of the oldest generation, the one
 * asking for the fewest blocks first, moved to the front of its
 * neighbour's queue; a request we cannot meet before the deadline is
 * dropped. Answered in turn, a flash crowd's requests took all of the
 * source's upload, and of the first peers done, and completed nobody in
 * time. -1: none with room.
 */
static int next_repair(struct sched *s)
{
	int best = -1;
	unsigned best_i = 0;
	uint64_t best_key = UINT64_MAX;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		struct nbr *nb = &s->nbr[n];
		for (unsigned i = 0; nb->used && i < nb->nrep;) {
			const struct rep *r = &nb->rep[i];
			struct seg *g;
			const struct gen *gn = rep_gen(s, nb, r, &g);
			if (!gn || !in_time(s, g, gn, r->count)) {
				rep_drop(nb, i);
				continue;
			}
			uint64_t key = (uint64_t)r->seg << 32 | (uint64_t)r->layer << 24 | r->count;
			if (key < best_key && has_room(s, n, block_msg_size(gn->k, gn->B))) {
				best_key = key;
				best = n;
				best_i = i;
			}
			i++;
		}
	}
	if (best >= 0 && best_i) {
		struct nbr *nb = &s->nbr[best];
		struct rep r = nb->rep[best_i];
		memmove(&nb->rep[1], &nb->rep[0], best_i * sizeof nb->rep[0]);
		nb->rep[0] = r;
	}
	return best;
}

static bool serve_repairs(struct sched *s)
{
	int n = next_repair(s);
	return n >= 0 && serve_repair_one(s, n);
}

void sched_pump(struct sched *s, int64_t now_us)
{
	/* One block per round, the most urgent kind first. */
	for (int guard = 0; guard < 100000; guard++) {
		bool sent;
		/* Repairs are near a deadline: they go first, but for the
		 * source, after the newest segment's base layer to relays
		 * (else, in a flash crowd, the repairs of the older segments
		 * took its upload and the next segment missed everyone). Then
		 * the base layer, to relays or laggards, before upper layers. */
		if (s->cfg.source)
			sent = source_serve_pull(s, 0, true, now_us) || serve_repairs(s) ||
			       source_serve_direct(s, now_us, DIRECT_LAGGARDS_ALL) ||
			       source_serve_pull(s, 0, false, now_us) ||
			       source_serve_direct(s, now_us, DIRECT_LAGGARDS) ||
			       source_serve_pull(s, WIRE_LAYERS_MAX - 1, false, now_us) ||
			       source_serve_direct(s, now_us, DIRECT_ANY);
		else
			sent = serve_repairs(s) || peer_serve_forward(s);
		if (!sent)
			break;
	}
}

/* ---- receiving ------------------------------------------------------------- */

/* Move one of cand[lo..hi) to cand[lo], drawn with odds in proportion to
 * its upload (plus one, so that an unknown upload still has a chance). */
static void draw_by_upload(struct sched *s, int *cand, int lo, int hi)
{
	uint64_t total = 0;
	for (int i = lo; i < hi; i++)
		total += s->nbr[cand[i]].up_kbps + 1ull;
	uint64_t r = lc_rng_next(&s->rng) % total;
	int i = lo;
	while (r >= s->nbr[cand[i]].up_kbps + 1ull)
		r -= s->nbr[cand[i++]].up_kbps + 1ull;
	int t = cand[lo];
	cand[lo] = cand[i];
	cand[i] = t;
}

/*
 * DONE goes to the source (its coverage counts), to the neighbours asked to
 * repair the generation (they would go on sending), to those linked in the
 * last NBR_NEW_US (as they start up they ask done neighbours for
 * repairs at once), and to DONE_FANOUT of the others drawn by upload: those
 * are the relays with the most copies under way and the likeliest repair
 * servers, and a neighbour learns of enough done peers to ask for repairs.
 * Every neighbour once cost 29 DONEs per generation at n = 30, a tenth of a
 * 50 kbit/s peer's upload; the blocks that a neighbour not told still sends
 * are few, since the source issues about k forward blocks per generation
 * to all.
 */
static void send_done(struct sched *s, const struct seg *g, int l, int64_t now_us)
{
	struct wire_msg m = { .type = WIRE_DONE };
	m.u.done.segment = g->num;
	m.u.done.layer = (uint8_t)l;
	uint64_t asked = g->gen[l].asked;
	int others[SCHED_MAX_NBRS], no = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		if (!s->nbr[n].used)
			continue;
		if (s->nbr[n].is_source || (asked >> n & 1) ||
		    now_us - s->nbr[n].up_us < NBR_NEW_US)
			send_msg(s, n, &m);
		else
			others[no++] = n;
	}
	for (int i = 0; i < DONE_FANOUT && i < no; i++) {
		draw_by_upload(s, others, i, no);
		send_msg(s, others[i], &m);
	}
}

static void gen_complete(struct sched *s, struct seg *g, int l, int64_t now_us)
{
	struct gen *gn = &g->gen[l];
	if (!gn->len)
		return; /* until the descriptor tells the true length */
	gn->data = malloc((size_t)gn->k * gn->B);
	if (!gn->data || nc_dec_copy(gn->dec, gn->data, (size_t)gn->k * gn->B) < 0) {
		free(gn->data);
		gn->data = NULL;
		return;
	}
	/* len came from the descriptor, and so does the hash. */
	if (wire_hash64(gn->data, gn->len) != g->desc.layer[l].hash) {
		/* Corrupt (a lying or broken sender): start the generation over. */
		s->st.hash_failures++;
		free(gn->data);
		gn->data = NULL;
		nc_dec_reset(gn->dec, (size_t)gn->k * gn->B);
		if (gn->chunk_have)
			memset(gn->chunk_have, 0, gn->k);
		return;
	}
	gn->done = true;
	gn->done_us = now_us;
	gn->done_wall_us = s->wall_us;
	s->st.layer[l].gens_done++;
	send_done(s, g, l, now_us);
	fwd_pop_empty(s);
}

static int on_block(struct sched *s, int n, const struct wire_block *b, int64_t now_us)
{
	struct nbr *from = &s->nbr[n];
	if (from->is_source && (b->flags & WIRE_BLOCK_FORWARD) && s->pull_out)
		s->pull_out--;
	s->st.blocks_in++;
	from->blocks_in++;
	nbr_knows(from, b->segment);
	s->st.bytes_in += b->block_size;
	if (s->cfg.source)
		return 0;
	struct seg *g = seg_get(s, b->segment, now_us);
	if (!g) {
		s->st.blocks_dup++;
		s->st.blocks_late++;
		s->st.bytes_in_dup += b->block_size;
		return 0;
	}
	struct gen *gn = &g->gen[b->layer];
	/* The true length is the descriptor's (0 until it comes). */
	uint32_t len = g->have_desc && b->layer < g->desc.nlayers ? g->desc.layer[b->layer].size : 0;
	int rc = gen_setup_dec(s, gn, b->k, b->block_size, len, now_us);
	if (rc)
		return rc == LC_EPROTO ? LC_EPROTO : 0;
	if (b->flags & WIRE_BLOCK_FORWARD && from->is_source)
		fwd_push(s, b, n);
	if (gn->done) {
		s->st.blocks_dup++;
		s->st.blocks_after_done++;
		s->st.bytes_in_dup += b->block_size;
		return 0;
	}
	rc = nc_dec_add(gn->dec, b->coef, b->k, b->payload, b->block_size);
	if (rc == LC_EDEPENDENT) {
		s->st.blocks_dup++;
		s->st.bytes_in_dup += b->block_size;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (gn->chunk_have && (b->flags & WIRE_BLOCK_SYSTEMATIC))
		for (unsigned i = 0; i < b->k; i++)
			if (b->coef[i]) {
				gn->chunk_have[i] = 1;
				break;
			}
	s->st.bytes_in_useful += b->block_size;
	from->blocks_useful++;
	s->st.layer[b->layer].bytes_in += b->block_size;
	gn->last_innov_us = now_us;
	if (nc_dec_complete(gn->dec))
		gen_complete(s, g, b->layer, now_us);
	return 0;
}

/* The descriptor of g to every neighbour (but the source) that has not
 * shown it knows the segment. */
static void relay_desc(struct sched *s, struct seg *g)
{
	g->desc_relayed = true;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		struct nbr *nb = &s->nbr[n];
		if (!nb->used || nb->is_source || nb->hears_source ||
		    nb->knows[g->num % SCHED_WINDOW] == g->num)
			continue;
		nbr_knows(nb, g->num);
		send_segment_desc(s, n, g);
	}
}

static int on_segment(struct sched *s, int n, const struct wire_segment *wd, int64_t now_us)
{
	/* Without FORMAT, the format is the last one on this link (a link
	 * that never carried one breaks the protocol). */
	struct nbr *nb = &s->nbr[n];
	struct wire_segment full = *wd;
	const struct wire_segment *d = &full;
	if (wd->flags & WIRE_SEG_FORMAT)
		fmt_of(wd, &nb->fmt_rx);
	else if (nb->fmt_rx.nlayers != wd->nlayers)
		return LC_EPROTO;
	else
		fmt_put(&nb->fmt_rx, &full);
	nbr_knows(nb, d->segment);
	if (s->cfg.source)
		return 0;
	bool known = seg_find(s, d->segment) != NULL;
	struct seg *g = seg_get(s, d->segment, now_us);
	if (!g)
		return 0;
	if (g->have_desc)
		return 0;
	g->desc = *d;
	g->have_desc = true;
	(void)known;
	update_top(s, d);
	/* Relay the descriptor once to the neighbours that lack it, never to
	 * those linked to the source (it tells them itself). With a link to
	 * the source, wait a little: what the others send back shows who
	 * heard of the segment already. */
	g->desc_us = now_us;
	g->desc_relayed = false;
	if (s->source_nbr < 0)
		relay_desc(s, g);
	/* Set the subscribed layers up from the descriptor, so that a
	 * generation of which no block ever arrives (its forwarders left
	 * before relaying) is still repaired before its deadline. One whose
	 * blocks came before the descriptor learns its true length now, and
	 * completes if at full rank (checked against the hash); one whose
	 * blocks disagree with the descriptor on k or B starts over from it. */
	for (int l = 0; l < d->nlayers; l++) {
		struct gen *gn = &g->gen[l];
		const struct wire_layer_desc *ld = &d->layer[l];
		if (!ld->size || gn->done || (!gn->live && l > s->level))
			continue;
		bool had_blocks = gn->live;
		int rc = gen_setup_dec(s, gn, ld->k, ld->block_size, ld->size, now_us);
		if (!had_blocks)
			continue;
		if (rc) {
			s->st.hash_failures++;
			gen_clear(gn);
			gen_setup_dec(s, gn, ld->k, ld->block_size, ld->size, now_us);
		} else if (nc_dec_complete(gn->dec)) {
			gen_complete(s, g, l, now_us);
		}
	}
	return 0;
}

static void on_have(struct sched *s, int n, const struct wire_have *h)
{
	struct nbr *nb = &s->nbr[n];
	for (unsigned i = 0; i < h->count; i++) {
		const struct wire_have_seg *e = &h->seg[i];
		if (s->any_seg && e->segment + SCHED_WINDOW <= s->newest)
			continue;
		nbr_have_slot(nb, e->segment);
		nbr_knows(nb, e->segment);
		unsigned slot = e->segment % SCHED_WINDOW;
		for (int l = 0; l < e->nlayers; l++)
			nb->have_rank[slot][l] = e->rank[l];
		uint8_t newly = e->done & (uint8_t)~nb->have_done[slot];
		nb->have_done[slot] |= e->done;
		for (int l = 0; l < WIRE_LAYERS_MAX; l++)
			if (newly >> l & 1)
				fwd_drop_dest(s, e->segment, l, n);
	}
}

static void on_done(struct sched *s, int n, const struct wire_done *d)
{
	struct nbr *nb = &s->nbr[n];
	if (s->any_seg && d->segment + SCHED_WINDOW <= s->newest)
		return;
	nbr_have_slot(nb, d->segment);
	nbr_knows(nb, d->segment);
	nb->have_done[d->segment % SCHED_WINDOW] |= (uint8_t)(1u << d->layer);
	fwd_drop_dest(s, d->segment, d->layer, n);
}

static void add_repair(struct nbr *nb, const struct rep *r)
{
	for (unsigned i = 0; i < nb->nrep; i++)
		if (nb->rep[i].seg == r->seg && nb->rep[i].layer == r->layer) {
			nb->rep[i] = *r; /* the newest request replaces the old one */
			return;
		}
	if (nb->nrep < REPQ_MAX)
		nb->rep[nb->nrep++] = *r;
}

static void on_pull(struct sched *s, int n, const struct wire_pull *p)
{
	struct nbr *nb = &s->nbr[n];
	if (p->flags & WIRE_PULL_REPAIR) {
		struct rep r = { .seg = p->segment, .layer = p->layer, .count = p->count };
		add_repair(nb, &r);
		return;
	}
	if (!s->cfg.source)
		return; /* pull signals are for the source */
	int level = p->layer;
	if (nb->in_pullq) {
		for (unsigned i = 0; i < s->pullq_n; i++) {
			struct pullreq *q = &s->pullq[(s->pullq_head + i) % PULLQ_MAX];
			if (q->nbr == n) {
				/* The newest signal says what the peer can relay now;
				 * signals do not add up while the source has nothing. */
				q->count = p->count;
				q->level = level;
			}
		}
		return;
	}
	if (s->pullq_n == PULLQ_MAX)
		return;
	s->pullq[(s->pullq_head + s->pullq_n) % PULLQ_MAX] =
		(struct pullreq){ .nbr = n, .count = p->count, .level = level };
	s->pullq_n++;
	nb->in_pullq = true;
}

/* A segment number of which a message carried the low 16 bits: the one
 * nearest the newest segment we know (the low bits as they are before we
 * know any: the source sends a newcomer the live descriptors first). */
static uint32_t seg_near(const struct sched *s, uint32_t low)
{
	return s->any_seg ? wire_seg_near(s->newest, low & 0xffff) : low & 0xffff;
}

int sched_on_message(struct sched *s, uint32_t link, const struct wire_msg *m, int64_t now_us,
		     int64_t wall_us)
{
	s->wall_us = wall_us;
	int n = nbr_find(s, link);
	if (n < 0)
		return LC_ENOENT;
	int sz = wire_encoded_size(m);
	if (sz > 0) {
		s->st.msg_bytes_in += (uint64_t)sz;
		lc_rate_add(&s->rx, (uint64_t)sz, now_us);
	}
	switch (m->type) {
	case WIRE_BLOCK: {
		struct wire_block b = m->u.block;
		b.segment = seg_near(s, b.segment);
		return on_block(s, n, &b, now_us);
	}
	case WIRE_SEGMENT:
		return on_segment(s, n, &m->u.segment, now_us);
	case WIRE_HAVE:
		on_have(s, n, &m->u.have);
		return 0;
	case WIRE_DONE: {
		struct wire_done d = m->u.done;
		d.segment = seg_near(s, d.segment);
		on_done(s, n, &d);
		return 0;
	}
	case WIRE_PULL: {
		struct wire_pull p = m->u.pull;
		p.segment = seg_near(s, p.segment);
		on_pull(s, n, &p);
		return 0;
	}
	case WIRE_WANT: {
		const struct wire_want *w = &m->u.want;
		struct rep r = { .seg = seg_near(s, w->segment), .layer = w->layer, .want = true };
		for (unsigned i = 0; i < w->k; i++)
			r.count += (uint16_t)(w->bitmap[i / 8] >> (i % 8) & 1);
		memcpy(r.mask, w->bitmap, sizeof r.mask);
		add_repair(&s->nbr[n], &r);
		return 0;
	}
	case WIRE_SUBSCRIBE: {
		int old = s->nbr[n].level;
		bool heard = s->nbr[n].subscribed && s->nbr[n].hears_source;
		s->nbr[n].hears_source = m->u.subscribe.flags & WIRE_SUB_SOURCE_LINK;
		if (!s->cfg.source && !s->nbr[n].is_source && !s->nbr[n].hears_source &&
		    (!s->nbr[n].subscribed || heard))
			/* Without a link to the source it learns the live
			 * segments from us (again, if it lost that link), but
			 * for those we relayed to it already. */
			for (int i = 0; i < SCHED_WINDOW; i++)
				if (s->seg[i].used && s->seg[i].have_desc && !seg_stale(s, s->seg[i].num) &&
				    s->nbr[n].desc_sent[i] != s->seg[i].num + 1) {
					nbr_knows(&s->nbr[n], s->seg[i].num);
					send_segment_desc(s, n, &s->seg[i]);
				}
		s->nbr[n].subscribed = true;
		s->nbr[n].level =
			m->u.subscribe.level == WIRE_LEVEL_NONE ? -1 : m->u.subscribe.level;
		if (s->nbr[n].level < old)
			for (int l = s->nbr[n].level + 1; l <= old; l++)
				for (unsigned i = 0; i < SCHED_WINDOW; i++)
					if (s->seg[i].used)
						fwd_drop_dest(s, s->seg[i].num, l, n);
		return 0;
	}
	default:
		return 0; /* membership messages are the swarm's */
	}
}

/* ---- source ------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The floor of the block size for a new segment. A forwarded block must
 * reach every neighbour of its relay within RELAY_BOUND_US, else the relay
 * takes none (relays_blocks), and its upload serves repairs only. The more
 * neighbours and the slower the peers, the smaller a block must be for most
 * of the swarm's upload to relay; a smaller block costs more in headers and
 * coefficients. So: the largest floor (BLOCK_FLOOR..BLOCK_CEIL) at which
 * the peers holding RELAY_SHARE % of the peers' advertised upload relay.
 */
static uint32_t source_min_block(const struct sched *s)
{
	uint32_t up[SCHED_MAX_NBRS];
	unsigned n = 0;
	uint64_t total = 0;
	for (int i = 0; i < SCHED_MAX_NBRS; i++) {
		const struct nbr *nb = &s->nbr[i];
		if (nb->used && !nb->is_source && nb->up_kbps) {
			up[n++] = nb->up_kbps;
			total += nb->up_kbps;
		}
	}
	if (n < 2)
		return BLOCK_CEIL;
	qsort(up, n, sizeof up[0], cmp_u32);
	/* Leave out the slowest peers, up to 100 - RELAY_SHARE % of the upload. */
	uint64_t left = 0;
	unsigned i = 0;
	while (i + 1 < n && (left + up[i]) * 100 <= total * (100 - RELAY_SHARE))
		left += up[i++];
	uint64_t b = (uint64_t)up[i] * RELAY_BOUND_US / 8000 / relay_fanout(s);
	return b < BLOCK_FLOOR ? BLOCK_FLOOR : b > BLOCK_CEIL ? BLOCK_CEIL : (uint32_t)b;
}

int sched_add_segment(struct sched *s, struct wire_segment *desc, const uint8_t *const *payload,
		      int64_t now_us)
{
	if (!s->cfg.source || !desc || !payload || desc->nlayers < 1 ||
	    desc->nlayers > WIRE_LAYERS_MAX)
		return LC_EINVAL;
	if (s->any_seg && desc->segment <= s->newest)
		return LC_EINVAL;
	uint32_t min_block = source_min_block(s);
	for (int l = 0; l < desc->nlayers; l++) {
		struct wire_layer_desc *ld = &desc->layer[l];
		if (!ld->size)
			return LC_EINVAL; /* an empty layer cannot be a generation */
		sched_pick_block(ld->size, min_block, &ld->block_size, &ld->k);
		ld->hash = wire_hash64(payload[l], ld->size);
	}
	struct seg *g = seg_get(s, desc->segment, now_us);
	if (!g)
		return LC_EINVAL;
	g->desc = *desc;
	g->desc.flags |= WIRE_SEG_FORMAT;
	g->have_desc = true;
	for (int l = 0; l < desc->nlayers; l++) {
		struct gen *gn = &g->gen[l];
		const struct wire_layer_desc *ld = &desc->layer[l];
		int rc = nc_enc_new(&gn->enc, ld->k, ld->block_size, payload[l], ld->size);
		if (rc) {
			seg_clear(g);
			return rc;
		}
		gn->live = true;
		gn->k = ld->k;
		gn->B = ld->block_size;
		gn->len = ld->size;
		gn->first_us = now_us;
	}
	send_segment_desc(s, -1, g);
	return 0;
}

/* ---- timers ------------------------------------------------------------------ */

static int64_t source_rtt(const struct sched *s)
{
	return s->source_nbr >= 0 ? s->nbr[s->source_nbr].rtt_us : 50000;
}

static void maybe_pull(struct sched *s, int64_t now_us)
{
	if (s->cfg.source || s->source_nbr < 0 || s->level < 0)
		return;
	/* Neighbours that would receive what we relay. */
	unsigned nd = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++)
		if (s->nbr[n].used && !s->nbr[n].is_source && s->nbr[n].level >= 0)
			nd++;
	if (!nd)
		return;
	/* Relaying costs our download first: a peer whose download is nearly
	 * full does not pull (its neighbours would wait on its downlink). */
	if (s->cfg.down_kbps &&
	    lc_rate_bps(&s->rx, now_us) * 8 / 1000 > 0.8 * (double)s->cfg.down_kbps)
		return;
	int64_t rtt = source_rtt(s);
	/* A lost pull (or answer) must not stall us: forget it after a while. */
	if (s->pull_out && now_us - s->pull_us > 4 * rtt + 200000)
		s->pull_out = 0;
	/*
	 * The layers we relay: those whose one block reaches all our
	 * neighbours within RELAY_BOUND_US at our upload. A slow peer in a big
	 * mesh would deliver a forwarded block too late to be of use, so it
	 * relays only small blocks, or none (it still uploads repairs).
	 */
	const struct seg *d = NULL;
	for (unsigned i = 0; i < SCHED_WINDOW; i++)
		if (s->seg[i].used && s->seg[i].have_desc && (!d || s->seg[i].num > d->num))
			d = &s->seg[i];
	int relay_level = sub_level(s);
	uint32_t B = 1400;
	if (d) {
		if (relay_level >= d->desc.nlayers)
			relay_level = d->desc.nlayers - 1;
		const struct wire_layer_desc *ld = &d->desc.layer[relay_level];
		if (s->cfg.coding) {
			/* To all, or to as many as a list the source gives. */
			nd = relay_reach(block_msg_size(ld->k, ld->block_size), nd, up_Bps(s) / 125);
			if (!nd)
				return;
		} else {
			while (relay_level >= 0 &&
			       !relays_blocks(d->desc.layer[relay_level].block_size, nd,
					      up_Bps(s) / 125))
				relay_level--;
			if (relay_level < 0)
				return;
		}
		B = d->desc.layer[relay_level].block_size;
	}
	/* Pull when what we hold and what is on its way would run dry within a
	 * round trip to the source; ask for what our upload relays in about
	 * 100 ms, so that a slow peer holds forwarded blocks only briefly. */
	uint64_t expected = s->fwd_bytes + (uint64_t)s->pull_out * B * nd;
	uint64_t threshold = up_Bps(s) * (uint64_t)(rtt + s->pull_lead_us) / 1000000;
	if (expected > threshold || s->pull_out >= 4 * s->cfg.pull_blocks)
		return;
	uint64_t k = up_Bps(s) * (uint64_t)s->pull_lead_us / 1000000 / ((uint64_t)B * nd);
	if (k < 1)
		k = 1;
	if (k > s->cfg.pull_blocks)
		k = s->cfg.pull_blocks;
	struct wire_msg m = { .type = WIRE_PULL };
	m.u.pull.segment = s->newest;
	m.u.pull.layer = (uint8_t)relay_level;
	m.u.pull.count = (uint16_t)k;
	if (send_msg(s, s->source_nbr, &m) == 0) {
		s->pull_out += (unsigned)k;
		s->pull_us = now_us;
		s->st.pulls_sent++;
	}
}

/* Wall-clock deadline: the capture time plus the playout latency, the same
 * for every viewer (clocks are assumed synchronised, as NTP does). */
static int64_t seg_deadline(const struct sched *s, uint32_t num)
{
	const struct seg *g = seg_find(s, num);
	int64_t cap = g && g->have_desc ? g->desc.capture_us
					: s->cap0_us + (int64_t)(num - s->s0) * s->dur_us;
	return cap + s->dur_us + s->cfg.buffer_us;
}

/* Is segment num past its deadline (for every viewer: deadlines are the
 * same wall-clock instant everywhere)? */
static bool seg_stale(const struct sched *s, uint32_t num)
{
	if (s->started && num < s->play_next)
		return true;
	const struct seg *g = seg_find(s, num);
	return g && g->have_desc && s->wall_us && s->wall_us > desc_deadline(s, g);
}

/* Ask neighbours that hold more for recoded blocks of a generation short of
 * rank near its deadline or stalled. */
static void maybe_repair(struct sched *s, struct seg *g, int l, int64_t now_us)
{
	struct gen *gn = &g->gen[l];
	if (!gn->live || gn->done)
		return;
	int64_t rtt = source_rtt(s);
	int64_t interval = 2 * rtt + 150000;
	if (now_us - gn->repair_us < interval)
		return;
	int64_t deadline = g->have_desc ? seg_deadline(s, g->num) : INT64_MAX;
	if (s->wall_us > deadline)
		return; /* nobody plays it now */
	bool near = s->wall_us >= deadline - s->cfg.repair_us;
	bool stalled = now_us - gn->last_innov_us > 1000000;
	/* A peer yet to start asks at once for the base layer, of neighbours
	 * done with it only: a flash crowd's newcomers missed the forward
	 * blocks of the segment under way, and near its deadline the
	 * neighbours could no longer repair them all in time. */
	bool early = !near && !stalled && !s->started && l == 0;
	if (!near && !stalled && !early)
		return;
	unsigned rank = nc_dec_rank(gn->dec);
	unsigned need = gn->k - rank;
	/* Candidates: neighbours done with it, else those holding more than
	 * we do; two of them, each drawn with odds in proportion to its
	 * upload, so that the swarm's repairs follow its upload (taking the
	 * ones with the most upload to spare sent most of a flash crowd's
	 * repairs to the slowest peers, as they relay nothing, and those
	 * then missed their own segments); the source when nobody else can. */
	int cand[SCHED_MAX_NBRS];
	int nc = 0, ndone = 0;
	for (int n = 0; n < SCHED_MAX_NBRS; n++) {
		const struct nbr *nb = &s->nbr[n];
		if (!nb->used || nb->is_source)
			continue;
		if (nbr_done(nb, g->num, l)) {
			if (nc > ndone)
				cand[nc] = cand[ndone]; /* done ones first */
			cand[ndone++] = n;
			nc++;
		} else if (nbr_rank(nb, g->num, l) > rank) {
			cand[nc++] = n;
		}
	}
	if (early)
		nc = ndone;
	int pick = 0;
	for (; pick < 2 && pick < nc; pick++)
		draw_by_upload(s, cand, pick, pick < ndone ? ndone : nc);
	nc = pick;
	if (early && !nc)
		return;
	if (!nc && s->source_nbr >= 0)
		cand[nc++] = s->source_nbr;
	if (!nc)
		return;
	if (!s->cfg.coding) {
		/* Plain chunks: name the missing ones, dealt out among the
		 * candidates so that no chunk is asked of two. */
		struct wire_msg m[SCHED_MAX_NBRS];
		for (int i = 0; i < nc; i++) {
			memset(&m[i], 0, sizeof m[i]);
			m[i].type = WIRE_WANT;
			m[i].u.want.segment = g->num;
			m[i].u.want.layer = (uint8_t)l;
			m[i].u.want.k = gn->k;
		}
		unsigned j = 0;
		for (unsigned c = 0; c < gn->k; c++)
			if (!gn->chunk_have[c]) {
				struct wire_want *w = &m[j++ % (unsigned)nc].u.want;
				w->bitmap[c / 8] |= (uint8_t)(1u << (c % 8));
			}
		for (int i = 0; i < nc && i < (int)j; i++) {
			gn->asked |= 1ull << cand[i];
			if (send_msg(s, cand[i], &m[i]) == 0)
				s->st.repairs_sent++;
		}
		gn->repair_us = now_us;
		return;
	}
	unsigned each = (need + (unsigned)nc - 1) / (unsigned)nc;
	/* A newcomer asks for a few blocks at a time: its neighbours serve
	 * the shortest requests first, and a whole generation asked of one of
	 * them waited behind everyone's shorter ones until it could no longer
	 * be met (in swarm_bench's flash crowd, a newcomer 0.45-0.65 s after
	 * the first then missed its first segment and started 1 s later). It
	 * asks again each interval. */
	if (early && each > EARLY_REPAIR_MAX)
		each = EARLY_REPAIR_MAX;
	for (int i = 0; i < nc; i++) {
		struct wire_msg m = { .type = WIRE_PULL };
		m.u.pull.segment = g->num;
		m.u.pull.layer = (uint8_t)l;
		m.u.pull.flags = WIRE_PULL_REPAIR;
		m.u.pull.count = (uint16_t)(each > WIRE_K_MAX ? WIRE_K_MAX : each);
		gn->asked |= 1ull << cand[i];
		if (send_msg(s, cand[i], &m) == 0)
			s->st.repairs_sent++;
	}
	gn->repair_us = now_us;
}

static int layers_complete(const struct seg *g)
{
	int lvl = -1;
	int nl = g->have_desc ? g->desc.nlayers : WIRE_LAYERS_MAX;
	for (int l = 0; l < nl; l++) {
		if (!g->gen[l].done || !g->gen[l].data)
			break;
		lvl = l;
	}
	return lvl;
}

/* Cumulative rate (kbps) of layers 0..l from a descriptor. */
static uint64_t cum_kbps(const struct wire_segment *d, int l)
{
	uint64_t bytes = 0;
	for (int i = 0; i <= l && i < d->nlayers; i++)
		bytes += d->layer[i].size;
	uint64_t dur = d->duration_us ? d->duration_us : 1000000;
	return bytes * 8 * 1000 / dur;
}

static void set_level(struct sched *s, int level, int64_t now_us)
{
	if (level == s->level)
		return;
	s->level = level;
	s->level_change_us = now_us;
	s->level_from_seg = s->any_seg ? s->newest + 1 : 0;
	send_subscribe(s, -1);
}

/* The highest level the cap and the download allow, from a descriptor;
 * a change is announced at once. */
static int update_top(struct sched *s, const struct wire_segment *d)
{
	int top = d->nlayers - 1;
	if (top > s->cfg.max_level)
		top = s->cfg.max_level;
	/* Never more than the download sustains. */
	if (s->cfg.down_kbps)
		while (top > 0 && cum_kbps(d, top) * 105 / 100 > s->cfg.down_kbps)
			top--;
	if (top != s->top) {
		s->top = top;
		if (s->level > top)
			s->level = top;
		send_subscribe(s, -1);
	}
	return top;
}

/* Layer adaptation after segment g was played at `played`. */
static void adapt(struct sched *s, const struct seg *g, int played, int64_t now_us)
{
	if (s->level < 0 || !g->have_desc)
		return;
	int top = update_top(s, &g->desc);
	if (s->level > top) {
		set_level(s, top, now_us);
		return;
	}
	if (g->num < s->level_from_seg)
		return; /* asked for at another level: says nothing about this one */
	if (played < s->level) {
		s->st.layer[played + 1].gens_missed++;
		s->shortfall_us = now_us;
		s->probe_ok = 0;
		set_level(s, s->level > 0 ? s->level - 1 : 0, now_us);
		return;
	}
	/* Up when the probe layer kept arriving complete for a while. */
	s->probe_ok = played > s->level ? s->probe_ok + 1 : 0;
	if (s->level < top && s->probe_ok >= 3 && now_us - s->level_change_us >= s->cfg.stable_us &&
	    now_us - s->shortfall_us >= s->cfg.stable_us) {
		s->probe_ok = 0;
		set_level(s, s->level + 1, now_us);
	}
}

/* Play what is due at wall_us; last_us: the wall clock at the previous
 * tick. */
static void play_due(struct sched *s, int64_t now_us, int64_t wall_us, int64_t last_us)
{
	if (!s->started) {
		/* Start with the oldest segment whose base layer was complete
		 * by its deadline, once that deadline comes (since the last
		 * tick): until then an older one may still complete before its
		 * own (a newcomer's laggard blocks and repairs often finish the
		 * segment that was under way when it joined after the next
		 * one). */
		struct seg *first = NULL;
		for (unsigned i = 0; i < SCHED_WINDOW; i++) {
			struct seg *g = &s->seg[i];
			if (!g->used || !g->gen[0].done || !g->have_desc || g->played ||
			    (first && g->num > first->num))
				continue;
			s->dur_us = g->desc.duration_us ? g->desc.duration_us : 1000000;
			int64_t deadline = seg_deadline(s, g->num);
			if (g->gen[0].done_wall_us <= deadline && deadline >= last_us)
				first = g; /* else too late for it */
		}
		if (!first || wall_us < seg_deadline(s, first->num))
			return;
		s->dur_us = first->desc.duration_us ? first->desc.duration_us : 1000000;
		s->s0 = first->num;
		s->cap0_us = first->desc.capture_us;
		s->started = true;
		s->play_next = first->num;
	}
	while (wall_us >= seg_deadline(s, s->play_next)) {
		uint32_t num = s->play_next++;
		struct seg *g = seg_find(s, num);
		struct sched_play p = { .segment = num, .level = -1 };
		if (g) {
			p.level = layers_complete(g);
			if (p.level > s->cfg.max_level)
				p.level = s->cfg.max_level;
			if (g->have_desc) {
				p.desc = &g->desc;
				p.lag_us = wall_us - g->desc.capture_us;
			}
			for (int l = 0; l <= p.level; l++) {
				p.payload[l] = g->gen[l].data;
				p.len[l] = g->gen[l].len;
			}
			for (int l = p.level + 1; l <= s->level && g->have_desc && l < g->desc.nlayers;
			     l++)
				if (!g->gen[l].done && g->num >= s->level_from_seg)
					s->st.layer[l].gens_missed++;
			g->played = true;
		}
		if (s->st.startup_us < 0)
			s->st.startup_us = now_us - s->created_us;
		s->st.segments_played++;
		if (p.level >= 0) {
			s->st.segments_ok++;
			s->st.playing_level = p.level;
		} else {
			s->st.stalls++;
		}
		if (s->ops.play)
			s->ops.play(s->ops.ctx, &p);
		if (g)
			adapt(s, g, p.level, now_us);
	}
}

void sched_tick(struct sched *s, int64_t now_us, int64_t wall_us)
{
	int64_t last_us = s->tick_wall_us;
	s->wall_us = s->tick_wall_us = wall_us;
	if (!s->cfg.source) {
		for (unsigned i = 0; i < SCHED_WINDOW; i++) {
			struct seg *g = &s->seg[i];
			if (!g->used || g->played || (s->started && g->num < s->play_next))
				continue;
			for (int l = 0; l <= s->level && l < WIRE_LAYERS_MAX; l++)
				maybe_repair(s, g, l, now_us);
		}
		for (unsigned i = 0; i < SCHED_WINDOW; i++) {
			struct seg *g = &s->seg[i];
			if (g->used && g->have_desc && !g->desc_relayed &&
			    now_us - g->desc_us >= DESC_RELAY_DELAY_US)
				relay_desc(s, g);
		}
		maybe_pull(s, now_us);
		if (!s->paused)
			play_due(s, now_us, wall_us, last_us);
	}
	sched_pump(s, now_us);
}

void sched_set_cap(struct sched *s, uint8_t max_level, int64_t now_us)
{
	if (max_level >= WIRE_LAYERS_MAX)
		max_level = WIRE_LAYERS_MAX - 1;
	s->cfg.max_level = max_level;
	if (!s->cfg.source && s->level > max_level)
		set_level(s, max_level, now_us);
	else
		send_subscribe(s, -1);
}

void sched_set_active(struct sched *s, bool active)
{
	if (active && s->paused)
		s->started = false; /* start up again on the next complete segment */
	s->paused = !active;
}

/* ---- life cycle and stats --------------------------------------------------- */

int sched_new(struct sched **out, const struct sched_config *cfg, const struct sched_ops *ops,
	      int64_t now_us)
{
	if (!out || !cfg || !ops || !ops->send || !ops->room)
		return LC_EINVAL;
	struct sched *s = calloc(1, sizeof *s);
	if (!s)
		return LC_ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.pull_blocks)
		s->cfg.pull_blocks = 4;
	if (s->cfg.max_level >= WIRE_LAYERS_MAX)
		s->cfg.max_level = WIRE_LAYERS_MAX - 1;
	s->ops = *ops;
	lc_rng_seed(&s->rng, cfg->seed);
	s->created_us = now_us;
	s->source_nbr = -1;
	s->level = cfg->source ? -1 : 0;
	s->top = s->cfg.max_level;
	s->level_change_us = now_us;
	s->shortfall_us = now_us;
	s->dur_us = 1000000;
	s->st.startup_us = -1;
	s->st.playing_level = -1;
	lc_rate_init(&s->rx, 250000);
	s->pull_lead_us = 400000;
	s->scratch = malloc(WIRE_K_MAX + WIRE_B_MAX);
	if (!s->scratch) {
		free(s);
		return LC_ENOMEM;
	}
	*out = s;
	return 0;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < SCHED_WINDOW; i++)
		seg_clear(&s->seg[i]);
	while (s->fwd_n) {
		free(s->fwd[s->fwd_head].buf);
		s->fwd_head = (s->fwd_head + 1) % FWD_MAX;
		s->fwd_n--;
	}
	free(s->scratch);
	free(s);
}

void sched_get_stats(const struct sched *s, struct sched_stats *st)
{
	*st = s->st;
	st->level = s->level;
	st->started = s->started;
	st->newest_segment = s->newest;
	st->buffer_us = 0;
	for (int i = 0; i < SCHED_WINDOW; i++) {
		const struct seg *g = &s->seg[i];
		if (g->used && !g->played && g->have_desc && g->gen[0].done &&
		    (!s->started || g->num >= s->play_next))
			st->buffer_us += g->desc.duration_us;
	}
}

int sched_nbr_stats(const struct sched *s, uint32_t link, struct sched_nbr_stats *out)
{
	int n = nbr_find(s, link);
	if (n < 0)
		return LC_ENOENT;
	const struct nbr *nb = &s->nbr[n];
	*out = (struct sched_nbr_stats){ .level = nb->level, .blocks_in = nb->blocks_in,
					 .blocks_useful = nb->blocks_useful,
					 .blocks_out = nb->blocks_out };
	return 0;
}

int sched_gen_progress(const struct sched *s, uint32_t segment, int layer, unsigned *rank,
		       unsigned *k)
{
	if (layer < 0 || layer >= WIRE_LAYERS_MAX)
		return LC_EINVAL;
	const struct seg *g = &s->seg[segment % SCHED_WINDOW];
	if (!g->used || g->num != segment || !g->gen[layer].live)
		return LC_ENOENT;
	const struct gen *gn = &g->gen[layer];
	*k = gn->k;
	*rank = gn->done ? gn->k : gn->dec ? nc_dec_rank(gn->dec) : gn->k;
	return 0;
}
