/*
 * nc suite: GF(2^8) arithmetic against a bit-wise reference, every region
 * kernel against it over all constants, sizes and alignments, and the RLNC
 * encoder, recoder and decoder.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nc/nc.h"

/* ---- bit-wise reference (shift and xor, independent of the library) ---- */

static uint8_t bw_mul(uint8_t a, uint8_t b)
{
	unsigned x = a, r = 0;
	for (int i = 0; i < 8; i++) {
		if (b & (1u << i))
			r ^= x;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11D;
	}
	return (uint8_t)r;
}

static uint8_t M[256][256]; /* M[c][x] = c*x, from bw_mul */

static void fill_table(void)
{
	static bool done;
	if (done)
		return;
	for (unsigned c = 0; c < 256; c++)
		for (unsigned x = 0; x < 256; x++)
			M[c][x] = bw_mul((uint8_t)c, (uint8_t)x);
	done = true;
}

START_TEST(test_gf_mul_exhaustive)
{
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++)
			ck_assert_uint_eq(nc_gf_mul((uint8_t)a, (uint8_t)b), bw_mul((uint8_t)a, (uint8_t)b));
	/* The polynomial itself: x^8 = x^4 + x^3 + x^2 + 1. */
	ck_assert_uint_eq(nc_gf_mul(0x80, 2), 0x1D);
	/* Not 0x11B (the AES field, what gf2p8mulb computes). */
	ck_assert_uint_ne(nc_gf_mul(0x53, 0xCA), 1);
}
END_TEST

START_TEST(test_gf_inverse)
{
	ck_assert_uint_eq(nc_gf_inv(0), 0);
	for (unsigned a = 1; a < 256; a++) {
		uint8_t inv = nc_gf_inv((uint8_t)a);
		ck_assert_uint_eq(bw_mul((uint8_t)a, inv), 1);
		/* The unique inverse, found by search. */
		unsigned found = 0, count = 0;
		for (unsigned b = 1; b < 256; b++)
			if (bw_mul((uint8_t)a, (uint8_t)b) == 1) {
				found = b;
				count++;
			}
		ck_assert_uint_eq(count, 1);
		ck_assert_uint_eq(found, inv);
		for (unsigned b = 0; b < 256; b += 7)
			ck_assert_uint_eq(nc_gf_div((uint8_t)b, (uint8_t)a), bw_mul((uint8_t)b, inv));
	}
}
END_TEST

/* ---- region kernels ------------------------------------------------------ */

enum { OP_MADD, OP_MUL, OP_MUL_INPLACE, OP_MADD_INPLACE };
#define BIG 70000
#define PAD 128

struct arena {
	uint8_t *src, *dst, *orig, *want;
};

static void arena_init(struct arena *a, struct lc_rng *r)
{
	size_t n = (BIG + 2 * PAD + 63) & ~(size_t)63;
	a->src = aligned_alloc(64, n);
	a->dst = aligned_alloc(64, n);
	a->orig = aligned_alloc(64, n);
	a->want = aligned_alloc(64, n);
	ck_assert(a->src && a->dst && a->orig && a->want);
	lc_rng_fill(r, a->src, n);
	lc_rng_fill(r, a->orig, n);
}

static void arena_free(struct arena *a)
{
	free(a->src);
	free(a->dst);
	free(a->orig);
	free(a->want);
}

/*
 * Run one kernel op on n bytes at the given offsets (0..63 from a 64-byte
 * boundary) and compare with the table, including PAD bytes either side of
 * the destination that must stay untouched.
 */
static void check_op(const struct nc_gf_kernel *k, struct arena *a, int op, uint8_t c, size_t n,
		     size_t soff, size_t doff)
{
	size_t lo = PAD + doff - 64, hi = PAD + doff + n + 64;
	memcpy(a->dst + lo, a->orig + lo, hi - lo);
	memcpy(a->want + lo, a->orig + lo, hi - lo);
	uint8_t *d = a->dst + PAD + doff, *w = a->want + PAD + doff;
	const uint8_t *s = a->src + PAD + soff;
	switch (op) {
	case OP_MADD:
		for (size_t i = 0; i < n; i++)
			w[i] ^= M[c][s[i]];
		k->madd(d, s, c, n);
		break;
	case OP_MUL:
		for (size_t i = 0; i < n; i++)
			w[i] = M[c][s[i]];
		k->mul(d, s, c, n);
		break;
	case OP_MUL_INPLACE:
		for (size_t i = 0; i < n; i++)
			w[i] = M[c][w[i]];
		k->mul(d, d, c, n);
		break;
	case OP_MADD_INPLACE:
		for (size_t i = 0; i < n; i++)
			w[i] ^= M[c][w[i]];
		k->madd(d, d, c, n);
		break;
	}
	if (memcmp(a->dst + lo, a->want + lo, hi - lo)) {
		size_t i = lo;
		while (a->dst[i] == a->want[i])
			i++;
		ck_abort_msg("kernel %s op %d c=%u n=%zu soff=%zu doff=%zu: byte %zd differs",
			     k->name, op, c, n, soff, doff, (ptrdiff_t)i - (ptrdiff_t)(PAD + doff));
	}
}

/* dot with nsrc sources at individual offsets; ck on dst and its guard. */
static void check_dot(const struct nc_gf_kernel *k, struct arena *a, struct lc_rng *r, size_t nsrc,
		      size_t n, size_t doff)
{
	const uint8_t *src[40];
	uint8_t c[40];
	ck_assert_uint_le(nsrc, 40);
	size_t lo = PAD + doff - 64, hi = PAD + doff + n + 64;
	memcpy(a->dst + lo, a->orig + lo, hi - lo);
	memcpy(a->want + lo, a->orig + lo, hi - lo);
	uint8_t *w = a->want + PAD + doff;
	memset(w, 0, n);
	for (size_t j = 0; j < nsrc; j++) {
		size_t off = lc_rng_below(r, 64);
		/* Sources overlap each other but never the destination. */
		src[j] = a->src + PAD + off + (n > BIG - 64 ? 0 : lc_rng_below(r, 64));
		c[j] = (uint8_t)(lc_rng_below(r, 4) ? lc_rng_below(r, 256) : lc_rng_below(r, 2));
		for (size_t i = 0; i < n; i++)
			w[i] ^= M[c[j]][src[j][i]];
	}
	k->dot(a->dst + PAD + doff, src, c, nsrc, n);
	ck_assert_msg(!memcmp(a->dst + lo, a->want + lo, hi - lo),
		      "kernel %s dot nsrc=%zu n=%zu doff=%zu", k->name, nsrc, n, doff);
}

static const struct nc_gf_kernel *kernel_at(size_t i)
{
	size_t n;
	const struct nc_gf_kernel *const *ks = nc_gf_kernels(&n);
	ck_assert_uint_lt(i, n);
	return ks[i];
}

static size_t nkernels(void)
{
	size_t n;
	nc_gf_kernels(&n);
	return n;
}

/* Every constant, every size 0..300, at a few alignment pairs. */
START_TEST(test_kernel_constants_sizes)
{
	fill_table();
	const struct nc_gf_kernel *k = kernel_at((size_t)_i);
	if (!k->supported())
		return;
	struct lc_rng r;
	lc_rng_seed(&r, 1000 + (uint64_t)_i);
	struct arena a;
	arena_init(&a, &r);
	static const size_t al[][2] = { { 0, 0 }, { 1, 63 }, { 33, 7 } };
	for (unsigned c = 0; c < 256; c++)
		for (size_t n = 0; n <= 300; n++) {
			size_t p = (c + n) % 3;
			check_op(k, &a, OP_MADD, (uint8_t)c, n, al[p][0], al[p][1]);
			check_op(k, &a, OP_MUL, (uint8_t)c, n, al[p][1], al[p][0]);
		}
	/* In place, every size, a spread of constants. */
	for (unsigned c = 0; c < 256; c += 17)
		for (size_t n = 0; n <= 300; n++) {
			check_op(k, &a, OP_MUL_INPLACE, (uint8_t)c, n, 0, n % 64);
			check_op(k, &a, OP_MADD_INPLACE, (uint8_t)c, n, 0, (n * 7) % 64);
		}
	arena_free(&a);
}
END_TEST

/* All 64 x 64 source/destination alignments at a few sizes and constants. */
START_TEST(test_kernel_alignments)
{
	fill_table();
	const struct nc_gf_kernel *k = kernel_at((size_t)_i);
	if (!k->supported())
		return;
	struct lc_rng r;
	lc_rng_seed(&r, 2000 + (uint64_t)_i);
	struct arena a;
	arena_init(&a, &r);
	static const size_t sizes[] = { 1, 31, 64, 65, 191, 1400 };
	static const uint8_t cs[] = { 0, 1, 2, 0x1D, 0x8E, 0xFF };
	for (size_t so = 0; so < 64; so++)
		for (size_t dof = 0; dof < 64; dof++)
			for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
				uint8_t c = cs[(so + dof + z) % 6];
				check_op(k, &a, OP_MADD, c, sizes[z], so, dof);
				check_op(k, &a, OP_MUL, (uint8_t)(c ^ 0x5A), sizes[z], so, dof);
			}
	arena_free(&a);
}
END_TEST

/* Random sizes up to 70000, random alignments and constants. */
START_TEST(test_kernel_large)
{
	fill_table();
	const struct nc_gf_kernel *k = kernel_at((size_t)_i);
	if (!k->supported())
		return;
	struct lc_rng r;
	lc_rng_seed(&r, 3000 + (uint64_t)_i);
	struct arena a;
	arena_init(&a, &r);
	for (int it = 0; it < 40; it++) {
		size_t n = it == 0 ? BIG - 64 : 1 + lc_rng_below(&r, BIG - 64);
		size_t so = lc_rng_below(&r, 64), dof = lc_rng_below(&r, 64);
		uint8_t c = (uint8_t)lc_rng_below(&r, 256);
		check_op(k, &a, OP_MADD, c, n, so, dof);
		check_op(k, &a, OP_MUL, c, n, so, dof);
		if (it < 6)
			check_op(k, &a, OP_MUL_INPLACE, c, n, 0, dof);
	}
	arena_free(&a);
}
END_TEST

/* The many-source dot over source counts, sizes and alignments. */
START_TEST(test_kernel_dot)
{
	fill_table();
	const struct nc_gf_kernel *k = kernel_at((size_t)_i);
	if (!k->supported())
		return;
	struct lc_rng r;
	lc_rng_seed(&r, 4000 + (uint64_t)_i);
	struct arena a;
	arena_init(&a, &r);
	static const size_t ns[] = { 0, 1, 2, 3, 5, 16, 33 };
	for (size_t z = 0; z < sizeof ns / sizeof ns[0]; z++)
		for (size_t n = 0; n <= 300; n++)
			check_dot(k, &a, &r, ns[z], n, (n + z) % 64);
	for (int it = 0; it < 12; it++)
		check_dot(k, &a, &r, 1 + lc_rng_below(&r, 40), 1 + lc_rng_below(&r, BIG - 64),
			  lc_rng_below(&r, 64));
	arena_free(&a);
}
END_TEST

START_TEST(test_dispatch)
{
	size_t n;
	const struct nc_gf_kernel *const *ks = nc_gf_kernels(&n);
	ck_assert_uint_ge(n, 2);
	ck_assert_str_eq(ks[0]->name, "ref");
	const struct nc_gf_kernel *best = nc_gf_kernel_active();
	ck_assert(best->supported());
	ck_assert_int_eq(nc_gf_kernel_use("no-such-kernel"), LC_ENOENT);
	for (size_t i = 0; i < n; i++) {
		int rc = nc_gf_kernel_use(ks[i]->name);
		if (!ks[i]->supported()) {
			ck_assert_int_eq(rc, LC_ENOTSUP);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_ptr_eq(nc_gf_kernel_active(), ks[i]);
		uint8_t s[100], d[100], e[100];
		for (int j = 0; j < 100; j++)
			s[j] = d[j] = e[j] = (uint8_t)(j * 37 + 1);
		nc_gf_madd(d, s, 0x53, 100);
		for (int j = 0; j < 100; j++)
			ck_assert_uint_eq(d[j], e[j] ^ bw_mul(0x53, s[j]));
		nc_gf_mul_region(d, s, 0x53, 100);
		for (int j = 0; j < 100; j++)
			ck_assert_uint_eq(d[j], bw_mul(0x53, s[j]));
	}
	ck_assert_int_eq(nc_gf_kernel_use(NULL), 0);
	ck_assert_ptr_eq(nc_gf_kernel_active(), best);
	/* On a CPU with GFNI and AVX-512BW dispatch takes the zmm GFNI path. */
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ks[i]->name, "gfni-avx512") && ks[i]->supported())
			ck_assert_str_eq(best->name, "gfni-avx512");
}
END_TEST

Suite *suite_nc(void)
{
	Suite *s = suite_create("nc");
	TCase *tc = tcase_create("gf");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_gf_mul_exhaustive);
	tcase_add_test(tc, test_gf_inverse);
	tcase_add_test(tc, test_dispatch);
	int nk = (int)nkernels();
	tcase_add_loop_test(tc, test_kernel_constants_sizes, 0, nk);
	tcase_add_loop_test(tc, test_kernel_alignments, 0, nk);
	tcase_add_loop_test(tc, test_kernel_large, 0, nk);
	tcase_add_loop_test(tc, test_kernel_dot, 0, nk);
	suite_add_tcase(s, tc);
	return s;
}
