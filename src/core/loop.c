/* The only file of layercast that includes ev.h. */
#include <ev.h>
#include <stdlib.h>

#include "core/core.h"

struct lc_loop {
	struct ev_loop *ev;
};

struct lc_timer {
	ev_timer w; /* first: the callback casts back */
	struct lc_loop *loop;
	lc_timer_cb cb;
	void *arg;
};

struct lc_async {
	ev_async w;
	struct lc_loop *loop;
	lc_async_cb cb;
	void *arg;
};

struct lc_io {
	ev_io w;
	struct lc_loop *loop;
	lc_io_cb cb;
	void *arg;
};

struct lc_loop *lc_loop_new(void)
{
	struct lc_loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->ev = ev_loop_new(EVFLAG_AUTO);
	if (!l->ev) {
		free(l);
		return NULL;
	}
	return l;
}

void lc_loop_free(struct lc_loop *l)
{
	if (!l)
		return;
	ev_loop_destroy(l->ev);
	free(l);
}

void *lc_loop_native(struct lc_loop *l) { return l->ev; }
void lc_loop_run(struct lc_loop *l) { ev_run(l->ev, 0); }
void lc_loop_run_once(struct lc_loop *l, bool block) { ev_run(l->ev, block ? EVRUN_ONCE : EVRUN_NOWAIT); }
void lc_loop_break(struct lc_loop *l) { ev_break(l->ev, EVBREAK_ALL); }
double lc_loop_now(struct lc_loop *l) { return ev_now(l->ev); }
void lc_loop_unref(struct lc_loop *l) { ev_unref(l->ev); }
void lc_loop_ref(struct lc_loop *l) { ev_ref(l->ev); }

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	struct lc_timer *t = (struct lc_timer *)w;
	t->cb(t, t->arg);
}

struct lc_timer *lc_timer_new(struct lc_loop *l, lc_timer_cb cb, void *arg)
{
	struct lc_timer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	ev_init(&t->w, timer_cb);
	t->loop = l;
	t->cb = cb;
	t->arg = arg;
	return t;
}

void lc_timer_start(struct lc_timer *t, double after_s, double repeat_s)
{
	ev_timer_stop(t->loop->ev, &t->w);
	ev_timer_set(&t->w, after_s, repeat_s);
	ev_timer_start(t->loop->ev, &t->w);
}

void lc_timer_stop(struct lc_timer *t) { ev_timer_stop(t->loop->ev, &t->w); }
bool lc_timer_active(const struct lc_timer *t) { return ev_is_active(&t->w); }

void lc_timer_free(struct lc_timer *t)
{
	if (!t)
		return;
	ev_timer_stop(t->loop->ev, &t->w);
	free(t);
}

static void async_cb(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)ev;
	(void)revents;
	struct lc_async *a = (struct lc_async *)w;
	a->cb(a, a->arg);
}

struct lc_async *lc_async_new(struct lc_loop *l, lc_async_cb cb, void *arg)
{
	struct lc_async *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	ev_async_init(&a->w, async_cb);
	a->loop = l;
	a->cb = cb;
	a->arg = arg;
	ev_async_start(l->ev, &a->w);
	return a;
}

void lc_async_send(struct lc_async *a) { ev_async_send(a->loop->ev, &a->w); }

void lc_async_free(struct lc_async *a)
{
	if (!a)
		return;
	ev_async_stop(a->loop->ev, &a->w);
	free(a);
}

static void io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	struct lc_io *io = (struct lc_io *)w;
	int ev_out = ((revents & EV_READ) ? LC_IO_READ : 0) | ((revents & EV_WRITE) ? LC_IO_WRITE : 0);
	io->cb(io, ev_out, io->arg);
}

struct lc_io *lc_io_new(struct lc_loop *l, int fd, int events, lc_io_cb cb, void *arg)
{
	struct lc_io *io = calloc(1, sizeof *io);
	if (!io)
		return NULL;
	int e = ((events & LC_IO_READ) ? EV_READ : 0) | ((events & LC_IO_WRITE) ? EV_WRITE : 0);
	ev_io_init(&io->w, io_cb, fd, e);
	io->loop = l;
	io->cb = cb;
	io->arg = arg;
	ev_io_start(l->ev, &io->w);
	return io;
}

void lc_io_free(struct lc_io *io)
{
	if (!io)
		return;
	ev_io_stop(io->loop->ev, &io->w);
	free(io);
}
