/*
 * Real layercast processes for the integration tests and swarm_bench:
 * spawn `layercast ARGS...` with stdout (the JSON report) and stderr (the
 * log) in files of a temporary directory, learn each one's port from its
 * log, read its /stats.json over loopback HTTP, and pick figures out of
 * the JSON. Waiting is by polling a condition with a bounded timeout.
 */
#ifndef LC_TEST_PROCS_H
#define LC_TEST_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROCS_MAX 64

struct proc {
	pid_t pid;
	int port;
	bool exited;
	int status;
	double t_start;
	double cpu_s;            /* user + system CPU time, once reaped */
	char name[32];
	char out[512], err[512];
	char id[17];
	char args[512];
};

extern struct proc procs[PROCS_MAX];
extern int nprocs;

/* The layercast binary and a new temporary directory /tmp/<tag>.XXXXXX. */
int procs_init(const char *bin, const char *tag);
const char *procs_bin(void);
const char *procs_dir(void);
/* Remove the logs and reports and the directory (after a pass). */
void procs_cleanup(void);
/* Kill what still runs, remove the logs and reports, empty the table (the
 * directory stays for the next round). */
void procs_reset(void);

double now_s(void);
void nap(double s);
char *slurp(const char *path);

/* Start `layercast ARGS...` (NULL-terminated list / array). */
struct proc *spawn(const char *name, ...);
struct proc *spawnv(const char *name, const char *const *args, int n);
/* Wait at most timeout_s for p to exit (its status and CPU time). */
bool reap(struct proc *p, double timeout_s);
/* Wait for "listening on port N" in p's log. */
bool await_port(struct proc *p, double timeout_s);
void kill_all(void);

/* GET path on 127.0.0.1:port; the body of a 200 answer (free it) or NULL. */
char *http_get(int port, const char *path);
/* The engine object of a /stats.json body (or a whole final report). */
const char *engine_obj(const char *json);
/* Figures of a /stats.json body or a final report. */
double jnum(const char *json, const char *key);
/* The first "key" anywhere in json (net's counters come before the engine's). */
double jnum_at(const char *json, const char *key);
double jlayer(const char *json, int l, const char *key);
void jstr(const char *json, const char *key, char *out, size_t cap);
bool has_nbr(const char *json, const char *id);
bool fetch_id(struct proc *p);

typedef bool (*pred_fn)(const char *json, void *arg);
bool await_stats(struct proc *p, pred_fn fn, void *arg, double timeout_s);

#endif
