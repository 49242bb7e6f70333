/*
 * tui: the ncurses dashboard (the only module that includes curses).
 *
 * Layout, top to bottom, on any terminal of at least 80x24 (larger ones get
 * more peer rows, wider histories and extra columns):
 *
 *   header     stream, own id and address, role, state; layer playing and
 *              its picture size, buffer, continuity, lag, up/down rates
 *   peers      one row per neighbour: id, address, dialled (out) or
 *              accepted (in), RTT, up and down kbit/s on the link, the
 *              layers it takes from us, the share of its blocks that were
 *              innovative, its state; sorted by a column (s cycles it),
 *              scrolled with the arrows, PgUp/PgDn, Home/End
 *   layers     per layer: stream rate, rate received, picture size, and a
 *              sparkline of the received rate over the last minutes
 *   churn      swarm size, joins, leaves and failures per minute, and a
 *              sparkline of the neighbour count
 *   status     the latest message
 *
 * ? toggles a help overlay listing every key. Redraws erase the virtual
 * screen and send only the differences (wnoutrefresh + doupdate), so the
 * dashboard never flickers. Colours are used when the terminal has them;
 * sparklines use block characters in a UTF-8 locale and an ASCII ramp
 * otherwise (the caller runs setlocale(LC_ALL, "") first).
 *
 * History: tui_update keeps one sample per second (the mean of the
 * snapshots within it) of each layer's received rate and of the
 * neighbour count, TUI_HISTORY samples deep.
 */
#ifndef LC_UI_TUI_H
#define LC_UI_TUI_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"

#define TUI_HISTORY 240

struct tui;

/* What the main loop knows beyond the snapshot. */
struct tui_view {
	const char *role;     /* "source", "viewer", "peer" */
	const char *state;    /* "joining", "playing", "left", ... */
	const char *tracker;  /* host:port dialled by j (NULL: none) */
	bool video_shown;     /* the video window is shown */
};

enum tui_action { TUI_NONE, TUI_JOIN, TUI_LEAVE, TUI_CAP_UP, TUI_CAP_DOWN, TUI_TOGGLE_VIDEO, TUI_QUIT };

/* Take over the terminal. LC_EIO with a reason in err when standard input
 * or output is not a terminal (or curses cannot start on it). */
int tui_open(struct tui **out, char *err, size_t errlen);
/* A new snapshot (copied) and view; now_s drives the histories. */
void tui_update(struct tui *t, const struct engine_stats *st, const struct tui_view *v,
		double now_s);
void tui_draw(struct tui *t);
/* Wait at most timeout_ms for a key. Sorting, scrolling, help and resizes
 * are handled here (and redrawn); the keys for the caller come back. */
enum tui_action tui_poll(struct tui *t, int timeout_ms);
void tui_message(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Give the terminal back. */
void tui_close(struct tui *t);

#endif
