/*
 * core: the small pieces every other module of layercast shares.
 *
 *  - Errors: functions return 0 (or a non-negative count) on success and a
 *    negative enum lc_err on failure; lc_strerror() names it.
 *  - Log: leveled, printf-style, to one sink (stderr by default, a file when
 *    the terminal belongs to the dashboard).
 *  - Clock: monotonic microseconds. Only the engine and programs read it;
 *    nc, wire, sched and swarm take the time as an argument.
 *  - Bytes: a growable buffer and big-endian (network order) load/store.
 *  - Random: xoshiro256** — fast, seedable, one state per user, so tests and
 *    the simulator are repeatable and threads never share state.
 *  - Rates: a token bucket (upload limiter) and a windowed rate meter, both
 *    driven by a time argument.
 *  - Loop: the thin glue over libev (the only file that includes ev.h).
 */
#ifndef LC_CORE_H
#define LC_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ------------------------------------------------------------ */

enum lc_err {
	LC_OK = 0,
	LC_EINVAL = -1,    /* bad argument (caller error or bad parameters) */
	LC_ENOMEM = -2,    /* allocation failed */
	LC_ERANGE = -3,    /* value outside the allowed limits */
	LC_ETRUNC = -4,    /* input shorter than its declared length */
	LC_EPROTO = -5,    /* malformed message or stream */
	LC_EVERSION = -6,  /* unsupported protocol or format version */
	LC_ETYPE = -7,     /* unknown message or record type */
	LC_EFULL = -8,     /* queue or buffer full */
	LC_EAGAIN = -9,    /* not now: try again later */
	LC_EIO = -10,      /* system or library I/O error */
	LC_ENOTSUP = -11,  /* format or feature not supported */
	LC_EDEPENDENT = -12, /* coded block adds no rank (non-innovative) */
	LC_ECORRUPT = -13, /* content failed a consistency check */
	LC_ENOENT = -14,   /* no such item */
	LC_ESTATE = -15,   /* call not valid in the object's current state */
	LC_ETIMEDOUT = -16,
	LC_ECLOSED = -17,  /* the link or stream is closed */
	LC_E2BIG = -18,    /* message larger than the allowed maximum */
};

const char *lc_strerror(int err);

/* ---- log ---------------------------------------------------------------- */

enum lc_log_level { LC_LOG_ERR, LC_LOG_WARN, LC_LOG_INFO, LC_LOG_DEBUG };

/* Messages above the level are dropped. Default LC_LOG_WARN. */
void lc_log_set_level(enum lc_log_level level);
enum lc_log_level lc_log_get_level(void);
/* Send log lines to f (NULL: back to stderr). The caller keeps ownership. */
void lc_log_set_file(FILE *f);
void lc_log(enum lc_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lc_logv(enum lc_log_level level, const char *module, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define LC_ERR(mod, ...) lc_log(LC_LOG_ERR, mod, __VA_ARGS__)
#define LC_WARN(mod, ...) lc_log(LC_LOG_WARN, mod, __VA_ARGS__)
#define LC_INFO(mod, ...) lc_log(LC_LOG_INFO, mod, __VA_ARGS__)
#define LC_DEBUG(mod, ...) lc_log(LC_LOG_DEBUG, mod, __VA_ARGS__)

/* ---- clock -------------------------------------------------------------- */

/* Monotonic time in microseconds (CLOCK_MONOTONIC). */
int64_t lc_now_us(void);
/* Wall-clock time in microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t lc_wall_us(void);

/* ---- bytes -------------------------------------------------------------- */

static inline void lc_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void lc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void lc_put_be64(uint8_t *p, uint64_t v)
{
	lc_put_be32(p, (uint32_t)(v >> 32));
	lc_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t lc_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t lc_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t lc_get_be64(const uint8_t *p)
{
	return (uint64_t)lc_get_be32(p) << 32 | lc_get_be32(p + 4);
}

/* A growable byte buffer. Zero-initialise (or lc_buf_init) before use. */
struct lc_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void lc_buf_init(struct lc_buf *b);
void lc_buf_free(struct lc_buf *b);
/* Make room for at least cap bytes in total. */
int lc_buf_reserve(struct lc_buf *b, size_t cap);
int lc_buf_append(struct lc_buf *b, const void *p, size_t n);
static inline void lc_buf_reset(struct lc_buf *b) { b->len = 0; }

/* ---- random ------------------------------------------------------------- */

struct lc_rng {
	uint64_t s[4];
};

/* Seed deterministically from a 64-bit value (splitmix64 expansion). */
void lc_rng_seed(struct lc_rng *r, uint64_t seed);
/* Seed from the OS entropy source (getrandom), falling back to the clock. */
void lc_rng_seed_os(struct lc_rng *r);
uint64_t lc_rng_next(struct lc_rng *r);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint32_t lc_rng_below(struct lc_rng *r, uint32_t bound);
void lc_rng_fill(struct lc_rng *r, void *buf, size_t n);

/* ---- rates -------------------------------------------------------------- */

/*
 * Token bucket: `rate` bytes per second refill up to `burst` bytes. Time is
 * passed in (microseconds, any monotonic origin). rate 0 means unlimited.
 */
struct lc_tb {
	uint64_t rate;   /* bytes per second, 0 = unlimited */
	uint64_t burst;  /* bytes */
	double tokens;
	int64_t last_us;
};

void lc_tb_init(struct lc_tb *tb, uint64_t rate_Bps, uint64_t burst, int64_t now_us);
void lc_tb_set_rate(struct lc_tb *tb, uint64_t rate_Bps, uint64_t burst, int64_t now_us);
/* Tokens available now. */
double lc_tb_avail(struct lc_tb *tb, int64_t now_us);
/* Take n bytes if available (true), else take nothing (false). */
bool lc_tb_take(struct lc_tb *tb, size_t n, int64_t now_us);
/* Take n bytes unconditionally; the balance may go negative (debt). */
void lc_tb_charge(struct lc_tb *tb, size_t n, int64_t now_us);
/* Microseconds until n bytes are available (0 if now). */
int64_t lc_tb_wait_us(struct lc_tb *tb, size_t n, int64_t now_us);

/*
 * Rate meter: bytes counted into fixed slots; rate over the last `window`
 * (default 2 s of 8 slots of 250 ms). Time passed in.
 */
#define LC_RATE_SLOTS 8
struct lc_rate {
	int64_t slot_us;
	int64_t first_us;       /* time of the first sample */
	int64_t cur_start;      /* start time of the current slot */
	unsigned cur;           /* index of the current slot */
	uint64_t slot[LC_RATE_SLOTS];
	uint64_t total;         /* bytes ever counted */
	bool started;
};

void lc_rate_init(struct lc_rate *r, int64_t slot_us);
void lc_rate_add(struct lc_rate *r, uint64_t bytes, int64_t now_us);
/* Bytes per second over the completed window ending now. */
double lc_rate_bps(struct lc_rate *r, int64_t now_us);

/* ---- loop --------------------------------------------------------------- */

/*
 * A thin veneer over one libev loop, so that only core/loop.c includes ev.h.
 * Watchers are opaque heap objects owned by the caller.
 */
struct lc_loop;
struct lc_timer;
struct lc_async;
struct lc_io;

typedef void (*lc_timer_cb)(struct lc_timer *t, void *arg);
typedef void (*lc_async_cb)(struct lc_async *a, void *arg);
typedef void (*lc_io_cb)(struct lc_io *io, int revents, void *arg);

enum { LC_IO_READ = 1, LC_IO_WRITE = 2 };

/* A new loop (not the libev default loop, so several can exist). */
struct lc_loop *lc_loop_new(void);
void lc_loop_free(struct lc_loop *l);
/* The underlying struct ev_loop *, for libraries that take a foreign loop. */
void *lc_loop_native(struct lc_loop *l);
/* Run until lc_loop_break() or no active watchers remain. */
void lc_loop_run(struct lc_loop *l);
/* Run one iteration; block for events if `block`. */
void lc_loop_run_once(struct lc_loop *l, bool block);
void lc_loop_break(struct lc_loop *l);
/* The loop's cached time, seconds (ev_now). */
double lc_loop_now(struct lc_loop *l);

/* Timers: first fire after `after_s`, then every `repeat_s` (0: once). */
struct lc_timer *lc_timer_new(struct lc_loop *l, lc_timer_cb cb, void *arg);
void lc_timer_start(struct lc_timer *t, double after_s, double repeat_s);
void lc_timer_stop(struct lc_timer *t);
bool lc_timer_active(const struct lc_timer *t);
void lc_timer_free(struct lc_timer *t);

/* Async: lc_async_send() may be called from any thread; cb runs on the loop. */
struct lc_async *lc_async_new(struct lc_loop *l, lc_async_cb cb, void *arg);
void lc_async_send(struct lc_async *a);
void lc_async_free(struct lc_async *a);

/* File descriptor readiness. */
struct lc_io *lc_io_new(struct lc_loop *l, int fd, int events, lc_io_cb cb, void *arg);
void lc_io_free(struct lc_io *io);

/* Weak references: let the loop exit when only these watchers remain. */
void lc_loop_unref(struct lc_loop *l);
void lc_loop_ref(struct lc_loop *l);

#endif
