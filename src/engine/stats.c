/*
 * engine statistics: the snapshot built on the engine thread, its JSON and
 * Prometheus forms.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n-1]. */
static double pct(const int64_t *v, unsigned n, double p)
{
	if (!n)
		return -1;
	unsigned r = (unsigned)(p * n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1];
}

/* A descriptor seen (played by a peer, produced by the source): the
 * stream's per-layer rates and picture sizes for the dashboards. */
void engine_note_desc(struct engine *e, const struct wire_segment *w)
{
	if (!w->duration_us || !w->nlayers)
		return;
	for (int l = 0; l < w->nlayers && l < WIRE_LAYERS_MAX; l++) {
		double kbps = (double)w->layer[l].size * 8000.0 / w->duration_us;
		e->layer_kbps[l] = e->have_desc ? 0.8 * e->layer_kbps[l] + 0.2 * kbps : kbps;
	}
	e->last_desc = *w;
	e->have_desc = true;
}

void engine_refresh_stats(struct engine *e)
{
	struct engine_stats *st = e->work;
	memset(st, 0, sizeof *st);
	int64_t now = lc_now_us();
	st->peer_id = e->self_id;
	st->source = e->cfg.source;
	st->port = e->port;
	st->running = true;
	st->joined = e->joined;
	st->uptime_s = (double)(now - e->start_us) / 1e6;
	st->up_cap_kbps = e->cfg.up_kbps;
	st->down_cap_kbps = e->cfg.down_kbps;

	struct sched_stats ss;
	sched_get_stats(e->sc, &ss);
	st->started = ss.started;
	st->startup_ms = ss.startup_us < 0 ? -1 : ss.startup_us / 1000;
	st->segments_played = ss.segments_played;
	st->segments_ok = ss.segments_ok;
	st->stalls = ss.stalls;
	st->continuity = ss.segments_played ? (double)ss.segments_ok / (double)ss.segments_played
					    : 1.0;
	unsigned n = e->lag_n;
	int64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
	if (tmp) {
		memcpy(tmp, e->lag_us, n * sizeof *tmp);
		qsort(tmp, n, sizeof *tmp, cmp_i64);
		st->lag_ms_p50 = n ? pct(tmp, n, 0.50) / 1000.0 : -1;
		st->lag_ms_p95 = n ? pct(tmp, n, 0.95) / 1000.0 : -1;
		free(tmp);
	} else {
		st->lag_ms_p50 = st->lag_ms_p95 = -1;
	}
	st->played_kbps = e->played_us > 0 ? e->played_bits * 1000.0 / e->played_us : 0;
	st->level = ss.level;
	st->playing_level = ss.playing_level;
	st->layer_final = e->last_level;
	st->nlayers = e->nlayers;
	st->cap = e->cap;
	st->buffer_ms = (double)ss.buffer_us / 1000.0;
	snprintf(st->stream, sizeof st->stream, "%s", e->s_stream ? e->s_stream : "layercast");
	snprintf(st->addr, sizeof st->addr, "%s:%d", e->s_adv ? e->s_adv : "*", e->port);
	st->blocks_in = ss.blocks_in;
	st->blocks_dup = ss.blocks_dup;
	st->blocks_out = ss.blocks_out;
	st->non_innovative_ratio = ss.blocks_in ? (double)ss.blocks_dup / (double)ss.blocks_in : 0;
	st->hash_failures = ss.hash_failures;
	st->decode_errors = e->decode_errors;
	memcpy(st->tx_type, e->tx_type, sizeof st->tx_type);
	st->segments_produced = e->segments_produced;

	if (e->net) {
		struct net_stats ns;
		net_get_stats(e->net, &ns);
		st->bytes_sent = ns.bytes_sent;
		st->bytes_received = ns.bytes_received;
		lc_rate_add(&e->up_rate, ns.bytes_sent - e->up_prev, now);
		lc_rate_add(&e->down_rate, ns.bytes_received - e->down_prev, now);
		e->up_prev = ns.bytes_sent;
		e->down_prev = ns.bytes_received;
	}
	st->upload_kbps_now = lc_rate_bps(&e->up_rate, now) * 8 / 1000;
	st->download_kbps_now = lc_rate_bps(&e->down_rate, now) * 8 / 1000;
	st->upload_kbps_used = st->uptime_s > 0 ? (double)st->bytes_sent * 8 / 1000 / st->uptime_s : 0;
	double msg = (double)(st->bytes_sent + st->bytes_received);
	double pay = (double)(ss.bytes_in + ss.bytes_out);
	st->overhead = msg > 0 && msg >= pay ? (msg - pay) / msg : 0;

	for (int l = 0; l < WIRE_LAYERS_MAX; l++) {
		struct engine_layer_stats *ls = &st->layer[l];
		uint64_t total = e->cfg.source ? e->produced[l] : ss.layer[l].bytes_in;
		lc_rate_add(&e->layer_rate[l], total - e->layer_prev[l], now);
		e->layer_prev[l] = total;
		ls->in_kbps = lc_rate_bps(&e->layer_rate[l], now) * 8 / 1000;
		ls->bytes_in = total;
		/* A layer that brought bytes counts before anything plays
		 * (a viewer that never starts still receives and relays). */
		if (total && l >= st->nlayers)
			st->nlayers = l + 1;
		ls->gens_done = ss.layer[l].gens_done;
		ls->gens_missed = ss.layer[l].gens_missed;
		ls->hash_ok = e->hash_ok[l];
		ls->hash_bad = e->hash_bad[l];
		if (e->have_desc && l < e->last_desc.nlayers) {
			ls->rate_kbps = e->layer_kbps[l];
			ls->width = e->last_desc.layer[l].width;
			ls->height = e->last_desc.layer[l].height;
			ls->fps = e->last_desc.layer[l].fps_milli / 1000.0;
		}
		for (int i = 0; i < 3; i++) {
			unsigned r = 0, k = 0;
			if (ss.newest_segment >= (uint32_t)i &&
			    !sched_gen_progress(e->sc, ss.newest_segment - (uint32_t)i, l, &r, &k)) {
				ls->rank[i] = r;
				ls->k[i] = k;
			}
		}
	}

	if (e->player) {
		struct video_player_stats ps;
		video_player_get_stats(e->player, &ps);
		st->frames_decoded = ps.frames;
		st->decode_fallbacks = ps.fallbacks;
	}

	struct swarm_stats ws;
	swarm_get_stats(e->sw, now, &ws);
	st->neighbours = ws.neighbours;
	st->joins = ws.joins;
	st->leaves = ws.leaves;
	st->failures = ws.failures;
	st->joins_1m = ws.joins_1m;
	st->leaves_1m = ws.leaves_1m;
	st->failures_1m = ws.failures_1m;
	st->known = ws.known;

	struct swarm_nbr *nb = calloc(ENGINE_MAX_NBRS, sizeof *nb);
	size_t nn = nb ? swarm_neighbours(e->sw, nb, ENGINE_MAX_NBRS) : 0;
	if (nn > ENGINE_MAX_NBRS)
		nn = ENGINE_MAX_NBRS;
	for (size_t i = 0; i < nn; i++) {
		struct engine_nbr_stats *o = &st->nbr[i];
		o->peer_id = nb[i].peer_id;
		snprintf(o->addr, sizeof o->addr, "%s:%u", nb[i].host, nb[i].port);
		o->dialled = nb[i].dialled;
		o->role = nb[i].role;
		o->rtt_ms = nb[i].srtt_us < 0 ? -1 : (double)nb[i].srtt_us / 1000.0;
		o->adv_up_kbps = nb[i].up_kbps;
		for (struct elink *l = e->links; l; l = l->next) {
			if (l->id != nb[i].link || !l->nl)
				continue;
			struct net_link_stats ls;
			link_get_stats(l->nl, &ls);
			o->up_kbps = ls.send_Bps * 8 / 1000;
			o->down_kbps = ls.recv_Bps * 8 / 1000;
			o->queue_bytes = ls.queue_bytes;
		}
		struct sched_nbr_stats sn;
		o->sub_level = -1;
		o->innovative_share = -1;
		snprintf(o->state, sizeof o->state, "up");
		for (struct elink *l = e->links; l; l = l->next)
			if (l->id == nb[i].link && l->close_pending)
				snprintf(o->state, sizeof o->state, "closing");
		if (!sched_nbr_stats(e->sc, nb[i].link, &sn)) {
			o->sub_level = sn.level;
			o->blocks_in = sn.blocks_in;
			o->blocks_out = sn.blocks_out;
			if (sn.blocks_in)
				o->innovative_share = (double)sn.blocks_useful / (double)sn.blocks_in;
		}
	}
	st->n_nbrs = (unsigned)nn;
	free(nb);

	pthread_mutex_lock(&e->mu);
	*e->snap = *st;
	pthread_mutex_unlock(&e->mu);
}

/* ---- JSON ------------------------------------------------------------------- */

static int bp(struct lc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bp(struct lc_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LC_EINVAL;
	if ((size_t)n >= sizeof tmp)
		return LC_ERANGE;
	return lc_buf_append(b, tmp, (size_t)n);
}

/* Addresses come from the network: keep them plain in JSON. */
static void clean(char *dst, size_t cap, const char *src)
{
	size_t j = 0;
	for (size_t i = 0; src[i] && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	dst[j] = '\0';
}

int engine_stats_json(const struct engine_stats *st, struct lc_buf *b)
{
	int e = bp(b, "{\"peer_id\":\"%016llx\",\"role\":\"%s\",\"port\":%d,\"running\":%s,"
		   "\"joined\":%s,\"uptime_s\":%.2f,\"started\":%s,\"startup_ms\":%lld,"
		   "\"continuity\":%.4f,\"stalls\":%llu,\"segments_played\":%llu,"
		   "\"segments_ok\":%llu,\"lag_ms_p50\":%.0f,\"lag_ms_p95\":%.0f,"
		   "\"played_kbps\":%.1f,\"level\":%d,\"playing_level\":%d,\"layer_final\":%d,"
		   "\"nlayers\":%d,\"cap\":%d,\"buffer_ms\":%.0f,",
		   (unsigned long long)st->peer_id, st->source ? "source" : "peer", st->port,
		   st->running ? "true" : "false", st->joined ? "true" : "false", st->uptime_s,
		   st->started ? "true" : "false", (long long)st->startup_ms, st->continuity,
		   (unsigned long long)st->stalls, (unsigned long long)st->segments_played,
		   (unsigned long long)st->segments_ok, st->lag_ms_p50, st->lag_ms_p95,
		   st->played_kbps, st->level, st->playing_level, st->layer_final, st->nlayers, st->cap,
		   st->buffer_ms);
	if (!e)
		e = bp(b, "\"upload_kbps_used\":%.1f,\"upload_kbps_now\":%.1f,"
		       "\"download_kbps_now\":%.1f,\"up_cap_kbps\":%u,\"down_cap_kbps\":%u,"
		       "\"non_innovative_ratio\":%.4f,\"overhead\":%.4f,\"blocks_in\":%llu,"
		       "\"blocks_dup\":%llu,\"blocks_out\":%llu,\"bytes_sent\":%llu,"
		       "\"bytes_received\":%llu,\"decode_errors\":%llu,\"hash_failures\":%llu,"
		       "\"segments_produced\":%llu,\"frames_decoded\":%llu,"
		       "\"decode_fallbacks\":%llu,",
		       st->upload_kbps_used, st->upload_kbps_now, st->download_kbps_now,
		       st->up_cap_kbps, st->down_cap_kbps, st->non_innovative_ratio, st->overhead,
		       (unsigned long long)st->blocks_in, (unsigned long long)st->blocks_dup,
		       (unsigned long long)st->blocks_out, (unsigned long long)st->bytes_sent,
		       (unsigned long long)st->bytes_received,
		       (unsigned long long)st->decode_errors,
		       (unsigned long long)st->hash_failures,
		       (unsigned long long)st->segments_produced,
		       (unsigned long long)st->frames_decoded,
		       (unsigned long long)st->decode_fallbacks);
	/* Message bytes sent by type, lower-case names: what the upload went on. */
	if (!e)
		e = bp(b, "\"sent_by_type\":{");
	for (int t = 1; t <= WIRE_TYPE_MAX && !e; t++) {
		char name[WIRE_TYPE_KEY_MAX];
		wire_type_key(t, name);
		e = bp(b, "%s\"%s\":%llu", t > 1 ? "," : "", name,
		       (unsigned long long)st->tx_type[t]);
	}
	if (!e)
		e = bp(b, "},");
	if (!e)
		e = bp(b, "\"churn\":{\"neighbours\":%u,\"known\":%u,\"joins\":%llu,\"leaves\":%llu,"
		       "\"failures\":%llu,\"joins_1m\":%u,\"leaves_1m\":%u,\"failures_1m\":%u},"
		       "\"layers\":[",
		       st->neighbours, st->known, (unsigned long long)st->joins,
		       (unsigned long long)st->leaves, (unsigned long long)st->failures,
		       st->joins_1m, st->leaves_1m, st->failures_1m);
	int nl = st->nlayers > 0 ? st->nlayers : 1;
	for (int l = 0; l < nl && !e; l++) {
		const struct engine_layer_stats *ls = &st->layer[l];
		e = bp(b, "%s{\"layer\":%d,\"kbps\":%.1f,\"rate_kbps\":%.1f,\"width\":%d,"
		       "\"height\":%d,\"fps\":%.2f,\"bytes\":%llu,\"gens_done\":%llu,"
		       "\"gens_missed\":%llu,\"hash_ok\":%llu,\"hash_bad\":%llu,"
		       "\"progress\":[[%u,%u],[%u,%u],[%u,%u]]}",
		       l ? "," : "", l, ls->in_kbps, ls->rate_kbps, ls->width, ls->height, ls->fps,
		       (unsigned long long)ls->bytes_in,
		       (unsigned long long)ls->gens_done, (unsigned long long)ls->gens_missed,
		       (unsigned long long)ls->hash_ok, (unsigned long long)ls->hash_bad,
		       ls->rank[0], ls->k[0], ls->rank[1], ls->k[1], ls->rank[2], ls->k[2]);
	}
	if (!e)
		e = bp(b, "],\"neighbours\":[");
	for (unsigned i = 0; i < st->n_nbrs && !e; i++) {
		const struct engine_nbr_stats *n = &st->nbr[i];
		char addr[sizeof n->addr];
		clean(addr, sizeof addr, n->addr);
		e = bp(b, "%s{\"peer_id\":\"%016llx\",\"addr\":\"%s\",\"dialled\":%s,"
		       "\"source\":%s,\"rtt_ms\":%.1f,\"up_kbps\":%.1f,\"down_kbps\":%.1f,"
		       "\"adv_up_kbps\":%u,\"queue_bytes\":%zu,\"sub_level\":%d,"
		       "\"blocks_in\":%llu,\"blocks_out\":%llu,\"innovative_share\":%.4f,"
		       "\"state\":\"%s\"}",
		       i ? "," : "", (unsigned long long)n->peer_id, addr,
		       n->dialled ? "true" : "false",
		       n->role & WIRE_ROLE_SOURCE ? "true" : "false", n->rtt_ms, n->up_kbps,
		       n->down_kbps, n->adv_up_kbps, n->queue_bytes, n->sub_level,
		       (unsigned long long)n->blocks_in, (unsigned long long)n->blocks_out,
		       n->innovative_share, n->state);
	}
	if (!e)
		e = bp(b, "]}");
	return e;
}

/* ---- Prometheus --------------------------------------------------------------- */

static int gauge(struct lc_buf *b, const char *name, const char *help, double v)
{
	return bp(b, "# HELP layercast_%s %s\n# TYPE layercast_%s gauge\nlayercast_%s %.6g\n", name,
		  help, name, name, v);
}

static int counter(struct lc_buf *b, const char *name, const char *help, uint64_t v)
{
	return bp(b, "# HELP layercast_%s %s\n# TYPE layercast_%s counter\nlayercast_%s %llu\n",
		  name, help, name, name, (unsigned long long)v);
}

int engine_stats_metrics(const struct engine_stats *st, struct lc_buf *b)
{
	int e = 0;
	e = e ? e : gauge(b, "continuity", "Share of segments played with their base layer.", st->continuity);
	e = e ? e : counter(b, "segments_played_total", "Segment deadlines passed since start-up.", st->segments_played);
	e = e ? e : counter(b, "stalls_total", "Base layer missing at its deadline.", st->stalls);
	e = e ? e : gauge(b, "startup_seconds", "Start to first played segment (-1: not yet).",
			  st->startup_ms < 0 ? -1 : (double)st->startup_ms / 1000.0);
	e = e ? e : gauge(b, "lag_p50_seconds", "Source-to-screen lag, median.", st->lag_ms_p50 / 1000.0);
	e = e ? e : gauge(b, "lag_p95_seconds", "Source-to-screen lag, 95th percentile.", st->lag_ms_p95 / 1000.0);
	e = e ? e : gauge(b, "played_kbps", "Mean bit rate of the played operating points.", st->played_kbps);
	e = e ? e : gauge(b, "level", "Highest layer subscribed.", st->level);
	e = e ? e : gauge(b, "playing_level", "Layer of the last played segment.", st->playing_level);
	e = e ? e : gauge(b, "layer_cap", "Layer cap set by the viewer (-1: none).", st->cap);
	e = e ? e : gauge(b, "buffer_seconds", "Media held complete ahead of the play point.", st->buffer_ms / 1000.0);
	e = e ? e : gauge(b, "upload_kbps", "Upload rate over the last seconds.", st->upload_kbps_now);
	e = e ? e : gauge(b, "download_kbps", "Download rate over the last seconds.", st->download_kbps_now);
	e = e ? e : gauge(b, "upload_used_kbps", "Mean upload rate since start.", st->upload_kbps_used);
	e = e ? e : gauge(b, "non_innovative_ratio", "Received blocks that added no rank.", st->non_innovative_ratio);
	e = e ? e : gauge(b, "protocol_overhead", "Share of message bytes that are not block payload.", st->overhead);
	e = e ? e : counter(b, "blocks_received_total", "Coded blocks received.", st->blocks_in);
	e = e ? e : counter(b, "blocks_sent_total", "Coded blocks sent.", st->blocks_out);
	e = e ? e : gauge(b, "neighbours", "Current neighbours.", st->neighbours);
	e = e ? e : counter(b, "joins_total", "Neighbours that joined.", st->joins);
	e = e ? e : counter(b, "leaves_total", "Neighbours that left with BYE.", st->leaves);
	e = e ? e : counter(b, "failures_total", "Neighbours lost without BYE.", st->failures);
	e = e ? e : bp(b, "# HELP layercast_sent_bytes_total Message bytes sent, by message type.\n"
		       "# TYPE layercast_sent_bytes_total counter\n");
	for (int t = 1; t <= WIRE_TYPE_MAX && !e; t++) {
		char name[WIRE_TYPE_KEY_MAX];
		wire_type_key(t, name);
		e = bp(b, "layercast_sent_bytes_total{type=\"%s\"} %llu\n", name,
		       (unsigned long long)st->tx_type[t]);
	}
	e = e ? e : bp(b, "# HELP layercast_layer_kbps Per-layer receive (or produce) rate.\n"
		       "# TYPE layercast_layer_kbps gauge\n");
	int nl = st->nlayers > 0 ? st->nlayers : 1;
	for (int l = 0; l < nl && !e; l++)
		e = bp(b, "layercast_layer_kbps{layer=\"%d\"} %.6g\n", l, st->layer[l].in_kbps);
	e = e ? e : bp(b, "# HELP layercast_layer_hash_ok_total Played layers equal to the source's.\n"
		       "# TYPE layercast_layer_hash_ok_total counter\n");
	for (int l = 0; l < nl && !e; l++)
		e = bp(b, "layercast_layer_hash_ok_total{layer=\"%d\"} %llu\n", l,
		       (unsigned long long)st->layer[l].hash_ok);
	e = e ? e : bp(b, "# HELP layercast_neighbour_rtt_seconds Smoothed RTT per neighbour.\n"
		       "# TYPE layercast_neighbour_rtt_seconds gauge\n");
	for (unsigned i = 0; i < st->n_nbrs && !e; i++)
		e = bp(b, "layercast_neighbour_rtt_seconds{peer=\"%016llx\"} %.6g\n",
		       (unsigned long long)st->nbr[i].peer_id, st->nbr[i].rtt_ms / 1000.0);
	return e;
}

int engine_http_provider(enum net_route route, struct lc_buf *out, void *arg)
{
	struct engine *e = arg;
	/* Served on the engine thread, which writes the snapshot: read it
	 * under the lock all the same, so the rule stays simple. */
	struct engine_stats *st = malloc(sizeof *st);
	if (!st)
		return LC_ENOMEM;
	engine_snapshot(e, st);
	int rc = 0;
	switch (route) {
	case NET_ROUTE_STATS_JSON:
		rc = lc_buf_append(out, "\"engine\":", 9);
		if (!rc)
			rc = engine_stats_json(st, out);
		break;
	case NET_ROUTE_METRICS:
		rc = engine_stats_metrics(st, out);
		break;
	case NET_ROUTE_INDEX:
		rc = bp(out, "<p>peer %016llx (%s): continuity %.4f, stalls %llu, level %d, "
			"%u neighbours</p>\n", (unsigned long long)st->peer_id,
			st->source ? "source" : "peer", st->continuity,
			(unsigned long long)st->stalls, st->playing_level, st->neighbours);
		break;
	}
	free(st);
	return rc;
}
