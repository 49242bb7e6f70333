/*
 * link_bench: throughput and CPU cost of one WebSocket peer link (net) on
 * loopback, against a plain TCP socket pair measured in the same run.
 *
 * Two peers, each with its own libev loop on its own thread: the "client"
 * dials the "server". For 1400 B, 4 KiB and 16 KiB messages and for each
 * direction, the sender keeps its send queue full (refilled from on_drain)
 * for a fixed time; we count what the receiver got and each thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID). The reference is a plain TCP connection
 * on loopback, one blocking send() per message and 64 KiB reads.
 *
 * CPU per Mbit/s: (sender CPU% + receiver CPU%) / payload Mbit/s, i.e. the
 * percent of one core that moving one Mbit/s costs both ends together. It
 * is measured saturated and also paced at 100 Mbit/s with the upload
 * limiter (the realistic case: a fixed stream rate, timers and wake-ups
 * included); the RESULT takes the worse of the two at 4 KiB, and the
 * worse direction for the ratio to TCP at 16 KiB. Best of REPS runs.
 *
 * Run pinned, e.g. taskset -c 0,1 build/tests/bench/link_bench [seconds]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "net/net.h"

#define REPS 3
#define PACED_KBPS 100000

static double measure_s = 1.5;

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

/* ---- a peer on its own thread ---------------------------------------------------- */

enum cmd { CMD_NONE, CMD_FILL, CMD_STOP, CMD_SNAP, CMD_RATE, CMD_QUIT };

struct peer {
	pthread_t th;
	bool is_client;
	int dial_port;
	struct lc_loop *loop;
	struct lc_async *async;
	struct net *net;
	struct net_link *link;
	size_t fill_size;
	uint32_t rate_kbps;
	_Atomic int cmd;
	_Atomic int acked;
	_Atomic int port;
	_Atomic int open;
	_Atomic uint64_t rx_bytes, rx_msgs;
	_Atomic double cpu_snap;
};

static uint8_t payload[65536];

static void fill(struct peer *p)
{
	if (!p->link || !p->fill_size)
		return;
	while (link_send(p->link, payload, p->fill_size) == 0)
		;
}

static void on_open(struct net_link *l, bool dialled, void *arg)
{
	(void)dialled;
	struct peer *p = arg;
	p->link = l;
	atomic_store(&p->open, 1);
}

static void on_close(struct net_link *l, int code, const char *reason, void *arg)
{
	struct peer *p = arg;
	if (p->link == l) {
		p->link = NULL;
		fprintf(stderr, "link_bench: link closed %d %s\n", code, reason);
		atomic_store(&p->open, 0);
	}
}

static int on_message(struct net_link *l, const uint8_t *d, size_t len, void *arg)
{
	(void)l;
	(void)d;
	struct peer *p = arg;
	atomic_fetch_add_explicit(&p->rx_bytes, len, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->rx_msgs, 1, memory_order_relaxed);
	return 0;
}

static void on_drain(struct net_link *l, void *arg)
{
	(void)l;
	fill(arg);
}

static void async_cb(struct lc_async *a, void *arg)
{
	(void)a;
	struct peer *p = arg;
	int c = atomic_exchange(&p->cmd, CMD_NONE);
	switch (c) {
	case CMD_FILL:
		fill(p);
		break;
	case CMD_STOP:
		p->fill_size = 0;
		break;
	case CMD_SNAP:
		atomic_store(&p->cpu_snap, thread_cpu_s());
		break;
	case CMD_RATE:
		net_set_upload_kbps(p->net, p->rate_kbps);
		break;
	case CMD_QUIT:
		lc_loop_break(p->loop);
		break;
	default:
		return;
	}
	atomic_store(&p->acked, 1);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct net_config c;
	memset(&c, 0, sizeof c);
	c.listen_host = "127.0.0.1";
	c.port = p->is_client ? -1 : 0;
	c.arg = p;
	c.on_open = on_open;
	c.on_close = on_close;
	c.on_message = on_message;
	c.on_drain = on_drain;
	c.sendq_bytes = 1 << 20;
	c.idle_timeout_s = 10;
	p->loop = lc_loop_new();
	p->async = lc_async_new(p->loop, async_cb, p);
	if (net_new(p->loop, &c, &p->net)) {
		fprintf(stderr, "link_bench: net_new failed\n");
		exit(1);
	}
	if (p->is_client && net_dial(p->net, "127.0.0.1", p->dial_port, NULL))
		exit(1);
	atomic_store(&p->port, p->is_client ? 1 : net_port(p->net));
	lc_loop_run(p->loop);
	net_free(p->net);
	lc_async_free(p->async);
	lc_loop_free(p->loop);
	return NULL;
}

static void command(struct peer *p, int c)
{
	atomic_store(&p->acked, 0);
	atomic_store(&p->cmd, c);
	lc_async_send(p->async);
	while (!atomic_load(&p->acked))
		sleep_s(0.0005);
}

struct result {
	double MBps, msgps, cpu_send, cpu_recv;
};

static double pct_per_mbps(const struct result *r)
{
	return (r->cpu_send + r->cpu_recv) / (r->MBps * 8);
}

/* One timed run of sender -> receiver with messages of `size`. */
static struct result run_ws(struct peer *snd, struct peer *rcv, size_t size)
{
	snd->fill_size = size;
	command(snd, CMD_FILL);
	sleep_s(0.3);
	command(snd, CMD_SNAP);
	command(rcv, CMD_SNAP);
	double s0 = atomic_load(&snd->cpu_snap), r0 = atomic_load(&rcv->cpu_snap);
	uint64_t b0 = atomic_load(&rcv->rx_bytes), m0 = atomic_load(&rcv->rx_msgs);
	int64_t t0 = lc_now_us();
	sleep_s(measure_s);
	command(snd, CMD_SNAP);
	command(rcv, CMD_SNAP);
	int64_t t1 = lc_now_us();
	double s1 = atomic_load(&snd->cpu_snap), r1 = atomic_load(&rcv->cpu_snap);
	uint64_t b1 = atomic_load(&rcv->rx_bytes), m1 = atomic_load(&rcv->rx_msgs);
	command(snd, CMD_STOP);
	/* Let the queue drain before the next run. */
	uint64_t last;
	do {
		last = atomic_load(&rcv->rx_bytes);
		sleep_s(0.1);
	} while (atomic_load(&rcv->rx_bytes) != last);
	double secs = (double)(t1 - t0) / 1e6;
	struct result r = {
		.MBps = (double)(b1 - b0) / secs / 1e6,
		.msgps = (double)(m1 - m0) / secs,
		.cpu_send = (s1 - s0) / secs * 100,
		.cpu_recv = (r1 - r0) / secs * 100,
	};
	return r;
}

/* ---- the plain TCP reference -------------------------------------------------- */

struct tcp_side {
	int fd;
	size_t size;
	_Atomic int stop;
	_Atomic uint64_t bytes;
	double cpu;
};

static void *tcp_sender(void *arg)
{
	struct tcp_side *t = arg;
	double c0 = thread_cpu_s();
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		ssize_t n = send(t->fd, payload, t->size, MSG_NOSIGNAL);
		if (n <= 0)
			break;
	}
	t->cpu = thread_cpu_s() - c0;
	shutdown(t->fd, SHUT_WR);
	return NULL;
}

static void *tcp_receiver(void *arg)
{
	struct tcp_side *t = arg;
	static uint8_t buf[65536];
	double c0 = thread_cpu_s();
	for (;;) {
		ssize_t n = recv(t->fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		atomic_fetch_add_explicit(&t->bytes, (uint64_t)n, memory_order_relaxed);
		if (atomic_load_explicit(&t->stop, memory_order_relaxed) && !t->cpu)
			t->cpu = thread_cpu_s() - c0;
	}
	if (!t->cpu)
		t->cpu = thread_cpu_s() - c0;
	return NULL;
}

static struct result run_tcp(size_t size)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof a;
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
	    getsockname(ls, (struct sockaddr *)&a, &sl)) {
		perror("link_bench: tcp");
		exit(1);
	}
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cfd, (struct sockaddr *)&a, sizeof a)) {
		perror("link_bench: connect");
		exit(1);
	}
	int sfd = accept(ls, NULL, NULL);
	close(ls);
	int one = 1;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct tcp_side s = { .fd = cfd, .size = size }, r = { .fd = sfd, .size = size };
	pthread_t ts, tr;
	pthread_create(&tr, NULL, tcp_receiver, &r);
	pthread_create(&ts, NULL, tcp_sender, &s);
	sleep_s(0.3);
	uint64_t b0 = atomic_load(&r.bytes);
	int64_t t0 = lc_now_us();
	/* CPU over the whole run incl. warm-up is close enough: scale by time. */
	sleep_s(measure_s);
	uint64_t b1 = atomic_load(&r.bytes);
	int64_t t1 = lc_now_us();
	atomic_store(&s.stop, 1);
	atomic_store(&r.stop, 1);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	close(cfd);
	close(sfd);
	double secs = (double)(t1 - t0) / 1e6, total = secs + 0.3;
	struct result res = {
		.MBps = (double)(b1 - b0) / secs / 1e6,
		.msgps = (double)(b1 - b0) / secs / (double)size,
		.cpu_send = s.cpu / total * 100,
		.cpu_recv = r.cpu / total * 100,
	};
	return res;
}

static struct result best(struct result a, struct result b) { return b.MBps > a.MBps ? b : a; }

static void print_row(const char *what, size_t size, const struct result *r, double tcp_MBps)
{
	printf("%-22s %6zu %9.1f %10.0f %8.1f %8.1f %9.4f", what, size, r->MBps, r->msgps, r->cpu_send,
	       r->cpu_recv, pct_per_mbps(r));
	if (tcp_MBps > 0)
		printf(" %7.3f", r->MBps / tcp_MBps);
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc > 1)
		measure_s = atof(argv[1]);
	if (measure_s <= 0)
		measure_s = 1.5;
	struct lc_rng rng;
	lc_rng_seed(&rng, 42);
	lc_rng_fill(&rng, payload, sizeof payload);

	struct peer srv = { .is_client = false }, cli = { .is_client = true };
	pthread_create(&srv.th, NULL, peer_main, &srv);
	while (!atomic_load(&srv.port))
		sleep_s(0.001);
	cli.dial_port = atomic_load(&srv.port);
	pthread_create(&cli.th, NULL, peer_main, &cli);
	while (!atomic_load(&cli.open) || !atomic_load(&srv.open))
		sleep_s(0.001);

	static const size_t sizes[] = { 1400, 4096, 16384 };
	printf("link_bench: one WebSocket link on loopback vs plain TCP, %.1f s per run, best of %d\n",
	       measure_s, REPS);
	printf("%-22s %6s %9s %10s %8s %8s %9s %7s\n", "run", "size", "MB/s", "msgs/s", "cpu_snd%",
	       "cpu_rcv%", "%/Mbps", "vs_tcp");
	double cpm4 = 0, ratio16 = 1e9;
	for (size_t i = 0; i < 3; i++) {
		size_t sz = sizes[i];
		struct result tcp = { 0 }, c2s = { 0 }, s2c = { 0 };
		for (int k = 0; k < REPS; k++) {
			tcp = best(tcp, run_tcp(sz));
			c2s = best(c2s, run_ws(&cli, &srv, sz));
			s2c = best(s2c, run_ws(&srv, &cli, sz));
		}
		print_row("tcp (reference)", sz, &tcp, 0);
		print_row("ws client->server", sz, &c2s, tcp.MBps);
		print_row("ws server->client", sz, &s2c, tcp.MBps);
		if (sz == 4096) {
			cpm4 = pct_per_mbps(&c2s) > pct_per_mbps(&s2c) ? pct_per_mbps(&c2s) : pct_per_mbps(&s2c);
		}
		if (sz == 16384) {
			double r1 = c2s.MBps / tcp.MBps, r2 = s2c.MBps / tcp.MBps;
			ratio16 = r1 < r2 ? r1 : r2;
		}
	}
	/* Paced at a stream-like rate with the shared upload limiter. */
	cli.rate_kbps = srv.rate_kbps = PACED_KBPS;
	command(&cli, CMD_RATE);
	command(&srv, CMD_RATE);
	struct result pc = run_ws(&cli, &srv, 4096), ps = run_ws(&srv, &cli, 4096);
	print_row("paced 100M cli->srv", 4096, &pc, 0);
	print_row("paced 100M srv->cli", 4096, &ps, 0);
	double paced = pct_per_mbps(&pc) > pct_per_mbps(&ps) ? pct_per_mbps(&pc) : pct_per_mbps(&ps);
	printf("cpu %%/Mbit/s at 4 KiB: saturated %.4f, paced at 100 Mbit/s %.4f\n", cpm4, paced);
	if (paced > cpm4)
		cpm4 = paced;

	command(&cli, CMD_QUIT);
	command(&srv, CMD_QUIT);
	pthread_join(cli.th, NULL);
	pthread_join(srv.th, NULL);
	printf("RESULT cpu_pct_per_mbps_4k=%.4f ratio_to_tcp_16k=%.3f\n", cpm4, ratio16);
	return 0;
}
