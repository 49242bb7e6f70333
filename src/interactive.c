/*
 * The interactive peer: the engine on its own thread, the dashboard and the
 * video window on this (the main) thread. The loop waits at most 10 ms for
 * a key, takes the decoded frames the engine has ready, presents the one
 * that is due, and redraws the dashboard from a fresh snapshot 5 times a
 * second. Nothing here blocks the engine: commands go through its queue,
 * figures come from its snapshot, frames from the decoder's queue.
 */
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/core.h"
#include "sdl/window.h"
#include "tui/tui.h"
#include "video/video.h"

#define DRAW_PERIOD_US 200000

struct run {
	struct app *app;
	sigset_t stop_signals;   /* SIGINT, SIGTERM: blocked, polled */
	FILE *log;               /* the log, away from the dashboard's terminal */
	char log_path[160];
	struct engine *viewer;
	struct engine *others[1 + APP_DEMO_RELAYS_MAX]; /* demo: source, relays */
	int n_others;
	struct tui *tui;
	struct window *win;
	struct engine_stats *st;
	char tracker[300];
	bool quit;
	int status;
};

static void stop_all(struct run *r)
{
	if (r->viewer)
		engine_command(r->viewer, ENGINE_CMD_QUIT, 0);
	for (int i = 0; i < r->n_others; i++)
		engine_command(r->others[i], ENGINE_CMD_QUIT, 0);
	if (r->viewer)
		engine_free(r->viewer);
	for (int i = 0; i < r->n_others; i++)
		engine_free(r->others[i]);
	r->viewer = NULL;
	r->n_others = 0;
}

/* The demo's swarm: the source (the tracker) and relays with upload caps
 * from plenty to below the base layer's rate. */
static int start_demo(struct run *r, char *err, size_t errlen)
{
	static const uint32_t relay_up[] = { 2000, 700, 150, 1200, 400, 3000, 250, 900 };
	struct app *a = r->app;
	int rc = engine_start(&a->source, &r->others[r->n_others], err, errlen);
	if (rc)
		return rc;
	struct engine *src = r->others[r->n_others++];
	int port = engine_port(src);
	snprintf(r->tracker, sizeof r->tracker, "127.0.0.1:%d", port);
	for (int i = 0; i < a->demo_relays && i < APP_DEMO_RELAYS_MAX; i++) {
		struct engine_config c;
		engine_config_default(&c);
		c.listen_host = "127.0.0.1";
		c.join_host = "127.0.0.1";
		c.join_port = (uint16_t)port;
		c.up_kbps = relay_up[i];
		rc = engine_start(&c, &r->others[r->n_others], err, errlen);
		if (rc)
			return rc;
		r->n_others++;
	}
	a->cfg.join_host = "127.0.0.1";
	a->cfg.join_port = (uint16_t)port;
	return 0;
}

static const char *state_of(const struct engine_stats *st)
{
	if (!st->running)
		return "stopped";
	if (st->source)
		return st->joined ? "serving" : "left";
	if (!st->joined)
		return "left";
	if (!st->neighbours)
		return "joining";
	if (!st->started || !st->segments_played)
		return "buffering";
	return st->buffer_ms > 0 ? "playing" : "starving";
}

static int top_layer(const struct engine_stats *st)
{
	return st->nlayers > 0 ? st->nlayers - 1 : WIRE_LAYERS_MAX - 1;
}

static void set_cap(struct run *r, int delta)
{
	const struct engine_stats *st = r->st;
	int top = top_layer(st);
	int cap = st->cap < 0 || st->cap > top ? top : st->cap;
	cap += delta;
	if (cap < 0)
		cap = 0;
	if (cap >= top)
		cap = -1;
	if (engine_command(r->viewer, ENGINE_CMD_SET_CAP, cap))
		return;
	r->st->cap = cap; /* until the next snapshot says so */
	int l = cap < 0 ? top : cap;
	const struct engine_layer_stats *ls = &st->layer[l];
	if (cap < 0)
		tui_message(r->tui, "layer cap: none (up to L%d %dx%d)", l, ls->width, ls->height);
	else
		tui_message(r->tui, "layer cap: L%d (%dx%d)", l, ls->width, ls->height);
}

static void toggle_video(struct run *r)
{
	if (!r->win) {
		tui_message(r->tui, "no video window (%s)",
			    r->app->video ? "it could not open" : "--no-video");
		return;
	}
	window_show(r->win, !window_shown(r->win));
	tui_message(r->tui, "video window %s", window_shown(r->win) ? "shown" : "hidden");
}

static void act(struct run *r, enum tui_action a)
{
	switch (a) {
	case TUI_NONE:
		break;
	case TUI_JOIN:
		if (r->st->joined) {
			tui_message(r->tui, "already in the swarm");
		} else if (!engine_command(r->viewer, ENGINE_CMD_JOIN, 0)) {
			r->st->joined = true;
			tui_message(r->tui, "joining the swarm via %s", r->tracker);
		}
		break;
	case TUI_LEAVE:
		if (!r->st->joined) {
			tui_message(r->tui, "not in the swarm (j joins)");
		} else if (!engine_command(r->viewer, ENGINE_CMD_LEAVE, 0)) {
			r->st->joined = false;
			tui_message(r->tui, "left the swarm: BYE sent to %u neighbours",
				    r->st->neighbours);
		}
		break;
	case TUI_CAP_UP:
		set_cap(r, +1);
		break;
	case TUI_CAP_DOWN:
		set_cap(r, -1);
		break;
	case TUI_TOGGLE_VIDEO:
		toggle_video(r);
		break;
	case TUI_QUIT:
		r->quit = true;
		break;
	}
}

static enum tui_action action_of_key(int key)
{
	switch (key) {
	case 'j': return TUI_JOIN;
	case 'l': return TUI_LEAVE;
	case '+': case '=': return TUI_CAP_UP;
	case '-': return TUI_CAP_DOWN;
	case 'v': return TUI_TOGGLE_VIDEO;
	case 'q': return TUI_QUIT;
	default: return TUI_NONE;
	}
}

/* Move the decoded frames to the window (or drop them when it is closed:
 * the decoder must not wait for a window nobody looks at). */
static void take_frames(struct run *r)
{
	struct video_frame f;
	memset(&f, 0, sizeof f);
	while (engine_pop_frame(r->viewer, &f) == 0) {
		if (r->win && window_shown(r->win))
			window_push(r->win, &f);
		else
			video_frame_free(&f);
	}
	video_frame_free(&f);
}

static void present(struct run *r)
{
	if (!r->win)
		return;
	const struct engine_stats *st = r->st;
	int l = st->playing_level >= 0 && st->playing_level < WIRE_LAYERS_MAX ? st->playing_level
									      : 0;
	struct window_osd osd = {
		.layer = st->started ? st->playing_level : -1,
		.width = st->layer[l].width,
		.height = st->layer[l].height,
		.fps = st->layer[l].fps,
		.buffer_ms = st->buffer_ms,
		.lag_ms = st->lag_ms_p50,
	};
	window_present(r->win, lc_wall_us(), &osd);
}

static void redraw(struct run *r)
{
	engine_snapshot(r->viewer, r->st);
	struct tui_view v = {
		.role = r->st->source ? "source" : r->app->demo ? "viewer" : "peer",
		.state = state_of(r->st),
		.tracker = r->tracker[0] ? r->tracker : NULL,
		.video_shown = r->win && window_shown(r->win),
	};
	tui_update(r->tui, r->st, &v, (double)lc_now_us() / 1e6);
	tui_draw(r->tui);
}

static bool signalled(const struct run *r)
{
	struct timespec zero = { 0, 0 };
	int sig = sigtimedwait(&r->stop_signals, NULL, &zero);
	return sig == SIGINT || sig == SIGTERM;
}

static void loop(struct run *r)
{
	int64_t next_draw = 0;
	while (!r->quit) {
		act(r, tui_poll(r->tui, 10));
		for (int key; r->win && (key = window_poll(r->win));)
			act(r, action_of_key(key));
		if (signalled(r))
			r->quit = true;
		take_frames(r);
		present(r);
		int64_t now = lc_now_us();
		if (now >= next_draw) {
			redraw(r);
			next_draw = now + DRAW_PERIOD_US;
			if (!r->st->running) {
				r->status = 1; /* the engine stopped on its own */
				break;
			}
		}
	}
}

/* While the dashboard owns the terminal, the log goes to a file (unless
 * standard error was redirected already). */
static void log_away(struct run *r)
{
	if (!isatty(STDERR_FILENO))
		return;
	const char *dir = getenv("TMPDIR");
	snprintf(r->log_path, sizeof r->log_path, "%s/layercast-%d.log",
		 dir && *dir ? dir : "/tmp", (int)getpid());
	r->log = fopen(r->log_path, "a");
	if (!r->log) {
		lc_log_set_level(LC_LOG_ERR); /* fewer lines across the dashboard */
		r->log_path[0] = '\0';
		return;
	}
	setvbuf(r->log, NULL, _IOLBF, 0);
	lc_log_set_file(r->log);
}

static void log_back(struct run *r)
{
	if (!r->log)
		return;
	lc_log_set_file(NULL);
	bool empty = ftell(r->log) == 0;
	fclose(r->log);
	r->log = NULL;
	if (empty)
		unlink(r->log_path);
}

int app_interactive(struct app *a)
{
	struct run r = { .app = a };
	char err[256] = "";
	r.st = calloc(1, sizeof *r.st);
	if (!r.st)
		return 1;
	setlocale(LC_ALL, "");
	/* Before any thread starts: the terminal, and SIGINT/SIGTERM taken by
	 * the loop (every thread inherits the mask). */
	if (tui_open(&r.tui, err, sizeof err)) {
		fprintf(stderr, "layercast: %s (use --headless without a terminal)\n", err);
		free(r.st);
		return 2;
	}
	log_away(&r);
	app_block_stop_signals(&r.stop_signals);

	a->cfg.decode = a->cfg.display = a->video && !a->cfg.source;
	int rc = a->demo ? start_demo(&r, err, sizeof err) : 0;
	if (!rc)
		rc = engine_start(&a->cfg, &r.viewer, err, sizeof err);
	if (rc) {
		stop_all(&r);
		tui_close(r.tui);
		log_back(&r);
		fprintf(stderr, "layercast: %s\n", err);
		free(r.st);
		return rc == LC_EINVAL ? 2 : 1;
	}
	if (!a->demo && a->cfg.join_host)
		snprintf(r.tracker, sizeof r.tracker, "%s:%u", a->cfg.join_host,
			 (unsigned)a->cfg.join_port);
	tui_message(r.tui, "%s on port %d; ? shows the keys%s%s", a->demo ? "demo viewer" : "peer",
		    engine_port(r.viewer), r.log ? "; log: " : "", r.log ? r.log_path : "");
	if (a->video && !a->cfg.source) {
		char title[64];
		snprintf(title, sizeof title, "layercast %s", a->demo ? "demo" : "viewer");
		if (window_open(&r.win, title, err, sizeof err)) {
			tui_message(r.tui, "no video window: %s", err);
			LC_WARN("ui", "no video window: %s", err);
		}
	}
	engine_snapshot(r.viewer, r.st);
	loop(&r);
	if (r.win)
		window_close(r.win);
	stop_all(&r);
	tui_close(r.tui);
	log_back(&r);
	free(r.st);
	return r.status;
}
