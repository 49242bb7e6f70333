/*
 * Integration tests with real layercast processes on loopback:
 *
 *   lc_swarm_it LAYERCAST steady   a source and 8 peers of mixed upload and
 *                                  download capacity stream 30 s
 *   lc_swarm_it LAYERCAST churn    3 peers killed with SIGKILL and 3 new ones
 *                                  joining mid-stream
 *   lc_swarm_it LAYERCAST bye      a peer that leaves (SIGTERM: BYE) is gone
 *                                  from every neighbour table within 1 s
 *   lc_swarm_it LAYERCAST flash    8 peers joining within 1 s all play
 *                                  within 5 s
 *
 * Every process listens on port 0 and tells its port on stderr; the driver
 * watches the peers through their /stats.json and waits for processes with
 * bounded timeouts (no sleep stands for an event). Logs and the JSON
 * reports stay in a temporary directory, printed on failure.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procs.h"

static int failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", ok ? "ok" : "FAIL");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (!ok)
		failures++;
}

static bool p_nbrs_at_least(const char *j, void *arg)
{
	return jnum(j, "neighbours") >= *(int *)arg;
}

static bool p_started(const char *j, void *arg)
{
	(void)arg;
	return jnum(j, "segments_played") >= 1;
}

static char src_port[16];

static struct proc *start_source(const char *upload)
{
	struct proc *s = spawn("source", "source", "--headless", "--listen", "127.0.0.1:0", "--size",
			       "320x180", "--fps", "30", "--upload-kbps", upload, "--seed", "1", NULL);
	if (!await_port(s, 10)) {
		check(false, "source did not start");
		return NULL;
	}
	snprintf(src_port, sizeof src_port, "127.0.0.1:%d", s->port);
	return s;
}

static struct proc *start_peer(const char *name, const char *up, const char *down)
{
	/* LC_IT_ENFORCE=1: the download limits are also enforced on reading
	 * (a study of the scheduler under real download caps). */
	const char *enforce = getenv("LC_IT_ENFORCE");
	if (down && enforce && !strcmp(enforce, "1"))
		return spawn(name, "join", src_port, "--headless", "--listen", "127.0.0.1:0",
			     "--upload-kbps", up, "--download-kbps", down, "--enforce-download",
			     NULL);
	if (down)
		return spawn(name, "join", src_port, "--headless", "--listen", "127.0.0.1:0",
			     "--upload-kbps", up, "--download-kbps", down, NULL);
	return spawn(name, "join", src_port, "--headless", "--listen", "127.0.0.1:0",
		     "--upload-kbps", up, NULL);
}

/* SIGTERM p and read its final report (NULL if it did not exit cleanly). */
static char *stop(struct proc *p)
{
	if (p->exited)
		return NULL;
	kill(p->pid, SIGTERM);
	if (!reap(p, 15)) {
		check(false, "%s did not exit within 15 s of SIGTERM", p->name);
		kill(p->pid, SIGKILL);
		reap(p, 5);
		return NULL;
	}
	check(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0, "%s exits 0 (status %d)",
	      p->name, p->status);
	return slurp(p->out);
}

/* The per-peer checks of a clean stream. */
static void check_report(const char *name, const char *j, double min_continuity)
{
	if (!j) {
		check(false, "%s: no report", name);
		return;
	}
	double cont = jnum(j, "continuity"), stalls = jnum(j, "stalls");
	double played = jnum(j, "segments_played");
	int nl = (int)jnum(j, "nlayers");
	fprintf(stderr, "  %s: continuity %.4f stalls %.0f played %.0f startup %.0f ms lag p50 %.0f "
		"p95 %.0f ms level %.0f played %.0f kbps up used %.0f kbps non-innov %.4f "
		"overhead %.4f\n", name, cont, stalls, played, jnum(j, "startup_ms"),
		jnum(j, "lag_ms_p50"), jnum(j, "lag_ms_p95"), jnum(j, "layer_final"),
		jnum(j, "played_kbps"), jnum(j, "upload_kbps_used"), jnum(j, "non_innovative_ratio"),
		jnum(j, "overhead"));
	check(played >= 5, "%s played %.0f segments", name, played);
	check(cont >= min_continuity, "%s continuity %.4f >= %.2f", name, cont, min_continuity);
	double ok0 = jlayer(j, 0, "hash_ok");
	check(ok0 >= jnum(j, "segments_ok") && ok0 > 0, "%s layer 0 hash ok for %.0f segments", name,
	      ok0);
	for (int l = 0; l < nl; l++)
		check(jlayer(j, l, "hash_bad") == 0, "%s layer %d: no payload differs from the source",
		      name, l);
	check(jnum(j, "hash_failures") == 0 && jnum(j, "decode_errors") == 0,
	      "%s no hash failures, no malformed messages", name);
}

/* ---- scenarios ------------------------------------------------------------- */

struct peer_spec {
	const char *up, *down;
};

/* Mixed capacities: two below the base layer's rate (about 100 kbit/s
 * here), some around the full stream (about 400 kbit/s), some high; three
 * with a download limit. */
static const struct peer_spec mix[8] = {
	{ "60", NULL }, { "90", NULL }, { "250", NULL }, { "400", "250" },
	{ "600", "150" }, { "1000", NULL }, { "1500", "1000" }, { "2500", NULL },
};

static int steady(void)
{
	struct proc *s = start_source("1500");
	if (!s)
		return 1;
	struct proc *p[8];
	char name[16];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "peer%d", i);
		p[i] = start_peer(name, mix[i].up, mix[i].down);
	}
	for (int i = 0; i < 8; i++)
		check(await_port(p[i], 10), "peer%d started", i);
	for (int i = 0; i < 8; i++)
		check(await_stats(p[i], p_started, NULL, 15), "peer%d plays", i);
	if (failures)
		return 1;
	double t0 = now_s();
	/* 30 s of streaming; meanwhile look at the source's table. */
	int all = 8;
	check(await_stats(s, p_nbrs_at_least, &all, 5), "source has all 8 peers as neighbours");
	while (now_s() - t0 < 30)
		nap(0.5);
	char *rep[8];
	for (int i = 0; i < 8; i++)
		rep[i] = stop(p[i]);
	char *srep = stop(s);
	int top = srep ? (int)jnum(srep, "nlayers") - 1 : -1;
	double cum[8] = { 0 };
	for (int l = 0; srep && l <= top; l++) {
		double produced = jlayer(srep, l, "bytes") * 8 / 1000;
		double secs = jnum(srep, "segments_produced");
		cum[l] = (l ? cum[l - 1] : 0) + (secs > 0 ? produced / secs : 0);
		fprintf(stderr, "  source layer %d: %.0f kbit/s (cumulative %.0f)\n", l,
			secs > 0 ? produced / secs : 0, cum[l]);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "peer%d", i);
		check_report(name, rep[i], 0.99);
		if (!rep[i])
			continue;
		check(jnum(rep[i], "stalls") == 0, "%s: no base-layer stall after start-up", name);
		int lf = (int)jnum(rep[i], "layer_final");
		if (!mix[i].down) {
			check(lf == top, "%s (no download limit) plays the top layer %d: %d", name,
			      top, lf);
		} else {
			/* The highest layer whose cumulative rate fits the download. */
			double down = atof(mix[i].down);
			int fit = 0;
			for (int l = 0; l <= top; l++)
				if (cum[l] <= down)
					fit = l;
			check(lf <= fit && lf >= fit - 1,
			      "%s (download %s kbit/s) plays layer %d, its capacity allows %d", name,
			      mix[i].down, lf, fit);
			check(jnum(rep[i], "played_kbps") <= down,
			      "%s played %.0f kbit/s within its download %s", name,
			      jnum(rep[i], "played_kbps"), mix[i].down);
		}
		free(rep[i]);
	}
	free(srep);
	return failures ? 1 : 0;
}

static int churn(void)
{
	struct proc *s = start_source("1500");
	if (!s)
		return 1;
	struct proc *p[11];
	char name[16];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "peer%d", i);
		p[i] = start_peer(name, mix[i].up, mix[i].down);
	}
	for (int i = 0; i < 8; i++)
		check(await_port(p[i], 10) && await_stats(p[i], p_started, NULL, 15),
		      "peer%d plays", i);
	if (failures)
		return 1;
	/* 8 s of steady play, then kill three (one high, one middle, one low
	 * uploader) and start three new ones. */
	double t0 = now_s();
	while (now_s() - t0 < 8)
		nap(0.5);
	const int victims[3] = { 7, 2, 0 };
	for (int v = 0; v < 3; v++) {
		kill(p[victims[v]]->pid, SIGKILL);
		reap(p[victims[v]], 5);
		fprintf(stderr, "  killed peer%d\n", victims[v]);
	}
	for (int i = 8; i < 11; i++) {
		snprintf(name, sizeof name, "new%d", i - 8);
		p[i] = start_peer(name, i == 8 ? "2000" : i == 9 ? "300" : "80", NULL);
	}
	for (int i = 8; i < 11; i++)
		check(await_port(p[i], 10) && await_stats(p[i], p_started, NULL, 15),
		      "new%d plays", i - 8);
	t0 = now_s();
	while (now_s() - t0 < 15)
		nap(0.5);
	for (int i = 0; i < 11; i++) {
		bool victim = i == 7 || i == 2 || i == 0;
		if (victim)
			continue;
		char *r = stop(p[i]);
		if (i < 8)
			snprintf(name, sizeof name, "peer%d", i);
		else
			snprintf(name, sizeof name, "new%d", i - 8);
		check_report(name, r, 0.99);
		if (r && i < 8)
			check(jnum(r, "failures") >= 3, "%s counted %.0f failures", name,
			      jnum(r, "failures"));
		free(r);
	}
	char *sr = stop(s);
	if (sr)
		check(jnum(sr, "failures") >= 3, "source counted %.0f failures (3 killed)",
		      jnum(sr, "failures"));
	free(sr);
	return failures ? 1 : 0;
}

struct gone_arg {
	const char *id;
};

static bool p_without(const char *j, void *arg)
{
	return !has_nbr(j, ((struct gone_arg *)arg)->id);
}

static int bye(void)
{
	struct proc *s = start_source("1500");
	if (!s)
		return 1;
	struct proc *p[5];
	char name[16];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "peer%d", i);
		p[i] = start_peer(name, "800", NULL);
	}
	int full = 5; /* the source and the 4 others */
	for (int i = 0; i < 5; i++)
		check(await_port(p[i], 10) && fetch_id(p[i]) &&
		      await_stats(p[i], p_nbrs_at_least, &full, 15) &&
		      await_stats(p[i], p_started, NULL, 15),
		      "peer%d is linked to all the others and plays", i);
	if (failures)
		return 1;
	struct gone_arg g = { .id = p[0]->id };
	struct proc *others[5] = { s, p[1], p[2], p[3], p[4] };
	double t = now_s();
	kill(p[0]->pid, SIGTERM);
	double worst = 0;
	for (int i = 0; i < 5; i++) {
		bool ok = await_stats(others[i], p_without, &g, 3);
		double dt = now_s() - t;
		if (dt > worst)
			worst = dt;
		check(ok, "%s dropped the leaving peer (%.3f s after SIGTERM)", others[i]->name, dt);
	}
	check(worst <= 1.0, "the leaving peer is gone from every table within 1 s (%.3f s)", worst);
	check(reap(p[0], 10) && WIFEXITED(p[0]->status) && WEXITSTATUS(p[0]->status) == 0,
	      "the leaving peer exits 0");
	char *r = slurp(p[0]->out);
	check(r && jnum(r, "segments_played") > 0, "the leaving peer printed its report");
	free(r);
	char *sr = stop(s);
	/* The source saw a leave, not a failure. */
	if (sr)
		check(jnum(sr, "leaves") >= 1, "source counted the BYE as a leave");
	free(sr);
	for (int i = 1; i < 5; i++)
		free(stop(p[i]));
	return failures ? 1 : 0;
}

static bool p_produced(const char *j, void *arg)
{
	(void)arg;
	return jnum(j, "segments_produced") >= 3;
}

static int flash(void)
{
	struct proc *s = start_source("3000");
	if (!s)
		return 1;
	/* Let the stream run before the crowd arrives. */
	check(await_stats(s, p_produced, NULL, 15), "the source streams");
	struct proc *p[8];
	char name[16];
	double first = now_s();
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "crowd%d", i);
		p[i] = start_peer(name, mix[i].up, NULL);
	}
	check(now_s() - first < 1.0, "8 peers started within %.3f s", now_s() - first);
	double worst = 0;
	for (int i = 0; i < 8; i++) {
		bool ok = await_port(p[i], 5) && await_stats(p[i], p_started, NULL, 8);
		double dt = now_s() - p[i]->t_start;
		char *r = http_get(p[i]->port, "/stats.json");
		double su = r ? jnum(r, "startup_ms") / 1000 : -1;
		free(r);
		if (su > worst)
			worst = su;
		check(ok && su >= 0 && su <= 5.0, "crowd%d plays: start-up %.3f s (seen after %.3f s)",
		      i, su, dt);
	}
	fprintf(stderr, "  worst start-up %.3f s\n", worst);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "crowd%d", i);
		char *r = stop(p[i]);
		check(r && jnum(r, "stalls") == 0, "%s no stall", name);
		free(r);
	}
	free(stop(s));
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: lc_swarm_it LAYERCAST steady|churn|bye|flash\n");
		return 2;
	}
	char tag[64];
	snprintf(tag, sizeof tag, "lc_swarm_it.%s", argv[2]);
	if (procs_init(argv[1], tag))
		return 1;
	int rc;
	if (!strcmp(argv[2], "steady"))
		rc = steady();
	else if (!strcmp(argv[2], "churn"))
		rc = churn();
	else if (!strcmp(argv[2], "bye"))
		rc = bye();
	else if (!strcmp(argv[2], "flash"))
		rc = flash();
	else
		rc = 2;
	kill_all();
	if (rc || failures) {
		fprintf(stderr, "%d check(s) failed; logs and reports in %s\n", failures,
			procs_dir());
		for (int i = 0; i < nprocs; i++)
			fprintf(stderr, "  %s: %s %s\n", procs[i].name, procs_bin(), procs[i].args);
		return 1;
	}
	procs_cleanup(); /* after a pass */
	fprintf(stderr, "all checks passed\n");
	return 0;
}
