/*
 * RLNC encoder, recoder and progressive decoder (the maths is in nc.h).
 *
 * Memory: every object is one 64-byte aligned allocation. Rows are padded to
 * 64 bytes so that every row starts on a cache line.
 */
#include <stdlib.h>
#include <string.h>

#include "nc/nc.h"

#define ROUND64(x) (((x) + 63) & ~(size_t)63)

static int check_kb(unsigned k, size_t bs)
{
	if (k < 1 || k > NC_MAX_K || bs < 1 || bs > NC_MAX_BLOCK)
		return LC_EINVAL;
	return 0;
}

int nc_gen_k(size_t len, size_t block_size)
{
	if (!len || !block_size || block_size > NC_MAX_BLOCK)
		return LC_EINVAL;
	size_t k = len / block_size + (len % block_size != 0);
	if (k > NC_MAX_K)
		return LC_ERANGE;
	return (int)k;
}

/* Uniform non-zero coefficients. */
static void random_nonzero(struct lc_rng *rng, uint8_t *c, size_t n)
{
	lc_rng_fill(rng, c, n);
	for (size_t i = 0; i < n; i++)
		while (!c[i])
			c[i] = (uint8_t)lc_rng_next(rng);
}

/* ---- encoder ---------------------------------------------------------------- */

struct nc_enc {
	unsigned k;
	unsigned next;   /* blocks produced so far by nc_enc_next() */
	size_t bs;
	size_t stride;
	size_t len;
	uint8_t *data;   /* k rows of stride bytes */
};

int nc_enc_new(struct nc_enc **out, unsigned k, size_t block_size, const void *data,
	       size_t len)
{
	if (!out || !data || check_kb(k, block_size) || !len || len > (size_t)k * block_size)
		return LC_EINVAL;
	size_t head = ROUND64(sizeof(struct nc_enc)), stride = ROUND64(block_size);
	struct nc_enc *e = aligned_alloc(64, head + k * stride);
	if (!e)
		return LC_ENOMEM;
	e->k = k;
	e->next = 0;
	e->bs = block_size;
	e->stride = stride;
	e->len = len;
	e->data = (uint8_t *)e + head;
	const uint8_t *p = data;
	for (unsigned i = 0; i < k; i++) {
		size_t off = (size_t)i * block_size;
		size_t n = off >= len ? 0 : len - off < block_size ? len - off : block_size;
		memcpy(e->data + i * stride, p + off, n);
		memset(e->data + i * stride + n, 0, stride - n);
	}
	*out = e;
	return 0;
}

void nc_enc_free(struct nc_enc *e)
{
	free(e);
}

unsigned nc_enc_k(const struct nc_enc *e)
{
	return e->k;
}

size_t nc_enc_block_size(const struct nc_enc *e)
{
	return e->bs;
}

size_t nc_enc_len(const struct nc_enc *e)
{
	return e->len;
}

int nc_enc_systematic(const struct nc_enc *e, unsigned i, uint8_t *coef, uint8_t *payload)
{
	if (!e || !coef || !payload || i >= e->k)
		return LC_EINVAL;
	memset(coef, 0, e->k);
	coef[i] = 1;
	memcpy(payload, e->data + i * e->stride, e->bs);
	return 0;
}

int nc_enc_combine(const struct nc_enc *e, const uint8_t *coef, uint8_t *payload)
{
	if (!e || !coef || !payload)
		return LC_EINVAL;
	const uint8_t *src[NC_MAX_K];
	uint8_t c[NC_MAX_K];
	size_t n = 0;
	for (unsigned i = 0; i < e->k; i++)
		if (coef[i]) {
			src[n] = e->data + i * e->stride;
			c[n++] = coef[i];
		}
	nc_gf_dot(payload, src, c, n, e->bs);
	return 0;
}

int nc_enc_coded(const struct nc_enc *e, struct lc_rng *rng, uint8_t *coef, uint8_t *payload)
{
	if (!e || !rng || !coef || !payload)
		return LC_EINVAL;
	random_nonzero(rng, coef, e->k);
	return nc_enc_combine(e, coef, payload);
}

int nc_enc_next(struct nc_enc *e, struct lc_rng *rng, uint8_t *coef, uint8_t *payload)
{
	if (!e || !rng || !coef || !payload)
		return LC_EINVAL;
	int rc;
	if (e->next < e->k) {
		rc = nc_enc_systematic(e, e->next, coef, payload);
		if (rc == 0)
			rc = 1;
	} else {
		rc = nc_enc_coded(e, rng, coef, payload);
	}
	if (rc >= 0 && e->next < UINT32_MAX)
		e->next++;
	return rc;
}

/* ---- decoder ---------------------------------------------------------------- */

struct nc_dec {
	unsigned k;
	unsigned rank;
	bool complete;
	uint64_t rejected;
	size_t bs, len;
	size_t stride;   /* payload row stride */
	size_t cw;       /* coefficient row stride */
	size_t aw;       /* augmented row stride (>= 2k) */
	size_t sw;       /* solve stripe width */
	uint8_t *pay;    /* k payload rows, arrival order; the source when complete */
	uint8_t *coef;   /* k coefficient vectors as received, arrival order */
	uint8_t *aug;    /* k+1 rows [R | T]; row `rank` is scratch for the next block */
	uint8_t *piv;    /* pivot column of each row of R */
	uint8_t *tmp;    /* k x sw: one stripe of the solution */
};

/*
 * The stripe of the final solve: small enough that a stripe of all k rows
 * and of the result stay in L1/L2 (about 32 KiB each), whole rows where they
 * fit, and stripes of equal width. (16 to 32 KiB measured alike; whole
 * rows lose at k >= 64.)
 */
static size_t stripe_width(unsigned k, size_t stride)
{
	size_t max = (32768 / k) & ~(size_t)63;
	if (max < 256)
		max = 256;
	if (stride <= max)
		return stride;
	size_t n = (stride + max - 1) / max;
	return ROUND64((stride + n - 1) / n);
}

int nc_dec_new(struct nc_dec **out, unsigned k, size_t block_size, size_t len)
{
	if (!out || check_kb(k, block_size) || !len || len > (size_t)k * block_size)
		return LC_EINVAL;
	size_t head = ROUND64(sizeof(struct nc_dec));
	size_t stride = ROUND64(block_size), cw = ROUND64(k), aw = ROUND64(2 * (size_t)k);
	size_t sw = stripe_width(k, stride);
	size_t total = head + k * stride + k * cw + (k + 1) * aw + ROUND64(k) + k * sw;
	struct nc_dec *d = aligned_alloc(64, total);
	if (!d)
		return LC_ENOMEM;
	uint8_t *p = (uint8_t *)d + head;
	d->k = k;
	d->bs = block_size;
	d->stride = stride;
	d->cw = cw;
	d->aw = aw;
	d->sw = sw;
	d->pay = p;
	p += k * stride;
	d->coef = p;
	p += k * cw;
	d->aug = p;
	p += (k + 1) * aw;
	d->piv = p;
	p += ROUND64(k);
	d->tmp = p;
	nc_dec_reset(d, len);
	*out = d;
	return 0;
}

void nc_dec_free(struct nc_dec *d)
{
	free(d);
}

int nc_dec_reset(struct nc_dec *d, size_t len)
{
	if (!d || !len || len > (size_t)d->k * d->bs)
		return LC_EINVAL;
	d->len = len;
	d->rank = 0;
	d->complete = false;
	d->rejected = 0;
	return 0;
}

unsigned nc_dec_rank(const struct nc_dec *d)
{
	return d->rank;
}

bool nc_dec_complete(const struct nc_dec *d)
{
	return d->complete;
}

uint64_t nc_dec_rejected(const struct nc_dec *d)
{
	return d->rejected;
}

unsigned nc_dec_k(const struct nc_dec *d)
{
	return d->k;
}

size_t nc_dec_block_size(const struct nc_dec *d)
{
	return d->bs;
}

size_t nc_dec_len(const struct nc_dec *d)
{
	return d->len;
}

/*
 * At rank k: R = I up to the row order, so source block piv[i] is
 * sum_m T_i[m] Y_m. Work in column stripes so that the k source stripes and
 * the result stripe stay in L1; write the stripe back over Y after all its
 * rows are computed. A row that is already its own source block (a
 * systematic block, T_i = e_i and piv[i] = i) is left where it is.
 *
 * The coefficient arrays are done with by then, so they hold the sparse
 * form of T: the R half of aug row i gets the non-zero factors of T_i, the
 * coef row i the indices of their blocks.
 */
static void solve(struct nc_dec *d)
{
	const unsigned k = d->k;
	uint16_t cnt[NC_MAX_K];
	bool keep[NC_MAX_K];
	for (unsigned i = 0; i < k; i++) {
		uint8_t *r = d->aug + i * d->aw, *t = r + k, *idx = d->coef + i * d->cw;
		unsigned n = 0;
		for (unsigned m = 0; m < k; m++)
			if (t[m]) {
				r[n] = t[m]; /* n <= m < k: never overwrites an unread t[] */
				idx[n++] = (uint8_t)m;
			}
		cnt[i] = (uint16_t)n;
		keep[d->piv[i]] = n == 1 && r[0] == 1 && idx[0] == i && d->piv[i] == i;
	}
	const uint8_t *src[NC_MAX_K];
	for (size_t s = 0; s < d->bs; s += d->sw) {
		size_t w = d->bs - s < d->sw ? d->bs - s : d->sw;
		for (unsigned i = 0; i < k; i++) {
			unsigned p = d->piv[i];
			if (keep[p])
				continue;
			const uint8_t *idx = d->coef + i * d->cw;
			for (unsigned j = 0; j < cnt[i]; j++)
				src[j] = d->pay + idx[j] * d->stride + s;
			nc_gf_dot(d->tmp + p * d->sw, src, d->aug + i * d->aw, cnt[i], w);
		}
		for (unsigned j = 0; j < k; j++)
			if (!keep[j])
				memcpy(d->pay + j * d->stride + s, d->tmp + j * d->sw, w);
	}
	/* From now on the store holds the source blocks with unit vectors. */
	for (unsigned j = 0; j < k; j++) {
		uint8_t *c = d->coef + j * d->cw;
		memset(c, 0, k);
		c[j] = 1;
		d->piv[j] = (uint8_t)j;
	}
	d->complete = true;
}

int nc_dec_add(struct nc_dec *d, const uint8_t *coef, size_t coef_len, const uint8_t *payload,
	       size_t payload_len)
{
	if (!d || !coef || !payload || coef_len != d->k || payload_len != d->bs)
		return LC_EINVAL;
	if (d->complete) {
		d->rejected++;
		return LC_EDEPENDENT;
	}
	const unsigned k = d->k, r = d->rank;
	const size_t aw = d->aw;
	uint8_t *a = d->aug + r * aw;

	/*
	 * a = [v | e_r] - sum_i v[piv_i] [R_i | T_i]. The T rows only use the r
	 * stored blocks, so the dot covers k + r columns.
	 */
	const uint8_t *src[NC_MAX_K];
	uint8_t f[NC_MAX_K];
	unsigned n = 0;
	for (unsigned i = 0; i < r; i++) {
		uint8_t c = coef[d->piv[i]];
		if (c) {
			src[n] = d->aug + i * aw;
			f[n++] = c;
		}
	}
	nc_gf_dot(a, src, f, n, k + r);
	memset(a + k + r, 0, k - r);
	a[k + r] = 1;
	for (unsigned j = 0; j < k; j++)
		a[j] ^= coef[j];

	unsigned p = 0;
	while (p < k && !a[p])
		p++;
	if (p == k) {
		d->rejected++;
		return LC_EDEPENDENT;
	}
	/* Columns before p and T columns after r are zero in a: skip them. */
	size_t span = k + r + 1 - p;
	if (a[p] != 1)
		nc_gf_mul_region(a + p, a + p, nc_gf_inv(a[p]), span);
	for (unsigned i = 0; i < r; i++) {
		uint8_t *row = d->aug + i * aw;
		if (row[p])
			nc_gf_madd(row + p, a + p, row[p], span);
	}
	d->piv[r] = (uint8_t)p;
	memcpy(d->coef + r * d->cw, coef, k);
	memcpy(d->pay + r * d->stride, payload, d->bs);
	d->rank = r + 1;
	if (d->rank == k)
		solve(d);
	return (int)d->rank;
}

const uint8_t *nc_dec_block(const struct nc_dec *d, unsigned i)
{
	if (!d || !d->complete || i >= d->k)
		return NULL;
	return d->pay + i * d->stride;
}

int nc_dec_copy(const struct nc_dec *d, void *dst, size_t cap)
{
	if (!d || !dst)
		return LC_EINVAL;
	if (!d->complete)
		return LC_ESTATE;
	if (cap < d->len)
		return LC_EINVAL;
	uint8_t *o = dst;
	for (size_t off = 0, i = 0; off < d->len; off += d->bs, i++) {
		size_t n = d->len - off < d->bs ? d->len - off : d->bs;
		memcpy(o + off, d->pay + i * d->stride, n);
	}
	return d->len > INT32_MAX ? INT32_MAX : (int)d->len;
}

int nc_dec_held(const struct nc_dec *d, unsigned i, const uint8_t **coef, const uint8_t **payload)
{
	if (!d || !coef || !payload)
		return LC_EINVAL;
	if (d->complete)
		return LC_ESTATE;
	if (i >= d->rank)
		return LC_ERANGE;
	*coef = d->coef + i * d->cw;
	*payload = d->pay + i * d->stride;
	return 0;
}

int nc_dec_recode(const struct nc_dec *d, struct lc_rng *rng, uint8_t *coef, uint8_t *payload)
{
	if (!d || !rng || !coef || !payload)
		return LC_EINVAL;
	if (!d->rank)
		return LC_EAGAIN;
	const uint8_t *cs[NC_MAX_K], *ps[NC_MAX_K];
	uint8_t w[NC_MAX_K];
	random_nonzero(rng, w, d->rank);
	for (unsigned i = 0; i < d->rank; i++) {
		cs[i] = d->coef + i * d->cw;
		ps[i] = d->pay + i * d->stride;
	}
	nc_gf_dot(coef, cs, w, d->rank, d->k);
	nc_gf_dot(payload, ps, w, d->rank, d->bs);
	return 0;
}

int nc_recode(unsigned k, size_t block_size, unsigned n, const uint8_t *const *coefs,
	      const uint8_t *const *payloads, struct lc_rng *rng, uint8_t *coef,
	      uint8_t *payload)
{
	if (check_kb(k, block_size) || !n || !coefs || !payloads || !rng || !coef || !payload)
		return LC_EINVAL;
	if (n > NC_MAX_K)
		return LC_ERANGE;
	for (unsigned i = 0; i < n; i++)
		if (!coefs[i] || !payloads[i])
			return LC_EINVAL;
	uint8_t w[NC_MAX_K];
	random_nonzero(rng, w, n);
	nc_gf_dot(coef, coefs, w, n, k);
	nc_gf_dot(payload, payloads, w, n, block_size);
	return 0;
}
