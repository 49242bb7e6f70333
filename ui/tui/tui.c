/* The ncurses dashboard: see tui.h. */
#include <curses.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tui/tui.h"

enum sort_col { SORT_ID, SORT_ADDR, SORT_RTT, SORT_UP, SORT_DOWN, SORT_LAYERS, SORT_INNOV, SORT_N };
static const char *const sort_names[SORT_N] = { "id", "address", "rtt", "up", "down", "layers",
						"innov" };

enum { C_HEAD = 1, C_GOOD, C_WARN, C_BAD, C_TITLE, C_DIM };

struct tui {
	SCREEN *scr;
	struct engine_stats *st;
	char role[16], state[16], tracker[64];
	bool video_shown;
	bool utf8, colours, help;
	int sort;
	int scroll;
	int rows_shown;          /* peer rows the last layout had room for */
	char msg[256];
	/* Histories: one sample per second, the mean of its snapshots. */
	float layer_hist[WIRE_LAYERS_MAX][TUI_HISTORY];
	float size_hist[TUI_HISTORY];
	int hist_n, hist_pos;
	double bucket_t;
	double acc_layer[WIRE_LAYERS_MAX], acc_size;
	int acc_n;
};

int tui_open(struct tui **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "the dashboard needs a terminal");
		return LC_EIO;
	}
	struct tui *t = calloc(1, sizeof *t);
	if (!t || !(t->st = calloc(1, sizeof *t->st))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return LC_ENOMEM;
	}
	t->scr = newterm(NULL, stdout, stdin);
	if (!t->scr) {
		snprintf(err, errlen, "cannot start curses on this terminal (TERM=%s)",
			 getenv("TERM") ? getenv("TERM") : "");
		free(t->st);
		free(t);
		return LC_EIO;
	}
	const char *cs = nl_langinfo(CODESET);
	t->utf8 = cs && !strcmp(cs, "UTF-8");
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(C_HEAD, COLOR_WHITE, COLOR_BLUE);
		init_pair(C_GOOD, COLOR_GREEN, -1);
		init_pair(C_WARN, COLOR_YELLOW, -1);
		init_pair(C_BAD, COLOR_RED, -1);
		init_pair(C_TITLE, COLOR_CYAN, -1);
		init_pair(C_DIM, COLOR_BLUE, -1);
		t->colours = true;
	}
	t->st->lag_ms_p50 = -1;
	*out = t;
	return 0;
}

void tui_close(struct tui *t)
{
	if (!t)
		return;
	endwin();
	delscreen(t->scr);
	free(t->st);
	free(t);
}

void tui_message(struct tui *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof t->msg, fmt, ap);
	va_end(ap);
}

/* ---- histories ------------------------------------------------------------ */

static void hist_push(struct tui *t)
{
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		t->layer_hist[l][t->hist_pos] = (float)(t->acc_layer[l] / t->acc_n);
	t->size_hist[t->hist_pos] = (float)(t->acc_size / t->acc_n);
	t->hist_pos = (t->hist_pos + 1) % TUI_HISTORY;
	if (t->hist_n < TUI_HISTORY)
		t->hist_n++;
	memset(t->acc_layer, 0, sizeof t->acc_layer);
	t->acc_size = 0;
	t->acc_n = 0;
}

void tui_update(struct tui *t, const struct engine_stats *st, const struct tui_view *v,
		double now_s)
{
	*t->st = *st;
	snprintf(t->role, sizeof t->role, "%s", v->role ? v->role : "");
	snprintf(t->state, sizeof t->state, "%s", v->state ? v->state : "");
	snprintf(t->tracker, sizeof t->tracker, "%s", v->tracker ? v->tracker : "-");
	t->video_shown = v->video_shown;
	if (!t->bucket_t)
		t->bucket_t = now_s;
	for (int l = 0; l < WIRE_LAYERS_MAX; l++)
		t->acc_layer[l] += st->layer[l].in_kbps;
	t->acc_size += st->neighbours;
	t->acc_n++;
	if (now_s - t->bucket_t >= 1.0) {
		hist_push(t);
		t->bucket_t = now_s;
	}
}

/* ---- drawing helpers -------------------------------------------------------- */

static void attr(struct tui *t, int pair, bool on)
{
	if (!t->colours)
		return;
	if (on)
		attron(COLOR_PAIR(pair));
	else
		attroff(COLOR_PAIR(pair));
}

/* Text clipped to the screen width from column x of row y. */
static void put(int y, int x, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(int y, int x, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (y < 0 || y >= LINES || x >= COLS)
		return;
	mvaddnstr(y, x, buf, COLS - x);
}

/* The newest `width` samples of h (ring of TUI_HISTORY, n valid, next at
 * pos), scaled to their maximum. */
static void sparkline(struct tui *t, int y, int x, int width, const float *h)
{
	static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
					       "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ramp[] = " .:-=+*#";
	if (width <= 0 || y >= LINES)
		return;
	int n = t->hist_n < width ? t->hist_n : width;
	float max = 0;
	for (int i = 0; i < n; i++) {
		float v = h[(t->hist_pos - n + i + TUI_HISTORY) % TUI_HISTORY];
		if (v > max)
			max = v;
	}
	move(y, x);
	for (int i = 0; i < width - n; i++)
		addch(' ');
	for (int i = 0; i < n; i++) {
		float v = h[(t->hist_pos - n + i + TUI_HISTORY) % TUI_HISTORY];
		int level = max > 0 ? (int)(v / max * 7.0f + 0.5f) : 0;
		if (level < 0)
			level = 0;
		if (level > 7)
			level = 7;
		if (t->utf8)
			addstr(v > 0 ? blocks[level] : " ");
		else
			addch((chtype)(v > 0 && !level ? '.' : ramp[level]));
	}
}

static void fmt_layers(char *out, size_t cap, int level)
{
	if (level < 0)
		snprintf(out, cap, "-");
	else if (level == 0)
		snprintf(out, cap, "0");
	else
		snprintf(out, cap, "0-%d", level);
}

/* ---- sections --------------------------------------------------------------- */

static int draw_header(struct tui *t, int y)
{
	const struct engine_stats *st = t->st;
	attr(t, C_HEAD, true);
	attron(A_BOLD);
	move(y, 0);
	for (int i = 0; i < COLS; i++)
		addch(' ');
	put(y, 1, "layercast  stream %s  id %016llx  %s  %s", st->stream,
	    (unsigned long long)st->peer_id, st->addr, t->role);
	attroff(A_BOLD);
	attr(t, C_HEAD, false);
	y++;
	int l = st->playing_level;
	char layer[48] = "-";
	if (st->started && l >= 0 && l < WIRE_LAYERS_MAX)
		snprintf(layer, sizeof layer, "L%d %dx%d", l, st->layer[l].width,
			 st->layer[l].height);
	char cap[16];
	if (st->cap < 0)
		snprintf(cap, sizeof cap, "none");
	else
		snprintf(cap, sizeof cap, "L%d", st->cap);
	put(y, 1, "state ");
	bool good = !strcmp(t->state, "playing") || !strcmp(t->state, "serving");
	bool bad = !strcmp(t->state, "left") || !strcmp(t->state, "starving") ||
		   !strcmp(t->state, "stopped");
	attr(t, good ? C_GOOD : bad ? C_BAD : C_WARN, true);
	attron(A_BOLD);
	put(y, 7, "%-9s", t->state);
	attroff(A_BOLD);
	attr(t, good ? C_GOOD : bad ? C_BAD : C_WARN, false);
	put(y, 17, "layer %-13s cap %-4s buffer %4.1f s  video %s", layer, cap,
	    st->buffer_ms / 1000.0, t->video_shown ? "shown" : "off");
	y++;
	char lag[24] = "-", su[24] = "-";
	if (st->lag_ms_p50 >= 0)
		snprintf(lag, sizeof lag, "%.2f s", st->lag_ms_p50 / 1000.0);
	if (st->startup_ms >= 0)
		snprintf(su, sizeof su, "%.1f s", (double)st->startup_ms / 1000.0);
	put(y, 1, "continuity %.3f  stalls %llu  lag %s  startup %s  up %.0f down %.0f kbit/s",
	    st->continuity, (unsigned long long)st->stalls, lag, su, st->upload_kbps_now,
	    st->download_kbps_now);
	return y + 1;
}

static const struct engine_stats *sort_st;
static int sort_key;

static int cmp_nbr(const void *a, const void *b)
{
	const struct engine_nbr_stats *x = &sort_st->nbr[*(const int *)a];
	const struct engine_nbr_stats *y = &sort_st->nbr[*(const int *)b];
	double dx = 0, dy = 0;
	switch (sort_key) {
	case SORT_ID:
		return (x->peer_id > y->peer_id) - (x->peer_id < y->peer_id);
	case SORT_ADDR:
		return strcmp(x->addr, y->addr);
	case SORT_RTT: dx = x->rtt_ms; dy = y->rtt_ms; break;
	case SORT_UP: dx = -x->up_kbps; dy = -y->up_kbps; break;
	case SORT_DOWN: dx = -x->down_kbps; dy = -y->down_kbps; break;
	case SORT_LAYERS: dx = -x->sub_level; dy = -y->sub_level; break;
	case SORT_INNOV: dx = -x->innovative_share; dy = -y->innovative_share; break;
	}
	return (dx > dy) - (dx < dy);
}

static int draw_peers(struct tui *t, int y, int rows)
{
	const struct engine_stats *st = t->st;
	bool wide = COLS >= 110, full_id = COLS >= 120;
	int idw = full_id ? 16 : 8, aw = COLS >= 100 ? 21 : 17;
	/* Headings; the sort column's ends with '*'. */
	char h[SORT_N][16];
	static const char *const names[SORT_N] = { "peer", "address", "rtt ms", "up kb/s",
						   "dn kb/s", "layers", "innov" };
	for (int i = 0; i < SORT_N; i++)
		snprintf(h[i], sizeof h[i], "%s%s", names[i], i == t->sort ? "*" : "");
	char head[256];
	int n = snprintf(head, sizeof head, "%-*s %-*s %-3s %7s %8s %8s %-6s %6s %-7s", idw, h[0],
			 aw, h[1], "dir", h[2], h[3], h[4], h[5], h[6], "state");
	if (wide)
		snprintf(head + n, sizeof head - (size_t)n, " %8s %9s", "queue B", "adv kb/s");
	attr(t, C_TITLE, true);
	attron(A_BOLD);
	put(y, 1, "%s", head);
	attroff(A_BOLD);
	attr(t, C_TITLE, false);
	y++;
	int idx[ENGINE_MAX_NBRS];
	unsigned nn = st->n_nbrs < ENGINE_MAX_NBRS ? st->n_nbrs : ENGINE_MAX_NBRS;
	for (unsigned i = 0; i < nn; i++)
		idx[i] = (int)i;
	sort_st = st;
	sort_key = t->sort;
	qsort(idx, nn, sizeof idx[0], cmp_nbr);
	t->rows_shown = rows;
	int max_scroll = (int)nn - rows;
	if (t->scroll > max_scroll)
		t->scroll = max_scroll;
	if (t->scroll < 0)
		t->scroll = 0;
	if (!nn) {
		attr(t, C_DIM, true);
		put(y, 1, "%s", st->joined ? "(no neighbours yet)" :
			  "(not in the swarm: j joins)");
		attr(t, C_DIM, false);
	}
	for (int r = 0; r < rows && t->scroll + r < (int)nn; r++) {
		const struct engine_nbr_stats *p = &st->nbr[idx[t->scroll + r]];
		char id[17], rtt[16], lay[16], innov[16];
		snprintf(id, sizeof id, "%016llx", (unsigned long long)p->peer_id);
		id[idw] = '\0';
		if (p->rtt_ms < 0)
			snprintf(rtt, sizeof rtt, "-");
		else
			snprintf(rtt, sizeof rtt, "%.1f", p->rtt_ms);
		fmt_layers(lay, sizeof lay, p->sub_level);
		if (p->innovative_share < 0)
			snprintf(innov, sizeof innov, "-");
		else
			snprintf(innov, sizeof innov, "%.0f%%", 100 * p->innovative_share);
		char line[256];
		int m = snprintf(line, sizeof line, "%-*s %-*.*s %-3s %7s %8.0f %8.0f %-6s %6s %-7s",
				 idw, id, aw, aw, p->addr, p->dialled ? "out" : "in", rtt, p->up_kbps,
				 p->down_kbps, lay, innov,
				 p->role & WIRE_ROLE_SOURCE && !strcmp(p->state, "up") ? "source"
											 : p->state);
		if (wide)
			snprintf(line + m, sizeof line - (size_t)m, " %8zu %9u", p->queue_bytes,
				 p->adv_up_kbps);
		if (p->role & WIRE_ROLE_SOURCE)
			attron(A_BOLD);
		put(y + r, 1, "%s", line);
		attroff(A_BOLD);
	}
	if (nn > (unsigned)rows) {
		attr(t, C_DIM, true);
		put(y + rows, 1, "rows %d-%d of %u (arrows, PgUp/PgDn)", t->scroll + 1,
		    t->scroll + rows < (int)nn ? t->scroll + rows : (int)nn, nn);
		attr(t, C_DIM, false);
	}
	return y + rows + 1;
}

static int draw_layers(struct tui *t, int y)
{
	const struct engine_stats *st = t->st;
	int nl = st->nlayers > 0 ? st->nlayers : 0;
	attr(t, C_TITLE, true);
	attron(A_BOLD);
	put(y, 1, "layers   size       fps  stream kb/s  %s kb/s   history (1 s per column)",
	    st->source ? "sent" : "in  ");
	attroff(A_BOLD);
	attr(t, C_TITLE, false);
	y++;
	if (!nl) {
		attr(t, C_DIM, true);
		put(y, 1, "(no segment yet)");
		attr(t, C_DIM, false);
		return y + 1;
	}
	for (int l = 0; l < nl; l++, y++) {
		const struct engine_layer_stats *ls = &st->layer[l];
		bool sub = st->source || l <= st->level;
		/* Size, frame rate and stream rate come with a segment's
		 * descriptor: "-" until one has come (blocks may come first). */
		char size[24] = "-", fps[16] = "-", rate[24] = "-";
		if (ls->width > 0 && ls->height > 0) {
			snprintf(size, sizeof size, "%dx%d", ls->width, ls->height);
			snprintf(fps, sizeof fps, "%4.0f", ls->fps);
			snprintf(rate, sizeof rate, "%11.0f", ls->rate_kbps);
		}
		if (l == st->playing_level && st->started)
			attr(t, C_GOOD, true);
		else if (!sub)
			attr(t, C_DIM, true);
		put(y, 1, "%c L%d  %-10s %4s  %11s  %9.0f", l == st->playing_level ? '>' : ' ', l,
		    size, fps, rate, ls->in_kbps);
		attr(t, C_GOOD, false);
		attr(t, C_DIM, false);
		int x = 50;
		sparkline(t, y, x, COLS - x - 1, t->layer_hist[l]);
	}
	return y;
}

static int draw_churn(struct tui *t, int y)
{
	const struct engine_stats *st = t->st;
	attr(t, C_TITLE, true);
	attron(A_BOLD);
	put(y, 1, "swarm");
	attroff(A_BOLD);
	attr(t, C_TITLE, false);
	put(y, 7, " %u neighbours, %u known   per minute: joins %u  leaves %u  failures %u   "
	    "(all: %llu/%llu/%llu)",
	    st->neighbours, st->known, st->joins_1m, st->leaves_1m, st->failures_1m,
	    (unsigned long long)st->joins, (unsigned long long)st->leaves,
	    (unsigned long long)st->failures);
	y++;
	put(y, 1, "size history");
	sparkline(t, y, 14, COLS - 15, t->size_hist);
	return y + 1;
}

static void draw_help(struct tui *t)
{
	static const char *const lines[] = {
		"keys",
		"",
		"j        join the swarm (dial the tracker)",
		"l        leave the swarm (BYE to all, keep running)",
		"+ / -    raise / lower the layer cap",
		"v        show / hide the video window",
		"s        sort the peer table by the next column",
		"arrows   scroll the peer table by a row",
		"PgUp/Dn  scroll the peer table by a page",
		"Home/End first / last rows",
		"?        this help (Esc closes it)",
		"q        quit (Close 1000 on every link)",
		"",
		"in the video window: f fullscreen, o on-screen display",
	};
	int n = (int)(sizeof lines / sizeof lines[0]);
	int w = 58, h = n + 2;
	int y0 = (LINES - h) / 2, x0 = (COLS - w) / 2;
	if (y0 < 0)
		y0 = 0;
	if (x0 < 0)
		x0 = 0;
	attr(t, C_HEAD, true);
	for (int r = 0; r < h && y0 + r < LINES; r++) {
		move(y0 + r, x0);
		for (int c = 0; c < w && x0 + c < COLS; c++)
			addch(' ');
	}
	for (int i = 0; i < n; i++)
		put(y0 + 1 + i, x0 + 2, "%s", lines[i]);
	put(y0, x0 + 2, "tracker %s", t->tracker);
	attr(t, C_HEAD, false);
}

void tui_draw(struct tui *t)
{
	erase();
	int nl = t->st->nlayers > 0 ? t->st->nlayers : 1;
	/* header 3, peer title 1, rows, more-line 1, layers 1 + nl, churn 2,
	 * status 1 */
	int rows = LINES - (3 + 1 + 1 + 1 + nl + 2 + 1);
	if (rows < 1)
		rows = 1;
	int y = draw_header(t, 0);
	y = draw_peers(t, y, rows);
	y = draw_layers(t, y);
	draw_churn(t, y);
	attr(t, C_DIM, true);
	move(LINES - 1, 0);
	clrtoeol();
	attr(t, C_DIM, false);
	put(LINES - 1, 1, "%s", t->msg);
	if (COLS > 40)
		put(LINES - 1, COLS - 18, "? help   q quit");
	if (t->help)
		draw_help(t);
	wnoutrefresh(stdscr);
	doupdate();
}

enum tui_action tui_poll(struct tui *t, int timeout_ms)
{
	timeout(timeout_ms);
	int c = getch();
	if (c == ERR)
		return TUI_NONE;
	if (t->help && (c == 27 || c == '?')) {
		t->help = false;
		tui_draw(t);
		return TUI_NONE;
	}
	int page = t->rows_shown > 1 ? t->rows_shown - 1 : 1;
	switch (c) {
	case 'j': return TUI_JOIN;
	case 'l': return TUI_LEAVE;
	case '+': case '=': return TUI_CAP_UP;
	case '-': return TUI_CAP_DOWN;
	case 'v': return TUI_TOGGLE_VIDEO;
	case 'q': case 'Q': return TUI_QUIT;
	case '?': t->help = true; break;
	case 's': t->sort = (t->sort + 1) % SORT_N; t->scroll = 0;
		tui_message(t, "peers sorted by %s", sort_names[t->sort]);
		break;
	case KEY_UP: t->scroll--; break;
	case KEY_DOWN: t->scroll++; break;
	case KEY_PPAGE: t->scroll -= page; break;
	case KEY_NPAGE: t->scroll += page; break;
	case KEY_HOME: t->scroll = 0; break;
	case KEY_END: t->scroll = ENGINE_MAX_NBRS; break;
	case KEY_RESIZE: break;
	default: return TUI_NONE;
	}
	tui_draw(t);
	return TUI_NONE;
}
