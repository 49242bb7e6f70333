/*
 * sdl: the video window (the only module that includes SDL).
 *
 * One resizable SDL2 window with a renderer (accelerated when there is one,
 * software otherwise, so that it also works on a bare X server such as
 * Xvfb). Every call is made from the UI thread and returns at once: events
 * are pumped without waiting, the renderer never waits for vsync.
 *
 * Pictures. Decoded I420 frames go into one streaming YUV texture (IYUV,
 * recreated when the frame size changes), drawn scaled to the window with
 * the aspect ratio kept (black bars left/right or top/bottom). The window
 * opens at 640x360, black until the first frame.
 *
 * Window size. The window follows the frame size: when a frame of a new
 * size is shown, the window is set to that size (so capping the layer at
 * the base layer shrinks it to the base layer's size), as long as the user
 * has not resized it by hand. A resize to any size other than the one the
 * window was last given counts as by hand (this includes a window manager
 * that refused the size); from then on the window keeps its size and the
 * picture is scaled into it. Fullscreen (f, SDL_WINDOW_FULLSCREEN_DESKTOP)
 * never changes the windowed size.
 *
 * Pacing. Frames arrive in bursts (a whole segment is decoded when it is
 * played) and are queued (at most WINDOW_QUEUE frames; the oldest is
 * dropped when it is full). Each carries its capture wall-clock time
 * wall_us; its arrival time is the now of the first window_present after
 * window_push. The display delay D is a slowly decaying maximum of
 * (arrival - wall_us) over the frames (it falls by 1 % of the elapsed
 * time and jumps up at once), and frame i is due at wall_us + D, but never
 * later than WINDOW_MAX_WAIT_US after its arrival. The first frame of a
 * burst thus shows as it arrives and the others follow at the capture
 * cadence; when the display falls behind, only the newest due frame is
 * shown and the older due ones are dropped.
 *
 * On-screen display: a small translucent box in the bottom-right corner with
 * the layer and size of the picture shown (the caller's figures before the
 * first frame), the frame rate, the buffer and the lag, drawn with a
 * built-in 5x7 font as filled rectangles. On by default; o toggles it.
 *
 * Keys: f (fullscreen toggle), o (OSD toggle) and Escape (leave
 * fullscreen) are handled here; every other printable key is returned by
 * window_poll as its ASCII character, so the caller treats it like a
 * terminal key. Closing the window only hides it (window_show brings it
 * back); it is not a quit. SDL's own SIGINT/SIGTERM handlers are not
 * installed: signals belong to the program.
 */
#ifndef LC_UI_SDL_WINDOW_H
#define LC_UI_SDL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "video/video.h"

#define WINDOW_QUEUE 64                 /* frames waiting to be shown */
#define WINDOW_MAX_WAIT_US 2000000      /* a queued frame waits at most this */

struct window;

/* The figures of the on-screen display (layer < 0: none yet). */
struct window_osd {
	int layer;
	int width, height;
	double fps;
	double buffer_ms;
	double lag_ms;
};

/*
 * Initialise SDL video and open the window (640x360, black, shown).
 * Returns 0, or LC_EIO with a one-line reason in err (e.g. no display).
 */
int window_open(struct window **out, const char *title, char *err, size_t errlen);
/*
 * Queue a decoded frame for paced display. The frame moves into the window:
 * f is zeroed (its pixels are copied first when f does not own them).
 */
void window_push(struct window *w, struct video_frame *f);
/*
 * Handle pending window events without waiting. Returns the next key typed
 * in the window that is not handled here, as ASCII, or 0 when there is none
 * left (call it until it returns 0).
 */
int window_poll(struct window *w);
/*
 * Show the newest frame due at now_wall_us (wall clock, us since the
 * epoch) with the on-screen display (osd NULL: none). Draws only when the
 * picture, the window or the displayed figures changed.
 */
void window_present(struct window *w, int64_t now_wall_us, const struct window_osd *osd);
/* Show or hide the window (a hidden window still drops its due frames). */
void window_show(struct window *w, bool on);
bool window_shown(const struct window *w);
/* Close the window, free the queued frames and shut SDL video down. */
void window_close(struct window *w);

#endif
