/*
 * The layercast program's run modes, shared by main.c (the command line)
 * and interactive.c (the dashboard and the video window):
 *
 *   headless     one engine; a status line every few seconds on stderr,
 *                one JSON report on stdout at exit (main.c)
 *   interactive  one engine on the ncurses dashboard, its video in the SDL
 *                window (interactive.c), keys drive it
 *   demo         a source on the built-in test scene, a few local relays
 *                with different upload caps, and one interactive viewer
 */
#ifndef LC_APP_H
#define LC_APP_H

#include <signal.h>
#include <stdbool.h>

#include "engine/engine.h"

#define APP_DEMO_RELAYS_MAX 8

struct app {
	struct engine_config cfg;   /* the interactive peer (the demo's viewer) */
	bool video;                 /* open the video window */
	bool demo;
	int demo_relays;            /* demo: local relays besides the viewer */
	struct engine_config source;/* demo: the source's configuration */
};

/* Run the dashboard (and window) until q, SIGINT or SIGTERM. Returns the
 * process exit status: 0 on a clean quit, 1 if a peer failed to start or
 * stopped on its own, 2 if there is no terminal to draw on. */
int app_interactive(struct app *a);

/* SIGINT and SIGTERM into *set, blocked in the calling thread (call it
 * before any thread starts: threads inherit the mask) to be taken with
 * sigtimedwait; SIGPIPE ignored. */
void app_block_stop_signals(sigset_t *set);

#endif
