/*
 * swarm: membership, neighbour set and churn. See swarm.h for the policy.
 *
 * Tables: the links in a small array (a peer has tens of them; the source a
 * few hundred), the known peers in an open-addressing hash keyed by peer id
 * (a tracker may know thousands), the ids of peers that said BYE in a ring
 * of tombstones, and the churn counts in per-second buckets of the last
 * minute.
 */
#include "swarm/swarm.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MOD "swarm"

#define TOMBS 256
#define BUCKETS 64          /* seconds of churn history (>= 60) */
#define GIVE_UP_FAILS 4     /* failed dials in a row before a peer is forgotten */
#define MAX_INFLIGHT 8      /* dials not yet past HELLO */
#define EXPIRE_EVERY_US 1000000
#define GOSSIP_GROWTH 8 /* the gossip interval grows to this many times gossip_interval_us */
#define RTT_EVERY_US 5000000        /* between RTT samples on a busy link with the source */
#define RTT_EVERY_PEERS_US 20000000 /* ... between two other peers (shown, not scheduled on) */
#define EXPLORE_ROUNDS 3      /* explorations after a change: 8, 16, 32 s apart */
#define EVICT_MIN_AGE_US 10000000 /* a neighbour this young is never evicted */

struct slink {
	uint32_t id;
	enum swarm_link_state state;
	bool dialled;
	bool bootstrap;           /* the dial of the tracker address */
	bool explore;             /* an exploration dial (see fill()) */
	uint64_t expect_id;       /* dialled: the peer id we dialled (0 unknown) */
	uint64_t peer_id;         /* from HELLO */
	uint8_t role;
	uint16_t proto;
	uint16_t port;            /* advertised */
	uint32_t up_kbps, down_kbps;
	char host[WIRE_HOST_MAX + 1];        /* advertised, or as seen */
	char remote_host[WIRE_HOST_MAX + 1]; /* dialled or seen from */
	uint16_t remote_port;
	int64_t created_us, open_us, since_us, last_rx_us, next_ping_us;
	int64_t last_ping_us;     /* last PING with ECHO (an RTT sample is due every RTT_EVERY*) */
	int64_t rtt_us, srtt_us, rttvar_us;
	int64_t peers_sent_us;    /* last PEERS to it */
};

struct known {
	uint64_t id;              /* 0: empty slot */
	char host[WIRE_HOST_MAX + 1];
	uint16_t port;
	uint8_t role;             /* from HELLO; 0 unknown */
	bool counted;             /* a join was counted, no leave/failure since */
	bool tried;
	uint8_t fails;            /* failed dials in a row */
	uint8_t backoff_exp;
	bool hint;                /* first entry of a tracker's PEERS: the source, likely */
	uint32_t mark;            /* == swarm.mark: has a link (see mark_linked) */
	int64_t heard_us;
	int64_t next_dial_us;
};

struct tomb {
	uint64_t id;
	int64_t until_us;
};

struct bucket {
	int64_t sec;
	uint32_t n[SWARM_EV_KINDS];
};

struct swarm {
	struct swarm_config cfg;
	struct swarm_ops ops;
	char stream[WIRE_STREAM_MAX + 1];
	char software[WIRE_SOFTWARE_MAX + 1];
	char host[WIRE_HOST_MAX + 1];
	char tracker_host[WIRE_HOST_MAX + 1];
	struct lc_rng rng;
	bool joined;

	struct slink *links;
	size_t nlinks, caplinks;

	struct known *kt;         /* kcap slots, power of two */
	size_t kcap, kcount;
	uint32_t mark;

	struct tomb tomb[TOMBS];
	unsigned tomb_next;

	uint64_t tracker_id;      /* learned from the bootstrap link's HELLO */
	bool boot_stop;           /* the tracker address is our own, or refused us */
	unsigned boot_fails;
	int64_t boot_next_us;
	int64_t gossip_next_us;
	int64_t gossip_iv_us;     /* the gossip interval now (see gossip_reset) */
	unsigned gossip_heard;    /* PEERS heard this interval that taught nothing */
	int64_t expire_next_us;
	int64_t fill_next_us;     /* earliest time fill() may dial again */
	bool need_fill;           /* a link went away since the last fill() */
	int64_t explore_next_us;
	unsigned explore_exp;     /* exploration interval = 4 gossip intervals << this */

	struct swarm_stats st;    /* the counters part */
	struct bucket bucket[BUCKETS];
	struct swarm_event recent[SWARM_RECENT_EVENTS];
	unsigned nrecent, recent_next;
};

static bool is_source(const struct swarm *sw) { return sw->cfg.role & WIRE_ROLE_SOURCE; }
static bool is_tracker(const struct swarm *sw) { return sw->cfg.role & WIRE_ROLE_TRACKER; }

static bool valid_str(const char *s, size_t max, bool host)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7E || (host && c == ' '))
			return false;
	}
	return true;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
}

/* b times 0.75..1.25. */
static int64_t backoff_jitter(struct swarm *sw, int64_t b)
{
	int64_t span = b / 2;
	if (span > 0 && span < (int64_t)UINT32_MAX)
		return b - b / 4 + (int64_t)lc_rng_below(&sw->rng, (uint32_t)span + 1);
	return b;
}

/* Jittered exponential backoff: min << exp capped at max, times 0.75..1.25. */
static int64_t backoff_us(struct swarm *sw, unsigned exp)
{
	int64_t b = sw->cfg.backoff_min_us;
	for (unsigned i = 0; i < exp && b < sw->cfg.backoff_max_us; i++)
		b *= 2;
	if (b > sw->cfg.backoff_max_us)
		b = sw->cfg.backoff_max_us;
	return backoff_jitter(sw, b);
}

/* ---- known peers: open addressing, linear probing, backward-shift delete */

static size_t khash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static struct known *known_get(const struct swarm *sw, uint64_t id)
{
	if (!id || !sw->kcap)
		return NULL;
	for (size_t i = khash(id, sw->kcap);; i = (i + 1) & (sw->kcap - 1)) {
		if (sw->kt[i].id == id)
			return &sw->kt[i];
		if (!sw->kt[i].id)
			return NULL;
	}
}

static void known_del(struct swarm *sw, struct known *k)
{
	size_t mask = sw->kcap - 1;
	size_t i = (size_t)(k - sw->kt);
	sw->kt[i].id = 0;
	sw->kcount--;
	/* Backward shift: move later members of the cluster into the hole when
	 * their home slot is not between the hole and them. */
	for (size_t j = (i + 1) & mask; sw->kt[j].id; j = (j + 1) & mask) {
		size_t h = khash(sw->kt[j].id, sw->kcap);
		bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!between) {
			sw->kt[i] = sw->kt[j];
			sw->kt[j].id = 0;
			i = j;
		}
	}
}

static int known_grow(struct swarm *sw)
{
	size_t ncap = sw->kcap ? sw->kcap * 2 : 64;
	struct known *nt = calloc(ncap, sizeof *nt);
	if (!nt)
		return LC_ENOMEM;
	for (size_t i = 0; i < sw->kcap; i++) {
		if (!sw->kt[i].id)
			continue;
		size_t j = khash(sw->kt[i].id, ncap);
		while (nt[j].id)
			j = (j + 1) & (ncap - 1);
		nt[j] = sw->kt[i];
	}
	free(sw->kt);
	sw->kt = nt;
	sw->kcap = ncap;
	return 0;
}

static bool linked_to(const struct swarm *sw, uint64_t id)
{
	for (size_t i = 0; i < sw->nlinks; i++)
		if (sw->links[i].peer_id == id || sw->links[i].expect_id == id)
			return true;
	return false;
}

/* Make room when the table is at known_max: drop the stalest entry with no
 * link. false when every entry is linked. */
static bool known_evict(struct swarm *sw)
{
	struct known *old = NULL;
	for (size_t i = 0; i < sw->kcap; i++) {
		struct known *k = &sw->kt[i];
		if (k->id && (!old || k->heard_us < old->heard_us) && !linked_to(sw, k->id))
			old = k;
	}
	if (!old)
		return false;
	known_del(sw, old);
	return true;
}

/* The entry for id, created if missing (NULL when the table is full of
 * linked peers or memory ran out). */
static struct known *known_put(struct swarm *sw, uint64_t id, int64_t now)
{
	struct known *k = known_get(sw, id);
	if (k)
		return k;
	if (sw->kcount >= sw->cfg.known_max && !known_evict(sw))
		return NULL;
	if ((sw->kcount + 1) * 2 > sw->kcap && known_grow(sw) < 0)
		return NULL;
	size_t i = khash(id, sw->kcap);
	while (sw->kt[i].id)
		i = (i + 1) & (sw->kcap - 1);
	k = &sw->kt[i];
	memset(k, 0, sizeof *k);
	k->id = id;
	k->heard_us = now;
	k->next_dial_us = now;
	sw->kcount++;
	return k;
}

static bool dialable(const struct known *k)
{
	return k->port && k->host[0];
}

/* ---- tombstones of peers that left ---------------------------------- */

static bool tombstoned(const struct swarm *sw, uint64_t id, int64_t now)
{
	for (unsigned i = 0; i < TOMBS; i++)
		if (sw->tomb[i].id == id && sw->tomb[i].until_us > now)
			return true;
	return false;
}

static void tomb_add(struct swarm *sw, uint64_t id, int64_t now)
{
	for (unsigned i = 0; i < TOMBS; i++)
		if (sw->tomb[i].id == id) {
			sw->tomb[i].until_us = now + sw->cfg.known_ttl_us;
			return;
		}
	sw->tomb[sw->tomb_next].id = id;
	sw->tomb[sw->tomb_next].until_us = now + sw->cfg.known_ttl_us;
	sw->tomb_next = (sw->tomb_next + 1) % TOMBS;
}

static void tomb_clear(struct swarm *sw, uint64_t id)
{
	for (unsigned i = 0; i < TOMBS; i++)
		if (sw->tomb[i].id == id)
			sw->tomb[i].id = 0;
}

/* ---- churn counts --------------------------------------------------- */

static int64_t sec_of(int64_t us)
{
	return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}

static void churn(struct swarm *sw, enum swarm_event_kind kind, uint64_t peer, int64_t now)
{
	switch (kind) {
	case SWARM_EV_JOIN: sw->st.joins++; break;
	case SWARM_EV_LEAVE: sw->st.leaves++; break;
	default: sw->st.failures++; break;
	}
	int64_t s = sec_of(now);
	struct bucket *b = &sw->bucket[(uint64_t)s % BUCKETS];
	if (b->sec != s) {
		memset(b, 0, sizeof *b);
		b->sec = s;
	}
	b->n[kind]++;
	if (kind != SWARM_EV_JOIN)
		sw->explore_exp = 0;
	sw->recent[sw->recent_next] = (struct swarm_event){ .t_us = now, .peer_id = peer, .kind = kind };
	sw->recent_next = (sw->recent_next + 1) % SWARM_RECENT_EVENTS;
	if (sw->nrecent < SWARM_RECENT_EVENTS)
		sw->nrecent++;
	LC_DEBUG(MOD, "%016llx: %s %016llx", (unsigned long long)sw->cfg.self_id,
		 kind == SWARM_EV_JOIN ? "join" : kind == SWARM_EV_LEAVE ? "leave" : "failure",
		 (unsigned long long)peer);
}

/* ---- links ---------------------------------------------------------- */

static struct slink *link_find(const struct swarm *sw, uint32_t id)
{
	for (size_t i = 0; i < sw->nlinks; i++)
		if (sw->links[i].id == id)
			return &sw->links[i];
	return NULL;
}

static struct slink *link_add(struct swarm *sw, uint32_t id, int64_t now)
{
	if (sw->nlinks == sw->caplinks) {
		size_t ncap = sw->caplinks ? sw->caplinks * 2 : 16;
		struct slink *nl = realloc(sw->links, ncap * sizeof *nl);
		if (!nl)
			return NULL;
		sw->links = nl;
		sw->caplinks = ncap;
	}
	struct slink *l = &sw->links[sw->nlinks++];
	memset(l, 0, sizeof *l);
	l->id = id;
	l->created_us = now;
	l->open_us = now;
	l->since_us = now;
	l->last_rx_us = now;
	l->rtt_us = l->srtt_us = l->rttvar_us = -1;
	l->peers_sent_us = INT64_MIN;
	return l;
}

/* Another link to the same peer, past its HELLO. */
static struct slink *link_other(const struct swarm *sw, const struct slink *l)
{
	for (size_t i = 0; i < sw->nlinks; i++) {
		const struct slink *o = &sw->links[i];
		if (o != l && o->peer_id == l->peer_id &&
		    (o->state == SWARM_LINK_ACCEPTED || o->state == SWARM_LINK_NEIGHBOUR))
			return (struct slink *)o;
	}
	return NULL;
}

/*
 * Gossip is paced as Trickle (RFC 6206) paces its messages: the interval
 * doubles after each PEERS, up to GOSSIP_GROWTH x gossip_interval_us, while
 * the membership is quiet, and is back to gossip_interval_us, with the next
 * PEERS within one interval, when it changes (a peer learned, a neighbour
 * linked or lost). In a quiet full mesh of 30, a PEERS of 29 entries every
 * 2 s was 5 % of the upload of a 50 kbit/s peer. As in Trickle, a peer
 * that heard a PEERS in the interval that taught it nothing (redundancy
 * constant 1) sends none at the interval's end: the neighbours are
 * consistent already. The tracker always sends its samples.
 */
static void gossip_reset(struct swarm *sw, int64_t now)
{
	int64_t gi = sw->cfg.gossip_interval_us;
	sw->gossip_heard = 0;
	if (sw->gossip_iv_us <= gi)
		return;
	sw->gossip_iv_us = gi;
	int64_t next = now + gi / 2 + (int64_t)lc_rng_below(&sw->rng, (uint32_t)(gi / 2 + 1));
	if (sw->gossip_next_us > next)
		sw->gossip_next_us = next;
}

/* Remove a link from the table (l is invalid afterwards), telling the
 * scheduler if it was a neighbour and the transport if close is set. */
static void link_drop(struct swarm *sw, struct slink *l, bool do_close, int ws_code,
		      const char *reason, bool failed)
{
	struct slink c = *l;
	*l = sw->links[--sw->nlinks];
	sw->need_fill = true;
	if (c.state == SWARM_LINK_NEIGHBOUR && sw->ops.nbr_down)
		sw->ops.nbr_down(sw->ops.ctx, c.id, failed);
	if (do_close && sw->ops.close)
		sw->ops.close(sw->ops.ctx, c.id, ws_code, reason);
}

/* Count the loss of l's peer as a leave or failure, unless another link to
 * it carries on (a duplicate being replaced). */
static void link_lost(struct swarm *sw, struct slink *l, enum swarm_event_kind kind, int64_t now)
{
	if (!l->peer_id || link_other(sw, l))
		return;
	struct known *k = known_get(sw, l->peer_id);
	if (k && k->counted) {
		k->counted = false;
		churn(sw, kind, l->peer_id, now);
	}
	gossip_reset(sw, now);
}

static int send_msg(struct swarm *sw, const struct slink *l, const struct wire_msg *m)
{
	return sw->ops.send ? sw->ops.send(sw->ops.ctx, l->id, m) : LC_EINVAL;
}

static void send_bye(struct swarm *sw, const struct slink *l, uint16_t code, const char *reason)
{
	struct wire_msg m = { .type = WIRE_BYE };
	m.u.bye.code = code;
	copy_str(m.u.bye.reason, sizeof m.u.bye.reason, reason);
	send_msg(sw, l, &m);
}

/* BYE, then close and forget. */
static void bye_close(struct swarm *sw, struct slink *l, uint16_t code, const char *reason,
		      int ws_code, bool failed)
{
	send_bye(sw, l, code, reason);
	link_drop(sw, l, true, ws_code, reason, failed);
}

static void send_hello(struct swarm *sw, const struct slink *l)
{
	struct wire_msg m = { .type = WIRE_HELLO };
	struct wire_hello *h = &m.u.hello;
	h->proto = sw->cfg.proto;
	h->role = sw->cfg.role;
	h->peer_id = sw->cfg.self_id;
	h->up_kbps = sw->cfg.up_kbps;
	h->down_kbps = sw->cfg.down_kbps;
	h->port = sw->cfg.port;
	copy_str(h->host, sizeof h->host, sw->host);
	copy_str(h->stream, sizeof h->stream, sw->stream);
	copy_str(h->software, sizeof h->software, sw->software);
	send_msg(sw, l, &m);
}

/* How often a link takes an RTT sample: the scheduler paces pulls with the
 * RTT to the source, and the source its relays with the RTT to each;
 * between two other peers the RTT is only shown, and a PING and PONG every
 * 5 s on each of 30 links were 3 % of the upload of a 50 kbit/s peer. */
static int64_t rtt_every(const struct swarm *sw, const struct slink *l)
{
	return is_source(sw) || (l->role & WIRE_ROLE_SOURCE) ? RTT_EVERY_US : RTT_EVERY_PEERS_US;
}

/* A PING asks for a PONG (ECHO) when an RTT sample is due (within the
 * quarter interval that pings are brought forward by) or when the
 * neighbour has been quiet for half an interval (its PONG then keeps it
 * alive to us); else it only says that we are alive, and gets no answer:
 * on a link that carries blocks one way, the other end's keepalives were
 * each answered by a PONG that told nothing. */
static bool ping_echo(const struct swarm *sw, const struct slink *l, int64_t now)
{
	int64_t iv = sw->cfg.ping_interval_us;
	return now - l->last_rx_us >= iv / 2 || now >= l->last_ping_us + rtt_every(sw, l) - iv / 4;
}

static void send_ping(struct swarm *sw, struct slink *l, bool echo, int64_t now)
{
	struct wire_msg m = { .type = WIRE_PING };
	m.u.ping.nonce = (uint32_t)now;
	m.u.ping.flags = echo ? WIRE_PING_ECHO : 0;
	send_msg(sw, l, &m);
	if (echo)
		l->last_ping_us = now;
	l->next_ping_us = now + sw->cfg.ping_interval_us;
}

/* We sent l a message: that proves us alive to it, so the next PING waits
 * for an idle interval (plus slack), or for the next RTT sample. */
static void sent_to(struct swarm *sw, struct slink *l, int64_t slack, int64_t now)
{
	if (l->state != SWARM_LINK_NEIGHBOUR)
		return;
	int64_t idle = now + sw->cfg.ping_interval_us + slack;
	int64_t rtt = l->last_ping_us + rtt_every(sw, l);
	if (l->next_ping_us < idle)
		l->next_ping_us = idle < rtt ? idle : rtt;
}

/* A dial that never got past the handshake. */
static void dial_failed(struct swarm *sw, const struct slink *l)
{
	sw->st.dial_failures++;
	uint64_t id = l->peer_id ? l->peer_id : l->expect_id;
	struct known *k = known_get(sw, id);
	if (k && ++k->fails >= GIVE_UP_FAILS && !k->counted)
		known_del(sw, k);
}

/* ---- PEERS samples -------------------------------------------------- */

static void peers_add(struct wire_peers *p, uint64_t id, const char *host, uint16_t port)
{
	struct wire_peer *e = &p->peer[p->count++];
	e->peer_id = id;
	e->port = port;
	copy_str(e->host, sizeof e->host, host);
}

/* The PEERS for the neighbour exclude. A tracker: the source first, then a
 * uniform sample of the live known peers. Others: the source first, then a
 * sample of the neighbours linked after since (INT64_MIN: all). Never the
 * recipient, never a peer without a listen address. */
static void build_peers(struct swarm *sw, struct wire_peers *p, uint64_t exclude, int64_t since,
			int64_t now)
{
	p->count = 0;
	uint64_t src = 0;
	if (is_tracker(sw)) {
		for (size_t i = 0; i < sw->kcap; i++) {
			struct known *k = &sw->kt[i];
			if (k->id && (k->role & WIRE_ROLE_SOURCE) && k->id != exclude && dialable(k) &&
			    now - k->heard_us <= sw->cfg.known_ttl_us) {
				peers_add(p, k->id, k->host, k->port);
				src = k->id;
				break;
			}
		}
		unsigned base = p->count, seen = 0;
		for (size_t i = 0; i < sw->kcap; i++) {
			struct known *k = &sw->kt[i];
			if (!k->id || k->id == exclude || k->id == src || !dialable(k) ||
			    now - k->heard_us > sw->cfg.known_ttl_us)
				continue;
			seen++;
			if (p->count < WIRE_PEERS_MAX) {
				peers_add(p, k->id, k->host, k->port);
			} else {
				uint32_t j = lc_rng_below(&sw->rng, seen);
				if (j < WIRE_PEERS_MAX - base) {
					p->count = base + j;
					peers_add(p, k->id, k->host, k->port);
					p->count = WIRE_PEERS_MAX;
				}
			}
		}
		return;
	}
	for (size_t i = 0; i < sw->nlinks; i++) {
		struct slink *l = &sw->links[i];
		if (l->state == SWARM_LINK_NEIGHBOUR && (l->role & WIRE_ROLE_SOURCE) &&
		    l->peer_id != exclude && l->port && l->host[0] && l->since_us > since) {
			peers_add(p, l->peer_id, l->host, l->port);
			src = l->peer_id;
			break;
		}
	}
	unsigned base = p->count, seen = 0;
	for (size_t i = 0; i < sw->nlinks; i++) {
		struct slink *l = &sw->links[i];
		if (l->state != SWARM_LINK_NEIGHBOUR || l->peer_id == exclude || l->peer_id == src ||
		    !l->port || !l->host[0] || l->since_us <= since)
			continue;
		seen++;
		if (p->count < WIRE_PEERS_MAX) {
			peers_add(p, l->peer_id, l->host, l->port);
		} else {
			uint32_t j = lc_rng_below(&sw->rng, seen);
			if (j < WIRE_PEERS_MAX - base) {
				p->count = base + j;
				peers_add(p, l->peer_id, l->host, l->port);
				p->count = WIRE_PEERS_MAX;
			}
		}
	}
}

/* news: only the neighbours linked since l last had PEERS from us; the
 * first time, all of them if l dialled us (we may be how it found the
 * swarm), else those linked since we dialled it (we found it where it
 * found the others). */
static void send_peers(struct swarm *sw, struct slink *l, bool news, int64_t now)
{
	int64_t since = !news ? INT64_MIN
			      : l->peers_sent_us != INT64_MIN ? l->peers_sent_us
			      : l->dialled ? l->since_us : INT64_MIN;
	l->peers_sent_us = now;
	struct wire_msg m = { .type = WIRE_PEERS };
	build_peers(sw, &m.u.peers, l->peer_id, since, now);
	if (!m.u.peers.count)
		return;
	if (send_msg(sw, l, &m) == 0)
		sw->st.peers_sent++;
}

/* ---- filling the neighbour set -------------------------------------- */

static unsigned nonsource_slots(const struct swarm *sw)
{
	unsigned max = sw->cfg.max_neighbours;
	return is_source(sw) ? max : max - 1;
}

static uint8_t link_role(const struct swarm *sw, const struct slink *l)
{
	if (l->peer_id)
		return l->role;
	const struct known *k = known_get(sw, l->expect_id);
	return k ? k->role : 0;
}

/* Whether a peer of this role fits, counting the links past HELLO other
 * than `except`. */
static bool room_for(const struct swarm *sw, uint8_t role, const struct slink *except)
{
	if (!is_source(sw) && (role & WIRE_ROLE_SOURCE))
		return true; /* the reserved slot */
	unsigned used = 0;
	for (size_t i = 0; i < sw->nlinks; i++) {
		const struct slink *l = &sw->links[i];
		if (l == except || (l->state != SWARM_LINK_ACCEPTED && l->state != SWARM_LINK_NEIGHBOUR))
			continue;
		if (!is_source(sw) && (l->role & WIRE_ROLE_SOURCE))
			continue;
		used++;
	}
	return used < nonsource_slots(sw);
}

/* More peers known than slots: the partial-mesh regime. */
static bool partial_regime(const struct swarm *sw)
{
	unsigned n = 0;
	for (size_t i = 0; i < sw->kcap; i++) {
		const struct known *k = &sw->kt[i];
		if (k->id && k->id != sw->cfg.self_id && !(k->role & WIRE_ROLE_SOURCE))
			n++;
	}
	return n > nonsource_slots(sw);
}

/* A random non-source neighbour old enough to give up for a newcomer. */
static struct slink *evictable(struct swarm *sw, int64_t now)
{
	struct slink *pick = NULL;
	unsigned seen = 0;
	for (size_t i = 0; i < sw->nlinks; i++) {
		struct slink *l = &sw->links[i];
		if (l->state == SWARM_LINK_NEIGHBOUR && !(l->role & WIRE_ROLE_SOURCE) &&
		    now - l->since_us >= EVICT_MIN_AGE_US && lc_rng_below(&sw->rng, ++seen) == 0)
			pick = l;
	}
	return pick;
}

/* Push the next exploration back, further each time (see fill()). */
static void explore_later(struct swarm *sw, int64_t now)
{
	sw->explore_next_us = now + backoff_jitter(sw, (4 * sw->cfg.gossip_interval_us) << sw->explore_exp);
	if (sw->explore_exp < EXPLORE_ROUNDS)
		sw->explore_exp++;
}

/* A neighbour given up without churn (evicted for a newcomer, either side):
 * a later link to it is a join again. */
static void rewired(struct swarm *sw, struct slink *l, int64_t now)
{
	struct known *k = known_get(sw, l->peer_id);
	sw->st.rewired++;
	if (k) {
		k->counted = false;
		k->next_dial_us = now + backoff_us(sw, k->backoff_exp);
	}
}

static int start_dial(struct swarm *sw, const char *host, uint16_t port, uint64_t expect,
		      bool bootstrap, bool explore, int64_t now)
{
	uint32_t h = 0;
	sw->st.dials++;
	int rc = sw->ops.dial ? sw->ops.dial(sw->ops.ctx, host, port, &h) : LC_EINVAL;
	if (rc < 0) {
		struct slink tmp = { .expect_id = expect };
		dial_failed(sw, &tmp);
		return rc;
	}
	if (link_find(sw, h)) {
		LC_ERR(MOD, "dial returned handle %u already in use", h);
		return LC_EINVAL;
	}
	struct slink *l = link_add(sw, h, now);
	if (!l) {
		if (sw->ops.close)
			sw->ops.close(sw->ops.ctx, h, 1001, "no memory");
		return LC_ENOMEM;
	}
	l->state = SWARM_LINK_DIALLING;
	l->dialled = true;
	l->bootstrap = bootstrap;
	l->explore = explore;
	l->expect_id = expect;
	copy_str(l->remote_host, sizeof l->remote_host, host);
	l->remote_port = port;
	return 0;
}

static void dial_known(struct swarm *sw, struct known *k, bool explore, int64_t now)
{
	k->tried = true;
	k->hint = false;
	k->next_dial_us = now + backoff_us(sw, k->backoff_exp);
	if (k->backoff_exp < 30)
		k->backoff_exp++;
	char host[WIRE_HOST_MAX + 1];
	copy_str(host, sizeof host, k->host);
	start_dial(sw, host, k->port, k->id, false, explore, now); /* may delete k */
}

/* Mark the known entries that have a link, so that candidate() is O(1). */
static void mark_linked(struct swarm *sw)
{
	sw->mark++;
	for (size_t i = 0; i < sw->nlinks; i++) {
		struct known *k = known_get(sw, sw->links[i].peer_id);
		if (k)
			k->mark = sw->mark;
		k = known_get(sw, sw->links[i].expect_id);
		if (k)
			k->mark = sw->mark;
	}
}

static bool candidate(const struct swarm *sw, const struct known *k)
{
	return k->id && k->id != sw->cfg.self_id && dialable(k) && k->mark != sw->mark;
}

/* Uniform choice among the due never-tried candidates, else among the due
 * tried ones (dialling in a common order would make cliques). NULL if none
 * is due; fill_next_us then covers the soonest. */
static struct known *pick_candidate(struct swarm *sw, int64_t now)
{
	struct known *best = NULL;
	unsigned nfresh = 0, nold = 0;
	int64_t soonest = INT64_MAX;
	for (size_t i = 0; i < sw->kcap; i++) {
		struct known *k = &sw->kt[i];
		if (!candidate(sw, k) || (k->role & WIRE_ROLE_SOURCE))
			continue;
		if (k->next_dial_us > now) {
			if (k->next_dial_us < soonest)
				soonest = k->next_dial_us;
			continue;
		}
		if (!k->tried) {
			if (lc_rng_below(&sw->rng, ++nfresh) == 0)
				best = k;
		} else if (!nfresh && lc_rng_below(&sw->rng, ++nold) == 0) {
			best = k;
		}
	}
	if (!best && soonest < sw->fill_next_us)
		sw->fill_next_us = soonest;
	return best;
}

/* Dial what the neighbour set lacks: the source first, then other known
 * peers (never tried first, in the order learnt, then at random), and the
 * tracker address when there is nothing else. Sets fill_next_us. */
static void fill(struct swarm *sw, int64_t now)
{
	sw->fill_next_us = INT64_MAX;
	sw->need_fill = false;
	if (!sw->joined)
		return;
	unsigned used = 0, inflight = 0, live = 0;
	for (size_t i = 0; i < sw->nlinks; i++) {
		const struct slink *l = &sw->links[i];
		if (l->dialled && (l->state == SWARM_LINK_DIALLING || l->state == SWARM_LINK_HELLO))
			inflight++;
		if (l->state == SWARM_LINK_ACCEPTED || l->state == SWARM_LINK_NEIGHBOUR)
			live++;
		if (is_source(sw) || !(link_role(sw, l) & WIRE_ROLE_SOURCE))
			used++;
	}
	if (!is_source(sw)) {
		mark_linked(sw);
		unsigned ncand = 0;
		for (size_t i = 0; i < sw->kcap; i++) {
			struct known *k = &sw->kt[i];
			if (!candidate(sw, k))
				continue;
			if ((k->role & WIRE_ROLE_SOURCE) || k->hint) {
				if (k->next_dial_us <= now) {
					k->mark = sw->mark;
					dial_known(sw, k, false, now);
					inflight++;
					if (!(k->role & WIRE_ROLE_SOURCE))
						used++;
				} else if (k->next_dial_us < sw->fill_next_us) {
					sw->fill_next_us = k->next_dial_us;
				}
				continue;
			}
			ncand++;
		}
		unsigned slots = nonsource_slots(sw);
		bool partial = used + ncand > slots;
		unsigned target = partial ? slots - slots / 4 : slots;
		while (used < target && inflight < MAX_INFLIGHT) {
			struct known *best = pick_candidate(sw, now);
			if (!best)
				break;
			best->mark = sw->mark;
			dial_known(sw, best, false, now);
			used++;
			inflight++;
		}
		/* Exploration: in a partial mesh, a peer at its dial target now and
		 * then dials one more random peer; either end that is full gives up
		 * a random older neighbour for it. This joins up groups that met
		 * early and filled their slots among themselves (the first peers
		 * of a swarm, in full mesh while it was small) and keeps the graph
		 * random. A few rounds after joining and after each leave or
		 * failure, then it stops, so a stable swarm does not rewire. */
		if (partial && target && used >= target && !inflight && sw->explore_exp < EXPLORE_ROUNDS) {
			if (now >= sw->explore_next_us) {
				/* Each exploration may only move a free slot elsewhere,
				 * so back off (up to 64 gossip intervals) until the
				 * swarm changes: a neighbour leaves or fails. */
				explore_later(sw, now);
				struct known *best = pick_candidate(sw, now);
				if (best) {
					sw->st.explored++;
					best->mark = sw->mark;
					dial_known(sw, best, true, now);
				}
			} else if (sw->explore_next_us < sw->fill_next_us) {
				sw->fill_next_us = sw->explore_next_us;
			}
		}
	}
	/* The tracker address: at join, and when isolated with nothing to dial. */
	if (sw->tracker_host[0] && sw->cfg.tracker_port && !sw->boot_stop && !live &&
	    !inflight && !(sw->tracker_id && linked_to(sw, sw->tracker_id))) {
		if (sw->boot_next_us <= now) {
			sw->boot_next_us = now + backoff_us(sw, sw->boot_fails);
			if (sw->boot_fails < 30)
				sw->boot_fails++;
			start_dial(sw, sw->tracker_host, sw->cfg.tracker_port, 0, true, false, now);
		} else if (sw->boot_next_us < sw->fill_next_us) {
			sw->fill_next_us = sw->boot_next_us;
		}
	}
}

/* ---- public ----------------------------------------------------------- */

int swarm_new(const struct swarm_config *cfg, const struct swarm_ops *ops, struct swarm **out)
{
	if (!cfg || !ops || !out || !cfg->self_id)
		return LC_EINVAL;
	if ((cfg->stream && !valid_str(cfg->stream, WIRE_STREAM_MAX, false)) ||
	    (cfg->software && !valid_str(cfg->software, WIRE_SOFTWARE_MAX, false)) ||
	    (cfg->host && !valid_str(cfg->host, WIRE_HOST_MAX, true)) ||
	    (cfg->tracker_host && !valid_str(cfg->tracker_host, WIRE_HOST_MAX, true)))
		return LC_EINVAL;
	if (cfg->role & ~(WIRE_ROLE_SOURCE | WIRE_ROLE_PEER | WIRE_ROLE_TRACKER))
		return LC_EINVAL;
	struct swarm *sw = calloc(1, sizeof *sw);
	if (!sw)
		return LC_ENOMEM;
	sw->cfg = *cfg;
	sw->ops = *ops;
	copy_str(sw->stream, sizeof sw->stream, cfg->stream);
	copy_str(sw->software, sizeof sw->software, cfg->software ? cfg->software : "layercast");
	copy_str(sw->host, sizeof sw->host, cfg->host);
	copy_str(sw->tracker_host, sizeof sw->tracker_host, cfg->tracker_host);
	sw->cfg.stream = sw->cfg.software = sw->cfg.host = sw->cfg.tracker_host = NULL;
	struct swarm_config *c = &sw->cfg;
	if (!c->role)
		c->role = WIRE_ROLE_PEER;
	if (!c->max_neighbours)
		c->max_neighbours = SWARM_DEFAULT_MAX_NEIGHBOURS;
	if (!c->proto)
		c->proto = WIRE_PROTO;
	if (!c->proto_min)
		c->proto_min = 1;
	if (c->gossip_interval_us <= 0)
		c->gossip_interval_us = 2000000;
	if (c->ping_interval_us <= 0)
		c->ping_interval_us = 2000000;
	if (c->liveness_timeout_us <= 0)
		c->liveness_timeout_us = 5000000;
	if (c->backoff_min_us <= 0)
		c->backoff_min_us = 250000;
	if (c->backoff_max_us < c->backoff_min_us)
		c->backoff_max_us = c->backoff_min_us > 8000000 ? c->backoff_min_us : 8000000;
	if (c->known_ttl_us <= 0)
		c->known_ttl_us = 60000000;
	if (!c->known_max)
		c->known_max = 4096;
	lc_rng_seed(&sw->rng, c->seed ^ c->self_id);
	for (unsigned i = 0; i < BUCKETS; i++)
		sw->bucket[i].sec = INT64_MIN;
	sw->fill_next_us = INT64_MAX;
	*out = sw;
	return 0;
}

void swarm_free(struct swarm *sw)
{
	if (!sw)
		return;
	free(sw->links);
	free(sw->kt);
	free(sw);
}

uint64_t swarm_self_id(const struct swarm *sw) { return sw->cfg.self_id; }

int swarm_join(struct swarm *sw, int64_t now)
{
	if (sw->joined)
		return LC_ESTATE;
	sw->joined = true;
	sw->boot_fails = 0;
	sw->boot_next_us = now;
	sw->boot_stop = false;
	sw->tracker_id = 0;
	int64_t gi = sw->cfg.gossip_interval_us;
	sw->gossip_iv_us = gi;
	sw->gossip_next_us = now + gi / 2 + (int64_t)lc_rng_below(&sw->rng, (uint32_t)(gi < UINT32_MAX ? gi : UINT32_MAX));
	sw->expire_next_us = now + EXPIRE_EVERY_US;
	sw->explore_exp = 0;
	sw->explore_next_us = now + backoff_jitter(sw, 4 * gi);
	LC_INFO(MOD, "%016llx joins", (unsigned long long)sw->cfg.self_id);
	fill(sw, now);
	return 0;
}

int swarm_leave(struct swarm *sw, int64_t now)
{
	(void)now;
	if (!sw->joined)
		return LC_ESTATE;
	sw->joined = false;
	while (sw->nlinks) {
		struct slink *l = &sw->links[sw->nlinks - 1];
		if (l->state == SWARM_LINK_DIALLING)
			link_drop(sw, l, true, 1001, "leaving", false);
		else
			bye_close(sw, l, WIRE_BYE_LEAVING, "leaving", 1001, false);
	}
	for (size_t i = 0; i < sw->kcap; i++)
		sw->kt[i].id = 0;
	sw->kcount = 0;
	sw->fill_next_us = INT64_MAX;
	LC_INFO(MOD, "%016llx leaves", (unsigned long long)sw->cfg.self_id);
	return 0;
}

int swarm_on_link_open(struct swarm *sw, uint32_t link, bool dialled, const char *remote_host,
		       uint16_t remote_port, int64_t now)
{
	struct slink *l = link_find(sw, link);
	if (dialled) {
		if (!l || l->state != SWARM_LINK_DIALLING) {
			if (!l && sw->ops.close)
				sw->ops.close(sw->ops.ctx, link, 1011, "unknown dial");
			return LC_EINVAL;
		}
	} else {
		if (l)
			return LC_EINVAL; /* handle reused while still open */
		l = link_add(sw, link, now);
		if (!l) {
			if (sw->ops.close)
				sw->ops.close(sw->ops.ctx, link, 1011, "no memory");
			return LC_ENOMEM;
		}
		if (remote_host && valid_str(remote_host, WIRE_HOST_MAX, true))
			copy_str(l->remote_host, sizeof l->remote_host, remote_host);
		l->remote_port = remote_port;
	}
	l->state = SWARM_LINK_HELLO;
	l->open_us = l->since_us = l->last_rx_us = now;
	send_hello(sw, l);
	if (!sw->joined)
		bye_close(sw, l, WIRE_BYE_LEAVING, "not in the swarm", 1001, false);
	return 0;
}

static void on_hello_refuse(struct swarm *sw, struct slink *l, uint16_t code, const char *why)
{
	sw->st.refused_other++;
	LC_DEBUG(MOD, "%016llx refuses %016llx: %s", (unsigned long long)sw->cfg.self_id,
		 (unsigned long long)l->peer_id, why);
	bye_close(sw, l, code, why, 1000, false);
}

static int on_hello(struct swarm *sw, struct slink *l, const struct wire_hello *h, int64_t now)
{
	l->peer_id = h->peer_id;
	l->role = h->role;
	l->proto = h->proto;
	l->up_kbps = h->up_kbps;
	l->down_kbps = h->down_kbps;
	l->port = h->port;
	copy_str(l->host, sizeof l->host, h->host[0] ? h->host : l->remote_host);

	if (h->peer_id == sw->cfg.self_id) {
		if (l->bootstrap)
			sw->boot_stop = true;
		on_hello_refuse(sw, l, WIRE_BYE_SELF, "dialled itself");
		return LC_EINVAL;
	}
	if (strcmp(h->stream, sw->stream) || h->proto < sw->cfg.proto_min) {
		bool stream = strcmp(h->stream, sw->stream) != 0;
		struct known *k = known_get(sw, h->peer_id);
		if (k && !k->counted)
			known_del(sw, k);
		if (l->bootstrap)
			sw->boot_stop = true;
		on_hello_refuse(sw, l, stream ? WIRE_BYE_STREAM : WIRE_BYE_VERSION,
				stream ? "different stream" : "protocol level too old");
		return LC_EINVAL;
	}
	/* A different peer answered at an address we had for expect_id: that
	 * entry is stale. */
	if (l->expect_id && l->expect_id != h->peer_id) {
		struct known *old = known_get(sw, l->expect_id);
		if (old && !old->counted)
			known_del(sw, old);
		l->expect_id = 0;
	}
	tomb_clear(sw, h->peer_id);
	struct known *k = known_put(sw, h->peer_id, now);
	if (k) {
		k->heard_us = now;
		k->role = h->role;
		k->port = h->port;
		copy_str(k->host, sizeof k->host, l->host);
		if (l->dialled)
			k->tried = true;
	}
	if (l->bootstrap)
		sw->tracker_id = h->peer_id;

	struct slink *other = link_other(sw, l);
	if (other) {
		/* Keep the link dialled by the smaller id; if one side dialled both,
		 * keep the older. */
		uint64_t dl = l->dialled ? sw->cfg.self_id : l->peer_id;
		uint64_t dother = other->dialled ? sw->cfg.self_id : other->peer_id;
		uint64_t lo = sw->cfg.self_id < l->peer_id ? sw->cfg.self_id : l->peer_id;
		bool keep_new = dl != dother && dl == lo;
		sw->st.duplicates++;
		if (!keep_new) {
			bye_close(sw, l, WIRE_BYE_DUPLICATE, "duplicate link", 1000, false);
			return LC_EAGAIN;
		}
		uint32_t lid = l->id;
		bye_close(sw, other, WIRE_BYE_DUPLICATE, "duplicate link", 1000, false);
		l = link_find(sw, lid); /* the table moved */
	} else if (!room_for(sw, h->role, l)) {
		/* Full. In a partial mesh, a newcomer dialling in takes the place of
		 * a random older neighbour, which then dials elsewhere: otherwise
		 * the peers that met first stay a closed clique. */
		struct slink *victim = NULL;
		if (!is_source(sw) && (!l->dialled || l->explore) && partial_regime(sw))
			victim = evictable(sw, now);
		if (victim) {
			uint32_t lid = l->id;
			rewired(sw, victim, now);
			bye_close(sw, victim, WIRE_BYE_FULL, "rewired", 1000, false);
			l = link_find(sw, lid);
			goto accept;
		}
		if (!l->dialled)
			send_peers(sw, l, false, now);
		sw->st.refused_full++;
		bye_close(sw, l, WIRE_BYE_FULL, "neighbour set full", 1000, false);
		return LC_EAGAIN;
	}
accept:
	l->state = SWARM_LINK_ACCEPTED;
	/* A peer that dialled us learns the swarm from the tracker, which
	 * answers every newcomer with PEERS. Below the neighbour limit every
	 * peer dials every other: a PEERS from each of them repeated the
	 * tracker's to each newcomer, and in a flash crowd of 30 took a fifth
	 * of the upload of the peers done with the segment the newcomers
	 * needed. So another peer answers with PEERS only where views are
	 * partial (it knows more peers than it has neighbour slots); below
	 * that, gossip (gossip_reset on the new neighbour) tells it soon. */
	if (!l->dialled && (is_tracker(sw) || partial_regime(sw)))
		send_peers(sw, l, false, now);
	send_ping(sw, l, true, now); /* also says: accepted */
	return 0;
}

static void nbr_up(struct swarm *sw, struct slink *l, int64_t now)
{
	l->state = SWARM_LINK_NEIGHBOUR;
	l->since_us = now;
	gossip_reset(sw, now);
	struct known *k = known_get(sw, l->peer_id);
	if (k) {
		k->fails = 0;
		k->backoff_exp = 0;
		k->heard_us = now;
		if (!k->counted) {
			k->counted = true;
			churn(sw, SWARM_EV_JOIN, l->peer_id, now);
		}
	}
	if (l->bootstrap || l->peer_id == sw->tracker_id)
		sw->boot_fails = 0;
	if (sw->ops.nbr_up) {
		struct swarm_nbr n;
		swarm_link_get(sw, l->id, &n);
		sw->ops.nbr_up(sw->ops.ctx, l->id, &n);
	}
}

static void on_peers(struct swarm *sw, const struct slink *from, const struct wire_peers *p,
		     int64_t now)
{
	sw->st.peers_received++;
	/* A tracker that is not the source names the source first. */
	bool hint = (from->role & WIRE_ROLE_TRACKER) && !(from->role & WIRE_ROLE_SOURCE);
	bool learned = false;
	for (unsigned i = 0; i < p->count; i++) {
		const struct wire_peer *e = &p->peer[i];
		if (e->peer_id == sw->cfg.self_id || tombstoned(sw, e->peer_id, now))
			continue;
		struct known *k = known_get(sw, e->peer_id);
		if (!k) {
			k = known_put(sw, e->peer_id, now);
			if (!k)
				continue;
			gossip_reset(sw, now);
			learned = true;
		}
		k->heard_us = now;
		if (i == 0 && hint && !k->tried)
			k->hint = true;
		if (!linked_to(sw, e->peer_id)) {
			k->port = e->port;
			copy_str(k->host, sizeof k->host, e->host);
		}
	}
	if (!learned)
		sw->gossip_heard++;
	fill(sw, now);
}

static void on_bye(struct swarm *sw, struct slink *l, const struct wire_bye *b, int64_t now)
{
	uint64_t id = l->peer_id ? l->peer_id : l->expect_id;
	LC_DEBUG(MOD, "%016llx: BYE %u from %016llx (%s)", (unsigned long long)sw->cfg.self_id,
		 b->code, (unsigned long long)id, b->reason);
	switch (b->code) {
	case WIRE_BYE_LEAVING:
	case WIRE_BYE_SHUTDOWN: {
		if (!id) {
			link_drop(sw, l, true, 1000, "bye", false);
			break;
		}
		/* Gone from every table: its links, its entry. Counted once even
		 * when the BYE comes on two links of a duplicate pair. */
		struct known *k = known_get(sw, id);
		if (k) {
			if (k->counted)
				churn(sw, SWARM_EV_LEAVE, id, now);
			known_del(sw, k);
		}
		uint32_t lid = l->id;
		for (size_t i = sw->nlinks; i-- > 0;) {
			struct slink *o = &sw->links[i];
			if (o->id == lid || o->peer_id == id || o->expect_id == id)
				link_drop(sw, o, true, 1000, o->id == lid ? "bye" : "peer left", false);
		}
		tomb_add(sw, id, now);
		break;
	}
	case WIRE_BYE_FULL:
		if (l->state == SWARM_LINK_NEIGHBOUR) {
			/* Evicted: the free slot came from an exploring peer; do not
			 * pass it straight on by exploring at once. */
			rewired(sw, l, now);
			explore_later(sw, now);
		}
		else
			sw->st.rejected_full++;
		link_drop(sw, l, true, 1000, "bye", false);
		break;
	case WIRE_BYE_DUPLICATE:
		link_drop(sw, l, true, 1000, "bye", false);
		break;
	case WIRE_BYE_SELF:
		if (l->bootstrap)
			sw->boot_stop = true;
		link_drop(sw, l, true, 1000, "bye", false);
		break;
	case WIRE_BYE_STREAM:
	case WIRE_BYE_VERSION:
	case WIRE_BYE_POLICY: {
		/* It will not have us: forget it for a while. */
		if (l->state == SWARM_LINK_NEIGHBOUR || l->state == SWARM_LINK_ACCEPTED)
			link_lost(sw, l, SWARM_EV_FAILURE, now);
		if (l->bootstrap)
			sw->boot_stop = true; /* no use dialling it again */
		bool nbr = l->state == SWARM_LINK_NEIGHBOUR;
		link_drop(sw, l, true, 1000, "bye", nbr);
		struct known *k = known_get(sw, id);
		if (k && !linked_to(sw, id))
			known_del(sw, k);
		if (id)
			tomb_add(sw, id, now);
		break;
	}
	default: {
		bool lost = l->state == SWARM_LINK_NEIGHBOUR || l->state == SWARM_LINK_ACCEPTED;
		if (lost)
			link_lost(sw, l, SWARM_EV_FAILURE, now);
		else if (l->dialled)
			dial_failed(sw, l);
		link_drop(sw, l, true, 1000, "bye", l->state == SWARM_LINK_NEIGHBOUR);
		break;
	}
	}
	fill(sw, now);
}

static int protocol_error(struct swarm *sw, struct slink *l, const char *why, int64_t now)
{
	sw->st.refused_other++;
	LC_DEBUG(MOD, "%016llx: protocol error on link %u: %s", (unsigned long long)sw->cfg.self_id,
		 l->id, why);
	if (l->state == SWARM_LINK_NEIGHBOUR || l->state == SWARM_LINK_ACCEPTED)
		link_lost(sw, l, SWARM_EV_FAILURE, now);
	bool nbr = l->state == SWARM_LINK_NEIGHBOUR;
	send_bye(sw, l, WIRE_BYE_PROTOCOL, why);
	link_drop(sw, l, true, 1002, why, nbr);
	return LC_EPROTO;
}

int swarm_on_message(struct swarm *sw, uint32_t link, const struct wire_msg *m, int64_t now)
{
	struct slink *l = link_find(sw, link);
	if (!l)
		return 0;
	if (l->state == SWARM_LINK_DIALLING)
		return protocol_error(sw, l, "message before open", now);
	l->last_rx_us = now;
	int rc = 0;
	switch (m->type) {
	case WIRE_HELLO:
		if (l->state != SWARM_LINK_HELLO)
			return protocol_error(sw, l, "second HELLO", now);
		rc = on_hello(sw, l, &m->u.hello, now);
		fill(sw, now);
		return rc;
	case WIRE_BYE:
		on_bye(sw, l, &m->u.bye, now);
		return 0;
	default:
		break;
	}
	if (l->state == SWARM_LINK_HELLO)
		return protocol_error(sw, l, "message before HELLO", now);
	switch (m->type) {
	case WIRE_PEERS:
		on_peers(sw, l, &m->u.peers, now);
		return 0;
	case WIRE_PING: {
		/* Without ECHO, a keepalive: our own traffic answers it. */
		bool echo = m->u.ping.flags & WIRE_PING_ECHO;
		if (echo) {
			struct wire_msg r = { .type = WIRE_PONG };
			r.u.ping.nonce = m->u.ping.nonce;
			send_msg(sw, l, &r);
		}
		if (l->state == SWARM_LINK_ACCEPTED)
			nbr_up(sw, l, now);
		if (!echo)
			return 0;
		/* The PONG is our keepalive too: on a quiet link one PING and
		 * one PONG go per interval, not one of each from either end
		 * (with 30 neighbours, those were 1.1 % of the swarm's upload).
		 * Half an interval more, so that the end that pings stays the
		 * one that pings, and both do not race each interval. */
		sent_to(sw, l, sw->cfg.ping_interval_us / 2, now);
		return 0;
	}
	case WIRE_PONG: {
		/* The nonce is our clock modulo 2^32 when we sent the PING. */
		int64_t r = (int64_t)(uint32_t)((uint32_t)now - m->u.ping.nonce);
		if (r <= 60000000) {
			l->rtt_us = r;
			if (l->srtt_us < 0) {
				l->srtt_us = r;
				l->rttvar_us = r / 2;
			} else {
				int64_t d = l->srtt_us > r ? l->srtt_us - r : r - l->srtt_us;
				l->rttvar_us = (3 * l->rttvar_us + d) / 4;
				l->srtt_us = (7 * l->srtt_us + r) / 8;
			}
		}
		return 0;
	}
	default:
		if (l->state != SWARM_LINK_NEIGHBOUR)
			return protocol_error(sw, l, "media before both accepted", now);
		return LC_ETYPE;
	}
}

void swarm_on_activity(struct swarm *sw, uint32_t link, int64_t now)
{
	struct slink *l = link_find(sw, link);
	if (l && l->state != SWARM_LINK_DIALLING)
		l->last_rx_us = now;
}

void swarm_on_sent(struct swarm *sw, uint32_t link, int64_t now)
{
	struct slink *l = link_find(sw, link);
	if (l)
		sent_to(sw, l, 0, now);
}

void swarm_on_link_closed(struct swarm *sw, uint32_t link, int ws_code, int64_t now)
{
	struct slink *l = link_find(sw, link);
	if (!l)
		return;
	LC_DEBUG(MOD, "%016llx: link %u closed (%d) in state %s", (unsigned long long)sw->cfg.self_id,
		 link, ws_code, swarm_link_state_name(l->state));
	bool nbr = l->state == SWARM_LINK_NEIGHBOUR;
	if (nbr || l->state == SWARM_LINK_ACCEPTED)
		link_lost(sw, l, SWARM_EV_FAILURE, now);
	if (!nbr && l->dialled)
		dial_failed(sw, l);
	link_drop(sw, l, false, 0, NULL, true);
	fill(sw, now);
}

static void expire(struct swarm *sw, int64_t now)
{
	for (size_t i = 0; i < sw->kcap; i++) {
		struct known *k = &sw->kt[i];
		if (!k->id)
			continue;
		if (linked_to(sw, k->id)) {
			k->heard_us = now;
			continue;
		}
		if (now - k->heard_us > sw->cfg.known_ttl_us && !k->counted) {
			known_del(sw, k);
			i--; /* the shift may have moved another entry here */
		}
	}
	for (unsigned i = 0; i < TOMBS; i++)
		if (sw->tomb[i].id && sw->tomb[i].until_us <= now)
			sw->tomb[i].id = 0;
}

void swarm_tick(struct swarm *sw, int64_t now)
{
	const struct swarm_config *c = &sw->cfg;
	for (size_t i = sw->nlinks; i-- > 0;) {
		struct slink *l = &sw->links[i];
		switch (l->state) {
		case SWARM_LINK_DIALLING:
			if (now - l->created_us > 2 * c->liveness_timeout_us) {
				dial_failed(sw, l);
				link_drop(sw, l, true, 1001, "dial timeout", false);
			}
			continue;
		case SWARM_LINK_HELLO:
		case SWARM_LINK_ACCEPTED:
			if (now - l->open_us > c->liveness_timeout_us) {
				sw->st.timeouts++;
				if (l->state == SWARM_LINK_ACCEPTED)
					link_lost(sw, l, SWARM_EV_FAILURE, now);
				if (l->dialled)
					dial_failed(sw, l);
				bye_close(sw, l, WIRE_BYE_TIMEOUT, "handshake timeout", 1000, false);
				continue;
			}
			break;
		case SWARM_LINK_NEIGHBOUR:
			if (now - l->last_rx_us > c->liveness_timeout_us) {
				sw->st.timeouts++;
				link_lost(sw, l, SWARM_EV_FAILURE, now);
				struct known *k = known_get(sw, l->peer_id);
				if (k)
					k->next_dial_us = now + backoff_us(sw, 0);
				bye_close(sw, l, WIRE_BYE_TIMEOUT, "silent", 1000, true);
				continue;
			}
			break;
		}
		/* Pings due within a quarter interval go now, so that a peer
		 * wakes up about once per interval, not once per link. */
		if (l->state != SWARM_LINK_HELLO && now >= l->next_ping_us - c->ping_interval_us / 4)
			send_ping(sw, l, ping_echo(sw, l, now), now);
	}
	if (sw->joined && now >= sw->gossip_next_us) {
		int64_t gi = sw->gossip_iv_us;
		sw->gossip_next_us = now + gi - gi / 10 +
				     (int64_t)lc_rng_below(&sw->rng, (uint32_t)(gi / 5 < UINT32_MAX ? gi / 5 + 1 : UINT32_MAX));
		if (gi < c->gossip_interval_us * GOSSIP_GROWTH)
			sw->gossip_iv_us = 2 * gi;
		bool suppress = sw->gossip_heard > 0 && !is_tracker(sw);
		sw->gossip_heard = 0;
		if (suppress)
			sw->st.peers_suppressed++;
		/* Round robin: the neighbour that heard from us longest ago, so
		 * that each gets PEERS every (neighbours x interval), and a new
		 * one (never sent to) first. */
		struct slink *to = NULL;
		for (size_t i = 0; i < sw->nlinks; i++) {
			struct slink *l = &sw->links[i];
			if (l->state == SWARM_LINK_NEIGHBOUR && (!to || l->peers_sent_us < to->peers_sent_us))
				to = l;
		}
		/* Below the neighbour limit every peer links to every other:
		 * a peer other than the tracker tells a neighbour only its
		 * news (with 30 peers, whole lists to every neighbour were
		 * 0.3 % of the upload). */
		if (to && !suppress)
			send_peers(sw, to, !is_tracker(sw) && !partial_regime(sw), now);
	}
	if (now >= sw->expire_next_us) {
		sw->expire_next_us = now + EXPIRE_EVERY_US;
		expire(sw, now);
	}
	if (sw->need_fill || now >= sw->fill_next_us)
		fill(sw, now);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t swarm_next_wakeup(const struct swarm *sw, int64_t now)
{
	const struct swarm_config *c = &sw->cfg;
	int64_t w = sw->fill_next_us;
	for (size_t i = 0; i < sw->nlinks; i++) {
		const struct slink *l = &sw->links[i];
		switch (l->state) {
		case SWARM_LINK_DIALLING:
			w = min64(w, l->created_us + 2 * c->liveness_timeout_us + 1);
			break;
		case SWARM_LINK_HELLO:
			w = min64(w, l->open_us + c->liveness_timeout_us + 1);
			break;
		case SWARM_LINK_ACCEPTED:
			w = min64(w, min64(l->next_ping_us, l->open_us + c->liveness_timeout_us + 1));
			break;
		case SWARM_LINK_NEIGHBOUR:
			w = min64(w, min64(l->next_ping_us, l->last_rx_us + c->liveness_timeout_us + 1));
			break;
		}
	}
	if (sw->joined) {
		w = min64(w, sw->gossip_next_us);
		if (sw->kcount)
			w = min64(w, sw->expire_next_us);
	}
	return w < now ? now : w;
}

void swarm_churn(const struct swarm *sw, int64_t now, int64_t window_us,
		 uint32_t counts[SWARM_EV_KINDS])
{
	memset(counts, 0, SWARM_EV_KINDS * sizeof counts[0]);
	int64_t s = sec_of(now);
	int64_t nsec = (window_us + 999999) / 1000000;
	if (nsec > BUCKETS)
		nsec = BUCKETS;
	for (unsigned i = 0; i < BUCKETS; i++) {
		const struct bucket *b = &sw->bucket[i];
		if (b->sec > s - nsec && b->sec <= s)
			for (unsigned k = 0; k < SWARM_EV_KINDS; k++)
				counts[k] += b->n[k];
	}
}

size_t swarm_recent_events(const struct swarm *sw, struct swarm_event *out, size_t cap)
{
	size_t n = 0;
	for (unsigned i = 0; i < sw->nrecent && n < cap; i++)
		out[n++] = sw->recent[(sw->recent_next + SWARM_RECENT_EVENTS - 1 - i) % SWARM_RECENT_EVENTS];
	return n;
}

void swarm_get_stats(const struct swarm *sw, int64_t now, struct swarm_stats *st)
{
	*st = sw->st;
	st->joined = sw->joined;
	st->neighbours = st->neighbours_dialled = st->links = st->dialling = 0;
	st->source_linked = is_source(sw);
	for (size_t i = 0; i < sw->nlinks; i++) {
		const struct slink *l = &sw->links[i];
		st->links++;
		if (l->state == SWARM_LINK_DIALLING)
			st->dialling++;
		if (l->state == SWARM_LINK_NEIGHBOUR) {
			st->neighbours++;
			st->neighbours_dialled += l->dialled;
			if (l->role & WIRE_ROLE_SOURCE)
				st->source_linked = true;
		}
	}
	st->known = (unsigned)sw->kcount;
	uint32_t n[SWARM_EV_KINDS];
	swarm_churn(sw, now, 60000000, n);
	st->joins_1m = n[SWARM_EV_JOIN];
	st->leaves_1m = n[SWARM_EV_LEAVE];
	st->failures_1m = n[SWARM_EV_FAILURE];
}

static void fill_nbr(const struct slink *l, struct swarm_nbr *n)
{
	memset(n, 0, sizeof *n);
	n->peer_id = l->peer_id;
	n->link = l->id;
	n->state = l->state;
	n->dialled = l->dialled;
	n->role = l->role;
	n->proto = l->proto;
	n->port = l->port;
	copy_str(n->host, sizeof n->host, l->host[0] ? l->host : l->remote_host);
	n->up_kbps = l->up_kbps;
	n->down_kbps = l->down_kbps;
	n->since_us = l->since_us;
	n->rtt_us = l->rtt_us;
	n->srtt_us = l->srtt_us;
	n->rttvar_us = l->rttvar_us;
	n->last_rx_us = l->last_rx_us;
}

size_t swarm_neighbours(const struct swarm *sw, struct swarm_nbr *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < sw->nlinks; i++) {
		if (sw->links[i].state != SWARM_LINK_NEIGHBOUR)
			continue;
		if (n < cap)
			fill_nbr(&sw->links[i], &out[n]);
		n++;
	}
	return n;
}

size_t swarm_links(const struct swarm *sw, struct swarm_nbr *out, size_t cap)
{
	for (size_t i = 0; i < sw->nlinks && i < cap; i++)
		fill_nbr(&sw->links[i], &out[i]);
	return sw->nlinks;
}

int swarm_link_get(const struct swarm *sw, uint32_t link, struct swarm_nbr *out)
{
	const struct slink *l = link_find(sw, link);
	if (!l)
		return LC_ENOENT;
	fill_nbr(l, out);
	return 0;
}

bool swarm_has_neighbour(const struct swarm *sw, uint64_t peer_id, uint32_t *link_out)
{
	for (size_t i = 0; i < sw->nlinks; i++)
		if (sw->links[i].state == SWARM_LINK_NEIGHBOUR && sw->links[i].peer_id == peer_id) {
			if (link_out)
				*link_out = sw->links[i].id;
			return true;
		}
	return false;
}

bool swarm_knows(const struct swarm *sw, uint64_t peer_id)
{
	return known_get(sw, peer_id) || linked_to(sw, peer_id);
}

const char *swarm_link_state_name(enum swarm_link_state s)
{
	switch (s) {
	case SWARM_LINK_DIALLING: return "dialling";
	case SWARM_LINK_HELLO: return "hello";
	case SWARM_LINK_ACCEPTED: return "accepted";
	case SWARM_LINK_NEIGHBOUR: return "neighbour";
	}
	return "?";
}
