/*
 * engine suite: engines on loopback in this process. Start and stop, bad
 * configurations, the snapshot and its JSON/HTTP forms, the command queue,
 * and a source and a peer streaming a small test scene (every played layer
 * equal to the source's by hash). Conditions are awaited by polling the
 * snapshot with a bounded deadline.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "engine/engine.h"
#include "video/video.h"

typedef bool (*cond_fn)(const struct engine_stats *st, void *arg);

static void nap_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Poll e's snapshot until fn holds or timeout_s passes. */
static bool await(struct engine *e, cond_fn fn, void *arg, double timeout_s)
{
	struct engine_stats *st = malloc(sizeof *st);
	int64_t end = lc_now_us() + (int64_t)(timeout_s * 1e6);
	bool ok = false;
	while (!ok && lc_now_us() < end) {
		engine_snapshot(e, st);
		ok = fn(st, arg);
		if (!ok)
			nap_ms(50);
	}
	free(st);
	return ok;
}

static void source_cfg(struct engine_config *c)
{
	engine_config_default(c);
	c->source = true;
	c->listen_host = "127.0.0.1";
	c->listen_port = 0;
	c->width = 320;
	c->height = 180;
	c->fps = 15;
	c->up_kbps = 4000;
	c->seed = 7;
	c->buffer_us = 1000000;
}

static void peer_cfg(struct engine_config *c, int port)
{
	engine_config_default(c);
	c->listen_host = "127.0.0.1";
	c->join_host = "127.0.0.1";
	c->join_port = (uint16_t)port;
	c->up_kbps = 2000;
	c->seed = 11;
	c->buffer_us = 1000000;
}

/* A GET on loopback; the response (headers and body) into out. */
static int http_get(int port, const char *path, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return -1;
	}
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	size_t len = 0;
	ssize_t r;
	while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(fd);
	return (int)len;
}

START_TEST(test_bad_config)
{
	struct engine_config c;
	struct engine *e = (struct engine *)1;
	char err[128];
	engine_config_default(&c); /* a peer without a tracker address */
	ck_assert_int_eq(engine_start(&c, &e, err, sizeof err), LC_EINVAL);
	ck_assert_ptr_null(e);
	ck_assert(strlen(err) > 0);
	source_cfg(&c);
	c.max_layer = 9;
	ck_assert_int_eq(engine_start(&c, &e, err, sizeof err), LC_EINVAL);
	source_cfg(&c);
	c.input = ENGINE_INPUT_Y4M;
	c.input_path = "/nonexistent/file.y4m";
	ck_assert_int_lt(engine_start(&c, &e, err, sizeof err), 0);
	ck_assert_ptr_null(e);
	ck_assert_msg(strstr(err, "y4m") || strstr(err, "No such") || strlen(err) > 0, "%s", err);
}
END_TEST

static bool produced(const struct engine_stats *st, void *arg)
{
	return st->segments_produced >= *(unsigned *)arg;
}

START_TEST(test_start_stop_snapshot)
{
	struct engine_config c;
	struct engine *e;
	char err[128];
	source_cfg(&c);
	ck_assert_int_eq(engine_start(&c, &e, err, sizeof err), 0);
	struct engine_stats *st = malloc(sizeof *st);
	engine_snapshot(e, st);
	ck_assert(st->running);
	ck_assert(st->source);
	ck_assert_int_eq(st->port, engine_port(e));
	ck_assert(st->peer_id != 0);
	unsigned two = 2;
	ck_assert(await(e, produced, &two, 10));
	engine_snapshot(e, st);
	ck_assert_int_ge(st->nlayers, 2); /* 320x180: 2 spatial x 3 temporal -> 3 layers */

	/* JSON: the whole snapshot, and /stats.json and /metrics over HTTP. */
	struct lc_buf b;
	lc_buf_init(&b);
	ck_assert_int_eq(engine_stats_json(st, &b), 0);
	lc_buf_append(&b, "", 1);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"role\":\"source\""));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"continuity\":"));
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"layers\":[{\"layer\":0"));
	lc_buf_free(&b);
	char *resp = malloc(65536);
	ck_assert_int_gt(http_get(engine_port(e), "/stats.json", resp, 65536), 0);
	ck_assert_ptr_nonnull(strstr(resp, "200 OK"));
	ck_assert_ptr_nonnull(strstr(resp, "\"engine\":{\"peer_id\":"));
	ck_assert_ptr_nonnull(strstr(resp, "\"segments_produced\":"));
	ck_assert_int_gt(http_get(engine_port(e), "/metrics", resp, 65536), 0);
	ck_assert_ptr_nonnull(strstr(resp, "layercast_continuity 1"));
	ck_assert_ptr_nonnull(strstr(resp, "layercast_layer_kbps{layer=\"0\"}"));
	free(resp);

	ck_assert_int_eq(engine_command(e, ENGINE_CMD_QUIT, 0), 0);
	ck_assert(engine_wait(e, 10));
	engine_snapshot(e, st);
	ck_assert(!st->running);
	ck_assert_int_eq(engine_command(e, ENGINE_CMD_JOIN, 0), LC_ESTATE);
	free(st);
	engine_free(e);
}
END_TEST

struct want_play {
	uint64_t segments;
};

static bool played(const struct engine_stats *st, void *arg)
{
	const struct want_play *w = arg;
	return st->segments_played >= w->segments && st->layer[0].hash_ok >= w->segments;
}

static bool decoded(const struct engine_stats *st, void *arg)
{
	(void)arg;
	return st->frames_decoded >= 15; /* a segment at 15 fps */
}

static bool got_blocks(const struct engine_stats *st, void *arg)
{
	(void)arg;
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		if (st->layer[l].bytes_in)
			return true;
	return false;
}

static bool nbrs_is(const struct engine_stats *st, void *arg)
{
	return st->neighbours == *(unsigned *)arg;
}

static bool level_is(const struct engine_stats *st, void *arg)
{
	return st->level == *(int *)arg && st->playing_level == *(int *)arg;
}

START_TEST(test_two_engines_stream)
{
	struct engine_config c;
	struct engine *src, *peer;
	char err[128];
	source_cfg(&c);
	ck_assert_int_eq(engine_start(&c, &src, err, sizeof err), 0);
	peer_cfg(&c, engine_port(src));
	c.decode = true;
	c.display = true;
	ck_assert_int_eq(engine_start(&c, &peer, err, sizeof err), 0);
	unsigned one = 1;
	ck_assert(await(src, nbrs_is, &one, 5));
	ck_assert(await(peer, nbrs_is, &one, 5));

	/* Blocks count per layer before anything plays: every layer with
	 * bytes is among the snapshot's layers (and so in /stats.json). */
	struct engine_stats *st = malloc(sizeof *st);
	ck_assert(await(peer, got_blocks, NULL, 10));
	engine_snapshot(peer, st);
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		if (st->layer[l].bytes_in)
			ck_assert_int_lt(l, st->nlayers);

	struct want_play w = { .segments = 3 };
	ck_assert_msg(await(peer, played, &w, 20), "peer did not play 3 segments");
	engine_snapshot(peer, st);
	ck_assert(st->started);
	ck_assert_int_ge(st->startup_ms, 0);
	ck_assert_int_eq(st->stalls, 0);
	ck_assert(st->continuity >= 0.99);
	ck_assert(st->lag_ms_p50 > 0);
	for (int l = 0; l < st->nlayers; l++)
		ck_assert_int_eq(st->layer[l].hash_bad, 0);
	ck_assert_int_eq(st->hash_failures, 0);
	ck_assert_int_eq(st->decode_errors, 0);
	ck_assert_int_eq(st->n_nbrs, 1);
	ck_assert(st->nbr[0].role & WIRE_ROLE_SOURCE);
	ck_assert(st->nbr[0].dialled);
	ck_assert_str_eq(st->nbr[0].state, "up");
	ck_assert_uint_gt(st->nbr[0].blocks_in, 0);
	ck_assert(st->nbr[0].innovative_share > 0.5 && st->nbr[0].innovative_share <= 1.0);
	ck_assert_int_eq(st->cap, -1);
	ck_assert_str_eq(st->stream, "layercast");
	/* What the upload went on, by message type: the peer sent its HELLO
	 * and SUBSCRIBE, no BLOCK (it has no neighbour to relay to), and the
	 * source sent BLOCKs; all of it is in bytes_sent. */
	ck_assert_uint_gt(st->tx_type[WIRE_HELLO], 0);
	ck_assert_uint_gt(st->tx_type[WIRE_SUBSCRIBE], 0);
	ck_assert_uint_eq(st->tx_type[WIRE_BLOCK], 0);
	struct engine_stats *ss = malloc(sizeof *ss);
	engine_snapshot(src, ss);
	ck_assert_uint_gt(ss->tx_type[WIRE_BLOCK], ss->bytes_sent / 2);
	uint64_t by_type = 0;
	for (int t = 1; t <= WIRE_TYPE_MAX; t++)
		by_type += ss->tx_type[t];
	ck_assert_uint_ge(by_type, ss->bytes_sent); /* counted when queued */
	ck_assert_uint_le(by_type, ss->bytes_sent + 4 * 1024 * 1024);
	struct lc_buf b;
	lc_buf_init(&b);
	ck_assert_int_eq(engine_stats_json(ss, &b), 0);
	lc_buf_append(&b, "", 1);
	char want[64];
	snprintf(want, sizeof want, "\"sent_by_type\":{\"hello\":%llu,",
		 (unsigned long long)ss->tx_type[WIRE_HELLO]);
	ck_assert_ptr_nonnull(strstr((char *)b.data, want));
	lc_buf_reset(&b);
	ck_assert_int_eq(engine_stats_metrics(ss, &b), 0);
	lc_buf_append(&b, "", 1);
	snprintf(want, sizeof want, "layercast_sent_bytes_total{type=\"block\"} %llu",
		 (unsigned long long)ss->tx_type[WIRE_BLOCK]);
	ck_assert_ptr_nonnull(strstr((char *)b.data, want));
	lc_buf_free(&b);
	free(ss);
	/* The stream's layers, from the descriptors: sizes grow to the top. */
	int top = st->nlayers - 1;
	ck_assert_int_ge(top, 1);
	ck_assert(st->layer[0].rate_kbps > 0);
	ck_assert_int_gt(st->layer[0].width, 0);
	ck_assert_int_lt(st->layer[0].width, st->layer[top].width);
	ck_assert(st->layer[top].fps > 0);

	/* The decoder thread rebuilt the operating points from the wire
	 * descriptor and decoded them without falling back. */
	ck_assert_msg(await(peer, decoded, NULL, 10), "no frame decoded");
	engine_snapshot(peer, st);
	ck_assert_int_eq(st->decode_fallbacks, 0);
	int top_w = st->layer[top].width, base_w = st->layer[0].width;

	/* Display: the decoded frames wait for the caller, in order. */
	struct video_frame f = { 0 };
	ck_assert_int_eq(engine_pop_frame(peer, &f), 0);
	ck_assert_int_eq(f.width, top_w);
	uint64_t last = f.segment * 1000 + (uint64_t)f.index;
	int popped = 1;
	while (engine_pop_frame(peer, &f) == 0) {
		uint64_t pos = f.segment * 1000 + (uint64_t)f.index;
		ck_assert_uint_gt(pos, last);
		last = pos;
		popped++;
	}
	ck_assert_int_ge(popped, 10);

	/* Layer cap through the command queue: the frames follow. */
	ck_assert_int_eq(engine_command(peer, ENGINE_CMD_SET_CAP, 0), 0);
	int zero = 0;
	ck_assert_msg(await(peer, level_is, &zero, 10), "layer cap 0 not reached");
	engine_snapshot(peer, st);
	ck_assert_int_eq(st->cap, 0);
	bool small = false;
	for (int i = 0; i < 1000 && !small; i++) {
		if (engine_pop_frame(peer, &f) == 0)
			small = f.width == base_w;
		else
			nap_ms(10);
	}
	ck_assert_msg(small, "no frame of the base layer's width %d", base_w);
	video_frame_free(&f);

	/* Leave: the source sees the peer go; join again: it comes back. */
	ck_assert_int_eq(engine_command(peer, ENGINE_CMD_LEAVE, 0), 0);
	unsigned none = 0;
	ck_assert(await(src, nbrs_is, &none, 2));
	engine_snapshot(src, st);
	ck_assert_int_ge(st->leaves, 1);
	/* Left: playback pauses; no stall is counted while out of the swarm. */
	ck_assert(await(peer, nbrs_is, &none, 2));
	engine_snapshot(peer, st);
	uint64_t played_then = st->segments_played;
	ck_assert(!st->joined);
	nap_ms(2500); /* two segment deadlines pass (nothing to await: none may come) */
	engine_snapshot(peer, st);
	ck_assert_uint_eq(st->segments_played, played_then);
	ck_assert_uint_eq(st->stalls, 0);
	ck_assert_int_eq(engine_command(peer, ENGINE_CMD_JOIN, 0), 0);
	ck_assert(await(src, nbrs_is, &one, 5));
	/* Joined again: it starts up again and plays. */
	w.segments = played_then + 2;
	ck_assert_msg(await(peer, played, &w, 15), "no play after joining again");

	engine_free(peer);
	ck_assert(await(src, nbrs_is, &none, 3));
	engine_snapshot(src, st);
	ck_assert_int_ge(st->leaves, 2);
	ck_assert_int_eq(st->failures, 0);
	free(st);
	engine_free(src);
}
END_TEST

Suite *suite_engine(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_start_stop_snapshot);
	tcase_add_test(tc, test_two_engines_stream);
	suite_add_tcase(s, tc);
	return s;
}
