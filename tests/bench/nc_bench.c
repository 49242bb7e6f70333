/*
 * nc_bench: GF(2^8) region kernels and RLNC encode / recode / decode.
 *
 *   nc_bench [reps]      (default 25; run it pinned: taskset -c 1 nc_bench)
 *   NC_BENCH_GAP=bytes   distance from the end of the kernel source region
 *                        to its destination (default 2112; 0 or 64 show the
 *                        4K-aliasing penalty every kernel pays)
 *
 * Every figure is the best of `reps` repetitions, each long enough (>= 0.5 ms)
 * for the clock; buffers are hot in cache. Kernel throughput is bytes of
 * region processed per second; coding throughput is bytes of source data
 * per second (encode and recode: B bytes per coded block produced; decode:
 * k*B bytes per generation decoded, from reset to the source in place).
 * 1 MB = 10^6 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "nc/nc.h"

static int reps = 25;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best seconds per call of fn(arg), over reps repetitions of >= 0.5 ms. */
static double best_time(void (*fn)(void *), void *arg)
{
	/* Calibrate: calls per repetition. */
	long iters = 1;
	for (;;) {
		double t0 = now_s();
		for (long i = 0; i < iters; i++)
			fn(arg);
		double dt = now_s() - t0;
		if (dt >= 0.0005 || iters >= (1L << 30))
			break;
		iters *= dt > 0.00005 ? (long)(0.0006 / dt) + 1 : 10;
	}
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = now_s();
		for (long i = 0; i < iters; i++)
			fn(arg);
		double dt = (now_s() - t0) / (double)iters;
		if (dt < best)
			best = dt;
	}
	return best;
}

/* ---- kernels --------------------------------------------------------------- */

struct kjob {
	const struct nc_gf_kernel *k; /* NULL: memcpy */
	uint8_t *dst;
	const uint8_t *src;
	size_t n;
	unsigned c;
};

/* 64 calls per harness call, so that the harness costs nothing per region. */
static void run_madd(void *p)
{
	struct kjob *j = p;
	void (*madd)(uint8_t *, const uint8_t *, uint8_t, size_t) = j->k->madd;
	uint8_t *dst = j->dst;
	const uint8_t *src = j->src;
	size_t n = j->n;
	unsigned c = j->c;
	for (int i = 0; i < 64; i++) {
		/* A different non-trivial constant each call (2..255). */
		c = c >= 255 ? 2 : c + 1;
		madd(dst, src, (uint8_t)c, n);
	}
	j->c = c;
}

static void run_memcpy(void *p)
{
	struct kjob *j = p;
	for (int i = 0; i < 64; i++) {
		memcpy(j->dst, j->src, j->n);
		__asm__ volatile("" : : "r"(j->dst) : "memory");
	}
}

static double kernel_mbps(const struct nc_gf_kernel *k, uint8_t *dst, const uint8_t *src,
			  size_t n)
{
	struct kjob j = { .k = k, .dst = dst, .src = src, .n = n, .c = 2 };
	double t = best_time(k ? run_madd : run_memcpy, &j) / 64;
	return (double)n / t / 1e6;
}

/* ---- coding ---------------------------------------------------------------- */

struct cjob {
	unsigned k;
	size_t bs;
	struct lc_rng rng;
	struct nc_enc *enc;
	struct nc_dec *relay; /* full rank */
	struct nc_dec *dec;
	uint8_t *coef, *pay;
	/* Pre-made coded blocks for the decoder: nblk of them. */
	unsigned nblk;
	uint8_t *bcoef, *bpay;
	size_t len;
};

static void run_encode(void *p)
{
	struct cjob *j = p;
	nc_enc_coded(j->enc, &j->rng, j->coef, j->pay);
}

static void run_recode(void *p)
{
	struct cjob *j = p;
	nc_dec_recode(j->relay, &j->rng, j->coef, j->pay);
}

static void run_decode(void *p)
{
	struct cjob *j = p;
	nc_dec_reset(j->dec, j->len);
	for (unsigned i = 0; i < j->nblk && !nc_dec_complete(j->dec); i++)
		nc_dec_add(j->dec, j->bcoef + (size_t)i * j->k, j->k, j->bpay + i * j->bs, j->bs);
	if (!nc_dec_complete(j->dec))
		abort();
}

struct cres {
	double enc, rec, dec; /* MB/s of source data */
};

static int code_bench(unsigned k, size_t bs, struct cres *res)
{
	struct cjob j = { .k = k, .bs = bs, .len = k * bs, .nblk = k + 8 };
	lc_rng_seed(&j.rng, 1000 * k + bs);
	uint8_t *data = malloc(j.len);
	j.coef = malloc(k);
	j.pay = malloc(bs);
	j.bcoef = malloc((size_t)j.nblk * k);
	j.bpay = malloc(j.nblk * bs);
	uint8_t *out = malloc(j.len);
	if (!data || !j.coef || !j.pay || !j.bcoef || !j.bpay || !out)
		return LC_ENOMEM;
	lc_rng_fill(&j.rng, data, j.len);
	int rc = nc_enc_new(&j.enc, k, bs, data, j.len);
	if (!rc)
		rc = nc_dec_new(&j.relay, k, bs, j.len);
	if (!rc)
		rc = nc_dec_new(&j.dec, k, bs, j.len);
	if (rc)
		return rc;
	/* The relay reaches full rank from dense coded blocks. */
	while (!nc_dec_complete(j.relay)) {
		nc_enc_coded(j.enc, &j.rng, j.coef, j.pay);
		nc_dec_add(j.relay, j.coef, k, j.pay, bs);
	}
	/* The decoder's input: dense coded blocks (no systematic shortcut). */
	for (unsigned i = 0; i < j.nblk; i++)
		nc_enc_coded(j.enc, &j.rng, j.bcoef + (size_t)i * k, j.bpay + i * bs);
	run_decode(&j);
	if (nc_dec_copy(j.dec, out, j.len) != (int)j.len || memcmp(out, data, j.len)) {
		fprintf(stderr, "nc_bench: decode mismatch at k=%u B=%zu\n", k, bs);
		return LC_ECORRUPT;
	}
	res->enc = (double)bs / best_time(run_encode, &j) / 1e6;
	res->rec = (double)bs / best_time(run_recode, &j) / 1e6;
	res->dec = (double)(k * bs) / best_time(run_decode, &j) / 1e6;
	nc_enc_free(j.enc);
	nc_dec_free(j.relay);
	nc_dec_free(j.dec);
	free(data);
	free(j.coef);
	free(j.pay);
	free(j.bcoef);
	free(j.bpay);
	free(out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		reps = atoi(argv[1]) > 0 ? atoi(argv[1]) : reps;
	size_t nk;
	const struct nc_gf_kernel *const *ks = nc_gf_kernels(&nk);
	const struct nc_gf_kernel *fast = nc_gf_kernel_active(), *isal = NULL;
	for (size_t i = 0; i < nk; i++)
		if (!strcmp(ks[i]->name, "isal"))
			isal = ks[i];
	printf("nc_bench: best of %d, GF(2^8) 0x11D, dispatch -> %s\n\n", reps, fast->name);

	/* Region multiply-add dst ^= c*src. */
	static const size_t sizes[] = { 1400, 4096, 16384, 65536 };
	enum { NS = sizeof sizes / sizeof sizes[0] };
	/*
	 * One allocation: dst sits 2 KiB + 64 B past the end of src, so that
	 * the two regions are not 4 KiB apart modulo 4 KiB (loads of src would
	 * otherwise falsely wait on stores to dst: 4K aliasing).
	 */
	size_t gap = getenv("NC_BENCH_GAP") ? strtoul(getenv("NC_BENCH_GAP"), NULL, 0) : 2112;
	uint8_t *mem = aligned_alloc(4096, 2 * 65536 + 8192);
	if (!mem)
		return 1;
	uint8_t *src = mem, *dst = mem + 65536 + gap;
	struct lc_rng r;
	lc_rng_seed(&r, 1);
	lc_rng_fill(&r, src, 65536);
	lc_rng_fill(&r, dst, 65536);
	double isal_mbps[NS], fast_mbps[NS];
	printf("kernel madd dst ^= c*src, MB/s (x = ratio to ISA-L gf_vect_mad)\n");
	printf("%-22s", "kernel");
	for (int s = 0; s < NS; s++)
		printf("  %7zu B        ", sizes[s]);
	printf("\n");
	/* Rows: memcpy, each kernel the CPU runs, the dispatched one as "fast". */
	const struct nc_gf_kernel *rows[16];
	const char *label[16];
	size_t nr = 0;
	rows[nr] = NULL;
	label[nr++] = "memcpy";
	for (size_t i = 0; i < nk && nr < 15; i++)
		if (ks[i]->supported()) {
			rows[nr] = ks[i];
			label[nr++] = ks[i] == isal ? "isal (gf_vect_mad)" : i == 0 ? "ref (C log/exp)"
										 : ks[i]->name;
		}
	rows[nr] = fast;
	label[nr++] = "fast (dispatched)";
	double v[16][NS];
	for (size_t i = 0; i < nr; i++)
		for (int s = 0; s < NS; s++) {
			v[i][s] = kernel_mbps(rows[i], dst, src, sizes[s]);
			if (rows[i] == isal && i < nr - 1)
				isal_mbps[s] = v[i][s];
			if (i == nr - 1)
				fast_mbps[s] = v[i][s];
		}
	for (size_t i = 0; i < nr; i++) {
		printf("%-22s", label[i]);
		for (int s = 0; s < NS; s++)
			printf("  %9.0f %5.2fx ", v[i][s], isal ? v[i][s] / isal_mbps[s] : 0.0);
		printf("\n");
	}
	printf("(the isal row is ISA-L's gf_vect_mad with tables made beforehand, one call per region;\n"
	       " memcpy and the C reference are measured like the kernels)\n\n");

	/* RLNC. */
	static const unsigned kk[] = { 16, 32, 64, 128 };
	static const size_t bb[] = { 1400, 4096, 16384 };
	printf("RLNC, MB/s of source data (dense random coefficients; recode from a full-rank relay;\n"
	       "decode = reset + k coded blocks + solve). eff = MB/s x k / kernel madd MB/s at B.\n");
	printf("%5s %6s %10s %10s %10s %8s %8s %8s\n", "k", "B", "encode", "recode", "decode",
	       "enc eff", "rec eff", "dec eff");
	double dec_k32 = 0, enc_eff32 = 0, dec_eff32 = 0;
	for (size_t a = 0; a < sizeof kk / sizeof kk[0]; a++)
		for (size_t b = 0; b < sizeof bb / sizeof bb[0]; b++) {
			struct cres c;
			int rc = code_bench(kk[a], bb[b], &c);
			if (rc) {
				fprintf(stderr, "nc_bench: %s\n", lc_strerror(rc));
				return 1;
			}
			double kern = fast_mbps[b == 0 ? 0 : b == 1 ? 1 : 2];
			printf("%5u %6zu %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f\n", kk[a], bb[b], c.enc,
			       c.rec, c.dec, c.enc * kk[a] / kern, c.rec * kk[a] / kern,
			       c.dec * kk[a] / kern);
			if (kk[a] == 32 && bb[b] == 1400) {
				dec_k32 = c.dec;
				enc_eff32 = c.enc * 32 / fast_mbps[0];
				dec_eff32 = c.dec * 32 / fast_mbps[0];
			}
		}
	printf("\nRESULT definitions: kernel_vs_isal = fast (%s) madd MB/s / ISA-L gf_vect_mad MB/s at "
	       "1400 B;\n  decode_k32_b1400_mbps = decode MB/s of source at k=32, B=1400;\n"
	       "  encode_eff_k32, decode_eff_k32 = MB/s x 32 / fast madd MB/s at 1400 B (k=32, "
	       "B=1400)\n",
	       fast->name);
	printf("RESULT kernel_vs_isal=%.2f decode_k32_b1400_mbps=%.0f encode_eff_k32=%.2f "
	       "decode_eff_k32=%.2f\n",
	       isal ? fast_mbps[0] / isal_mbps[0] : 0.0, dec_k32, enc_eff32, dec_eff32);
	free(mem);
	return 0;
}
