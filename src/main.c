/*
 * layercast: a live P2P video streaming peer. This file parses the command
 * line and runs the headless mode; interactive.c runs the dashboard.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "app.h"
#include "engine/engine.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: layercast [--help] [--version]\n"
		"       layercast demo [--no-video] [--listen ADDR:PORT] [--size WxH] [--fps N]\n"
		"                 [--relays N] [--upload-kbps N] [--max-layer N]\n"
		"       layercast source [--headless] [--listen ADDR:PORT] [--input pattern|FILE.y4m]\n"
		"                 [--size WxH] [--fps N] [--upload-kbps N] [--duration S]\n"
		"       layercast join HOST:PORT [--headless] [--no-video] [--listen ADDR:PORT]\n"
		"                 [--upload-kbps N] [--download-kbps N] [--max-layer N] [--duration S]\n"
		"\n"
		"layercast is a live peer-to-peer video streaming peer: scalable VP9\n"
		"video, network coded over a WebSocket mesh.\n"
		"\n"
"commands:\n"
		"  demo                a source on the test scene, a few local relays and a\n"
		"                      viewer on the dashboard, its video in a window\n"
		"  source              encode the test scene (or a Y4M file) and serve it;\n"
		"                      the source is also the swarm's tracker\n"
		"  join HOST:PORT      join the swarm of the tracker at HOST:PORT\n"
		"\n"
		"options:\n"
		"  --headless          run without the dashboard: a status line every few\n"
		"                      seconds on stderr, one JSON object on stdout at exit\n"
		"  --no-video          keep the dashboard, open no video window\n"
		"  --relays N          demo: local relays besides the viewer (0..8, default 3)\n"
		"  --listen ADDR:PORT  listen address (default 0.0.0.0:0, any free port)\n"
		"  --input SRC         source: 'pattern' (the test scene) or a .y4m file\n"
		"  --size WxH          source: test scene size (default 640x360)\n"
		"  --fps N             source: test scene frame rate (default 30)\n"
		"  --upload-kbps N     upload cap, kbit/s (default unlimited)\n"
		"  --download-kbps N   download capacity used to choose layers, kbit/s\n"
		"  --enforce-download  also cap what is read at --download-kbps\n"
		"  --max-layer N       never play above layer N (0..7)\n"
		"  --duration S        stop after S seconds (default: until SIGINT/SIGTERM)\n"
		"  --decode            decode the played segments (off in headless mode)\n"
		"  --tracker           this peer also serves as a tracker\n"
		"  --no-coding         send plain chunks instead of coded blocks\n"
		"  --layers 1          source: one-layer encode instead of the layered one\n"
		"  --buffer-ms N       playout buffer after a segment's capture (default 1800)\n"
		"  --seed N            random seed (peer id, coefficients)\n"
		"  --log-level LEVEL   err, warn (default), info or debug\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"See layercast(1).\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "layercast: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(see layercast --help)\n");
	va_end(ap);
	return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* "host:port", "[v6]:port" or ":port". */
static bool parse_addr(const char *s, char *host, size_t hcap, unsigned long *port)
{
	const char *c = strrchr(s, ':');
	if (!c || !parse_uint(c + 1, 65535, port))
		return false;
	const char *h = s;
	size_t n = (size_t)(c - s);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= hcap)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	return true;
}

static double now_s(void) { return (double)lc_now_us() / 1e6; }

static void status_line(const struct engine_stats *st)
{
	fprintf(stderr,
		"layercast: %s t=%.0fs nbrs %u level %d/%d cont %.3f stalls %llu lag p50 %.0f ms "
		"up %.0f kbps down %.0f kbps%s\n",
		st->source ? "source" : "peer", st->uptime_s, st->neighbours, st->playing_level,
		st->level, st->continuity, (unsigned long long)st->stalls, st->lag_ms_p50,
		st->upload_kbps_now, st->download_kbps_now,
		st->source ? "" : (st->started ? "" : " (buffering)"));
}

enum {
	OPT_HEADLESS = 256, OPT_LISTEN, OPT_INPUT, OPT_SIZE, OPT_FPS, OPT_UP, OPT_DOWN,
	OPT_MAXLAYER, OPT_DURATION, OPT_DECODE, OPT_TRACKER, OPT_NOCODING, OPT_LAYERS, OPT_SEED,
	OPT_LOGLEVEL, OPT_BUFFER, OPT_ENFORCE, OPT_NOVIDEO, OPT_RELAYS,
};

static int run_demo(struct app *a, const struct engine_config *cfg);
void app_block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int run_headless(struct engine_config *cfg_in, double duration);

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "headless", no_argument, NULL, OPT_HEADLESS },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "input", required_argument, NULL, OPT_INPUT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "fps", required_argument, NULL, OPT_FPS },
		{ "upload-kbps", required_argument, NULL, OPT_UP },
		{ "download-kbps", required_argument, NULL, OPT_DOWN },
		{ "max-layer", required_argument, NULL, OPT_MAXLAYER },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "decode", no_argument, NULL, OPT_DECODE },
		{ "tracker", no_argument, NULL, OPT_TRACKER },
		{ "no-coding", no_argument, NULL, OPT_NOCODING },
		{ "layers", required_argument, NULL, OPT_LAYERS },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "buffer-ms", required_argument, NULL, OPT_BUFFER },
		{ "enforce-download", no_argument, NULL, OPT_ENFORCE },
		{ "no-video", no_argument, NULL, OPT_NOVIDEO },
		{ "relays", required_argument, NULL, OPT_RELAYS },
		{ NULL, 0, NULL, 0 },
	};
	struct engine_config cfg;
	engine_config_default(&cfg);
	bool headless = false, source_only = false, relays_set = false;
	struct app app = { .video = true, .demo_relays = 3 };
	double duration = 0;
	char listen_host[256] = "", join_host[256] = "";
	unsigned long v;
	int c;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("layercast %s\n", LC_VERSION);
			return 0;
		case OPT_HEADLESS:
			headless = true;
			break;
		case OPT_LISTEN:
			if (!parse_addr(optarg, listen_host, sizeof listen_host, &v))
				return bad("--listen wants ADDR:PORT, not '%s'", optarg);
			cfg.listen_port = (int)v;
			break;
		case OPT_INPUT:
			source_only = true;
			if (!strcmp(optarg, "pattern")) {
				cfg.input = ENGINE_INPUT_PATTERN;
			} else {
				cfg.input = ENGINE_INPUT_Y4M;
				cfg.input_path = optarg;
			}
			break;
		case OPT_SIZE: {
			int w, h, n = 0;
			source_only = true;
			if (sscanf(optarg, "%dx%d%n", &w, &h, &n) != 2 || optarg[n] || w < 16 ||
			    h < 16 || w > 16384 || h > 16384 || (w & 1) || (h & 1))
				return bad("--size wants WxH (even, 16..16384), not '%s'", optarg);
			cfg.width = w;
			cfg.height = h;
			break;
		}
		case OPT_FPS:
			source_only = true;
			if (!parse_uint(optarg, 120, &v) || !v)
				return bad("--fps wants 1..120, not '%s'", optarg);
			cfg.fps = (int)v;
			break;
		case OPT_UP:
			if (!parse_uint(optarg, 10000000, &v))
				return bad("--upload-kbps wants a number of kbit/s, not '%s'", optarg);
			cfg.up_kbps = (uint32_t)v;
			break;
		case OPT_DOWN:
			if (!parse_uint(optarg, 10000000, &v))
				return bad("--download-kbps wants a number of kbit/s, not '%s'", optarg);
			cfg.down_kbps = (uint32_t)v;
			break;
		case OPT_MAXLAYER:
			if (!parse_uint(optarg, 7, &v))
				return bad("--max-layer wants 0..7, not '%s'", optarg);
			cfg.max_layer = (int)v;
			break;
		case OPT_DURATION: {
			char *end;
			duration = strtod(optarg, &end);
			if (*end || !(duration > 0) || duration > 1e7)
				return bad("--duration wants a positive number of seconds, not '%s'",
					   optarg);
			break;
		}
		case OPT_DECODE:
			cfg.decode = true;
			break;
		case OPT_ENFORCE:
			cfg.enforce_download = true;
			break;
		case OPT_NOVIDEO:
			app.video = false;
			break;
		case OPT_RELAYS:
			if (!parse_uint(optarg, APP_DEMO_RELAYS_MAX, &v))
				return bad("--relays wants 0..%d, not '%s'", APP_DEMO_RELAYS_MAX, optarg);
			app.demo_relays = (int)v;
			relays_set = true;
			break;
		case OPT_TRACKER:
			cfg.tracker = true;
			break;
		case OPT_NOCODING:
			cfg.no_coding = true;
			break;
		case OPT_LAYERS:
			source_only = true;
			if (strcmp(optarg, "1"))
				return bad("--layers: only 1 (a single-layer encode) is supported, not "
					   "'%s'", optarg);
			cfg.single_layer = true;
			break;
		case OPT_SEED:
			if (!parse_uint(optarg, ULONG_MAX, &v) || !v)
				return bad("--seed wants a positive number, not '%s'", optarg);
			cfg.seed = v;
			break;
		case OPT_LOGLEVEL:
			if (!strcmp(optarg, "err"))
				lc_log_set_level(LC_LOG_ERR);
			else if (!strcmp(optarg, "warn"))
				lc_log_set_level(LC_LOG_WARN);
			else if (!strcmp(optarg, "info"))
				lc_log_set_level(LC_LOG_INFO);
			else if (!strcmp(optarg, "debug"))
				lc_log_set_level(LC_LOG_DEBUG);
			else
				return bad("--log-level wants err, warn, info or debug, not '%s'",
					   optarg);
			break;
		case OPT_BUFFER:
			if (!parse_uint(optarg, 60000, &v) || !v)
				return bad("--buffer-ms wants 1..60000, not '%s'", optarg);
			cfg.buffer_us = (int64_t)v * 1000;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stdout);
		return 0;
	}
	const char *cmd = argv[optind++];
	if (relays_set && strcmp(cmd, "demo"))
		return bad("--relays is a demo option");
	if (!strcmp(cmd, "demo")) {
		if (headless)
			return bad("the demo is interactive: no --headless");
		app.demo = true;
	} else if (!strcmp(cmd, "source")) {
		cfg.source = true;
	} else if (!strcmp(cmd, "join")) {
		if (optind >= argc)
			return bad("%s needs HOST:PORT", "join");
		if (!parse_addr(argv[optind], join_host, sizeof join_host, &v) || !v ||
		    !join_host[0])
			return bad("join wants HOST:PORT, not '%s'", argv[optind]);
		optind++;
		cfg.join_host = join_host;
		cfg.join_port = (uint16_t)v;
		if (source_only)
			return bad("%s: --input, --size, --fps and --layers are source options",
				   "join");
	} else {
		return bad("unknown command '%s'", cmd);
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (listen_host[0])
		cfg.listen_host = listen_host;
	if (app.demo)
		return run_demo(&app, &cfg);
	if (!headless) {
		if (duration > 0)
			return bad("--duration is a headless option");
		app.cfg = cfg;
		return app_interactive(&app);
	}
	return run_headless(&cfg, duration);
}

/* The demo: the source takes the scene options, the viewer the others. */
static int run_demo(struct app *a, const struct engine_config *cfg)
{
	engine_config_default(&a->source);
	a->source.source = true;
	a->source.listen_host = "127.0.0.1";
	a->source.width = cfg->width;
	a->source.height = cfg->height;
	a->source.fps = cfg->fps;
	a->source.input = cfg->input;
	a->source.input_path = cfg->input_path;
	a->source.single_layer = cfg->single_layer;
	a->source.no_coding = cfg->no_coding;
	a->source.up_kbps = 4000;
	a->cfg = *cfg;
	a->cfg.width = a->cfg.height = 0; /* fps stays: it sizes the frame queue */
	a->cfg.input_path = NULL;
	a->cfg.single_layer = false;
	if (!a->cfg.listen_host)
		a->cfg.listen_host = "127.0.0.1";
	if (!a->cfg.up_kbps)
		a->cfg.up_kbps = 1000;
	return app_interactive(a);
}

static int run_headless(struct engine_config *cfg_in, double duration)
{
	struct engine_config cfg = *cfg_in;

	/* SIGINT/SIGTERM are taken by sigtimedwait below. */
	sigset_t sigs;
	app_block_stop_signals(&sigs);

	struct engine *e;
	char err[256];
	int rc = engine_start(&cfg, &e, err, sizeof err);
	if (rc) {
		fprintf(stderr, "layercast: %s\n", err);
		return rc == LC_EINVAL ? 2 : 1;
	}
	fprintf(stderr, "layercast: %s listening on port %d\n", cfg.source ? "source" : "peer",
		engine_port(e));

	struct engine_stats *st = calloc(1, sizeof *st);
	if (!st) {
		engine_free(e);
		return 1;
	}
	double t0 = now_s(), next_status = t0 + 5;
	bool died = false;
	for (;;) {
		double t = now_s();
		double wait = 0.5;
		if (duration > 0 && t0 + duration - t < wait)
			wait = t0 + duration - t;
		if (wait < 0)
			wait = 0;
		struct timespec ts = { .tv_sec = (time_t)wait,
				       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (engine_wait(e, 0)) {
			died = true;
			break;
		}
		t = now_s();
		if (duration > 0 && t >= t0 + duration)
			break;
		if (t >= next_status) {
			engine_snapshot(e, st);
			status_line(st);
			next_status = t + 5;
		}
	}
	engine_command(e, ENGINE_CMD_QUIT, 0);
	if (!engine_wait(e, 10))
		fprintf(stderr, "layercast: the engine did not stop within 10 s\n");
	engine_snapshot(e, st);
	status_line(st);
	struct lc_buf out;
	lc_buf_init(&out);
	if (!engine_stats_json(st, &out) && !lc_buf_append(&out, "\n", 1))
		fwrite(out.data, 1, out.len, stdout);
	fflush(stdout);
	lc_buf_free(&out);
	free(st);
	engine_free(e);
	if (died) {
		fprintf(stderr, "layercast: the engine stopped on its own\n");
		return 1;
	}
	return 0;
}
