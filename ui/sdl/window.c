/*
 * The SDL2 video window: a paced frame queue, one YUV texture, an
 * on-screen display drawn with rectangles. See window.h for the design.
 */
#include <SDL.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/video.h"
#include "window.h"

#define START_W 640
#define START_H 360
#define DELAY_DECAY 50          /* D falls by elapsed / DELAY_DECAY (2 %) */
#define OSD_LINES 4
#define OSD_COLS 16

struct queued {
	struct video_frame f;
	bool stamped;
	int64_t arrival_us;     /* wall clock of the first present after push */
};

struct window {
	SDL_Window *win;
	SDL_Renderer *ren;
	SDL_Texture *tex;
	int tex_w, tex_h;       /* texture size, 0 before the first frame */
	int tex_layer;          /* layer of the frame in the texture */
	int want_w, want_h;     /* the size the window was last given */
	bool shown, fullscreen, osd_on, dirty, user_sized;

	struct queued q[WINDOW_QUEUE];   /* ring: head, n */
	int head, n;
	bool have_delay;
	int64_t delay_us;       /* D: due = wall_us + D */
	int64_t last_now_us;

	char osd[OSD_LINES][OSD_COLS + 1];   /* text last drawn ("" : none) */
	uint64_t frames_shown, frames_dropped;
};

/* ---- font --------------------------------------------------------------- */

/* One text line at (x, y), each font pixel s x s; a row's runs of set bits
 * become one rectangle each. */
static void draw_text(SDL_Renderer *ren, int x, int y, int s, const char *text)
{
	SDL_Rect r[OSD_COLS * 7 * 3];
	int n = 0;

	for (; *text && n + 7 * 3 <= (int)(sizeof r / sizeof r[0]); text++, x += 6 * s) {
		const uint8_t *g = video_glyph(*text);
		for (int row = 0; g && row < 7; row++) {
			for (int col = 0; col < 5; col++) {
				int run = 0;
				while (col + run < 5 && (g[row] & (0x10 >> (col + run))))
					run++;
				if (run)
					r[n++] = (SDL_Rect){ x + col * s, y + row * s, run * s, s };
				col += run;
			}
		}
	}
	SDL_RenderFillRects(ren, r, n);
}

/* ---- on-screen display -------------------------------------------------- */

/* Layer and size are the picture's own once there is one: the caller's
 * figures come from a snapshot that may be a fraction of a second older. */
static void osd_format(const struct window *w, char out[OSD_LINES][OSD_COLS + 1],
		       const struct window_osd *o)
{
	if (w->tex)
		snprintf(out[0], OSD_COLS + 1, "L%d %dX%d", w->tex_layer, w->tex_w, w->tex_h);
	else if (o->layer >= 0)
		snprintf(out[0], OSD_COLS + 1, "L%d %dX%d", o->layer, o->width, o->height);
	else
		snprintf(out[0], OSD_COLS + 1, "L-");
	snprintf(out[1], OSD_COLS + 1, "%.1f FPS", o->fps > 0 ? o->fps : 0.0);
	snprintf(out[2], OSD_COLS + 1, "BUF %.0f MS", o->buffer_ms);
	snprintf(out[3], OSD_COLS + 1, "LAG %.0f MS", o->lag_ms);
}

/* Remember the text to draw; the picture is dirty when it changed. */
static void osd_update(struct window *w, const struct window_osd *o)
{
	char text[OSD_LINES][OSD_COLS + 1] = { "" };

	if (w->osd_on && o)
		osd_format(w, text, o);
	if (memcmp(text, w->osd, sizeof text)) {
		memcpy(w->osd, text, sizeof text);
		w->dirty = true;
	}
}

/* A translucent box in the bottom-right corner (the test scene's clock is
 * on the left), one line per figure. */
static void osd_draw(struct window *w, int out_w, int out_h)
{
	int s = out_h >= 720 ? 3 : out_h >= 300 ? 2 : 1;   /* font pixel size */
	int pad = 3 * s, cols = 0;
	SDL_Rect box;

	if (!w->osd[0][0])
		return;
	for (int i = 0; i < OSD_LINES; i++)
		if ((int)strlen(w->osd[i]) > cols)
			cols = (int)strlen(w->osd[i]);
	box.w = 2 * pad + cols * 6 * s - s;
	box.h = 2 * pad + OSD_LINES * 9 * s - 2 * s;
	box.x = out_w - 4 * s - box.w;
	box.y = out_h - 4 * s - box.h;
	SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_BLEND);
	SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 160);
	SDL_RenderFillRect(w->ren, &box);
	SDL_SetRenderDrawColor(w->ren, 240, 240, 240, 255);
	for (int i = 0; i < OSD_LINES; i++)
		draw_text(w->ren, box.x + pad, box.y + pad + i * 9 * s, s, w->osd[i]);
	SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_NONE);
}

/* ---- drawing ------------------------------------------------------------ */

/* The frame scaled into out_w x out_h, aspect kept, centred. */
static SDL_Rect fit(int fw, int fh, int out_w, int out_h)
{
	SDL_Rect r = { 0, 0, out_w, out_h };

	if ((int64_t)out_w * fh > (int64_t)out_h * fw)
		r.w = (int)((int64_t)fw * out_h / fh);   /* pillarbox */
	else
		r.h = (int)((int64_t)fh * out_w / fw);   /* letterbox */
	r.x = (out_w - r.w) / 2;
	r.y = (out_h - r.h) / 2;
	return r;
}

static void render(struct window *w)
{
	int ow = 0, oh = 0;

	SDL_GetRendererOutputSize(w->ren, &ow, &oh);
	SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 255);
	SDL_RenderClear(w->ren);
	if (w->tex && ow > 0 && oh > 0) {
		SDL_Rect dst = fit(w->tex_w, w->tex_h, ow, oh);
		SDL_RenderCopy(w->ren, w->tex, NULL, &dst);
	}
	osd_draw(w, ow, oh);
	SDL_RenderPresent(w->ren);
	w->dirty = false;
}

/* The window takes the frame's size unless the user has sized it. */
static void follow_frame_size(struct window *w, int fw, int fh)
{
	if (w->user_sized || w->fullscreen || (fw == w->want_w && fh == w->want_h))
		return;
	w->want_w = fw;
	w->want_h = fh;
	SDL_SetWindowSize(w->win, fw, fh);
}

static int upload(struct window *w, const struct video_frame *f)
{
	if (!w->tex || f->width != w->tex_w || f->height != w->tex_h) {
		if (w->tex)
			SDL_DestroyTexture(w->tex);
		w->tex_w = w->tex_h = 0;
		w->tex = SDL_CreateTexture(w->ren, SDL_PIXELFORMAT_IYUV, SDL_TEXTUREACCESS_STREAMING,
					   f->width, f->height);
		if (!w->tex) {
			LC_WARN("sdl", "texture %dx%d: %s", f->width, f->height, SDL_GetError());
			return LC_EIO;
		}
		w->tex_w = f->width;
		w->tex_h = f->height;
		follow_frame_size(w, f->width, f->height);
	}
	if (SDL_UpdateYUVTexture(w->tex, NULL, f->plane[0], f->stride[0], f->plane[1],
				 f->stride[1], f->plane[2], f->stride[2])) {
		LC_WARN("sdl", "texture update: %s", SDL_GetError());
		return LC_EIO;
	}
	w->tex_layer = f->layer;
	w->dirty = true;
	return 0;
}

/* ---- pacing ------------------------------------------------------------- */

static struct queued *q_at(struct window *w, int i)
{
	return &w->q[(w->head + i) % WINDOW_QUEUE];
}

static void q_drop_head(struct window *w)
{
	video_frame_free(&w->q[w->head].f);
	w->head = (w->head + 1) % WINDOW_QUEUE;
	w->n--;
}

/*
 * Stamp the frames pushed since the last present with their arrival and
 * fold the largest lag among them into D (which otherwise decays).
 */
static void pace_stamp(struct window *w, int64_t now)
{
	bool any = false;
	int64_t lag = 0;

	if (w->have_delay && now > w->last_now_us)
		w->delay_us -= (now - w->last_now_us) / DELAY_DECAY;
	w->last_now_us = now;
	for (int i = 0; i < w->n; i++) {
		struct queued *e = q_at(w, i);
		if (e->stamped)
			continue;
		e->stamped = true;
		e->arrival_us = now;
		if (!any || now - e->f.wall_us > lag)
			lag = now - e->f.wall_us;
		any = true;
	}
	/* A lag far below D (the stream restarted, the clocks moved): start
	 * again from it rather than hold every frame WINDOW_MAX_WAIT_US. */
	if (any && (!w->have_delay || lag > w->delay_us ||
		    w->delay_us - lag > WINDOW_MAX_WAIT_US)) {
		w->delay_us = lag;
		w->have_delay = true;
	}
}

static int64_t due_us(const struct window *w, const struct queued *e)
{
	int64_t due = e->f.wall_us + w->delay_us;

	return due < e->arrival_us + WINDOW_MAX_WAIT_US ? due : e->arrival_us + WINDOW_MAX_WAIT_US;
}

/* Show the newest due frame (uploaded when the window is shown); the older
 * due ones are dropped. */
static void pace_take(struct window *w, int64_t now)
{
	int due = 0;

	while (due < w->n && due_us(w, q_at(w, due)) <= now)
		due++;
	if (!due)
		return;
	w->frames_dropped += (uint64_t)due - 1;
	while (due-- > 1)
		q_drop_head(w);
	if (w->shown && upload(w, &w->q[w->head].f) == 0)
		w->frames_shown++;
	else
		w->frames_dropped++;
	q_drop_head(w);
}

/* ---- events ------------------------------------------------------------- */

static void toggle_fullscreen(struct window *w)
{
	Uint32 flags = w->fullscreen ? 0 : SDL_WINDOW_FULLSCREEN_DESKTOP;

	if (SDL_SetWindowFullscreen(w->win, flags)) {
		LC_WARN("sdl", "fullscreen: %s", SDL_GetError());
		return;
	}
	w->fullscreen = !w->fullscreen;
	w->dirty = true;
}

static void on_window_event(struct window *w, const SDL_WindowEvent *e)
{
	switch (e->event) {
	case SDL_WINDOWEVENT_CLOSE:
		window_show(w, false);
		break;
	case SDL_WINDOWEVENT_RESIZED:
		/* Our own SDL_SetWindowSize reports the size it asked for. */
		if (!w->fullscreen && (e->data1 != w->want_w || e->data2 != w->want_h))
			w->user_sized = true;
		w->dirty = true;
		break;
	case SDL_WINDOWEVENT_SIZE_CHANGED:
	case SDL_WINDOWEVENT_EXPOSED:
	case SDL_WINDOWEVENT_SHOWN:
	case SDL_WINDOWEVENT_RESTORED:
		w->dirty = true;
		break;
	default:
		break;
	}
}

/* A typed character: handled here (0) or returned to the caller. */
static int on_text(struct window *w, const char *text)
{
	int c = (unsigned char)text[0];

	if (c < 32 || c > 126 || text[1])
		return 0;
	switch (c) {
	case 'f':
	case 'F':
		toggle_fullscreen(w);
		return 0;
	case 'o':
	case 'O':
		w->osd_on = !w->osd_on;
		w->dirty = true;
		return 0;
	default:
		return c;
	}
}

static int on_event(struct window *w, const SDL_Event *ev)
{
	switch (ev->type) {
	case SDL_WINDOWEVENT:
		if (ev->window.windowID == SDL_GetWindowID(w->win))
			on_window_event(w, &ev->window);
		return 0;
	case SDL_TEXTINPUT:
		return on_text(w, ev->text.text);
	case SDL_KEYDOWN:
		if (ev->key.keysym.sym == SDLK_ESCAPE && w->fullscreen)
			toggle_fullscreen(w);
		return 0;
	default:
		return 0;   /* SDL_QUIT included: closing hides the window */
	}
}

int window_poll(struct window *w)
{
	SDL_Event ev;

	while (SDL_PollEvent(&ev)) {
		int key = on_event(w, &ev);
		if (key)
			return key;
	}
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

/* SDL's messages go to the project's log (the terminal may be the
 * dashboard's). */
static void sdl_log(void *arg, int category, SDL_LogPriority prio, const char *msg)
{
	(void)arg;
	(void)category;
	lc_log(prio >= SDL_LOG_PRIORITY_ERROR ? LC_LOG_ERR :
	       prio >= SDL_LOG_PRIORITY_WARN ? LC_LOG_WARN : LC_LOG_DEBUG, "sdl", "%s", msg);
}

static int open_renderer(struct window *w, char *err, size_t errlen)
{
	w->ren = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_ACCELERATED);
	if (!w->ren) {
		LC_INFO("sdl", "no accelerated renderer (%s): software", SDL_GetError());
		w->ren = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_SOFTWARE);
	}
	if (!w->ren) {
		snprintf(err, errlen, "sdl: renderer: %s", SDL_GetError());
		return LC_EIO;
	}
	return 0;
}

/*
 * Only a real display: SDL would otherwise fall back to its offscreen
 * driver and "open" a window nobody sees. SDL_VIDEODRIVER still overrides.
 */
static int pick_driver(char *err, size_t errlen)
{
	const char *wl = getenv("WAYLAND_DISPLAY"), *x = getenv("DISPLAY");

	if (getenv("SDL_VIDEODRIVER"))
		return 0;
	if (wl && *wl)
		SDL_SetHint(SDL_HINT_VIDEODRIVER, "wayland,x11");
	else if (x && *x)
		SDL_SetHint(SDL_HINT_VIDEODRIVER, "x11");
	else {
		snprintf(err, errlen, "sdl: no display for the video window "
			 "(DISPLAY and WAYLAND_DISPLAY are not set)");
		return LC_EIO;
	}
	return 0;
}

static int open_sdl(struct window *w, const char *title, char *err, size_t errlen)
{
	int rc = pick_driver(err, errlen);

	if (rc)
		return rc;
	SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	SDL_SetHint(SDL_HINT_QUIT_ON_LAST_WINDOW_CLOSE, "0");
	SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
	SDL_LogSetOutputFunction(sdl_log, NULL);
	if (SDL_InitSubSystem(SDL_INIT_VIDEO)) {
		const char *x = getenv("DISPLAY");
		snprintf(err, errlen, "sdl: no display for the video window (DISPLAY=%s: %s)",
			 x ? x : "", SDL_GetError());
		return LC_EIO;
	}
	w->win = SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
				  START_W, START_H, SDL_WINDOW_RESIZABLE | SDL_WINDOW_SHOWN);
	if (!w->win) {
		snprintf(err, errlen, "sdl: window: %s", SDL_GetError());
		return LC_EIO;
	}
	return open_renderer(w, err, errlen);
}

int window_open(struct window **out, const char *title, char *err, size_t errlen)
{
	struct window *w = calloc(1, sizeof *w);
	int rc;

	*out = NULL;
	if (!w) {
		snprintf(err, errlen, "sdl: out of memory");
		return LC_ENOMEM;
	}
	w->want_w = START_W;
	w->want_h = START_H;
	w->shown = w->osd_on = w->dirty = true;
	rc = open_sdl(w, title ? title : "layercast", err, errlen);
	if (rc) {
		window_close(w);
		return rc;
	}
	render(w);
	*out = w;
	return 0;
}

void window_push(struct window *w, struct video_frame *f)
{
	struct queued *e;

	if (f->width <= 0 || f->height <= 0 || !f->plane[0]) {
		video_frame_free(f);
		memset(f, 0, sizeof *f);
		return;
	}
	if (w->n == WINDOW_QUEUE) {
		q_drop_head(w);
		w->frames_dropped++;
	}
	e = &w->q[(w->head + w->n) % WINDOW_QUEUE];
	memset(e, 0, sizeof *e);
	if (f->mem) {
		e->f = *f;
	} else if (video_frame_copy(&e->f, f)) {
		w->frames_dropped++;
		return;
	}
	w->n++;
	memset(f, 0, sizeof *f);
}

void window_present(struct window *w, int64_t now_wall_us, const struct window_osd *osd)
{
	pace_stamp(w, now_wall_us);
	pace_take(w, now_wall_us);
	if (!w->shown)
		return;
	osd_update(w, osd);
	if (w->dirty)
		render(w);
}

void window_show(struct window *w, bool on)
{
	if (on == w->shown)
		return;
	w->shown = on;
	if (on) {
		SDL_ShowWindow(w->win);
		w->dirty = true;
	} else {
		SDL_HideWindow(w->win);
	}
}

bool window_shown(const struct window *w)
{
	return w->shown;
}

void window_close(struct window *w)
{
	if (!w)
		return;
	while (w->n)
		q_drop_head(w);
	LC_INFO("sdl", "frames shown %llu, dropped %llu",
		(unsigned long long)w->frames_shown, (unsigned long long)w->frames_dropped);
	if (w->tex)
		SDL_DestroyTexture(w->tex);
	if (w->ren)
		SDL_DestroyRenderer(w->ren);
	if (w->win)
		SDL_DestroyWindow(w->win);
	SDL_Quit();
	free(w);
}
