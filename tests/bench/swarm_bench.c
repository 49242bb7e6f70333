/*
 * swarm_bench: a source and n peers, real layercast processes on loopback,
 * in the four modes (layered + coded, layered + plain chunks, one layer +
 * coded, one layer + plain chunks) and two regimes:
 *
 *   supply-limited  the source and peers together upload less than the
 *                   peers would take (demand n*R above u_s + sum u_i)
 *   demand-limited  they upload more than the peers take
 *
 *   swarm_bench LAYERCAST [--n 10,30] [--window S] [--modes 0123]
 *
 * The stream: the test scene at 320x180, 30 fps, whose layered encode is
 * about 320 kbit/s in 3 layers (L0 ~85, L1 ~25, L2 ~210). Upload caps
 * (kbit/s), by peer index i mod 5 (the "stated mix"):
 *
 *   supply-limited  source 500;  peers 50 100 150 225 350  (mean 175)
 *   demand-limited  source 1200; peers 200 400 600 900 1400 (mean 700)
 *
 * The peers join 50 ms apart. Once every peer plays (at most 25 s) the
 * measurement window starts: each peer's innovative payload bytes per
 * layer are read from /stats.json at its start and end. Then every process
 * gets SIGTERM and its JSON report gives continuity, start-up, lag and
 * played rate over its whole run; wait4 gives its CPU time.
 *
 *   r_max = min(u_s, (u_s + sum u_i) / n)            (kbit/s)
 *   util  = innovative bytes received by all peers in the window
 *           / ((u_s + sum u_i) * window)
 *
 * The upload caps count every byte a process writes (WebSocket framing,
 * block headers, coefficients, control messages), so util <= 1 - overhead.
 * RESULT keys are taken from the main mode (layered + coded):
 * util_supply_limited = the lower of n = 10 and 30; continuity_min = the
 * lowest peer continuity in the demand-limited regime; startup_ms_p95 and
 * lag_ms_p95 = the highest 95th percentile over its runs. A peer that never
 * started counts as the slowest to start (start-up inf) and has no lag
 * (-1: no peer started).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "procs.h"
#include "wire/wire.h"

#define MAXN 40

struct mode {
	const char *name;
	bool no_coding, single;
};

static const struct mode modes[4] = {
	{ "layered+coded", false, false },
	{ "layered+chunks", true, false },
	{ "1-layer+coded", false, true },
	{ "1-layer+chunks", true, true },
};

struct regime {
	const char *name;
	unsigned src_kbps;
	unsigned peer_kbps[5];
};

static const struct regime regimes[2] = {
	{ "supply-limited", 500, { 50, 100, 150, 225, 350 } },
	{ "demand-limited", 1200, { 200, 400, 600, 900, 1400 } },
};

struct result {
	double r_max, util, supply_kbps;
	double played_mean, played_min;
	double cont_min, cont_mean;
	double startup_p50, startup_p95, lag_p50, lag_p95;
	double cpu_peer_pct, cpu_src_pct;
	int ok_peers, n;
};

static double window_s = 20;

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of v[0..n-1] (sorted here). */
static double pct(double *v, int n, double p)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	int r = (int)ceil(p * n);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

static double innovative_bytes(const char *j)
{
	int nl = (int)jnum(j, "nlayers");
	double sum = 0;
	for (int l = 0; l < nl; l++) {
		double b = jlayer(j, l, "bytes");
		if (b > 0)
			sum += b;
	}
	return sum;
}

/* The key of wire type t in "sent_by_type". */
static const char *type_key(int t)
{
	static char key[WIRE_TYPE_KEY_MAX];
	wire_type_key(t, key);
	return key;
}

/* Message bytes sent by wire type t (1..WIRE_TYPE_MAX), from "sent_by_type". */
static void sent_by_type(const char *j, double *out)
{
	const char *s = j ? strstr(engine_obj(j), "\"sent_by_type\":{") : NULL;
	const char *end = s ? strchr(s, '}') : NULL;
	for (int t = 1; t <= WIRE_TYPE_MAX; t++) {
		out[t] = 0;
		char k[24];
		snprintf(k, sizeof k, "\"%s\":", type_key(t));
		const char *f = s ? strstr(s, k) : NULL;
		if (f && f < end)
			out[t] = strtod(f + strlen(k), NULL);
	}
}

/* One process's counters at the window's start or end. */
struct snap {
	double innovative, blocks_out, sent[WIRE_TYPE_MAX + 1];
	double wire;  /* every byte written to links (frame headers, pings) */
	double msgs, frames; /* messages sent, WebSocket messages they went in */
};

/* Message bytes sent between two snaps of one process, all types. */
static double sent_between(const struct snap *a, const struct snap *b)
{
	double sum = 0;
	for (int t = 1; t <= WIRE_TYPE_MAX; t++)
		sum += b->sent[t] - a->sent[t];
	return sum;
}

static void take_snap(const struct proc *p, bool peer, struct snap *s)
{
	char *j = http_get(p->port, "/stats.json");
	memset(s, 0, sizeof *s);
	if (j) {
		s->innovative = peer ? innovative_bytes(j) : 0;
		s->blocks_out = jnum(j, "blocks_out");
		s->wire = jnum_at(j, "frame_bytes");
		s->msgs = jnum_at(j, "msgs_sent");
		s->frames = jnum_at(j, "frames_sent");
		sent_by_type(j, s->sent);
	}
	free(j);
}

static bool p_playing(const char *j, void *arg)
{
	(void)arg;
	return jnum(j, "segments_played") >= 1;
}

static bool p_produced(const char *j, void *arg)
{
	(void)arg;
	return jnum(j, "segments_produced") >= 1;
}

/* SIGTERM p; its report (NULL if it did not exit cleanly). */
static char *stop(struct proc *p)
{
	if (p->exited)
		return NULL;
	kill(p->pid, SIGTERM);
	if (!reap(p, 20)) {
		kill(p->pid, SIGKILL);
		reap(p, 5);
		return NULL;
	}
	if (!WIFEXITED(p->status) || WEXITSTATUS(p->status))
		return NULL;
	return slurp(p->out);
}

static int run(const struct mode *m, const struct regime *g, int n, struct result *r)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	char up[MAXN + 1][16], port[32];
	snprintf(up[0], sizeof up[0], "%u", g->src_kbps);
	const char *sargs[16];
	int na = 0;
	sargs[na++] = "source";
	sargs[na++] = "--headless";
	sargs[na++] = "--listen";
	sargs[na++] = "127.0.0.1:0";
	sargs[na++] = "--size";
	sargs[na++] = "320x180";
	sargs[na++] = "--fps";
	sargs[na++] = "30";
	sargs[na++] = "--seed";
	sargs[na++] = "1";
	sargs[na++] = "--upload-kbps";
	sargs[na++] = up[0];
	if (m->no_coding)
		sargs[na++] = "--no-coding";
	if (m->single) {
		sargs[na++] = "--layers";
		sargs[na++] = "1";
	}
	struct proc *src = spawnv("source", sargs, na);
	if (!src || !await_port(src, 10) || !await_stats(src, p_produced, NULL, 10)) {
		fprintf(stderr, "swarm_bench: the source did not start (log %s)\n",
			src ? src->err : "-");
		return -1;
	}
	snprintf(port, sizeof port, "127.0.0.1:%d", src->port);
	double supply = g->src_kbps;
	struct proc *peer[MAXN];
	for (int i = 0; i < n; i++) {
		unsigned u = g->peer_kbps[i % 5];
		supply += u;
		snprintf(up[i + 1], sizeof up[i + 1], "%u", u);
		char name[16];
		snprintf(name, sizeof name, "peer%d", i);
		const char *a[12];
		int k = 0;
		a[k++] = "join";
		a[k++] = port;
		a[k++] = "--headless";
		a[k++] = "--listen";
		a[k++] = "127.0.0.1:0";
		a[k++] = "--upload-kbps";
		a[k++] = up[i + 1];
		if (m->no_coding)
			a[k++] = "--no-coding";
		peer[i] = spawnv(name, a, k);
		if (!peer[i])
			return -1;
		nap(0.05);
	}
	for (int i = 0; i < n; i++)
		if (!await_port(peer[i], 10)) {
			fprintf(stderr, "swarm_bench: %s did not start (log %s)\n", peer[i]->name,
				peer[i]->err);
			return -1;
		}
	/* Warm-up: until every peer plays (or 25 s in all). */
	double warm_end = now_s() + 25;
	for (int i = 0; i < n && now_s() < warm_end; i++)
		await_stats(peer[i], p_playing, NULL, warm_end - now_s());

	/* Index 0 the source, i + 1 peer i. */
	struct snap s0[MAXN + 1], s1[MAXN + 1];
	for (int i = 0; i <= n; i++)
		take_snap(i ? peer[i - 1] : src, i > 0, &s0[i]);
	double t0 = now_s();
	nap(window_s);
	for (int i = 0; i <= n; i++)
		take_snap(i ? peer[i - 1] : src, i > 0, &s1[i]);
	double win = now_s() - t0;
	double bytes = 0, sent[WIRE_TYPE_MAX + 1] = { 0 }, blocks = 0, all = 0, wire = 0;
	double msgs = 0, frames = 0;
	for (int i = 0; i <= n; i++) {
		bytes += s1[i].innovative - s0[i].innovative;
		wire += s1[i].wire - s0[i].wire;
		msgs += s1[i].msgs - s0[i].msgs;
		frames += s1[i].frames - s0[i].frames;
		blocks += s1[i].blocks_out - s0[i].blocks_out;
		all += sent_between(&s0[i], &s1[i]);
		for (int t = 1; t <= WIRE_TYPE_MAX; t++)
			sent[t] += s1[i].sent[t] - s0[i].sent[t];
	}
	/* Where the upload went in the window, as shares of the capacity:
	 * innovative payload (util), the rest of BLOCK (headers, copies that
	 * added nothing), each other message type, WebSocket framing (frame
	 * headers and pings: what was written beyond the messages) and the
	 * rest, idle upload. */
	double cap_bytes = supply * 1000 / 8 * win;
	printf("  upload in the window, %% of capacity: innovative %.1f, block other %.1f",
	       100 * bytes / cap_bytes, 100 * (sent[WIRE_BLOCK] - bytes) / cap_bytes);
	for (int t = 1; t <= WIRE_TYPE_MAX; t++)
		if (t != WIRE_BLOCK && sent[t] > 0)
			printf(", %s %.2f", type_key(t), 100 * sent[t] / cap_bytes);
	printf(", framing %.2f, idle %.1f; %.0f blocks; %.0f messages in %.0f WebSocket "
	       "messages\n", 100 * (wire - all) / cap_bytes, 100 * (1 - wire / cap_bytes), blocks,
	       msgs, frames);
	double sb = s1[0].blocks_out - s0[0].blocks_out, sbytes = sent_between(&s0[0], &s1[0]);
	printf("  source in the window: %.1f %% of the capacity, %.0f blocks of %.0f bytes on "
	       "average\n", 100 * sbytes / cap_bytes, sb,
	       sb > 0 ? (s1[0].sent[WIRE_BLOCK] - s0[0].sent[WIRE_BLOCK]) / sb : 0);
	/* The source's upload is the scarcest: its messages by type, as
	 * shares of what it wrote (framing included). */
	double swire = s1[0].wire - s0[0].wire;
	if (swire > 0) {
		printf("  source's upload by type, %% of what it wrote:");
		for (int t = 1; t <= WIRE_TYPE_MAX; t++)
			if (s1[0].sent[t] > s0[0].sent[t])
				printf(" %s %.2f", type_key(t),
				       100 * (s1[0].sent[t] - s0[0].sent[t]) / swire);
		printf(", framing %.2f\n", 100 * (swire - sbytes) / swire);
	}
	/* Each capacity class's upload in the window (messages, before
	 * framing), as a share of its capacity: where the idle upload is. */
	printf("  upload used in the window by capacity (%% of cap, before framing): src %.1f",
	       100 * sbytes / ((double)g->src_kbps * 1000 / 8 * win));
	for (int i = 0; i < n; i++) {
		bool first = true;
		for (int j = 0; j < i && first; j++)
			first = strcmp(up[j + 1], up[i + 1]) != 0;
		if (!first)
			continue;
		double used = 0, capb = 0;
		for (int j = i; j < n; j++) {
			if (strcmp(up[j + 1], up[i + 1]))
				continue;
			used += sent_between(&s0[j + 1], &s1[j + 1]);
			capb += atof(up[j + 1]) * 1000 / 8 * win;
		}
		printf(", %s %.1f", up[i + 1], capb > 0 ? 100 * used / capb : 0);
	}
	printf("\n");
	r->supply_kbps = supply;
	r->r_max = fmin(g->src_kbps, supply / n);
	r->util = bytes * 8 / 1000 / (supply * win);

	double startup[MAXN], lag50[MAXN], lag95[MAXN], cpu = 0;
	int ok = 0, played = 0;
	printf("  peers (cap/upload used/played kbit/s, layer, continuity, non-innovative, "
	       "overhead, start-up ms):\n   ");
	r->cont_min = 1;
	r->played_min = 1e9;
	for (int i = 0; i < n; i++) {
		char *j = stop(peer[i]);
		double life = now_s() - peer[i]->t_start;
		cpu += life > 0 ? 100 * peer[i]->cpu_s / life : 0;
		if (!j) {
			r->cont_min = 0;
			continue;
		}
		double c = jnum(j, "continuity"), pk = jnum(j, "played_kbps");
		/* A viewer that never started played nothing in its whole run:
		 * its continuity is 0 here, not the 1 of "no stall counted". */
		if (jnum(j, "startup_ms") < 0)
			c = 0;
		r->cont_min = fmin(r->cont_min, c);
		r->cont_mean += c;
		r->played_mean += pk;
		r->played_min = fmin(r->played_min, pk);
		printf(" %s/%.0f/%.0f L%.0f %.3f %.3f %.3f %.0f;", up[i + 1],
		       jnum(j, "upload_kbps_used"), pk, jnum(j, "layer_final"), c,
		       jnum(j, "non_innovative_ratio"), jnum(j, "overhead"), jnum(j, "startup_ms"));
		if (i % 4 == 3)
			printf("\n   ");
		/* One that never started counts as the slowest to start, and has
		 * no lag to count. */
		startup[ok] = jnum(j, "startup_ms") < 0 ? INFINITY : jnum(j, "startup_ms");
		if (jnum(j, "startup_ms") >= 0) {
			lag50[played] = jnum(j, "lag_ms_p50");
			lag95[played++] = jnum(j, "lag_ms_p95");
		}
		ok++;
		free(j);
	}
	double slife = now_s() - src->t_start;
	char *sj = stop(src);
	printf("\n  source: cap %u, upload used %.0f kbit/s, overhead %.3f\n", g->src_kbps,
	       sj ? jnum(sj, "upload_kbps_used") : -1, sj ? jnum(sj, "overhead") : -1);
	free(sj);
	r->cpu_src_pct = slife > 0 ? 100 * src->cpu_s / slife : 0;
	r->ok_peers = ok;
	r->cpu_peer_pct = cpu / n;
	if (ok) {
		r->cont_mean /= ok;
		r->played_mean /= ok;
	}
	double s2[MAXN];
	memcpy(s2, startup, sizeof s2);
	r->startup_p50 = pct(startup, ok, 0.50);
	r->startup_p95 = pct(s2, ok, 0.95);
	r->lag_p50 = pct(lag50, played, 0.50);
	r->lag_p95 = pct(lag95, played, 0.95);
	return 0;
}

static void print_header(void)
{
	printf("%-15s %-15s %3s %6s %6s %5s %6s %6s %6s %6s %6s %6s %6s %6s %5s %5s %3s\n", "mode",
	       "regime", "n", "supply", "r_max", "util", "played", "p_min", "c_min", "c_mean",
	       "st_p50", "st_p95", "lag50", "lag95", "cpu/p", "cpu_s", "ok");
}

static void print_row(const struct mode *m, const struct regime *g, const struct result *r)
{
	printf("%-15s %-15s %3d %6.0f %6.0f %5.3f %6.0f %6.0f %6.4f %6.4f %6.0f %6.0f %6.0f %6.0f "
	       "%5.1f %5.1f %3d\n",
	       m->name, g->name, r->n, r->supply_kbps, r->r_max, r->util, r->played_mean,
	       r->played_min, r->cont_min, r->cont_mean, r->startup_p50, r->startup_p95,
	       r->lag_p50, r->lag_p95, r->cpu_peer_pct, r->cpu_src_pct, r->ok_peers);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: swarm_bench LAYERCAST [--n 10,30] [--window S] "
				"[--modes 0123]\n");
		return 2;
	}
	int ns[4] = { 10, 30 }, nn = 2;
	const char *mode_sel = "0123";
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			nn = 0;
			for (char *t = strtok(argv[++i], ","); t && nn < 4; t = strtok(NULL, ","))
				ns[nn++] = atoi(t);
		} else if (!strcmp(argv[i], "--window") && i + 1 < argc) {
			window_s = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--modes") && i + 1 < argc) {
			mode_sel = argv[++i];
		} else {
			fprintf(stderr, "swarm_bench: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	for (int i = 0; i < nn; i++)
		if (ns[i] < 1 || ns[i] > MAXN) {
			fprintf(stderr, "swarm_bench: n must be 1..%d\n", MAXN);
			return 2;
		}
	if (procs_init(argv[1], "lc_swarm_bench"))
		return 1;
	printf("swarm_bench: 320x180 test scene, window %.0f s; kbit/s, ms, %% of one core\n",
	       window_s);
	double util_sl = 2, cont_min = 2, st95 = 0, lag95 = 0;
	struct result res[32];
	const struct mode *rm[32];
	const struct regime *rg[32];
	int nres = 0;
	bool main_ran = false;
	for (const char *c = mode_sel; *c; c++) {
		int mi = *c - '0';
		if (mi < 0 || mi > 3)
			continue;
		for (int gi = 0; gi < 2; gi++)
			for (int k = 0; k < nn; k++) {
				struct result r;
				printf("\n%s, %s, n = %d\n", modes[mi].name, regimes[gi].name,
				       ns[k]);
				int rc = run(&modes[mi], &regimes[gi], ns[k], &r);
				procs_reset();
				if (rc) {
					printf("  failed to run\n");
					continue;
				}
				print_header();
				print_row(&modes[mi], &regimes[gi], &r);
				if (nres < 32) {
					res[nres] = r;
					rm[nres] = &modes[mi];
					rg[nres++] = &regimes[gi];
				}
				if (mi)
					continue;
				main_ran = true;
				if (gi == 0)
					util_sl = fmin(util_sl, r.util);
				else
					cont_min = fmin(cont_min, r.cont_min);
				st95 = fmax(st95, r.startup_p95);
				lag95 = fmax(lag95, r.lag_p95);
			}
	}
	procs_cleanup();
	printf("\nsummary (played = mean played kbit/s per peer, p_min its lowest; c_ = "
	       "continuity; st_ = start-up ms; lag = source-to-screen ms; cpu/p = mean %% of a "
	       "core per peer, cpu_s the source's)\n");
	print_header();
	for (int i = 0; i < nres; i++)
		print_row(rm[i], rg[i], &res[i]);
	if (!main_ran) {
		printf("RESULT util_supply_limited=nan continuity_min=nan startup_ms_p95=nan "
		       "lag_ms_p95=nan\n");
		return 1;
	}
	printf("RESULT util_supply_limited=%.4f continuity_min=%.4f startup_ms_p95=%.0f "
	       "lag_ms_p95=%.0f\n",
	       util_sl > 1 ? NAN : util_sl, cont_min > 1 ? NAN : cont_min, st95, lag95);
	return 0;
}
