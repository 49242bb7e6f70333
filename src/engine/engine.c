/*
 * engine: the engine thread. See engine.h for the shape; here the why of
 * the glue.
 *
 *  - swarm owns redial policy (backoff, giving up), so a net dial is made
 *    one-shot: cancelled as soon as it opened or failed, and its failure is
 *    told to swarm from the next tick, never from inside swarm's dial op.
 *  - net's link_close drops whatever is still queued, and swarm closes a
 *    link right after queueing its BYE; so a close asked by swarm waits
 *    until the link's queue is written (at most 500 ms).
 *  - Quit: swarm_leave (BYE everywhere), wait for those closes, then
 *    net_shutdown (Close 1000 on whatever is left), then leave the loop.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"

#define MOD "engine"
#define TICK_S 0.01
#define STATS_S 0.25
#define CLOSE_WAIT_US 500000
#define QUIT_WAIT_US 700000
#define LINK_CAP_BYTES (64 * 1024)
#define COALESCE_MAX 4096 /* bytes of queued messages written as one WebSocket message */

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

void engine_config_default(struct engine_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_layer = -1;
	c->input = ENGINE_INPUT_PATTERN;
	c->width = 640;
	c->height = 360;
	c->fps = 30;
}

/* ---- links ------------------------------------------------------------ */

static struct elink *elink_find(struct engine *e, uint32_t id)
{
	for (struct elink *l = e->links; l; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static struct elink *elink_new(struct engine *e)
{
	struct elink *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->id = e->next_id++;
	if (!e->next_id)
		e->next_id = 1;
	l->next = e->links;
	e->links = l;
	return l;
}

static void elink_free(struct engine *e, struct elink *el)
{
	for (struct elink **pp = &e->links; *pp; pp = &(*pp)->next)
		if (*pp == el) {
			*pp = el->next;
			break;
		}
	if (el->nl)
		link_set_user(el->nl, NULL);
	lc_buf_free(&el->early);
	free(el);
}

static void early_hold(struct elink *el, const uint8_t *data, size_t len)
{
	uint32_t n = (uint32_t)len;
	if (el->early.len + sizeof n + len > EARLY_MAX)
		return; /* dropped, as a message to a stranger is */
	if (lc_buf_append(&el->early, &n, sizeof n) == 0 &&
	    lc_buf_append(&el->early, data, len))
		el->early.len -= sizeof n;
}

static void early_replay(struct engine *e, struct elink *el, int64_t now)
{
	size_t off = 0;
	while (off + sizeof(uint32_t) <= el->early.len) {
		uint32_t n;
		memcpy(&n, el->early.data + off, sizeof n);
		off += sizeof n;
		struct wire_msg m;
		if (off + n <= el->early.len && !wire_decode(el->early.data + off, n, &m))
			sched_on_message(e->sc, el->id, &m, now, lc_wall_us());
		off += n;
	}
	lc_buf_free(&el->early);
}

static void nbr_drop(struct engine *e, struct elink *el)
{
	if (el->nbr) {
		el->nbr = false;
		sched_nbr_down(e->sc, el->id, lc_now_us());
	}
}

size_t engine_node_queued(const struct engine *e)
{
	size_t q = 0;
	for (const struct elink *l = e->links; l; l = l->next)
		if (l->nl)
			q += link_queue_bytes(l->nl);
	return q;
}

static int encode_send(struct engine *e, struct elink *el, const struct wire_msg *m)
{
	if (!el || !el->nl || el->dead || el->close_pending)
		return LC_ECLOSED;
	int n = wire_encode(m, e->encbuf, WIRE_MAX_MSG);
	if (n < 0)
		return n;
	/* A BLOCK runs to the end of its WebSocket message (wire.h). */
	int rc = link_send_flags(el->nl, e->encbuf, (size_t)n,
				 m->type == WIRE_BLOCK ? NET_SEND_LAST : 0);
	if (rc == 0)
		e->tx_type[m->type] += (uint64_t)n;
	return rc;
}

/* ---- swarm ops -------------------------------------------------------------- */

static int sw_dial(void *ctx, const char *host, uint16_t port, uint32_t *link_out)
{
	struct engine *e = ctx;
	if (e->net_stopping)
		return LC_ESTATE;
	struct elink *el = elink_new(e);
	if (!el)
		return LC_ENOMEM;
	el->dialled = true;
	snprintf(el->host, sizeof el->host, "%s", host);
	el->port = port;
	int rc = net_dial(e->net, host, port, &el->dial);
	if (rc) {
		elink_free(e, el);
		return rc;
	}
	*link_out = el->id;
	return 0;
}

static int sw_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct engine *e = ctx;
	return encode_send(e, elink_find(e, link), m);
}

static void sw_close(void *ctx, uint32_t link, int ws_code, const char *reason)
{
	struct engine *e = ctx;
	struct elink *el = elink_find(e, link);
	if (!el || el->dead)
		return;
	el->dead = true;
	nbr_drop(e, el);
	if (!el->nl) {
		/* Still dialling: stop it; the attempt's end frees the handle. */
		if (el->dial)
			net_dial_cancel(el->dial);
		if (el->dial_failed)
			elink_free(e, el);
		return;
	}
	el->close_pending = true;
	el->close_code = ws_code;
	snprintf(el->close_reason, sizeof el->close_reason, "%s", reason ? reason : "");
	el->close_deadline = lc_now_us() + CLOSE_WAIT_US;
	if (!link_queue_bytes(el->nl)) {
		el->close_pending = false;
		link_close(el->nl, ws_code, el->close_reason);
	}
}

static void sw_nbr_up(void *ctx, uint32_t link, const struct swarm_nbr *n)
{
	struct engine *e = ctx;
	struct elink *el = elink_find(e, link);
	if (!el || el->nbr || el->dead)
		return;
	int64_t now = lc_now_us();
	el->nbr = true; /* before: sched_nbr_up sends SUBSCRIBE and the live descriptors */
	if (sched_nbr_up(e->sc, link, (n->role & WIRE_ROLE_SOURCE) != 0, n->up_kbps, n->peer_id,
			 now)) {
		el->nbr = false;
		return;
	}
	if (n->srtt_us > 0)
		sched_nbr_rtt(e->sc, link, n->srtt_us);
	early_replay(e, el, now);
	LC_INFO(MOD, "neighbour up: %016llx %s:%u (%s)", (unsigned long long)n->peer_id, n->host,
		n->port, n->dialled ? "dialled" : "accepted");
}

static void sw_nbr_down(void *ctx, uint32_t link, bool failed)
{
	struct engine *e = ctx;
	struct elink *el = elink_find(e, link);
	if (!el)
		return;
	LC_INFO(MOD, "neighbour down: link %u%s", link, failed ? " (failed)" : "");
	nbr_drop(e, el);
}

/* ---- sched ops ---------------------------------------------------------------- */

static int sc_send(void *ctx, uint32_t link, const struct wire_msg *m)
{
	struct engine *e = ctx;
	struct elink *el = elink_find(e, link);
	if (!el || !el->nbr)
		return LC_ENOENT;
	int rc = encode_send(e, el, m);
	if (rc == 0)
		swarm_on_sent(e->sw, link, lc_now_us());
	return rc;
}

/*
 * As the simulator's: the node's queue holds about 50 ms of its upload, an
 * idle node takes one message at once, and no link holds more than a small
 * window, so urgent messages never wait behind a deep queue.
 */
static size_t sc_room(void *ctx, uint32_t link)
{
	struct engine *e = ctx;
	struct elink *el = elink_find(e, link);
	if (!el || !el->nl || !el->nbr || el->close_pending)
		return 0;
	if (link_queue_bytes(el->nl) > LINK_CAP_BYTES)
		return 0;
	size_t q = engine_node_queued(e);
	if (!q)
		return WIRE_MAX_MSG;
	size_t cap = e->cfg.up_kbps ? (size_t)e->cfg.up_kbps * 125 * 50 / 1000 : 512 * 1024;
	return q < cap ? cap - q : 0;
}

/* Rebuild the video descriptor the decoder needs from the wire descriptor
 * and the payloads: spatial and temporal ids are the highest ones among
 * each layer's frame records; the frame count follows the top layer's
 * rate. */
static int video_desc_from_play(struct engine *e, const struct sched_play *p,
				struct video_seg_desc *d)
{
	const struct wire_segment *w = p->desc;
	memset(d, 0, sizeof *d);
	d->seq = p->segment;
	d->wall_us = w->capture_us;
	if (!e->first_capture_us)
		e->first_capture_us = w->capture_us;
	d->pts_us = w->capture_us - e->first_capture_us;
	d->duration_us = w->duration_us;
	d->key = (w->flags & WIRE_SEG_KEYFRAME) != 0;
	d->n_layers = (uint8_t)(p->level + 1);
	uint64_t top_fps = w->layer[w->nlayers - 1].fps_milli;
	uint64_t nf = ((uint64_t)w->duration_us * top_fps + 500000000ull) / 1000000000ull;
	for (int l = 0; l <= p->level && l < VIDEO_MAX_LAYERS; l++) {
		struct video_seg_layer *vl = &d->layer[l];
		vl->size = w->layer[l].size;
		vl->hash = w->layer[l].hash;
		vl->width = w->layer[l].width;
		vl->height = w->layer[l].height;
		vl->fps_num = w->layer[l].fps_milli;
		vl->fps_den = 1000;
		struct video_payload pl;
		if (video_payload_parse(&pl, p->payload[l], p->len[l]))
			return LC_EPROTO;
		for (size_t i = 0; i < pl.n; i++) {
			if (pl.rec[i].s > vl->s)
				vl->s = pl.rec[i].s;
			if (pl.rec[i].t > vl->t)
				vl->t = pl.rec[i].t;
			if ((uint64_t)pl.rec[i].index + 1 > nf)
				nf = (uint64_t)pl.rec[i].index + 1;
		}
		video_payload_free(&pl);
		if (l && (vl->s < d->layer[l - 1].s || vl->t < d->layer[l - 1].t)) {
			/* Keep the ladder nested (a layer with few frames). */
			if (vl->s < d->layer[l - 1].s)
				vl->s = d->layer[l - 1].s;
			if (vl->t < d->layer[l - 1].t)
				vl->t = d->layer[l - 1].t;
		}
	}
	if (nf > VIDEO_MAX_SEG_FRAMES)
		return LC_ERANGE;
	d->n_frames = (uint16_t)nf;
	return 0;
}

static void sc_play(void *ctx, const struct sched_play *p)
{
	struct engine *e = ctx;
	if (p->level < 0 || !p->desc)
		return;
	const struct wire_segment *w = p->desc;
	if (w->nlayers > e->nlayers)
		e->nlayers = w->nlayers;
	engine_note_desc(e, w);
	double bits = 0;
	for (int l = 0; l <= p->level; l++) {
		bool ok = p->payload[l] && p->len[l] == w->layer[l].size &&
			  wire_hash64(p->payload[l], p->len[l]) == w->layer[l].hash;
		if (ok)
			e->hash_ok[l]++;
		else
			e->hash_bad[l]++;
		bits += 8.0 * (double)p->len[l];
	}
	e->played_bits += bits;
	e->played_us += w->duration_us;
	e->last_level = p->level;
	e->lag_us[e->lag_pos] = p->lag_us;
	e->lag_pos = (e->lag_pos + 1) % ENGINE_LAG_SAMPLES;
	if (e->lag_n < ENGINE_LAG_SAMPLES)
		e->lag_n++;
	if (e->player) {
		struct video_seg_desc d;
		if (video_desc_from_play(e, p, &d) == 0) {
			if (video_player_submit(e->player, &d, p->payload, p->len, p->level))
				e->player_dropped++;
		} else {
			e->player_dropped++;
		}
	}
}

/* ---- net callbacks -------------------------------------------------------------- */

static void split_remote(const char *remote, char *host, size_t hcap, uint16_t *port)
{
	const char *c = strrchr(remote, ':');
	size_t n = c ? (size_t)(c - remote) : strlen(remote);
	if (n >= hcap)
		n = hcap - 1;
	memcpy(host, remote, n);
	host[n] = '\0';
	*port = c ? (uint16_t)atoi(c + 1) : 0;
}

static void on_open(struct net_link *nl, bool dialled, void *arg)
{
	struct engine *e = arg;
	int64_t now = lc_now_us();
	struct elink *el = NULL;
	if (dialled) {
		for (struct elink *l = e->links; l; l = l->next)
			if (l->dial && !l->nl && net_dial_link(l->dial) == nl) {
				el = l;
				break;
			}
		if (!el) {
			link_close(nl, NET_CLOSE_NORMAL, "cancelled");
			return;
		}
		net_dial_cancel(el->dial); /* one-shot: swarm redials */
		el->nl = nl;
		link_set_user(nl, el);
		if (el->dead) {
			link_close(nl, NET_CLOSE_NORMAL, "cancelled");
			return;
		}
		swarm_on_link_open(e->sw, el->id, true, el->host, el->port, now);
	} else {
		if (e->quitting) {
			link_close(nl, NET_CLOSE_GOING_AWAY, "shutting down");
			return;
		}
		el = elink_new(e);
		if (!el) {
			link_close(nl, NET_CLOSE_INTERNAL, "out of memory");
			return;
		}
		el->nl = nl;
		split_remote(link_remote(nl), el->host, sizeof el->host, &el->port);
		link_set_user(nl, el);
		swarm_on_link_open(e->sw, el->id, false, el->host, el->port, now);
	}
}

/* One peer message of a WebSocket message. */
static int on_wire_msg(struct engine *e, struct elink *el, const struct wire_msg *m,
		       const uint8_t *data, size_t len)
{
	int64_t now = lc_now_us();
	switch (m->type) {
	case WIRE_HELLO:
	case WIRE_PEERS:
	case WIRE_PING:
	case WIRE_PONG:
	case WIRE_BYE:
		swarm_on_message(e->sw, el->id, m, now);
		if (m->type == WIRE_PONG && el->nbr) {
			struct swarm_nbr n;
			if (!swarm_link_get(e->sw, el->id, &n) && n.srtt_us > 0)
				sched_nbr_rtt(e->sc, el->id, n.srtt_us);
		}
		break;
	default:
		swarm_on_activity(e->sw, el->id, now);
		if (!el->nbr) {
			early_hold(el, data, len);
			break;
		}
		if (sched_on_message(e->sc, el->id, m, now, lc_wall_us()) < 0) {
			LC_WARN(MOD, "link %u (%s): %s breaks the protocol", el->id, el->host,
				wire_type_name(m->type));
			return NET_CLOSE_PROTOCOL;
		}
		sched_pump(e->sc, now);
		break;
	}
	return 0;
}

/* A WebSocket message: one or more peer messages back to back. */
static int on_message(struct net_link *nl, const uint8_t *data, size_t len, void *arg)
{
	struct engine *e = arg;
	struct elink *el = link_user(nl);
	do {
		if (!el || el->dead)
			return 0;
		struct wire_msg m;
		size_t used;
		int rc = wire_decode_next(data, len, &m, &used);
		if (rc) {
			e->decode_errors++;
			LC_WARN(MOD, "link %u (%s): bad message: %s", el->id, el->host,
				lc_strerror(rc));
			return wire_close_code(rc);
		}
		rc = on_wire_msg(e, el, &m, data, used);
		if (rc)
			return rc;
		data += used;
		len -= used;
		el = link_user(nl);
	} while (len);
	return 0;
}

static void on_drain(struct net_link *nl, void *arg)
{
	(void)nl;
	struct engine *e = arg;
	sched_pump(e->sc, lc_now_us());
}

static void on_close(struct net_link *nl, int code, const char *reason, void *arg)
{
	struct engine *e = arg;
	struct elink *el = link_user(nl);
	if (!el)
		return;
	LC_DEBUG(MOD, "link %u (%s) closed: %d %s", el->id, el->host, code, reason);
	el->nl = NULL;
	nbr_drop(e, el);
	if (!el->dead)
		swarm_on_link_closed(e->sw, el->id, code, lc_now_us());
	elink_free(e, el);
}

static void on_dial_failed(struct net_dial *d, void *arg)
{
	struct engine *e = arg;
	for (struct elink *l = e->links; l; l = l->next)
		if (l->dial == d && !l->nl) {
			net_dial_cancel(d);
			l->dial_failed = true;
			return;
		}
}

static void on_shutdown(struct net *n, void *arg)
{
	(void)n;
	struct engine *e = arg;
	lc_loop_break(e->loop);
}

/* ---- timers -------------------------------------------------------------------- */

static void quit_begin(struct engine *e)
{
	if (e->quitting)
		return;
	e->quitting = true;
	int64_t now = lc_now_us();
	e->quit_deadline = now + QUIT_WAIT_US;
	if (e->joined)
		swarm_leave(e->sw, now);
	e->joined = false;
	if (e->pipe) {
		video_pipe_free(e->pipe);
		e->pipe = NULL;
	}
}

static void quit_step(struct engine *e, int64_t now)
{
	if (!e->quitting || e->net_stopping)
		return;
	bool pending = false;
	for (struct elink *l = e->links; l; l = l->next)
		if (l->close_pending)
			pending = true;
	if (pending && now < e->quit_deadline)
		return;
	e->net_stopping = true;
	if (net_shutdown(e->net, 1.0))
		lc_loop_break(e->loop);
}

static void tick_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct engine *e = arg;
	int64_t now = lc_now_us();
	/* Dial failures and closes waiting for their BYE to be written. */
	for (struct elink *l = e->links, *nx; l; l = nx) {
		nx = l->next;
		if (l->dial_failed && !l->nl) {
			if (!l->dead)
				swarm_on_link_closed(e->sw, l->id, NET_CLOSE_ABNORMAL, now);
			elink_free(e, l);
			continue;
		}
		if (l->close_pending && l->nl &&
		    (!link_queue_bytes(l->nl) || now >= l->close_deadline)) {
			l->close_pending = false;
			link_close(l->nl, l->close_code, l->close_reason);
		}
	}
	if (!e->net_stopping) {
		swarm_tick(e->sw, now);
		sched_tick(e->sc, now, lc_wall_us());
		sched_pump(e->sc, now);
	}
	quit_step(e, now);
}

static void stats_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	engine_refresh_stats(arg);
}

static void seg_cb(struct lc_async *a, void *arg)
{
	(void)a;
	struct engine *e = arg;
	if (!e->pipe)
		return;
	struct video_segment *vs;
	while ((vs = video_pipe_pop(e->pipe))) {
		const struct video_seg_desc *vd = &vs->desc;
		struct wire_segment w;
		memset(&w, 0, sizeof w);
		w.segment = (uint32_t)vd->seq;
		w.capture_us = vd->wall_us;
		w.duration_us = vd->duration_us ? vd->duration_us : 1;
		w.flags = vd->key ? WIRE_SEG_KEYFRAME : 0;
		int nl = vd->n_layers < WIRE_LAYERS_MAX ? vd->n_layers : WIRE_LAYERS_MAX;
		w.nlayers = (uint8_t)nl;
		const uint8_t *pl[WIRE_LAYERS_MAX];
		bool ok = nl > 0;
		for (int l = 0; l < nl; l++) {
			const struct video_seg_layer *vl = &vd->layer[l];
			w.layer[l].size = vl->size;
			w.layer[l].width = vl->width;
			w.layer[l].height = vl->height;
			uint64_t fm = vl->fps_den ? (uint64_t)vl->fps_num * 1000 / vl->fps_den : 0;
			w.layer[l].fps_milli = (uint32_t)(fm ? fm : 1);
			pl[l] = vs->payload[l].data;
			if (!vl->size)
				ok = false;
		}
		int64_t now = lc_now_us();
		int rc = ok ? sched_add_segment(e->sc, &w, pl, now) : LC_EINVAL;
		if (rc) {
			LC_WARN(MOD, "segment %llu not sent: %s", (unsigned long long)vd->seq,
				lc_strerror(rc));
		} else {
			e->segments_produced++;
			engine_note_desc(e, &w);
			if (nl > e->nlayers)
				e->nlayers = nl;
			for (int l = 0; l < nl; l++)
				e->produced[l] += vd->layer[l].size;
		}
		video_segment_free(vs);
		sched_pump(e->sc, now);
	}
	if (video_pipe_status(e->pipe) < 0)
		LC_ERR(MOD, "video source failed");
}

static void cmd_cb(struct lc_async *a, void *arg)
{
	(void)a;
	struct engine *e = arg;
	for (;;) {
		struct engine_cmd c;
		pthread_mutex_lock(&e->mu);
		if (!e->cmd_n) {
			pthread_mutex_unlock(&e->mu);
			break;
		}
		c = e->cmdq[0];
		memmove(e->cmdq, e->cmdq + 1, (e->cmd_n - 1) * sizeof *e->cmdq);
		e->cmd_n--;
		pthread_mutex_unlock(&e->mu);
		int64_t now = lc_now_us();
		switch (c.kind) {
		case ENGINE_CMD_JOIN:
			if (!e->joined && !e->quitting && !swarm_join(e->sw, now)) {
				e->joined = true;
				sched_set_active(e->sc, true);
			}
			break;
		case ENGINE_CMD_LEAVE:
			if (e->joined && !swarm_leave(e->sw, now)) {
				e->joined = false;
				sched_set_active(e->sc, false);
			}
			break;
		case ENGINE_CMD_SET_CAP:
			e->cap = c.arg < 0 || c.arg >= WIRE_LAYERS_MAX ? -1 : c.arg;
			sched_set_cap(e->sc, (uint8_t)(e->cap < 0 ? WIRE_LAYERS_MAX - 1 : e->cap), now);
			break;
		case ENGINE_CMD_QUIT:
			quit_begin(e);
			break;
		}
	}
}

/* ---- start / stop ---------------------------------------------------------------- */

/* On the source thread. */
static void seg_notify(void *arg) { lc_async_send(arg); }

static int setup_video(struct engine *e, char *err, size_t errlen)
{
	const struct engine_config *c = &e->cfg;
	struct video_pipe_cfg pc;
	memset(&pc, 0, sizeof pc);
	video_src_cfg_default(&pc.src);
	if (c->input == ENGINE_INPUT_Y4M) {
		pc.src.kind = VIDEO_SRC_Y4M;
		pc.src.path = e->s_input;
		pc.src.loop = true;
	} else {
		pc.src.kind = VIDEO_SRC_PATTERN;
		pc.src.width = c->width;
		pc.src.height = c->height;
		pc.src.fps_num = c->fps;
		pc.src.fps_den = 1;
	}
	pc.realtime = true;
	pc.queue = 8;
	pc.notify = seg_notify;
	pc.notify_arg = e->seg_async;
	if (c->single_layer) {
		/* The comparison mode: one spatial and one temporal layer at the
		 * full-size rate of the layered encode. */
		struct video_src *src;
		int rc = video_src_open(&src, &pc.src, err, errlen);
		if (rc)
			return rc;
		int w, h, fn, fd;
		video_src_info(src, &w, &h, &fn, &fd);
		video_src_close(src);
		video_enc_cfg_default(&pc.enc, w, h, fn, fd);
		int top = pc.enc.kbps[pc.enc.spatial - 1];
		pc.enc.spatial = 1;
		pc.enc.temporal = 1;
		memset(pc.enc.kbps, 0, sizeof pc.enc.kbps);
		pc.enc.kbps[0] = top;
		pc.enc.ladder.n = 1;
		pc.enc.ladder.op[0].s = 0;
		pc.enc.ladder.op[0].t = 0;
		pc.enc_set = true;
	}
	return video_pipe_start(&e->pipe, &pc, err, errlen);
}

static int engine_init(struct engine *e, char *err, size_t errlen)
{
	const struct engine_config *c = &e->cfg;
	int rc = LC_ENOMEM;
	struct lc_rng rng;
	if (c->seed)
		lc_rng_seed(&rng, c->seed);
	else
		lc_rng_seed_os(&rng);
	do
		e->self_id = lc_rng_next(&rng);
	while (!e->self_id);
	e->start_us = lc_now_us();
	e->next_id = 1;
	e->last_level = -1;
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		lc_rate_init(&e->layer_rate[l], 250000);
	lc_rate_init(&e->up_rate, 250000);
	lc_rate_init(&e->down_rate, 250000);
	e->encbuf = malloc(WIRE_MAX_MSG);
	e->work = calloc(1, sizeof *e->work);
	e->loop = lc_loop_new();
	if (!e->encbuf || !e->work || !e->loop)
		goto fail;
	e->tick = lc_timer_new(e->loop, tick_cb, e);
	e->stats_timer = lc_timer_new(e->loop, stats_cb, e);
	e->seg_async = lc_async_new(e->loop, seg_cb, e);
	e->cmd_async = lc_async_new(e->loop, cmd_cb, e);
	if (!e->tick || !e->stats_timer || !e->seg_async || !e->cmd_async)
		goto fail;

	struct net_config nc = {
		.listen_host = e->s_listen,
		.port = c->listen_port,
		.max_message = WIRE_MAX_MSG,
		.sendq_bytes = 1024 * 1024,
		.upload_kbps = c->up_kbps,
		.download_kbps = c->enforce_download ? c->down_kbps : 0,
		/* The swarm's PING/PONG keeps links alive and measures the RTT,
		 * only on links that are otherwise quiet; net's pings would add
		 * two frames a second on every link. Net's idle timeout stays as
		 * a backstop behind the swarm's liveness (5 s). */
		.no_ping = true,
		.idle_timeout_s = 15,
		/* Messages waiting on a link go out together: a DONE or a PULL
		 * behind a block shares its frame header. */
		.coalesce_max = COALESCE_MAX,
		.arg = e,
		.on_open = on_open,
		.on_message = on_message,
		.on_drain = on_drain,
		.on_close = on_close,
		.on_dial_failed = on_dial_failed,
		.http_provider = engine_http_provider,
		.on_shutdown = on_shutdown,
	};
	rc = net_new(e->loop, &nc, &e->net);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s:%d (%s)",
			 e->s_listen ? e->s_listen : "*", c->listen_port, lc_strerror(rc));
		goto fail;
	}
	e->port = net_port(e->net);

	struct sched_config sc;
	sched_config_default(&sc);
	sc.source = c->source;
	sc.coding = !c->no_coding;
	sc.up_kbps = c->up_kbps;
	sc.down_kbps = c->down_kbps;
	e->cap = c->max_layer >= 0 && c->max_layer < WIRE_LAYERS_MAX ? c->max_layer : -1;
	if (e->cap >= 0)
		sc.max_level = (uint8_t)e->cap;
	if (c->buffer_us > 0)
		sc.buffer_us = c->buffer_us;
	sc.seed = lc_rng_next(&rng) | 1;
	struct sched_ops so = { .ctx = e, .send = sc_send, .room = sc_room, .play = sc_play };
	rc = sched_new(&e->sc, &sc, &so, lc_now_us());
	if (rc) {
		snprintf(err, errlen, "scheduler: %s", lc_strerror(rc));
		goto fail;
	}

	struct swarm_config wc;
	memset(&wc, 0, sizeof wc);
	wc.self_id = e->self_id;
	wc.role = c->source ? (WIRE_ROLE_SOURCE | WIRE_ROLE_TRACKER)
			    : (uint8_t)(WIRE_ROLE_PEER | (c->tracker ? WIRE_ROLE_TRACKER : 0));
	wc.stream = e->s_stream ? e->s_stream : "layercast";
	wc.software = "layercast/" LC_ENGINE_VERSION;
	wc.host = e->s_adv;
	wc.port = (uint16_t)e->port;
	wc.up_kbps = c->up_kbps;
	wc.down_kbps = c->down_kbps;
	wc.max_neighbours = c->max_neighbours ? c->max_neighbours : c->source ? 60 : 32;
	if (wc.max_neighbours > ENGINE_MAX_NBRS - 2)
		wc.max_neighbours = ENGINE_MAX_NBRS - 2;
	wc.tracker_host = e->s_join;
	wc.tracker_port = c->join_port;
	wc.seed = lc_rng_next(&rng);
	struct swarm_ops wo = { .ctx = e, .dial = sw_dial, .send = sw_send, .close = sw_close,
				.nbr_up = sw_nbr_up, .nbr_down = sw_nbr_down };
	rc = swarm_new(&wc, &wo, &e->sw);
	if (rc) {
		snprintf(err, errlen, "swarm: %s", lc_strerror(rc));
		goto fail;
	}

	if (c->source) {
		rc = setup_video(e, err, errlen);
		if (rc)
			goto fail;
	} else if (c->decode) {
		struct video_player_cfg pc = { .threads = 1, .in_queue = 4, .out_queue = 8 };
		if (c->display) {
			/* Two segments of frames at the test scene's rates; the
			 * decoder waits for the window to take them. */
			pc.out_queue = 2 * (c->fps > 0 ? c->fps : 30) + 8;
			pc.block_when_full = true;
		}
		rc = video_player_new(&e->player, &pc);
		if (rc) {
			snprintf(err, errlen, "decoder: %s", lc_strerror(rc));
			goto fail;
		}
	}
	lc_timer_start(e->tick, TICK_S, TICK_S);
	lc_timer_start(e->stats_timer, 0.05, STATS_S);
	rc = swarm_join(e->sw, lc_now_us());
	if (rc) {
		snprintf(err, errlen, "join: %s", lc_strerror(rc));
		goto fail;
	}
	e->joined = true;
	engine_refresh_stats(e);
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "%s", lc_strerror(rc));
	return rc;
}

/* Free everything the engine thread created (on that thread). */
static void engine_fini(struct engine *e)
{
	if (e->pipe)
		video_pipe_free(e->pipe);
	e->pipe = NULL;
	if (e->net)
		net_free(e->net);
	e->net = NULL;
	while (e->links)
		elink_free(e, e->links);
	if (e->player && !e->cfg.display) { /* else the caller may still pop frames */
		video_player_free(e->player);
		e->player = NULL;
	}
	swarm_free(e->sw);
	e->sw = NULL;
	sched_free(e->sc);
	e->sc = NULL;
	lc_timer_free(e->tick);
	lc_timer_free(e->stats_timer);
	lc_async_free(e->seg_async);
	lc_async_free(e->cmd_async);
	e->tick = e->stats_timer = NULL;
	e->seg_async = e->cmd_async = NULL;
	if (e->loop)
		lc_loop_free(e->loop);
	e->loop = NULL;
	free(e->encbuf);
	e->encbuf = NULL;
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;
	char err[256] = "";
	int rc = engine_init(e, err, sizeof err);
	pthread_mutex_lock(&e->mu);
	e->init_done = true;
	e->init_rc = rc;
	snprintf(e->init_err, sizeof e->init_err, "%s", err);
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (!rc) {
		lc_loop_run(e->loop);
		/* The last figures, for the caller's report. */
		lc_timer_stop(e->tick);
		if (e->player && !e->cfg.display)
			video_player_drain(e->player);
		engine_refresh_stats(e);
	}
	pthread_mutex_lock(&e->mu);
	e->closed = true; /* no more commands: the loop goes away */
	pthread_mutex_unlock(&e->mu);
	engine_fini(e);
	pthread_mutex_lock(&e->mu);
	e->ended = true;
	e->snap->running = false;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

static void engine_release(struct engine *e)
{
	free(e->s_listen);
	free(e->s_adv);
	free(e->s_join);
	free(e->s_input);
	free(e->s_stream);
	free(e->snap);
	free(e->work);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	free(e);
}

int engine_start(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	*out = NULL;
	if (!cfg || (!cfg->source && (!cfg->join_host || !cfg->join_port)) ||
	    cfg->max_layer > 7 || cfg->listen_port < 0 || cfg->listen_port > 65535 ||
	    (cfg->source && cfg->input == ENGINE_INPUT_Y4M && !cfg->input_path) ||
	    (cfg->source && cfg->input == ENGINE_INPUT_PATTERN &&
	     (cfg->width < 16 || cfg->height < 16 || cfg->width > VIDEO_MAX_DIM ||
	      cfg->height > VIDEO_MAX_DIM || cfg->fps < 1 || cfg->fps > 120))) {
		snprintf(err, errlen, "invalid engine configuration");
		return LC_EINVAL;
	}
	struct engine *e = calloc(1, sizeof *e);
	if (!e)
		return LC_ENOMEM;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->cfg = *cfg;
	e->s_listen = dupstr(cfg->listen_host);
	e->s_adv = dupstr(cfg->advertise_host ? cfg->advertise_host : cfg->listen_host);
	e->s_join = dupstr(cfg->join_host);
	e->s_input = dupstr(cfg->input_path);
	e->s_stream = dupstr(cfg->stream);
	e->snap = calloc(1, sizeof *e->snap);
	if (!e->snap || (cfg->listen_host && !e->s_listen) || (cfg->join_host && !e->s_join)) {
		engine_release(e);
		return LC_ENOMEM;
	}
	/* "0.0.0.0" or "::" is no address to give others. */
	if (e->s_adv && (!strcmp(e->s_adv, "0.0.0.0") || !strcmp(e->s_adv, "::"))) {
		free(e->s_adv);
		e->s_adv = NULL;
	}
	if (pthread_create(&e->thread, NULL, engine_main, e)) {
		engine_release(e);
		snprintf(err, errlen, "cannot start the engine thread");
		return LC_EIO;
	}
	pthread_mutex_lock(&e->mu);
	while (!e->init_done)
		pthread_cond_wait(&e->cv, &e->mu);
	int rc = e->init_rc;
	pthread_mutex_unlock(&e->mu);
	if (rc) {
		snprintf(err, errlen, "%s", e->init_err);
		pthread_join(e->thread, NULL);
		engine_release(e);
		return rc;
	}
	*out = e;
	return 0;
}

int engine_command(struct engine *e, enum engine_cmd_kind kind, int arg)
{
	pthread_mutex_lock(&e->mu);
	if (e->closed) {
		pthread_mutex_unlock(&e->mu);
		return LC_ESTATE;
	}
	if (e->cmd_n == ENGINE_CMDQ) {
		pthread_mutex_unlock(&e->mu);
		return LC_EFULL;
	}
	e->cmdq[e->cmd_n++] = (struct engine_cmd){ .kind = kind, .arg = arg };
	/* Under the lock: the loop (and its async) lives until closed is set. */
	lc_async_send(e->cmd_async);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

void engine_snapshot(struct engine *e, struct engine_stats *out)
{
	pthread_mutex_lock(&e->mu);
	*out = *e->snap;
	pthread_mutex_unlock(&e->mu);
}

bool engine_wait(struct engine *e, double timeout_s)
{
	pthread_mutex_lock(&e->mu);
	if (timeout_s < 0) {
		while (!e->ended)
			pthread_cond_wait(&e->cv, &e->mu);
	} else {
		/* e->cv uses the realtime clock (pthread default). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double s = floor(timeout_s);
		ts.tv_sec += (time_t)s;
		ts.tv_nsec += (long)((timeout_s - s) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!e->ended)
			if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT)
				break;
	}
	bool ended = e->ended;
	pthread_mutex_unlock(&e->mu);
	return ended;
}

int engine_port(const struct engine *e) { return e->port; }

int engine_pop_frame(struct engine *e, struct video_frame *f)
{
	/* The player is created before engine_start returns and freed only
	 * by engine_free. */
	return e->player ? video_player_pop(e->player, f) : LC_EAGAIN;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	engine_command(e, ENGINE_CMD_QUIT, 0);
	pthread_join(e->thread, NULL);
	video_player_free(e->player); /* kept for engine_pop_frame (display) */
	engine_release(e);
}
