/*
 * net: real sockets on loopback only. Everything runs on one libev loop in
 * the test's thread: raw sockets of the test are polled between loop
 * iterations, child processes (the test peer, Node's ws) are waited for
 * the same way, so no test sleeps to synchronise; every wait has a bound.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "net/net.h"
#include "wire/wire.h"

/* ---- loop helpers ---------------------------------------------------------- */

static void wake_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	(void)arg;
}

/* Run the loop until pred(arg) holds or timeout_s passes. */
static bool run_until(struct lc_loop *loop, bool (*pred)(void *), void *arg, double timeout_s)
{
	struct lc_timer *t = lc_timer_new(loop, wake_cb, NULL);
	lc_timer_start(t, 0.002, 0.002);
	int64_t end = lc_now_us() + (int64_t)(timeout_s * 1e6);
	bool ok;
	while (!(ok = pred(arg)) && lc_now_us() < end)
		lc_loop_run_once(loop, true);
	lc_timer_free(t);
	return ok;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* Run the loop for a while (only where time itself is measured). */
static void run_for(struct lc_loop *loop, double s) { run_until(loop, never, NULL, s); }

/* ---- a test peer: one net and what its callbacks saw --------------------------- */

struct tpeer {
	struct net *net;
	int port;
	int id;
	unsigned opens, closes, opens_dialled;
	int last_code;
	char last_reason[128];
	struct net_link *link; /* the last opened link */
	uint64_t rx_msgs, rx_bytes;
	bool echo;             /* send every message back */
	bool wire_check;       /* decode with wire; reject with its close code */
	bool reply_hello;      /* answer a HELLO with a HELLO */
	bool split;            /* messages back to back: count them (rx_parts) */
	uint64_t rx_parts;
	size_t rx_part_len[8]; /* the first ones' lengths */
	uint64_t rx_from[8][2]; /* mesh: messages per sender id and size class */
	uint64_t rx_bytes_from[8][2];
	uint64_t bad_payload;
	unsigned drains;
	bool shut;
	size_t fill_size;      /* >0: keep every link's queue full of such BLOCKs */
	uint8_t fill_seq;
};

static int fill_hello(uint8_t *buf, size_t cap, uint64_t id)
{
	struct wire_msg m;
	memset(&m, 0, sizeof m);
	m.type = WIRE_HELLO;
	m.u.hello.proto = WIRE_PROTO;
	m.u.hello.role = WIRE_ROLE_PEER;
	m.u.hello.peer_id = id;
	m.u.hello.port = 1234;
	snprintf(m.u.hello.stream, sizeof m.u.hello.stream, "test");
	snprintf(m.u.hello.software, sizeof m.u.hello.software, "layercast-test");
	return wire_encode(&m, buf, cap);
}

/* A BLOCK from peer `from` with sequence byte seq and a payload of size B. */
static int make_block(uint8_t *buf, size_t cap, unsigned from, uint8_t seq, uint32_t B)
{
	uint8_t coef[16] = { 0 };
	static uint8_t payload[65536];
	coef[0] = seq;
	for (uint32_t i = 0; i < B; i++)
		payload[i] = (uint8_t)(from * 31 + seq + i);
	struct wire_msg m;
	memset(&m, 0, sizeof m);
	m.type = WIRE_BLOCK;
	m.u.block.segment = from;
	m.u.block.layer = 0;
	m.u.block.k = 16;
	m.u.block.block_size = B;
	m.u.block.coef = coef;
	m.u.block.payload = payload;
	return wire_encode(&m, buf, cap);
}

static void tp_fill(struct tpeer *p, struct net_link *l)
{
	static uint8_t buf[WIRE_MAX_MSG];
	for (;;) {
		int n = make_block(buf, sizeof buf, (unsigned)p->id, p->fill_seq, (uint32_t)p->fill_size);
		ck_assert_int_gt(n, 0);
		if (link_send(l, buf, (size_t)n))
			break;
		p->fill_seq++;
	}
}

static void tp_open(struct net_link *l, bool dialled, void *arg)
{
	struct tpeer *p = arg;
	p->opens++;
	p->opens_dialled += dialled;
	p->link = l;
	if (p->fill_size)
		tp_fill(p, l);
}

static void tp_close(struct net_link *l, int code, const char *reason, void *arg)
{
	struct tpeer *p = arg;
	p->closes++;
	p->last_code = code;
	snprintf(p->last_reason, sizeof p->last_reason, "%s", reason);
	if (p->link == l)
		p->link = NULL;
}

static void tp_drain(struct net_link *l, void *arg)
{
	struct tpeer *p = arg;
	p->drains++;
	if (p->fill_size)
		tp_fill(p, l);
}

static int tp_message(struct net_link *l, const uint8_t *data, size_t len, void *arg)
{
	struct tpeer *p = arg;
	p->rx_msgs++;
	p->rx_bytes += len;
	while (p->split && len) {
		struct wire_msg m;
		size_t used;
		int err = wire_decode_next(data, len, &m, &used);
		if (err)
			return wire_close_code(err);
		if (p->rx_parts < 8)
			p->rx_part_len[p->rx_parts] = used;
		p->rx_parts++;
		data += used;
		len -= used;
	}
	if (p->wire_check) {
		struct wire_msg m;
		int err = wire_decode(data, len, &m);
		if (err)
			return wire_close_code(err);
		if (m.type == WIRE_BLOCK) {
			const struct wire_block *b = &m.u.block;
			unsigned from = b->segment & 7;
			unsigned cls = b->block_size > 4096;
			/* payload byte i = from + seq + i, seq in layer/flags-free coef[0] */
			uint8_t seq = b->coef[0];
			for (uint32_t i = 0; i < b->block_size; i++)
				if (b->payload[i] != (uint8_t)(from * 31 + seq + i)) {
					p->bad_payload++;
					break;
				}
			p->rx_from[from][cls]++;
			p->rx_bytes_from[from][cls] += len;
		} else if (m.type == WIRE_HELLO && p->reply_hello) {
			uint8_t buf[512];
			int n = fill_hello(buf, sizeof buf, 0x1234);
			ck_assert_int_gt(n, 0);
			ck_assert_int_eq(link_send(l, buf, (size_t)n), 0);
		}
	}
	if (p->echo)
		link_send(l, data, len);
	return 0;
}

static void tp_shutdown(struct net *n, void *arg)
{
	(void)n;
	struct tpeer *p = arg;
	p->shut = true;
}

static void tp_config(struct tpeer *p, struct net_config *c)
{
	memset(c, 0, sizeof *c);
	c->listen_host = "127.0.0.1";
	c->port = 0;
	c->arg = p;
	c->on_open = tp_open;
	c->on_close = tp_close;
	c->on_message = tp_message;
	c->on_drain = tp_drain;
	c->on_shutdown = tp_shutdown;
	c->dial_backoff_min_s = 0.05;
	c->dial_backoff_max_s = 1.0;
}

static void tp_start(struct lc_loop *loop, struct tpeer *p, const struct net_config *c)
{
	ck_assert_int_eq(net_new(loop, c, &p->net), 0);
	p->port = net_port(p->net);
	ck_assert_int_gt(p->port, 0);
}

/* A sender under an upload limit that keeps every link's queue full of
 * BLOCKs of fill bytes. */
static void tp_start_filler(struct lc_loop *loop, struct tpeer *p, int id, uint32_t kbps,
			    size_t sendq, size_t fill)
{
	struct net_config c;
	tp_config(p, &c);
	c.upload_kbps = kbps;
	c.sendq_bytes = sendq;
	p->fill_size = fill;
	p->id = id;
	tp_start(loop, p, &c);
}

struct count_wait {
	unsigned *v;
	unsigned want;
};

static bool count_reached(void *arg)
{
	struct count_wait *w = arg;
	return *w->v >= w->want;
}

static bool wait_count(struct lc_loop *loop, unsigned *v, unsigned want, double timeout_s)
{
	struct count_wait w = { v, want };
	return run_until(loop, count_reached, &w, timeout_s);
}

/* ---- raw sockets ------------------------------------------------------------------ */

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Loopback: the kernel completes the handshake from the listen backlog,
	 * the server's loop need not run. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

struct raw_read {
	int fd;
	struct lc_buf *buf;
	bool eof;
	bool (*done)(const struct lc_buf *b);
};

static bool raw_poll(void *arg)
{
	struct raw_read *r = arg;
	for (;;) {
		uint8_t tmp[65536];
		ssize_t n = recv(r->fd, tmp, sizeof tmp, MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK) /* a child's stdout pipe (O_NONBLOCK) */
			n = read(r->fd, tmp, sizeof tmp);
		if (n > 0) {
			ck_assert_int_eq(lc_buf_append(r->buf, tmp, (size_t)n), 0);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			r->eof = true;
		break;
	}
	return r->eof || (r->done && r->done(r->buf));
}

/* Read into b until done(b) or EOF (returns true on EOF). */
static bool raw_read_until(struct lc_loop *loop, int fd, struct lc_buf *b,
			   bool (*done)(const struct lc_buf *), double timeout_s)
{
	struct raw_read r = { fd, b, false, done };
	ck_assert_msg(run_until(loop, raw_poll, &r, timeout_s), "raw read timed out");
	return r.eof;
}

static const char *find_str(const struct lc_buf *b, const char *s)
{
	size_t sl = strlen(s);
	for (size_t i = 0; b->len >= sl && i <= b->len - sl; i++)
		if (!memcmp(b->data + i, s, sl))
			return (const char *)b->data + i;
	return NULL;
}

static bool headers_done(const struct lc_buf *b) { return find_str(b, "\r\n\r\n") != NULL; }

static int status_of(const struct lc_buf *b)
{
	/* lws answers refusals of an upgrade as HTTP/1.0 */
	if (b->len < 12 || (memcmp(b->data, "HTTP/1.1 ", 9) && memcmp(b->data, "HTTP/1.0 ", 9)))
		return -1;
	return atoi((const char *)b->data + 9);
}

/* GET path; returns the status and the whole response in b (NUL-ended). */
static int http_get(struct lc_loop *loop, int port, const char *path, struct lc_buf *b)
{
	int fd = raw_connect(port);
	char req[512];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	raw_send(fd, req, (size_t)n);
	lc_buf_reset(b);
	raw_read_until(loop, fd, b, NULL, 5);
	close(fd);
	ck_assert_int_eq(lc_buf_append(b, "", 1), 0);
	b->len--;
	return status_of(b);
}

/* Send an upgrade request; returns the status of the answer and leaves the
 * socket open in *fdp (with what came after the headers in b). */
static int ws_upgrade(struct lc_loop *loop, int port, const char *path, const char *proto,
		      const char *origin, int *fdp, struct lc_buf *b)
{
	int fd = raw_connect(port);
	char req[1024];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n%s%s%s%s%s%s\r\n",
			 path, port, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
			 proto ? "\r\n" : "", origin ? "Origin: " : "", origin ? origin : "",
			 origin ? "\r\n" : "");
	raw_send(fd, req, (size_t)n);
	lc_buf_reset(b);
	raw_read_until(loop, fd, b, headers_done, 5);
	ck_assert_int_eq(lc_buf_append(b, "", 1), 0);
	b->len--;
	int st = status_of(b);
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return st;
}

/* A masked client frame (mask key 0x11223344). */
static size_t ws_frame(uint8_t *out, int opcode, bool fin, const uint8_t *p, size_t n)
{
	size_t h = 0;
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (n < 126) {
		out[h++] = (uint8_t)(0x80 | n);
	} else if (n < 65536) {
		out[h++] = 0x80 | 126;
		lc_put_be16(out + h, (uint16_t)n);
		h += 2;
	} else {
		out[h++] = 0x80 | 127;
		lc_put_be64(out + h, n);
		h += 8;
	}
	memcpy(out + h, key, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		out[h + i] = p[i] ^ key[i & 3];
	return h + n;
}

/* Parse the first server frame after the handshake in b (from off);
 * returns the opcode or -1 if incomplete, with a Close's code in *code. */
static int ws_parse_close(const struct lc_buf *b, size_t off, int *code)
{
	if (b->len < off + 2)
		return -1;
	const uint8_t *f = b->data + off;
	int op = f[0] & 0x0f;
	size_t len = f[1] & 0x7f;
	if (len >= 126 || b->len < off + 2 + len)
		return -1;
	*code = op == 8 && len >= 2 ? lc_get_be16(f + 2) : 0;
	return op;
}

/* ---- routes and handshake policy ------------------------------------------------------ */

static int provider(enum net_route route, struct lc_buf *out, void *arg)
{
	(void)arg;
	const char *s = route == NET_ROUTE_STATS_JSON ? "\"engine\":{\"peers\":7}"
			: route == NET_ROUTE_METRICS ? "# HELP layercast_engine_x X.\n"
						       "# TYPE layercast_engine_x gauge\n"
						       "layercast_engine_x 42\n"
							 : "<p>engine ok</p>";
	return lc_buf_append(out, s, strlen(s));
}

START_TEST(test_http_routes)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.http_provider = provider;
	tp_start(loop, &a, &c);
	struct lc_buf b;
	lc_buf_init(&b);

	ck_assert_int_eq(http_get(loop, a.port, "/stats.json", &b), 200);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "application/json"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "{\"net\":{\"port\":"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"links_open\":0"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"links\":[],\"engine\":{\"peers\":7}}"));

	ck_assert_int_eq(http_get(loop, a.port, "/metrics", &b), 200);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "# TYPE layercast_net_links_open gauge\n"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "# HELP layercast_net_bytes_sent_total "));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "# TYPE layercast_net_messages_received_total counter\n"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "layercast_net_refusals_total{reason=\"origin\"} 0\n"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "layercast_engine_x 42\n"));
	/* "http_requests_total" counts the two earlier GETs. */
	ck_assert_ptr_nonnull(strstr((char *)b.data, "layercast_net_http_requests_total 2\n"));

	ck_assert_int_eq(http_get(loop, a.port, "/", &b), 200);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "text/html"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "<h1>layercast peer</h1>"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "<p>engine ok</p>"));

	ck_assert_int_eq(http_get(loop, a.port, "/nope", &b), 404);
	ck_assert_int_eq(http_get(loop, a.port, "/swarm", &b), 404);

	lc_buf_free(&b);
	net_free(a.net);
	lc_loop_free(loop);
}
END_TEST

START_TEST(test_handshake_policy)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	const char *origins[] = { "https://ok.example" };
	c.origins = origins;
	c.n_origins = 1;
	tp_start(loop, &a, &c);
	struct lc_buf b;
	lc_buf_init(&b);

	ck_assert_int_eq(ws_upgrade(loop, a.port, "/swarm", "chat", NULL, NULL, &b), 400);
	ck_assert_int_eq(ws_upgrade(loop, a.port, "/swarm", NULL, NULL, NULL, &b), 400);
	ck_assert_int_eq(ws_upgrade(loop, a.port, "/swarm", "http", NULL, NULL, &b), 400);
	ck_assert_int_eq(ws_upgrade(loop, a.port, "/swarm", "layercast.v7", "https://evil.example",
				    NULL, &b), 403);
	ck_assert_int_eq(ws_upgrade(loop, a.port, "/other", "layercast.v7", NULL, NULL, &b), 404);
	ck_assert_uint_eq(a.opens, 0);

	struct net_stats st;
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_SUBPROTOCOL], 3);
	ck_assert_uint_eq(st.refused[NET_REF_ORIGIN], 1);
	ck_assert_uint_eq(st.refused[NET_REF_PATH], 1);
	ck_assert_uint_eq(st.refused[NET_REF_HANDSHAKE], 0);

	/* Accepted: with the allowed Origin, without any, and with
	 * layercast.v7 anywhere in the offered list. */
	const char *ok_origin[] = { "https://ok.example", NULL, NULL };
	const char *ok_proto[] = { "layercast.v7", "layercast.v7", "chat, layercast.v7" };
	for (int i = 0; i < 3; i++) {
		int fd;
		ck_assert_int_eq(ws_upgrade(loop, a.port, "/swarm", ok_proto[i], ok_origin[i], &fd, &b), 101);
		ck_assert_ptr_nonnull(strcasestr((char *)b.data, "Sec-WebSocket-Protocol: layercast.v7\r\n"));
		ck_assert(wait_count(loop, &a.opens, (unsigned)i + 1, 5));
		close(fd);
		ck_assert(wait_count(loop, &a.closes, (unsigned)i + 1, 5));
		ck_assert_int_eq(a.last_code, NET_CLOSE_ABNORMAL);
	}
	/* The refused upgrades were not taken for broken handshakes. */
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_HANDSHAKE], 0);
	lc_buf_free(&b);
	net_free(a.net);
	lc_loop_free(loop);
}
END_TEST


/* ---- links, queues, limiter ------------------------------------------------------------ */

#define MESH 5
#define MESH_SMALL 200  /* 1400 B BLOCKs per link and direction */
#define MESH_LARGE 40   /* 16 KiB BLOCKs per link and direction */

struct all_wait {
	struct tpeer *p;
	int n;
	unsigned opens;
	uint64_t rx_msgs;
};

static bool all_opened(void *arg)
{
	struct all_wait *w = arg;
	for (int i = 0; i < w->n; i++)
		if (w->p[i].opens < w->opens)
			return false;
	return true;
}

static bool all_received(void *arg)
{
	struct all_wait *w = arg;
	for (int i = 0; i < w->n; i++)
		if (w->p[i].rx_msgs < w->rx_msgs)
			return false;
	return true;
}

static void mesh_send(struct net_link *l, void *arg)
{
	struct tpeer *p = arg;
	static uint8_t buf[WIRE_MAX_MSG];
	/* MESH_LARGE large ones interleaved with the small ones. */
	int small = 0, large = 0;
	for (uint8_t seq = 0; small < MESH_SMALL || large < MESH_LARGE; seq++) {
		bool big = large < MESH_LARGE && (seq % 5 == 0 || small >= MESH_SMALL);
		int n = make_block(buf, sizeof buf, (unsigned)p->id, seq, big ? 16384 : 1400);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(link_send(l, buf, (size_t)n), 0);
		if (big)
			large++;
		else
			small++;
	}
}

START_TEST(test_mesh)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer p[MESH];
	memset(p, 0, sizeof p);
	for (int i = 0; i < MESH; i++) {
		struct net_config c;
		tp_config(&p[i], &c);
		p[i].id = i;
		p[i].wire_check = true;
		tp_start(loop, &p[i], &c);
	}
	for (int i = 0; i < MESH; i++)
		for (int j = i + 1; j < MESH; j++)
			ck_assert_int_eq(net_dial(p[i].net, "127.0.0.1", p[j].port, NULL), 0);
	struct all_wait w = { p, MESH, MESH - 1, (MESH - 1) * (MESH_SMALL + MESH_LARGE) };
	ck_assert(run_until(loop, all_opened, &w, 10));
	for (int i = 0; i < MESH; i++)
		net_foreach_link(p[i].net, mesh_send, &p[i]);
	ck_assert(run_until(loop, all_received, &w, 30));
	/* Let any surplus show up before counting exactly. */
	run_for(loop, 0.1);

	int size_small = make_block((uint8_t[2048]){ 0 }, 2048, 0, 0, 1400);
	int size_large = make_block((uint8_t[WIRE_MAX_MSG]){ 0 }, WIRE_MAX_MSG, 0, 0, 16384);
	for (int i = 0; i < MESH; i++) {
		ck_assert_uint_eq(p[i].opens, MESH - 1);
		ck_assert_uint_eq(p[i].opens_dialled, (unsigned)(MESH - 1 - i));
		ck_assert_uint_eq(p[i].closes, 0);
		ck_assert_uint_eq(p[i].bad_payload, 0);
		uint64_t per_link = (uint64_t)MESH_SMALL * (uint64_t)size_small +
				    (uint64_t)MESH_LARGE * (uint64_t)size_large;
		for (int j = 0; j < MESH; j++) {
			ck_assert_uint_eq(p[i].rx_from[j][0], j == i ? 0 : MESH_SMALL);
			ck_assert_uint_eq(p[i].rx_from[j][1], j == i ? 0 : MESH_LARGE);
			ck_assert_uint_eq(p[i].rx_bytes_from[j][0] + p[i].rx_bytes_from[j][1],
					  j == i ? 0 : per_link);
		}
		struct net_stats st;
		net_get_stats(p[i].net, &st);
		ck_assert_uint_eq(st.links_open, MESH - 1);
		ck_assert_uint_eq(st.msgs_sent, (MESH - 1) * (MESH_SMALL + MESH_LARGE));
		ck_assert_uint_eq(st.msgs_received, (MESH - 1) * (MESH_SMALL + MESH_LARGE));
		ck_assert_uint_eq(st.bytes_sent, (MESH - 1) * per_link);
		ck_assert_uint_eq(st.bytes_received, (MESH - 1) * per_link);
	}
	/* Graceful shutdown of all: every link ends with 1000 on both sides. */
	for (int i = 0; i < MESH; i++)
		ck_assert_int_eq(net_shutdown(p[i].net, 3), 0);
	for (int i = 0; i < MESH; i++) {
		ck_assert(run_until(loop, (bool (*)(void *))net_is_down, p[i].net, 5));
		ck_assert(p[i].shut);
		ck_assert_uint_eq(p[i].closes, MESH - 1);
		net_free(p[i].net);
	}
	lc_loop_free(loop);
}
END_TEST

static bool rtt_known(void *arg)
{
	struct tpeer *p = arg;
	struct net_link_stats ls;
	if (!p->link)
		return false;
	link_get_stats(p->link, &ls);
	return ls.rtt_us >= 0;
}

START_TEST(test_queue_drain_rtt_shutdown)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 }, b = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.sendq_bytes = 64 * 1024;
	c.ping_interval_s = 0.2;
	tp_start(loop, &a, &c);
	tp_config(&b, &c);
	b.wire_check = true;
	tp_start(loop, &b, &c);
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", b.port, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 1, 5));
	ck_assert(wait_count(loop, &b.opens, 1, 5));
	ck_assert(link_dialled(a.link));
	ck_assert(!link_dialled(b.link));

	/* Fill to the bound without running the loop: the queue refuses the
	 * message that would not fit, and queues nothing of it. */
	static uint8_t buf[WIRE_MAX_MSG];
	int n = make_block(buf, sizeof buf, 1, 0, 16384);
	unsigned queued = 0;
	while (link_send(a.link, buf, (size_t)n) == 0)
		queued++;
	ck_assert_uint_eq(queued, (64 * 1024) / (unsigned)n);
	ck_assert_uint_le(link_queue_bytes(a.link), 64 * 1024);
	ck_assert_int_eq(link_send(a.link, buf, (size_t)n), LC_EFULL);
	struct net_stats st;
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.sendq_full, 2);
	ck_assert(wait_count(loop, &a.drains, 1, 5));
	ck_assert(wait_count(loop, (unsigned *)&b.rx_msgs, queued, 5));
	ck_assert_uint_eq(b.rx_from[1][1], queued);

	/* RTT from the pings, both ends. */
	ck_assert(run_until(loop, rtt_known, &a, 3));
	ck_assert(run_until(loop, rtt_known, &b, 3));
	struct net_link_stats ls;
	link_get_stats(a.link, &ls);
	ck_assert_int_lt(ls.rtt_us, 200000);
	ck_assert_uint_eq(ls.msgs_sent, queued);
	ck_assert_uint_eq(ls.bytes_sent, (uint64_t)queued * (uint64_t)n);
	ck_assert_str_eq(ls.remote, link_remote(a.link));
	struct lc_buf hb;
	lc_buf_init(&hb);
	ck_assert_int_eq(http_get(loop, a.port, "/metrics", &hb), 200);
	ck_assert_ptr_nonnull(strstr((char *)hb.data, "layercast_net_link_rtt_seconds{remote=\"127.0.0.1:"));
	ck_assert_int_eq(http_get(loop, b.port, "/stats.json", &hb), 200);
	ck_assert_ptr_nonnull(strstr((char *)hb.data, "\"links_accepted\":1"));
	ck_assert_ptr_nonnull(strstr((char *)hb.data, "\"dialled\":false"));
	lc_buf_free(&hb);

	/* Graceful leave: Close 1000 both ways, well before the bound. */
	int64_t t0 = lc_now_us();
	ck_assert_int_eq(net_shutdown(a.net, 3), 0);
	ck_assert_int_eq(net_shutdown(a.net, 3), LC_ESTATE);
	ck_assert(wait_count(loop, &b.closes, 1, 5));
	ck_assert_int_eq(b.last_code, 1000);
	ck_assert_str_eq(b.last_reason, "shutdown");
	ck_assert(run_until(loop, (bool (*)(void *))net_is_down, a.net, 5));
	ck_assert_int_eq(a.last_code, 1000);
	ck_assert_int_lt(lc_now_us() - t0, 1000000);
	net_free(a.net);
	net_free(b.net);
	lc_loop_free(loop);
}
END_TEST

/* A DONE: the smallest message there is (4 bytes). */
static int make_done(uint8_t *buf, size_t cap, uint32_t seg)
{
	struct wire_msg m = { .type = WIRE_DONE };
	m.u.done.segment = seg;
	return wire_encode(&m, buf, cap);
}

static bool parts_reached(void *arg)
{
	struct tpeer *p = arg;
	return p->rx_parts >= 7;
}

static bool parts_307(void *arg)
{
	struct tpeer *p = arg;
	return p->rx_parts >= 307;
}

/*
 * coalesce_max: the messages waiting on a link leave in one WebSocket
 * message while they fit, in order, and the receiver finds them back to
 * back. The upload bucket and frame_bytes count every byte written: the
 * frame header (2 bytes, 4 from 126 bytes on, and a 4-byte mask on the
 * dialled side) with the messages. no_ping: nothing else is written.
 */
START_TEST(test_coalesce_and_frame_bytes)
{
	/* The handshake names the wire format's version. */
	ck_assert_str_eq(NET_SUBPROTOCOL, WIRE_SUBPROTOCOL);
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 }, b = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.coalesce_max = 1000;
	c.no_ping = true;
	tp_start(loop, &a, &c);
	tp_config(&b, &c);
	c.no_ping = true;
	b.split = true;
	tp_start(loop, &b, &c);
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", b.port, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 1, 5));
	ck_assert(wait_count(loop, &b.opens, 1, 5));

	/* Queued in one go (the loop does not run between): 3 DONEs of 4
	 * bytes and 4 blocks of 421, each LAST (a block's payload runs to the
	 * end of its WebSocket message). */
	static uint8_t buf[WIRE_MAX_MSG];
	size_t lens[7], total = 0;
	for (unsigned i = 0; i < 7; i++) {
		int n = i < 3 ? make_done(buf, sizeof buf, i) : make_block(buf, sizeof buf, 1, (uint8_t)i, 400);
		ck_assert_int_gt(n, 0);
		lens[i] = (size_t)n;
		total += lens[i];
		ck_assert_int_eq(link_send_flags(a.link, buf, lens[i], i < 3 ? 0 : NET_SEND_LAST), 0);
	}
	ck_assert_uint_eq(lens[3], WIRE_HDR_LEN + WIRE_BLOCK_HEAD + 16 + 400);
	ck_assert_uint_eq(lens[0], 4);
	ck_assert(run_until(loop, parts_reached, &b, 5));
	ck_assert_uint_eq(b.rx_parts, 7);
	for (unsigned i = 0; i < 7 && i < 8; i++)
		ck_assert_uint_eq(b.rx_part_len[i], lens[i]);
	/* The DONEs go with the first block; nothing goes after a block: 4
	 * WebSocket messages. */
	ck_assert_uint_eq(b.rx_msgs, 4);
	struct net_stats st;
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.msgs_sent, 7);
	ck_assert_uint_eq(st.frames_sent, 4);
	ck_assert_uint_eq(st.bytes_sent, total);
	ck_assert_uint_eq(st.frame_bytes, total + 4 * (4 + 4));
	/* 300 DONEs: 250 fill coalesce_max (1000 bytes), 50 more follow. */
	for (unsigned i = 0; i < 300; i++) {
		int n = make_done(buf, sizeof buf, i);
		ck_assert_int_eq(link_send(a.link, buf, (size_t)n), 0);
	}
	ck_assert(run_until(loop, parts_307, &b, 5));
	ck_assert_uint_eq(b.rx_parts, 307);
	ck_assert_uint_eq(b.rx_msgs, 4 + 2);
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.frames_sent, 4 + 2);
	total += 300 * 4;
	ck_assert_uint_eq(st.frame_bytes, total + 6 * (4 + 4));

	/* The accepting side's frames have no mask; a short one has a 2-byte
	 * header. */
	int n = make_done(buf, sizeof buf, 9);
	ck_assert_int_eq(link_send(b.link, buf, (size_t)n), 0);
	ck_assert(wait_count(loop, (unsigned *)&a.rx_msgs, 1, 5));
	net_get_stats(b.net, &st);
	ck_assert_uint_eq(st.frame_bytes, (uint64_t)n + 2);

	/* No pings: over 1.5 s (net's default interval is 1 s) nothing more
	 * is written either way. */
	run_for(loop, 1.5);
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.frame_bytes, total + 6 * (4 + 4));
	net_get_stats(b.net, &st);
	ck_assert_uint_eq(st.frame_bytes, (uint64_t)n + 2);
	net_free(a.net);
	net_free(b.net);
	lc_loop_free(loop);
}
END_TEST

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof a;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct dial_fail_wait {
	struct net *n;
	uint64_t want;
};

static bool dial_failures_reached(void *arg)
{
	struct dial_fail_wait *w = arg;
	struct net_stats st;
	net_get_stats(w->n, &st);
	return st.dial_failures >= w->want;
}

START_TEST(test_dial_backoff_and_oversize)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 }, b = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.port = -1; /* dial only */
	ck_assert_int_eq(net_new(loop, &c, &a.net), 0);
	ck_assert_int_eq(net_port(a.net), -1);
	int port = free_port();
	struct net_dial *d;
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", port, &d), 0);
	struct dial_fail_wait w = { a.net, 3 };
	ck_assert(run_until(loop, dial_failures_reached, &w, 5));
	ck_assert_ptr_null(net_dial_link(d));
	/* The peer appears on that port: the next retry connects. */
	tp_config(&b, &c);
	c.port = port;
	c.max_message = 32 * 1024;
	b.wire_check = true;
	tp_start(loop, &b, &c);
	ck_assert(wait_count(loop, &a.opens, 1, 5));
	ck_assert_ptr_eq(net_dial_link(d), a.link);

	/* A message above the receiver's maximum: closed with 1009, counted. */
	static uint8_t buf[WIRE_MAX_MSG];
	int n = make_block(buf, sizeof buf, 1, 0, 40000);
	ck_assert_int_eq(link_send(a.link, buf, (size_t)n), 0);
	ck_assert(wait_count(loop, &a.closes, 1, 5));
	ck_assert_int_eq(a.last_code, 1009);
	ck_assert_uint_eq(b.closes, 1);
	ck_assert_int_eq(b.last_code, 1009);
	struct net_stats st;
	net_get_stats(b.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_OVERSIZE], 1);
	ck_assert_uint_eq(b.rx_msgs, 0);
	/* Redialled after the close; then cancelled dials stay down. */
	ck_assert(wait_count(loop, &a.opens, 2, 5));
	net_dial_cancel(d);
	link_close(a.link, 1000, "bye");
	ck_assert(wait_count(loop, &a.closes, 2, 5));
	ck_assert_int_eq(a.last_code, 1000);
	ck_assert(wait_count(loop, &b.closes, 2, 5));
	ck_assert_int_eq(b.last_code, 1000);
	ck_assert_str_eq(b.last_reason, "bye");
	run_for(loop, 0.3);
	ck_assert_uint_eq(a.opens, 2);
	net_free(a.net);
	net_free(b.net);
	lc_loop_free(loop);
}
END_TEST

static bool got_one(void *arg) { return ((struct tpeer *)arg)->rx_msgs > 0; }

struct rx_wait {
	const uint64_t *a, *b; /* until *a >= want_a or (b) *b >= want_b */
	uint64_t want_a, want_b;
};

static bool rx_reached(void *arg)
{
	const struct rx_wait *w = arg;
	return *w->a >= w->want_a || (w->b && *w->b >= w->want_b);
}

/* Under the upload limit, links take turns: a link opened while another
 * keeps the bucket dry gets its first message through after a few of the
 * other's (not after the other's whole backlog), and then its share. */
START_TEST(test_upload_cap_turns)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 }, b = { 0 }, r = { 0 };
	struct net_config c;
	tp_config(&b, &c);
	tp_start(loop, &b, &c);
	tp_config(&r, &c);
	tp_start(loop, &r, &c);
	tp_start_filler(loop, &a, 3, 400, 64 * 1024, 1000); /* 1 kB messages 20 ms apart */
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", b.port, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 1, 5));
	ck_assert(wait_count(loop, &b.opens, 1, 5));
	/* The first link has the bucket to itself for a while. */
	struct rx_wait w = { &b.rx_msgs, NULL, b.rx_msgs + 20, 0 };
	ck_assert(run_until(loop, rx_reached, &w, 5));
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", r.port, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 2, 5));
	uint64_t b_at_open = b.rx_msgs;
	ck_assert(run_until(loop, got_one, &r, 5));
	ck_assert_msg(b.rx_msgs - b_at_open <= 4, "%llu messages on the old link first",
		      (unsigned long long)(b.rx_msgs - b_at_open));
	/* From then on, turn about. */
	uint64_t b0 = b.rx_msgs, r0 = r.rx_msgs;
	w = (struct rx_wait){ &r.rx_msgs, &b.rx_msgs, r0 + 30, b0 + 60 };
	ck_assert(run_until(loop, rx_reached, &w, 5));
	uint64_t db = b.rx_msgs - b0, dr = r.rx_msgs - r0;
	ck_assert_msg(dr * 10 >= db * 8 && db * 10 >= dr * 8, "shares %llu / %llu",
		      (unsigned long long)db, (unsigned long long)dr);
	net_free(a.net);
	net_free(b.net);
	net_free(r.net);
	lc_loop_free(loop);
}
END_TEST

/* The shared upload limit: one sender, two links kept full; what arrives
 * over 10 s is within 5% of the cap. */
START_TEST(test_upload_cap)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 }, b = { 0 }, r = { 0 };
	struct net_config c;
	const uint32_t kbps = 16000; /* 2 MB/s */
	tp_config(&b, &c);
	tp_start(loop, &b, &c);
	tp_config(&r, &c);
	tp_start(loop, &r, &c);
	tp_start_filler(loop, &a, 3, kbps, 256 * 1024, 1400);
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", b.port, NULL), 0);
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", r.port, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 2, 5));
	run_for(loop, 0.5); /* past the initial burst */
	uint64_t b0 = b.rx_bytes + r.rx_bytes;
	int64_t t0 = lc_now_us();
	run_for(loop, 10);
	uint64_t b1 = b.rx_bytes + r.rx_bytes;
	double secs = (double)(lc_now_us() - t0) / 1e6;
	double rate = (double)(b1 - b0) / secs;
	double cap = kbps * 1000.0 / 8;
	ck_assert_msg(rate <= cap * 1.05 && rate >= cap * 0.95, "rate %.0f B/s vs cap %.0f", rate, cap);
	/* Both links got a share, and the measured per-link rates add up. */
	ck_assert_uint_gt(b.rx_bytes, (b1 - b0) / 4);
	ck_assert_uint_gt(r.rx_bytes, (b1 - b0) / 4);
	double sum = 0;
	struct net_link_stats ls;
	ck_assert_ptr_nonnull(a.link);
	link_get_stats(a.link, &ls);
	sum += ls.send_Bps;
	ck_assert_ptr_nonnull(b.link);
	link_get_stats(b.link, &ls);
	ck_assert_double_gt(ls.recv_Bps, cap * 0.2);
	ck_assert_double_gt(sum, cap * 0.2);
	ck_assert_double_lt(sum, cap * 0.8 + 1);
	net_free(a.net);
	net_free(b.net);
	net_free(r.net);
	lc_loop_free(loop);
}
END_TEST

/* ---- hostile clients ------------------------------------------------------------------- */

struct flow_wait {
	struct tpeer *s;
	int from;
	uint64_t want;
};

static bool flow_reached(void *arg)
{
	struct flow_wait *w = arg;
	return w->s->rx_from[w->from][0] >= w->want;
}

/* The background link still delivers: n more messages arrive. */
static void assert_flowing(struct lc_loop *loop, struct tpeer *s, int from)
{
	struct flow_wait w = { s, from, s->rx_from[from][0] + 20 };
	ck_assert_msg(run_until(loop, flow_reached, &w, 5), "the other link stalled");
}

static bool server_frame_done(const struct lc_buf *b)
{
	const char *h = find_str(b, "\r\n\r\n");
	if (!h)
		return false;
	size_t off = (size_t)(h + 4 - (const char *)b->data);
	if (b->len < off + 2)
		return false;
	size_t len = b->data[off + 1] & 0x7f;
	size_t hl = 2;
	if (len == 126) {
		if (b->len < off + 4)
			return false;
		len = lc_get_be16(b->data + off + 2);
		hl = 4;
	}
	return b->len >= off + hl + len;
}

/* Offset of the first frame after the 101 headers. */
static size_t after_headers(const struct lc_buf *b)
{
	const char *h = find_str(b, "\r\n\r\n");
	ck_assert_ptr_nonnull(h);
	return (size_t)(h + 4 - (const char *)b->data);
}

/* Send raw bytes on an upgraded socket, expect a Close with `code` (or just
 * the connection dropped when code is 0) within 5 s. */
static void expect_close(struct lc_loop *loop, int fd, struct lc_buf *b, int code)
{
	size_t off = after_headers(b);
	raw_read_until(loop, fd, b, server_frame_done, 5);
	int got = 0;
	int op = ws_parse_close(b, off, &got);
	if (code) {
		ck_assert_int_eq(op, 8);
		ck_assert_int_eq(got, code);
	} else {
		ck_assert(op == -1 || op == 8);
	}
}

START_TEST(test_hostile_clients)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer s = { 0 }, f = { 0 };
	struct net_config c;
	tp_config(&s, &c);
	const char *origins[] = { "https://ok.example" };
	c.origins = origins;
	c.n_origins = 1;
	c.max_message = 64 * 1024;
	s.wire_check = true;
	s.reply_hello = true;
	tp_start(loop, &s, &c);
	/* The background link: f keeps sending 1400 B BLOCKs at 4 Mbit/s. */
	tp_start_filler(loop, &f, 2, 4000, 16 * 1024, 1400);
	ck_assert_int_eq(net_dial(f.net, "127.0.0.1", s.port, NULL), 0);
	ck_assert(wait_count(loop, &f.opens, 1, 5));
	assert_flowing(loop, &s, 2);

	struct lc_buf b;
	lc_buf_init(&b);
	struct net_stats st;
	int fd;

	/* 1. Garbage instead of a handshake: dropped (or answered 4xx). */
	fd = raw_connect(s.port);
	static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
	raw_send(fd, junk, sizeof junk - 1);
	lc_buf_reset(&b);
	ck_assert(raw_read_until(loop, fd, &b, NULL, 5));
	ck_assert(b.len == 0 || (status_of(&b) >= 400 && status_of(&b) < 500));
	close(fd);
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_HANDSHAKE], 1);
	assert_flowing(loop, &s, 2);

	/* 2. A valid handshake, then garbage frames (reserved opcode, RSV
	 * bits): closed with 1002 by the frame parser, counted abnormal. */
	unsigned closes0 = s.closes;
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", NULL, &fd, &b), 101);
	ck_assert(wait_count(loop, &s.opens, 2, 5));
	static const uint8_t badframes[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02, 0x03 };
	raw_send(fd, badframes, sizeof badframes);
	expect_close(loop, fd, &b, 1002);
	close(fd);
	ck_assert(wait_count(loop, &s.closes, closes0 + 1, 5));
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_ABNORMAL], 1);
	assert_flowing(loop, &s, 2);

	/* 3. An oversize message, in fragments: 1009 as soon as the total
	 * passes max_message, before it is all sent. */
	static uint8_t big[40000], frame[40100];
	closes0 = s.closes;
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", NULL, &fd, &b), 101);
	raw_send(fd, frame, ws_frame(frame, 2, false, big, sizeof big));
	raw_send(fd, frame, ws_frame(frame, 0, false, big, sizeof big));
	expect_close(loop, fd, &b, 1009);
	close(fd);
	ck_assert(wait_count(loop, &s.closes, closes0 + 1, 5));
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_OVERSIZE], 1);
	assert_flowing(loop, &s, 2);

	/* 4. A truncated wire message: 1002 from wire_close_code(), counted
	 * malformed; a field out of range: 1007. */
	uint8_t hello[512];
	int hn = fill_hello(hello, sizeof hello, 77);
	ck_assert_int_gt(hn, 8);
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", NULL, &fd, &b), 101);
	raw_send(fd, frame, ws_frame(frame, 2, true, hello, (size_t)hn - 3));
	expect_close(loop, fd, &b, 1002);
	close(fd);
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", NULL, &fd, &b), 101);
	uint8_t bad_role[512];
	memcpy(bad_role, hello, (size_t)hn);
	bad_role[WIRE_HDR_LEN + 2] = 0x80; /* HELLO.role: reserved bit */
	raw_send(fd, frame, ws_frame(frame, 2, true, bad_role, (size_t)hn));
	expect_close(loop, fd, &b, 1007);
	close(fd);
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_MALFORMED], 2);
	assert_flowing(loop, &s, 2);

	/* 5. Wrong subprotocol and bad Origin, with the flow running. */
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "chat", NULL, NULL, &b), 400);
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", "http://evil", NULL, &b), 403);
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_SUBPROTOCOL], 1);
	ck_assert_uint_eq(st.refused[NET_REF_ORIGIN], 1);

	/* 6. A well-behaved raw client: a HELLO in three fragments, each sent
	 * byte by byte with the loop running between the bytes, reassembled
	 * into one message; the HELLO reply decodes; Close 1000 is answered. */
	ck_assert_int_eq(ws_upgrade(loop, s.port, "/swarm", "layercast.v7", "https://ok.example",
				    &fd, &b), 101);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	uint64_t rx0 = s.rx_msgs;
	size_t cut1 = 5, cut2 = (size_t)hn / 2;
	size_t fl = ws_frame(frame, 2, false, hello, cut1);
	fl += ws_frame(frame + fl, 0, false, hello + cut1, cut2 - cut1);
	fl += ws_frame(frame + fl, 0, true, hello + cut2, (size_t)hn - cut2);
	for (size_t i = 0; i < fl; i++) {
		raw_send(fd, frame + i, 1);
		lc_loop_run_once(loop, false);
	}
	ck_assert(wait_count(loop, (unsigned *)&s.rx_msgs, (unsigned)rx0 + 1, 5));
	size_t off = after_headers(&b);
	raw_read_until(loop, fd, &b, server_frame_done, 5);
	ck_assert_int_eq(b.data[off], 0x82); /* FIN + binary */
	size_t rl = b.data[off + 1] & 0x7f;
	size_t ho = 2;
	if (rl == 126) {
		rl = lc_get_be16(b.data + off + 2);
		ho = 4;
	}
	struct wire_msg m;
	ck_assert_int_eq(wire_decode(b.data + off + ho, rl, &m), 0);
	ck_assert_int_eq(m.type, WIRE_HELLO);
	ck_assert(m.u.hello.peer_id == 0x1234);
	closes0 = s.closes;
	uint8_t cp[2];
	lc_put_be16(cp, 1000);
	lc_buf_reset(&b);
	ck_assert_int_eq(lc_buf_append(&b, "\r\n\r\n", 4), 0); /* a marker for expect_close */
	raw_send(fd, frame, ws_frame(frame, 8, true, cp, 2));
	expect_close(loop, fd, &b, 1000);
	close(fd);
	ck_assert(wait_count(loop, &s.closes, closes0 + 1, 5));
	ck_assert_int_eq(s.last_code, 1000);

	/* Through all of it the background link stayed up. */
	assert_flowing(loop, &s, 2);
	ck_assert_uint_eq(f.closes, 0);
	ck_assert_uint_eq(s.bad_payload, 0);
	lc_buf_free(&b);
	net_free(f.net);
	net_free(s.net);
	lc_loop_free(loop);
}
END_TEST

/* ---- child processes: the stopped / killed peer, Node's ws --------------------------------- */

/* Start argv[0] with stdout on a pipe; *outfd is the pipe's read end. The
 * child dies with the test process. */
static pid_t spawn(char *const argv[], int *outfd)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	*outfd = pfd[0];
	return pid;
}

static bool has_port_line(const struct lc_buf *b) { return find_str(b, "\n") && find_str(b, "PORT "); }

/* Read "PORT n" from the child's stdout. */
static int child_port(struct lc_loop *loop, int fd)
{
	struct lc_buf b;
	lc_buf_init(&b);
	raw_read_until(loop, fd, &b, has_port_line, 10);
	ck_assert_int_eq(lc_buf_append(&b, "", 1), 0);
	const char *p = find_str(&b, "PORT ");
	ck_assert_ptr_nonnull(p);
	int port = atoi(p + 5);
	lc_buf_free(&b);
	ck_assert_int_gt(port, 0);
	return port;
}

struct child_wait {
	pid_t pid;
	int status;
	bool done;
};

static bool child_exited(void *arg)
{
	struct child_wait *w = arg;
	if (!w->done && waitpid(w->pid, &w->status, WNOHANG) == w->pid)
		w->done = true;
	return w->done;
}

/* Run the loop until the child exits; its exit status, or -1 on timeout. */
static int wait_child(struct lc_loop *loop, pid_t pid, double timeout_s)
{
	struct child_wait w = { pid, 0, false };
	if (!run_until(loop, child_exited, &w, timeout_s)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return WIFEXITED(w.status) ? WEXITSTATUS(w.status) : 128 + WTERMSIG(w.status);
}

static void send_hello(struct net_link *l, void *arg)
{
	(void)arg;
	uint8_t buf[512];
	int n = fill_hello(buf, sizeof buf, 99);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(link_send(l, buf, (size_t)n), 0);
}

START_TEST(test_stopped_and_killed_peer)
{
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.dial_backoff_max_s = 0.5;
	tp_start(loop, &a, &c);
	char dial[64];
	snprintf(dial, sizeof dial, "127.0.0.1:%d", a.port);
	char *argv[] = { LC_NET_PEER_BIN, "-e", "-d", dial, NULL };
	int out;
	pid_t pid = spawn(argv, &out);
	int cport = child_port(loop, out);
	/* Two links to the child: it dialled us, we dial it. */
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", cport, NULL), 0);
	ck_assert(wait_count(loop, &a.opens, 2, 5));
	net_foreach_link(a.net, send_hello, NULL);
	ck_assert(wait_count(loop, (unsigned *)&a.rx_msgs, 2, 5)); /* echoed */

	/* SIGSTOP: both links are declared dead within 5 s. */
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	int64_t t0 = lc_now_us();
	ck_assert(wait_count(loop, &a.closes, 2, 6));
	double detect = (double)(lc_now_us() - t0) / 1e6;
	ck_assert_msg(detect < 5.0, "stopped peer detected after %.2f s", detect);
	ck_assert_str_eq(a.last_reason, "timeout");
	struct net_stats st;
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.refused[NET_REF_TIMEOUT], 2);
	ck_assert_uint_eq(st.links_open, 0);

	/* SIGCONT: both links come back (our redial, and the child's). */
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	ck_assert(wait_count(loop, &a.opens, 4, 12));
	uint64_t rx0 = a.rx_msgs;
	net_foreach_link(a.net, send_hello, NULL);
	ck_assert(wait_count(loop, (unsigned *)&a.rx_msgs, (unsigned)rx0 + 2, 5));

	/* SIGKILL: seen at once (the kernel closes the sockets). */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	t0 = lc_now_us();
	ck_assert(wait_count(loop, &a.closes, 4, 5));
	double killed = (double)(lc_now_us() - t0) / 1e6;
	ck_assert_msg(killed < 0.5, "killed peer detected after %.2f s", killed);
	fprintf(stderr, "net: stopped peer detected after %.2f s, killed peer after %.3f s\n", detect,
		killed);
	ck_assert_int_eq(a.last_code, NET_CLOSE_ABNORMAL);
	ck_assert_str_eq(a.last_reason, "connection lost");
	waitpid(pid, NULL, 0);
	close(out);
	net_free(a.net);
	lc_loop_free(loop);
}
END_TEST

static void need_ws(void)
{
	ck_assert_msg(access(LC_SOURCE_DIR "/tests/interop/node_modules/ws/package.json", R_OK) == 0,
		      "Node's ws is not installed: run npm ci --prefix tests/interop");
}

START_TEST(test_interop_ws_client)
{
	need_ws();
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	a.wire_check = true;
	a.reply_hello = true;
	tp_start(loop, &a, &c);
	char url[64];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/swarm", a.port);
	char *argv[] = { "node", LC_SOURCE_DIR "/tests/interop/client.js", url, NULL };
	int out;
	pid_t pid = spawn(argv, &out);
	ck_assert_int_eq(wait_child(loop, pid, 15), 0);
	ck_assert(wait_count(loop, &a.closes, 1, 5));
	ck_assert_uint_eq(a.opens, 1);
	ck_assert_uint_eq(a.rx_msgs, 1);
	ck_assert_int_eq(a.last_code, 1000);
	ck_assert_str_eq(a.last_reason, "done");
	struct net_stats st;
	net_get_stats(a.net, &st);
	ck_assert_uint_eq(st.msgs_sent, 1);
	close(out);
	net_free(a.net);
	lc_loop_free(loop);
}
END_TEST

static void tp_open_hello(struct net_link *l, bool dialled, void *arg)
{
	tp_open(l, dialled, arg);
	send_hello(l, NULL);
}

START_TEST(test_interop_ws_server)
{
	need_ws();
	struct lc_loop *loop = lc_loop_new();
	struct tpeer a = { 0 };
	struct net_config c;
	tp_config(&a, &c);
	c.port = -1;
	c.on_open = tp_open_hello;
	a.wire_check = true;
	ck_assert_int_eq(net_new(loop, &c, &a.net), 0);
	char *argv[] = { "node", LC_SOURCE_DIR "/tests/interop/server.js", NULL };
	int out;
	pid_t pid = spawn(argv, &out);
	int port = child_port(loop, out);
	struct net_dial *d;
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", port, &d), 0);
	ck_assert(wait_count(loop, &a.closes, 1, 10));
	net_dial_cancel(d);
	ck_assert_uint_eq(a.opens_dialled, 1);
	ck_assert_uint_eq(a.rx_msgs, 1); /* its HELLO */
	ck_assert_int_eq(a.last_code, 1000);
	ck_assert_str_eq(a.last_reason, "bye");
	ck_assert_int_eq(wait_child(loop, pid, 10), 0);
	close(out);

	/* A server that answers 101 without selecting layercast.v7: the
	 * dialling side refuses it, counts it, and never opens a link. */
	char *argv2[] = { "node", LC_SOURCE_DIR "/tests/interop/server.js", "noproto", NULL };
	pid = spawn(argv2, &out);
	port = child_port(loop, out);
	ck_assert_int_eq(net_dial(a.net, "127.0.0.1", port, &d), 0);
	struct dial_fail_wait w = { a.net, 0 };
	struct net_stats st;
	net_get_stats(a.net, &st);
	w.want = st.dial_failures + 2;
	ck_assert(run_until(loop, dial_failures_reached, &w, 10));
	net_get_stats(a.net, &st);
	ck_assert_uint_ge(st.refused[NET_REF_DIAL_PROTO], 2);
	ck_assert_uint_eq(a.opens, 1);
	net_dial_cancel(d);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(out);
	net_free(a.net);
	lc_loop_free(loop);
}
END_TEST

Suite *suite_net(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("routes");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_http_routes);
	tcase_add_test(tc, test_handshake_policy);
	suite_add_tcase(s, tc);
	tc = tcase_create("links");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mesh);
	tcase_add_test(tc, test_queue_drain_rtt_shutdown);
	tcase_add_test(tc, test_coalesce_and_frame_bytes);
	tcase_add_test(tc, test_dial_backoff_and_oversize);
	tcase_add_test(tc, test_upload_cap);
	tcase_add_test(tc, test_upload_cap_turns);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hostile_clients);
	suite_add_tcase(s, tc);
	tc = tcase_create("processes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stopped_and_killed_peer);
	tcase_add_test(tc, test_interop_ws_client);
	tcase_add_test(tc, test_interop_ws_server);
	suite_add_tcase(s, tc);
	return s;
}
