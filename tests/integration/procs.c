/* Real layercast processes for tests and benchmarks: see procs.h. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procs.h"

struct proc procs[PROCS_MAX];
int nprocs;
static const char *bin;
static char dir[256];

int procs_init(const char *b, const char *tag)
{
	bin = b;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", tag);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

const char *procs_bin(void) { return bin; }
const char *procs_dir(void) { return dir; }

void procs_reset(void)
{
	kill_all();
	for (int i = 0; i < nprocs; i++) {
		unlink(procs[i].out);
		unlink(procs[i].err);
	}
	nprocs = 0;
}

void procs_cleanup(void)
{
	procs_reset();
	rmdir(dir);
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void nap(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

void kill_all(void)
{
	for (int i = 0; i < nprocs; i++)
		if (!procs[i].exited) {
			kill(procs[i].pid, SIGKILL);
			reap(&procs[i], 5);
		}
}

char *slurp(const char *path)
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

struct proc *spawnv(const char *name, const char *const *args, int nargs)
{
	if (nprocs == PROCS_MAX || nargs < 0 || nargs > 60)
		return NULL;
	struct proc *p = &procs[nprocs++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->out, sizeof p->out, "%s/%s.json", dir, name);
	snprintf(p->err, sizeof p->err, "%s/%s.log", dir, name);
	const char *argv[64];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; i < nargs; i++) {
		argv[n++] = args[i];
		size_t l = strlen(p->args);
		snprintf(p->args + l, sizeof p->args - l, "%s ", args[i]);
	}
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

struct proc *spawn(const char *name, ...)
{
	const char *args[60];
	int n = 0;
	va_list ap;
	va_start(ap, name);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 60)
		args[n++] = a;
	va_end(ap);
	return spawnv(name, args, n);
}

bool reap(struct proc *p, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (!p->exited) {
		struct rusage ru;
		pid_t r = wait4(p->pid, &p->status, WNOHANG, &ru);
		if (r == p->pid) {
			p->exited = true;
			p->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
			break;
		}
		if (now_s() >= end)
			return false;
		nap(0.02);
	}
	return true;
}

/* Wait for "listening on port N" in the process's log. */
bool await_port(struct proc *p, double timeout_s)
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

char *http_get(int port, const char *path)
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
const char *engine_obj(const char *json)
{
	const char *e = strstr(json, "\"engine\":{");
	return e ? e + 9 : json;
}

double jnum(const char *json, const char *key) { return jnum_at(engine_obj(json), key); }

double jnum_at(const char *json, const char *key)
{
	char k[80];
	snprintf(k, sizeof k, "\"%s\":", key);
	const char *s = strstr(json, k);
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
double jlayer(const char *json, int l, const char *key)
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

void jstr(const char *json, const char *key, char *out, size_t cap)
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
bool has_nbr(const char *json, const char *id)
{
	const char *s = strstr(engine_obj(json), "\"neighbours\":[");
	if (!s)
		return false;
	char k[40];
	snprintf(k, sizeof k, "\"peer_id\":\"%s\"", id);
	return strstr(s, k) != NULL;
}

bool fetch_id(struct proc *p)
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
bool await_stats(struct proc *p, pred_fn fn, void *arg, double timeout_s)
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
