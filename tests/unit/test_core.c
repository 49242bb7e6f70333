#include <check.h>
#include <pthread.h>
#include <string.h>

#include "core/core.h"

START_TEST(test_strerror)
{
	ck_assert_str_eq(lc_strerror(0), "success");
	ck_assert_str_eq(lc_strerror(LC_ETRUNC), "truncated input");
	ck_assert_str_eq(lc_strerror(-9999), "unknown error");
	/* Every code in the enum has its own text. */
	for (int e = LC_E2BIG; e < 0; e++)
		ck_assert_str_ne(lc_strerror(e), "unknown error");
}
END_TEST

START_TEST(test_byte_order)
{
	uint8_t b[8];
	lc_put_be16(b, 0x1234);
	ck_assert_uint_eq(b[0], 0x12);
	ck_assert_uint_eq(b[1], 0x34);
	ck_assert_uint_eq(lc_get_be16(b), 0x1234);
	lc_put_be32(b, 0xdeadbeef);
	ck_assert_uint_eq(b[0], 0xde);
	ck_assert_uint_eq(b[3], 0xef);
	ck_assert_uint_eq(lc_get_be32(b), 0xdeadbeef);
	lc_put_be64(b, 0x0102030405060708ULL);
	ck_assert_uint_eq(b[0], 1);
	ck_assert_uint_eq(b[7], 8);
	ck_assert(lc_get_be64(b) == 0x0102030405060708ULL);
}
END_TEST

START_TEST(test_buf)
{
	struct lc_buf b;
	lc_buf_init(&b);
	for (int i = 0; i < 1000; i++) {
		uint8_t v = (uint8_t)i;
		ck_assert_int_eq(lc_buf_append(&b, &v, 1), 0);
	}
	ck_assert_uint_eq(b.len, 1000);
	ck_assert_uint_ge(b.cap, 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(b.data[i], (uint8_t)i);
	ck_assert_int_eq(lc_buf_append(&b, NULL, 0), 0);
	lc_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(lc_buf_reserve(&b, SIZE_MAX), LC_ENOMEM);
	lc_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_rng)
{
	struct lc_rng a, b;
	lc_rng_seed(&a, 42);
	lc_rng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		ck_assert(lc_rng_next(&a) == lc_rng_next(&b));
	lc_rng_seed(&b, 43);
	ck_assert(lc_rng_next(&a) != lc_rng_next(&b));
	/* below(): in range, and every value of a small range is hit evenly. */
	unsigned hist[7] = { 0 };
	for (int i = 0; i < 70000; i++) {
		uint32_t v = lc_rng_below(&a, 7);
		ck_assert_uint_lt(v, 7);
		hist[v]++;
	}
	for (int i = 0; i < 7; i++) {
		ck_assert_uint_gt(hist[i], 9400);
		ck_assert_uint_lt(hist[i], 10600);
	}
	uint8_t buf[13];
	memset(buf, 0, sizeof buf);
	lc_rng_fill(&a, buf, sizeof buf);
	int nz = 0;
	for (size_t i = 0; i < sizeof buf; i++)
		nz += buf[i] != 0;
	ck_assert_int_gt(nz, 8);
}
END_TEST

START_TEST(test_token_bucket)
{
	struct lc_tb tb;
	lc_tb_init(&tb, 1000, 500, 0); /* 1000 B/s, 500 B burst, full */
	ck_assert(lc_tb_take(&tb, 500, 0));
	ck_assert(!lc_tb_take(&tb, 1, 0));
	ck_assert_int_eq(lc_tb_wait_us(&tb, 100, 0) / 1000, 100);
	ck_assert(!lc_tb_take(&tb, 100, 99000));
	ck_assert(lc_tb_take(&tb, 100, 100001));
	/* Refill is capped at the burst. */
	ck_assert_int_eq((int)lc_tb_avail(&tb, 10000000), 500);
	/* Debt delays the next take. */
	lc_tb_charge(&tb, 1500, 10000000);
	ck_assert_int_lt((int)lc_tb_avail(&tb, 10000000), 0);
	ck_assert(!lc_tb_take(&tb, 1, 10500000));
	ck_assert(lc_tb_take(&tb, 1, 11100000));
	/* Over a long run, the bytes taken match the rate. */
	lc_tb_init(&tb, 125000, 1500, 0);
	uint64_t sent = 0;
	for (int64_t t = 0; t <= 10000000; t += 1000)
		while (lc_tb_take(&tb, 1400, t))
			sent += 1400;
	ck_assert_uint_ge(sent, 125000 * 10 - 1400);
	ck_assert_uint_le(sent, 125000 * 10 + 1500);
	/* Unlimited. */
	lc_tb_init(&tb, 0, 0, 0);
	ck_assert(lc_tb_take(&tb, 1 << 30, 0));
}
END_TEST

START_TEST(test_rate_meter)
{
	struct lc_rate r;
	lc_rate_init(&r, 250000);
	ck_assert(lc_rate_bps(&r, 0) == 0);
	/* 100 kB/s steady for 5 s. */
	for (int64_t t = 0; t < 5000000; t += 10000)
		lc_rate_add(&r, 1000, t);
	double bps = lc_rate_bps(&r, 5000000);
	ck_assert_double_eq_tol(bps, 100000, 1000);
	ck_assert_uint_eq(r.total, 500 * 1000);
	/* Silence for longer than the window: rate falls to zero. */
	ck_assert(lc_rate_bps(&r, 8000000) == 0);
	/* A young meter is not diluted by the empty window. */
	lc_rate_init(&r, 250000);
	for (int64_t t = 0; t < 1000000; t += 10000)
		lc_rate_add(&r, 500, t);
	ck_assert_double_eq_tol(lc_rate_bps(&r, 1000000), 50000, 2000);
}
END_TEST

struct loop_ctx {
	struct lc_loop *loop;
	int timer_fired;
	int async_fired;
	struct lc_async *async;
};

static void on_timer(struct lc_timer *t, void *arg)
{
	struct loop_ctx *c = arg;
	if (++c->timer_fired == 3) {
		lc_timer_stop(t);
		lc_async_send(c->async);
	}
}

static void on_async(struct lc_async *a, void *arg)
{
	(void)a;
	struct loop_ctx *c = arg;
	c->async_fired++;
	lc_loop_break(c->loop);
}

static void *poke(void *arg)
{
	lc_async_send(arg);
	return NULL;
}

START_TEST(test_loop)
{
	struct loop_ctx c = { 0 };
	c.loop = lc_loop_new();
	ck_assert_ptr_nonnull(c.loop);
	ck_assert_ptr_nonnull(lc_loop_native(c.loop));
	struct lc_timer *t = lc_timer_new(c.loop, on_timer, &c);
	c.async = lc_async_new(c.loop, on_async, &c);
	lc_timer_start(t, 0.001, 0.001);
	ck_assert(lc_timer_active(t));
	lc_loop_run(c.loop);
	ck_assert_int_eq(c.timer_fired, 3);
	ck_assert_int_eq(c.async_fired, 1);
	ck_assert(!lc_timer_active(t));
	/* An async sent from another thread wakes the loop. */
	pthread_t th;
	pthread_create(&th, NULL, poke, c.async);
	lc_loop_run(c.loop);
	pthread_join(th, NULL);
	ck_assert_int_eq(c.async_fired, 2);
	lc_timer_free(t);
	lc_async_free(c.async);
	lc_loop_free(c.loop);
}
END_TEST

Suite *suite_core(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_byte_order);
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_rng);
	tcase_add_test(tc, test_token_bucket);
	tcase_add_test(tc, test_rate_meter);
	tcase_add_test(tc, test_loop);
	suite_add_tcase(s, tc);
	return s;
}
