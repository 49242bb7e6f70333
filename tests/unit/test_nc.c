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

/* ---- RLNC ------------------------------------------------------------------ */

struct gen {
	unsigned k;
	size_t bs, len;
	uint8_t *data;
	struct nc_enc *enc;
};

static void gen_make(struct gen *g, struct lc_rng *r, unsigned k, size_t bs, size_t len)
{
	g->k = k;
	g->bs = bs;
	g->len = len;
	g->data = malloc(len);
	ck_assert_ptr_nonnull(g->data);
	lc_rng_fill(r, g->data, len);
	ck_assert_int_eq(nc_enc_new(&g->enc, k, bs, g->data, len), 0);
	ck_assert_uint_eq(nc_enc_k(g->enc), k);
	ck_assert_uint_eq(nc_enc_block_size(g->enc), bs);
	ck_assert_uint_eq(nc_enc_len(g->enc), len);
}

static void gen_free(struct gen *g)
{
	nc_enc_free(g->enc);
	free(g->data);
}

/* A coded block in flight: its vector and payload together. */
struct blk {
	uint8_t coef[NC_MAX_K];
	uint8_t *pay;
};

static void blk_init(struct blk *b, size_t bs)
{
	b->pay = malloc(bs);
	ck_assert_ptr_nonnull(b->pay);
}

/* The decoder holds exactly the generation's bytes (and zero padding). */
static void check_decoded(const struct nc_dec *d, const struct gen *g)
{
	ck_assert(nc_dec_complete(d));
	ck_assert_uint_eq(nc_dec_rank(d), g->k);
	uint8_t *out = malloc(g->len + 1);
	ck_assert_int_eq(nc_dec_copy(d, out, g->len - 1), LC_EINVAL);
	ck_assert_int_eq(nc_dec_copy(d, out, g->len), (int)g->len);
	ck_assert(!memcmp(out, g->data, g->len));
	for (unsigned i = 0; i < g->k; i++) {
		const uint8_t *b = nc_dec_block(d, i);
		ck_assert_ptr_nonnull(b);
		/* (Check logs every assertion: compare in bulk.) */
		size_t off = i * g->bs, n = off >= g->len ? 0 : g->len - off;
		if (n > g->bs)
			n = g->bs;
		bool pad_zero = true;
		for (size_t j = n; j < g->bs; j++)
			pad_zero &= b[j] == 0;
		ck_assert_msg(!memcmp(b, g->data + off, n) && pad_zero, "block %u differs", i);
	}
	ck_assert_ptr_null(nc_dec_block(d, g->k));
	free(out);
}

/* Offer a block; keep track of what the decoder must report. */
static int offer(struct nc_dec *d, const struct blk *b)
{
	unsigned before = nc_dec_rank(d);
	uint64_t rej = nc_dec_rejected(d);
	int rc = nc_dec_add(d, b->coef, nc_dec_k(d), b->pay, nc_dec_block_size(d));
	if (rc == LC_EDEPENDENT) {
		ck_assert_uint_eq(nc_dec_rank(d), before);
		ck_assert_uint_eq(nc_dec_rejected(d), rej + 1);
	} else {
		ck_assert_int_eq(rc, (int)before + 1);
		ck_assert_uint_eq(nc_dec_rank(d), before + 1);
		ck_assert_uint_eq(nc_dec_rejected(d), rej);
		ck_assert(nc_dec_complete(d) == (before + 1 == nc_dec_k(d)));
	}
	return rc;
}

START_TEST(test_gen_k)
{
	ck_assert_int_eq(nc_gen_k(1, 1), 1);
	ck_assert_int_eq(nc_gen_k(1400, 1400), 1);
	ck_assert_int_eq(nc_gen_k(1401, 1400), 2);
	ck_assert_int_eq(nc_gen_k(256 * 1400, 1400), 256);
	ck_assert_int_eq(nc_gen_k(256 * 1400 + 1, 1400), LC_ERANGE);
	ck_assert_int_eq(nc_gen_k(0, 1400), LC_EINVAL);
	ck_assert_int_eq(nc_gen_k(10, 0), LC_EINVAL);
	ck_assert_int_eq(nc_gen_k(10, NC_MAX_BLOCK + 1), LC_EINVAL);
	ck_assert_int_eq(nc_gen_k(NC_MAX_BLOCK, NC_MAX_BLOCK), 1);
}
END_TEST

START_TEST(test_bad_input)
{
	struct lc_rng r;
	lc_rng_seed(&r, 7);
	uint8_t data[100] = { 1, 2, 3 };
	struct nc_enc *e = NULL;
	struct nc_dec *d = NULL;
	ck_assert_int_eq(nc_enc_new(&e, 0, 10, data, 10), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 257, 10, data, 10), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 4, 0, data, 10), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 4, NC_MAX_BLOCK + 1, data, 10), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 4, 10, data, 41), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 4, 10, data, 0), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(&e, 4, 10, NULL, 10), LC_EINVAL);
	ck_assert_int_eq(nc_enc_new(NULL, 4, 10, data, 10), LC_EINVAL);
	ck_assert_ptr_null(e);
	ck_assert_int_eq(nc_dec_new(&d, 0, 10, 10), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(&d, 257, 10, 10), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(&d, 4, 0, 1), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(&d, 4, NC_MAX_BLOCK + 1, 10), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(&d, 4, 10, 41), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(&d, 4, 10, 0), LC_EINVAL);
	ck_assert_int_eq(nc_dec_new(NULL, 4, 10, 10), LC_EINVAL);
	ck_assert_ptr_null(d);

	ck_assert_int_eq(nc_enc_new(&e, 4, 25, data, 100), 0);
	ck_assert_int_eq(nc_dec_new(&d, 4, 25, 100), 0);
	uint8_t c[4], p[26];
	ck_assert_int_eq(nc_enc_systematic(e, 4, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_enc_systematic(e, 0, NULL, p), LC_EINVAL);
	ck_assert_int_eq(nc_enc_coded(e, NULL, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_enc_combine(e, c, NULL), LC_EINVAL);
	ck_assert_int_eq(nc_enc_next(NULL, &r, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_dec_recode(d, &r, c, p), LC_EAGAIN);
	ck_assert_int_eq(nc_dec_copy(d, p, sizeof p), LC_ESTATE);
	ck_assert_ptr_null(nc_dec_block(d, 0));

	ck_assert_int_eq(nc_enc_next(e, &r, c, p), 1);
	ck_assert_int_eq(nc_dec_add(d, c, 4, p, 25), 1);
	/* Wrong lengths, NULLs: error, and nothing changes. */
	ck_assert_int_eq(nc_enc_next(e, &r, c, p), 1);
	ck_assert_int_eq(nc_dec_add(d, c, 3, p, 25), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(d, c, 5, p, 25), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(d, c, 4, p, 24), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(d, c, 4, p, 26), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(d, NULL, 4, p, 25), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(d, c, 4, NULL, 25), LC_EINVAL);
	ck_assert_int_eq(nc_dec_add(NULL, c, 4, p, 25), LC_EINVAL);
	ck_assert_int_eq(nc_dec_reset(d, 0), LC_EINVAL);
	ck_assert_int_eq(nc_dec_reset(d, 101), LC_EINVAL);
	ck_assert_uint_eq(nc_dec_rank(d), 1);
	ck_assert_uint_eq(nc_dec_rejected(d), 0);
	ck_assert_uint_eq(nc_dec_len(d), 100);
	ck_assert_int_eq(nc_dec_recode(NULL, &r, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_dec_recode(d, NULL, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_recode(0, 25, 1, NULL, NULL, &r, c, p), LC_EINVAL);
	const uint8_t *cs[1] = { c }, *ps[1] = { p };
	ck_assert_int_eq(nc_recode(4, 25, 0, cs, ps, &r, c, p), LC_EINVAL);
	ck_assert_int_eq(nc_recode(4, 25, 257, cs, ps, &r, c, p), LC_ERANGE);
	/* The rest still decodes. */
	ck_assert_int_eq(nc_dec_add(d, c, 4, p, 25), 2);
	while (!nc_dec_complete(d)) {
		ck_assert_int_ge(nc_enc_next(e, &r, c, p), 0);
		ck_assert_int_gt(nc_dec_add(d, c, 4, p, 25), 0);
	}
	uint8_t out[100];
	ck_assert_int_eq(nc_dec_copy(d, out, 100), 100);
	ck_assert(!memcmp(out, data, 100));
	nc_enc_free(e);
	nc_dec_free(d);
	nc_enc_free(NULL);
	nc_dec_free(NULL);
}
END_TEST

/* Dense random combinations only, for each kernel in turn. */
START_TEST(test_decode_random)
{
	const struct nc_gf_kernel *k = kernel_at((size_t)_i);
	if (!k->supported())
		return;
	ck_assert_int_eq(nc_gf_kernel_use(k->name), 0);
	struct lc_rng r;
	lc_rng_seed(&r, 11);
	static const unsigned ks[] = { 1, 2, 3, 16, 32, 64, 100 };
	static const size_t bss[] = { 1, 7, 64, 1400, 1000 };
	for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
		size_t bs = bss[a % 5];
		struct gen g;
		gen_make(&g, &r, ks[a], bs, ks[a] * bs - (bs > 1 ? a % bs : 0));
		struct nc_dec *d;
		ck_assert_int_eq(nc_dec_new(&d, g.k, bs, g.len), 0);
		struct blk b;
		blk_init(&b, bs);
		unsigned sent = 0;
		while (!nc_dec_complete(d)) {
			ck_assert_int_eq(nc_enc_coded(g.enc, &r, b.coef, b.pay), 0);
			ck_assert_ptr_null(memchr(b.coef, 0, g.k));
			offer(d, &b);
			ck_assert_uint_lt(++sent, g.k + 20);
		}
		check_decoded(d, &g);
		/* Recoding from a complete decoder gives valid blocks too. */
		struct nc_dec *d2;
		ck_assert_int_eq(nc_dec_new(&d2, g.k, bs, g.len), 0);
		while (!nc_dec_complete(d2)) {
			ck_assert_int_eq(nc_dec_recode(d, &r, b.coef, b.pay), 0);
			offer(d2, &b);
		}
		check_decoded(d2, &g);
		/* Reset: the same decoder decodes again. */
		ck_assert_int_eq(nc_dec_reset(d, g.len), 0);
		ck_assert_uint_eq(nc_dec_rank(d), 0);
		ck_assert(!nc_dec_complete(d));
		while (!nc_dec_complete(d)) {
			ck_assert_int_eq(nc_enc_coded(g.enc, &r, b.coef, b.pay), 0);
			offer(d, &b);
		}
		check_decoded(d, &g);
		free(b.pay);
		nc_dec_free(d);
		nc_dec_free(d2);
		gen_free(&g);
	}
	nc_gf_kernel_use(NULL);
}
END_TEST

START_TEST(test_systematic_mix)
{
	struct lc_rng r;
	lc_rng_seed(&r, 12);
	for (unsigned round = 0; round < 20; round++) {
		unsigned k = 1 + lc_rng_below(&r, 48);
		size_t bs = 1 + lc_rng_below(&r, 600);
		struct gen g;
		gen_make(&g, &r, k, bs, (k - 1) * bs + 1 + lc_rng_below(&r, (uint32_t)bs));
		struct nc_dec *d;
		ck_assert_int_eq(nc_dec_new(&d, k, bs, g.len), 0);
		struct blk b;
		blk_init(&b, bs);
		/* Some source blocks get lost on the way; coded blocks fill in. */
		for (unsigned i = 0; i < k; i++) {
			ck_assert_int_eq(nc_enc_next(g.enc, &r, b.coef, b.pay), 1);
			ck_assert_uint_eq(b.coef[i], 1);
			if (lc_rng_below(&r, 3)) {
				ck_assert_int_eq(offer(d, &b), (int)nc_dec_rank(d));
				if (nc_dec_complete(d))
					continue;
				/* A held block is handed on exactly as it came. */
				const uint8_t *hc, *hp;
				ck_assert_int_eq(nc_dec_held(d, nc_dec_rank(d) - 1, &hc, &hp), 0);
				ck_assert(!memcmp(hc, b.coef, k));
				ck_assert(!memcmp(hp, b.pay, bs));
				ck_assert_int_eq(nc_dec_held(d, nc_dec_rank(d), &hc, &hp), LC_ERANGE);
			}
		}
		while (!nc_dec_complete(d)) {
			ck_assert_int_eq(nc_enc_next(g.enc, &r, b.coef, b.pay), 0);
			offer(d, &b);
		}
		check_decoded(d, &g);
		ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
		const uint8_t *hc, *hp;
		ck_assert_int_eq(nc_dec_held(d, 0, &hc, &hp), LC_ESTATE);
		free(b.pay);
		nc_dec_free(d);
		gen_free(&g);
	}
}
END_TEST

START_TEST(test_dependents_rejected)
{
	struct lc_rng r;
	lc_rng_seed(&r, 13);
	const unsigned k = 24;
	const size_t bs = 300;
	struct gen g;
	gen_make(&g, &r, k, bs, k * bs);
	struct nc_dec *d;
	ck_assert_int_eq(nc_dec_new(&d, k, bs, g.len), 0);
	struct blk held[24], b;
	blk_init(&b, bs);
	const uint8_t *cs[24], *ps[24];
	/* The all-zero vector adds nothing. */
	memset(b.coef, 0, k);
	memset(b.pay, 0, bs);
	ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
	unsigned n = 0;
	while (n < k - 1) {
		blk_init(&held[n], bs);
		ck_assert_int_eq(nc_enc_coded(g.enc, &r, held[n].coef, held[n].pay), 0);
		ck_assert_int_eq(offer(d, &held[n]), (int)n + 1);
		cs[n] = held[n].coef;
		ps[n] = held[n].pay;
		n++;
		/* A duplicate, a scaled copy and a combination of what it holds. */
		ck_assert_int_eq(offer(d, &held[n - 1]), LC_EDEPENDENT);
		uint8_t c = (uint8_t)(2 + lc_rng_below(&r, 254));
		for (unsigned j = 0; j < k; j++)
			b.coef[j] = nc_gf_mul(c, held[n - 1].coef[j]);
		nc_gf_mul_region(b.pay, held[n - 1].pay, c, bs);
		ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
		ck_assert_int_eq(nc_recode(k, bs, n, cs, ps, &r, b.coef, b.pay), 0);
		ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
		ck_assert_int_eq(nc_dec_recode(d, &r, b.coef, b.pay), 0);
		ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
	}
	ck_assert_uint_eq(nc_dec_rejected(d), 1 + 4 * (k - 1));
	ck_assert(!nc_dec_complete(d));
	ck_assert_int_eq(nc_dec_copy(d, b.pay, bs), LC_ESTATE);
	/* One more independent block completes it; afterwards nothing is new. */
	do
		ck_assert_int_eq(nc_enc_coded(g.enc, &r, b.coef, b.pay), 0);
	while (offer(d, &b) == LC_EDEPENDENT);
	check_decoded(d, &g);
	ck_assert_int_eq(nc_enc_coded(g.enc, &r, b.coef, b.pay), 0);
	ck_assert_int_eq(offer(d, &b), LC_EDEPENDENT);
	for (unsigned i = 0; i < n; i++)
		free(held[i].pay);
	free(b.pay);
	nc_dec_free(d);
	gen_free(&g);
}
END_TEST

/*
 * source -> A -> B -> C, one block per hop per step. A and B forward
 * recoded blocks from whatever rank they have; C decodes exactly.
 */
START_TEST(test_chain)
{
	struct lc_rng r;
	lc_rng_seed(&r, 14);
	for (unsigned round = 0; round < 6; round++) {
		unsigned k = round < 3 ? 8 + 12 * round : 1 + lc_rng_below(&r, 64);
		size_t bs = 16 + lc_rng_below(&r, 1500);
		struct gen g;
		gen_make(&g, &r, k, bs, k * bs - lc_rng_below(&r, (uint32_t)bs));
		struct nc_dec *A, *B, *C;
		ck_assert_int_eq(nc_dec_new(&A, k, bs, g.len), 0);
		ck_assert_int_eq(nc_dec_new(&B, k, bs, g.len), 0);
		ck_assert_int_eq(nc_dec_new(&C, k, bs, g.len), 0);
		struct blk b;
		blk_init(&b, bs);
		unsigned partial_a = 0, partial_b = 0, steps = 0;
		while (!nc_dec_complete(C)) {
			/* The source only reaches A, and loses a third on the way. */
			if (!nc_dec_complete(A)) {
				ck_assert_int_ge(nc_enc_next(g.enc, &r, b.coef, b.pay), 0);
				if (lc_rng_below(&r, 3))
					offer(A, &b);
			}
			if (nc_dec_rank(A)) {
				partial_a += !nc_dec_complete(A);
				ck_assert_int_eq(nc_dec_recode(A, &r, b.coef, b.pay), 0);
				offer(B, &b);
			}
			if (nc_dec_rank(B)) {
				partial_b += !nc_dec_complete(B);
				ck_assert_int_eq(nc_dec_recode(B, &r, b.coef, b.pay), 0);
				offer(C, &b);
			}
			/* Spans only shrink along the chain. */
			ck_assert_uint_le(nc_dec_rank(B), nc_dec_rank(A));
			ck_assert_uint_le(nc_dec_rank(C), nc_dec_rank(B));
			ck_assert_uint_lt(++steps, 4 * k + 60);
		}
		check_decoded(C, &g);
		/* Both relays did forward before they could decode. */
		if (k > 1) {
			ck_assert_uint_gt(partial_a, 0);
			ck_assert_uint_gt(partial_b, 0);
		}
		free(b.pay);
		nc_dec_free(A);
		nc_dec_free(B);
		nc_dec_free(C);
		gen_free(&g);
	}
}
END_TEST

/*
 * Two relays, each holding part of the generation (overlapping), feed one
 * receiver that neither could complete alone.
 */
START_TEST(test_two_relays)
{
	struct lc_rng r;
	lc_rng_seed(&r, 15);
	for (unsigned round = 0; round < 8; round++) {
		unsigned k = 6 + lc_rng_below(&r, 60);
		size_t bs = 1 + lc_rng_below(&r, 1200);
		struct gen g;
		gen_make(&g, &r, k, bs, k * bs);
		unsigned cut1 = (2 * k + 2) / 3, cut2 = k / 3; /* R1: [0,cut1), R2: [cut2,k) */
		struct nc_dec *R1, *R2, *X;
		ck_assert_int_eq(nc_dec_new(&R1, k, bs, g.len), 0);
		ck_assert_int_eq(nc_dec_new(&R2, k, bs, g.len), 0);
		ck_assert_int_eq(nc_dec_new(&X, k, bs, g.len), 0);
		struct blk b;
		blk_init(&b, bs);
		/* Dense combinations inside each relay's part, twice as many as needed. */
		for (unsigned i = 0; i < 2 * k; i++) {
			memset(b.coef, 0, k);
			for (unsigned j = 0; j < cut1; j++)
				b.coef[j] = (uint8_t)(1 + lc_rng_below(&r, 255));
			ck_assert_int_eq(nc_enc_combine(g.enc, b.coef, b.pay), 0);
			offer(R1, &b);
			memset(b.coef, 0, k);
			for (unsigned j = cut2; j < k; j++)
				b.coef[j] = (uint8_t)(1 + lc_rng_below(&r, 255));
			ck_assert_int_eq(nc_enc_combine(g.enc, b.coef, b.pay), 0);
			offer(R2, &b);
		}
		ck_assert_uint_eq(nc_dec_rank(R1), cut1);
		ck_assert_uint_eq(nc_dec_rank(R2), k - cut2);
		ck_assert(!nc_dec_complete(R1) && !nc_dec_complete(R2));
		/* R1 alone: the receiver stops at R1's rank, the rest is rejected. */
		for (unsigned i = 0; i < cut1 + 5; i++) {
			ck_assert_int_eq(nc_dec_recode(R1, &r, b.coef, b.pay), 0);
			offer(X, &b);
		}
		ck_assert_uint_eq(nc_dec_rank(X), cut1);
		ck_assert_uint_ge(nc_dec_rejected(X), 5);
		/* R2 brings exactly the missing dimensions: k - cut1. */
		unsigned sent = 0;
		while (!nc_dec_complete(X)) {
			ck_assert_int_eq(nc_dec_recode(R2, &r, b.coef, b.pay), 0);
			offer(X, &b);
			ck_assert_uint_lt(++sent, k + 20);
		}
		ck_assert_uint_ge(sent, k - cut1);
		check_decoded(X, &g);
		free(b.pay);
		nc_dec_free(R1);
		nc_dec_free(R2);
		nc_dec_free(X);
		gen_free(&g);
	}
}
END_TEST

/*
 * Seeded randomised property test over many (k, B): blocks from the source
 * (systematic, coded), from a relay (recoded at partial rank) and duplicates,
 * in random order. Invariants: every valid block is either innovative (rank
 * + 1) or rejected (counted); the result is exact. Seed in the message.
 */
START_TEST(test_property)
{
	const uint64_t seed = 0x5eed0000ULL + (uint64_t)_i;
	struct lc_rng r;
	lc_rng_seed(&r, seed);
	for (unsigned round = 0; round < 40; round++) {
		unsigned k;
		size_t bs;
		switch (lc_rng_below(&r, 8)) {
		case 0:
			k = 1 + lc_rng_below(&r, 256);
			bs = 1 + lc_rng_below(&r, 256);
			break;
		case 1:
			k = 1 + lc_rng_below(&r, 3);
			bs = NC_MAX_BLOCK - lc_rng_below(&r, 3);
			break;
		default:
			k = 1 + lc_rng_below(&r, 64);
			bs = 1 + lc_rng_below(&r, 4096);
			break;
		}
		struct gen g;
		gen_make(&g, &r, k, bs, 1 + lc_rng_below(&r, (uint32_t)(k * bs)));
		struct nc_dec *relay, *d;
		ck_assert_int_eq(nc_dec_new(&relay, k, bs, g.len), 0);
		ck_assert_int_eq(nc_dec_new(&d, k, bs, g.len), 0);
		struct blk b, last;
		blk_init(&b, bs);
		blk_init(&last, bs);
		bool have_last = false;
		uint64_t offered = 0;
		unsigned steps = 0;
		while (!nc_dec_complete(d)) {
			unsigned what = lc_rng_below(&r, 4);
			int rc;
			if (what == 0 || (what == 1 && !nc_dec_rank(relay))) {
				rc = nc_enc_next(g.enc, &r, b.coef, b.pay);
				ck_assert_int_ge(rc, 0);
				if (lc_rng_below(&r, 2))
					offer(relay, &b);
			} else if (what == 1) {
				ck_assert_int_eq(nc_dec_recode(relay, &r, b.coef, b.pay), 0);
			} else if (what == 2 && have_last) {
				memcpy(b.coef, last.coef, k);
				memcpy(b.pay, last.pay, bs);
			} else {
				ck_assert_int_eq(nc_enc_coded(g.enc, &r, b.coef, b.pay), 0);
			}
			offer(d, &b);
			offered++;
			memcpy(last.coef, b.coef, k);
			memcpy(last.pay, b.pay, bs);
			have_last = true;
			ck_assert_msg(++steps < 4 * k + 100, "seed %llx round %u: no progress",
				      (unsigned long long)seed, round);
		}
		ck_assert_uint_eq(nc_dec_rank(d) + nc_dec_rejected(d), offered);
		check_decoded(d, &g);
		free(b.pay);
		free(last.pay);
		nc_dec_free(relay);
		nc_dec_free(d);
		gen_free(&g);
	}
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

	tc = tcase_create("rlnc");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_gen_k);
	tcase_add_test(tc, test_bad_input);
	tcase_add_loop_test(tc, test_decode_random, 0, nk);
	tcase_add_test(tc, test_systematic_mix);
	tcase_add_test(tc, test_dependents_rejected);
	tcase_add_test(tc, test_chain);
	tcase_add_test(tc, test_two_relays);
	tcase_add_loop_test(tc, test_property, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}
