#include <string.h>

#include "core/core.h"

void lc_tb_init(struct lc_tb *tb, uint64_t rate_Bps, uint64_t burst, int64_t now_us)
{
	tb->rate = rate_Bps;
	tb->burst = burst;
	tb->tokens = (double)burst;
	tb->last_us = now_us;
}

static void tb_refill(struct lc_tb *tb, int64_t now_us)
{
	if (now_us > tb->last_us) {
		tb->tokens += (double)tb->rate * (double)(now_us - tb->last_us) / 1e6;
		if (tb->tokens > (double)tb->burst)
			tb->tokens = (double)tb->burst;
		tb->last_us = now_us;
	}
}

void lc_tb_set_rate(struct lc_tb *tb, uint64_t rate_Bps, uint64_t burst, int64_t now_us)
{
	tb_refill(tb, now_us);
	tb->rate = rate_Bps;
	tb->burst = burst;
	if (tb->tokens > (double)burst)
		tb->tokens = (double)burst;
}

double lc_tb_avail(struct lc_tb *tb, int64_t now_us)
{
	if (!tb->rate)
		return 1e18;
	tb_refill(tb, now_us);
	return tb->tokens;
}

bool lc_tb_take(struct lc_tb *tb, size_t n, int64_t now_us)
{
	if (!tb->rate)
		return true;
	tb_refill(tb, now_us);
	if (tb->tokens < (double)n)
		return false;
	tb->tokens -= (double)n;
	return true;
}

void lc_tb_charge(struct lc_tb *tb, size_t n, int64_t now_us)
{
	if (!tb->rate)
		return;
	tb_refill(tb, now_us);
	tb->tokens -= (double)n;
}

int64_t lc_tb_wait_us(struct lc_tb *tb, size_t n, int64_t now_us)
{
	if (!tb->rate)
		return 0;
	tb_refill(tb, now_us);
	double need = (double)n - tb->tokens;
	if (need <= 0)
		return 0;
	return (int64_t)(need * 1e6 / (double)tb->rate) + 1;
}

void lc_rate_init(struct lc_rate *r, int64_t slot_us)
{
	memset(r, 0, sizeof *r);
	r->slot_us = slot_us > 0 ? slot_us : 250000;
}

/* Move the current slot forward to the one containing now, zeroing skipped slots. */
static void rate_advance(struct lc_rate *r, int64_t now_us)
{
	if (!r->started) {
		r->started = true;
		r->cur_start = r->first_us = now_us;
		return;
	}
	int64_t steps = (now_us - r->cur_start) / r->slot_us;
	if (steps <= 0)
		return;
	if (steps >= LC_RATE_SLOTS) {
		memset(r->slot, 0, sizeof r->slot);
		r->cur = 0;
	} else {
		for (int64_t i = 0; i < steps; i++) {
			r->cur = (r->cur + 1) % LC_RATE_SLOTS;
			r->slot[r->cur] = 0;
		}
	}
	r->cur_start += steps * r->slot_us;
}

void lc_rate_add(struct lc_rate *r, uint64_t bytes, int64_t now_us)
{
	rate_advance(r, now_us);
	r->slot[r->cur] += bytes;
	r->total += bytes;
}

double lc_rate_bps(struct lc_rate *r, int64_t now_us)
{
	if (!r->started)
		return 0;
	rate_advance(r, now_us);
	/* The completed slots only: the current one is still filling. */
	uint64_t sum = 0;
	for (unsigned i = 0; i < LC_RATE_SLOTS; i++)
		if (i != r->cur)
			sum += r->slot[i];
	/* A young meter divides by the time it has actually covered. */
	int64_t span = r->slot_us * (LC_RATE_SLOTS - 1);
	if (r->cur_start - r->first_us < span)
		span = r->cur_start - r->first_us;
	return span > 0 ? (double)sum * 1e6 / (double)span : 0;
}
