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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXP 24

struct proc {
	pid_t pid;
	int port;
	bool exited;
	int status;
	double t_start;
	char name[32];
	char out[512], err[512];
	char id[17];
	char args[512];
};

static const char *bin;
static char dir[256];
static struct proc procs[MAXP];
static int nprocs;
static int failures;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

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

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			b = realloc(b, cap);
		}
		size_t r = fread(b + len, 1, cap - len - 1, f);
		len += r;
		if (!r)
			break;
	}
	fclose(f);
	b[len] = '\0';
	return b;
}

/* Start `layercast ARGS...` (NULL-terminated); its port is read later. */
static struct proc *spawn(const char *name, ...)
{
	struct proc *p = &procs[nprocs++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->out, sizeof p->out, "%s/%s.json", dir, name);
	snprintf(p->err, sizeof p->err, "%s/%s.log", dir, name);
	const char *argv[40];
	int n = 0;
	argv[n++] = bin;
	va_list ap;
	va_start(ap, name);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 38) {
		argv[n++] = a;
		size_t l = strlen(p->args);
		snprintf(p->args + l, sizeof p->args - l, "%s ", a);
	}
	va_end(ap);
	argv[n] = NULL;
	p->t_start = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0)
			_exit(127);
		dup2(o, 1);
		dup2(e, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	p->pid = pid;
	return p;
}

static bool reap(struct proc *p, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (!p->exited) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->exited = true;
			break;
		}
		if (now_s() >= end)
			return false;
		nap(0.02);
	}
	return true;
}

/* Wait for "listening on port N" in the process's log. */
static bool await_port(struct proc *p, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (now_s() < end) {
		char *log = slurp(p->err);
		const char *s = log ? strstr(log, "listening on port ") : NULL;
		if (s)
			p->port = atoi(s + strlen("listening on port "));
		free(log);
		if (p->port > 0)
			return true;
		if (reap(p, 0))
			return false;
		nap(0.02);
	}
	return false;
}

static char *http_get(int port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return NULL;
	}
	char req[256];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 18, len = 0;
	char *b = malloc(cap);
	ssize_t r;
	while (len + 1 < cap && (r = read(fd, b + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	b[len] = '\0';
	close(fd);
	char *body = strstr(b, "\r\n\r\n");
	if (!body || !strstr(b, " 200 ")) {
		free(b);
		return NULL;
	}
	memmove(b, body + 4, strlen(body + 4) + 1);
	return b;
}

/* The engine part of a /stats.json body (or a whole final report). */
static const char *engine_obj(const char *json)
{
	const char *e = strstr(json, "\"engine\":{");
	return e ? e + 9 : json;
}

static double jnum(const char *json, const char *key)
{
	char k[80];
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *s = strstr(engine_obj(json), k);
	if (!s)
		return -1e9;
	s += strlen(k);
	if (*s == '"')
		s++;
	if (!strncmp(s, "true", 4))
		return 1;
	if (!strncmp(s, "false", 5))
		return 0;
	return strtod(s, NULL);
}

/* Field of layer l in "layers":[...]. */
static double jlayer(const char *json, int l, const char *key)
{
	const char *s = strstr(engine_obj(json), "\"layers\":[");
	char k[40];
	snprintf(k, sizeof k, "{\"layer\":%d,", l);
	s = s ? strstr(s, k) : NULL;
	if (!s)
		return -1e9;
	const char *end = strchr(s, '}');
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *f = strstr(s, k);
	if (!f || f > end)
		return -1e9;
	return strtod(f + strlen(k), NULL);
}

static void jstr(const char *json, const char *key, char *out, size_t cap)
{
	char k[80];
	snprintf(k, sizeof k, "\"%s\":\"", key);
	const char *s = strstr(engine_obj(json), k);
	out[0] = '\0';
	if (!s)
		return;
	s += strlen(k);
	size_t i = 0;
	while (s[i] && s[i] != '"' && i + 1 < cap) {
		out[i] = s[i];
		i++;
	}
	out[i] = '\0';
}

/* Does p's neighbour list name peer id? */
static bool has_nbr(const char *json, const char *id)
{
	const char *s = strstr(engine_obj(json), "\"neighbours\":[");
	if (!s)
		return false;
	char k[40];
	snprintf(k, sizeof k, "\"peer_id\":\"%s\"", id);
	return strstr(s, k) != NULL;
}

static bool fetch_id(struct proc *p)
{
	char *j = http_get(p->port, "/stats.json");
	if (!j)
		return false;
	jstr(j, "peer_id", p->id, sizeof p->id);
	free(j);
	return p->id[0] != '\0';
}

/* Wait until pred holds for p's stats, at most timeout_s. */
typedef bool (*pred_fn)(const char *json, void *arg);
static bool await_stats(struct proc *p, pred_fn fn, void *arg, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (now_s() < end) {
		char *j = http_get(p->port, "/stats.json");
		bool ok = j && fn(j, arg);
		free(j);
		if (ok)
			return true;
		nap(0.05);
	}
	return false;
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

static void kill_all(void)
{
	for (int i = 0; i < nprocs; i++)
		if (!procs[i].exited) {
			kill(procs[i].pid, SIGKILL);
			reap(&procs[i], 5);
		}
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
	bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/lc_swarm_it.%s.XXXXXX", argv[2]);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
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
		fprintf(stderr, "%d check(s) failed; logs and reports in %s\n", failures, dir);
		for (int i = 0; i < nprocs; i++)
			fprintf(stderr, "  %s: %s %s\n", procs[i].name, bin, procs[i].args);
		return 1;
	}
	/* Clean up after a pass. */
	for (int i = 0; i < nprocs; i++) {
		unlink(procs[i].out);
		unlink(procs[i].err);
	}
	rmdir(dir);
	fprintf(stderr, "all checks passed\n");
	return 0;
}
