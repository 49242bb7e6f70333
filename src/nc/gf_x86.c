/*
 * The project's own x86 region kernels. Each function carries its target
 * attribute, so this file builds without -m flags and the dispatcher only
 * calls a function after cpuid/xgetbv said the CPU and OS can run it.
 *
 *  avx2        split tables: 2 x vpshufb per 32 bytes (see nc.h)
 *  gfni-avx2   vgf2p8affineqb on ymm with the per-constant matrix
 *  gfni-avx512 vgf2p8affineqb on zmm; ragged ends with byte masks
 *
 * dot keeps 64 to 256 bytes of the result in registers while it walks all
 * sources, so the destination is written once instead of once per source.
 */
#include <string.h>

#include "nc/internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx2")))
#define T_GFNI2 __attribute__((target("avx2,gfni")))
#define T_GFNI5 __attribute__((target("avx512f,avx512bw,gfni")))

/* ---- AVX2 split tables -------------------------------------------------- */

struct tab2 {
	__m256i lo, hi;
};

static inline T_AVX2 struct tab2 tab2_load(uint8_t c)
{
	struct tab2 t;
	t.lo = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)nc__gf_split[c]));
	t.hi = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)(nc__gf_split[c] + 16)));
	return t;
}

static inline T_AVX2 __m128i mul1(__m128i x, struct tab2 t)
{
	const __m128i m = _mm_set1_epi8(0x0f);
	__m128i l = _mm_and_si128(x, m);
	__m128i h = _mm_and_si128(_mm_srli_epi16(x, 4), m);
	return _mm_xor_si128(_mm_shuffle_epi8(_mm256_castsi256_si128(t.lo), l),
			     _mm_shuffle_epi8(_mm256_castsi256_si128(t.hi), h));
}

static inline T_AVX2 __m256i mul2(__m256i x, struct tab2 t)
{
	const __m256i m = _mm256_set1_epi8(0x0f);
	__m256i l = _mm256_and_si256(x, m);
	__m256i h = _mm256_and_si256(_mm256_srli_epi16(x, 4), m);
	return _mm256_xor_si256(_mm256_shuffle_epi8(t.lo, l), _mm256_shuffle_epi8(t.hi, h));
}

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define ST(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define LD1(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define ST1(p, v) _mm_storeu_si128((__m128i *)(void *)(p), v)

T_AVX2 static void avx2_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c)
		return;
	struct tab2 t = tab2_load(c);
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		__m256i a = mul2(LD(src + i), t), b = mul2(LD(src + i + 32), t);
		ST(dst + i, _mm256_xor_si256(LD(dst + i), a));
		ST(dst + i + 32, _mm256_xor_si256(LD(dst + i + 32), b));
	}
	for (; i + 32 <= n; i += 32)
		ST(dst + i, _mm256_xor_si256(LD(dst + i), mul2(LD(src + i), t)));
	if (i + 16 <= n) {
		ST1(dst + i, _mm_xor_si128(LD1(dst + i), mul1(LD1(src + i), t)));
		i += 16;
	}
	nc__gf_madd_tail(dst + i, src + i, c, n - i);
}

T_AVX2 static void avx2_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	struct tab2 t = tab2_load(c);
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		__m256i a = mul2(LD(src + i), t), b = mul2(LD(src + i + 32), t);
		ST(dst + i, a);
		ST(dst + i + 32, b);
	}
	for (; i + 32 <= n; i += 32)
		ST(dst + i, mul2(LD(src + i), t));
	if (i + 16 <= n) {
		ST1(dst + i, mul1(LD1(src + i), t));
		i += 16;
	}
	nc__gf_mul_tail(dst + i, src + i, c, n - i);
}

T_AVX2 static void avx2_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c,
			    size_t nsrc, size_t n)
{
	if (!nsrc) {
		memset(dst, 0, n);
		return;
	}
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		__m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
		for (size_t s = 0; s < nsrc; s++) {
			struct tab2 t = tab2_load(c[s]);
			a = _mm256_xor_si256(a, mul2(LD(src[s] + i), t));
			b = _mm256_xor_si256(b, mul2(LD(src[s] + i + 32), t));
		}
		ST(dst + i, a);
		ST(dst + i + 32, b);
	}
	/* dst aliases no source, so a ragged end may redo an overlapping vector. */
	for (; i < n && n >= 32; i += 32) {
		if (i + 32 > n)
			i = n - 32;
		__m256i a = _mm256_setzero_si256();
		for (size_t s = 0; s < nsrc; s++)
			a = _mm256_xor_si256(a, mul2(LD(src[s] + i), tab2_load(c[s])));
		ST(dst + i, a);
	}
	if (n < 32) {
		nc__gf_mul_tail(dst, src[0], c[0], n);
		for (size_t s = 1; s < nsrc; s++)
			nc__gf_madd_tail(dst, src[s], c[s], n);
	}
}

/* ---- GFNI on ymm ---------------------------------------------------------- */

static inline T_GFNI2 __m256i mat2(uint8_t c)
{
	return _mm256_set1_epi64x((long long)nc__gf_affine[c]);
}

#define AFF2(x, m) _mm256_gf2p8affine_epi64_epi8(x, m, 0)
#define AFF1(x, m) _mm_gf2p8affine_epi64_epi8(x, _mm256_castsi256_si128(m), 0)

T_GFNI2 static void gfni2_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c)
		return;
	__m256i m = mat2(c);
	size_t i = 0;
	for (; i + 128 <= n; i += 128) {
		__m256i a = AFF2(LD(src + i), m), b = AFF2(LD(src + i + 32), m);
		__m256i e = AFF2(LD(src + i + 64), m), f = AFF2(LD(src + i + 96), m);
		ST(dst + i, _mm256_xor_si256(LD(dst + i), a));
		ST(dst + i + 32, _mm256_xor_si256(LD(dst + i + 32), b));
		ST(dst + i + 64, _mm256_xor_si256(LD(dst + i + 64), e));
		ST(dst + i + 96, _mm256_xor_si256(LD(dst + i + 96), f));
	}
	for (; i + 32 <= n; i += 32)
		ST(dst + i, _mm256_xor_si256(LD(dst + i), AFF2(LD(src + i), m)));
	if (i + 16 <= n) {
		ST1(dst + i, _mm_xor_si128(LD1(dst + i), AFF1(LD1(src + i), m)));
		i += 16;
	}
	nc__gf_madd_tail(dst + i, src + i, c, n - i);
}

T_GFNI2 static void gfni2_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	__m256i m = mat2(c);
	size_t i = 0;
	for (; i + 128 <= n; i += 128) {
		__m256i a = AFF2(LD(src + i), m), b = AFF2(LD(src + i + 32), m);
		__m256i e = AFF2(LD(src + i + 64), m), f = AFF2(LD(src + i + 96), m);
		ST(dst + i, a);
		ST(dst + i + 32, b);
		ST(dst + i + 64, e);
		ST(dst + i + 96, f);
	}
	for (; i + 32 <= n; i += 32)
		ST(dst + i, AFF2(LD(src + i), m));
	if (i + 16 <= n) {
		ST1(dst + i, AFF1(LD1(src + i), m));
		i += 16;
	}
	nc__gf_mul_tail(dst + i, src + i, c, n - i);
}

T_GFNI2 static void gfni2_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c,
			      size_t nsrc, size_t n)
{
	if (!nsrc) {
		memset(dst, 0, n);
		return;
	}
	size_t i = 0;
	for (; i + 128 <= n; i += 128) {
		__m256i a = _mm256_setzero_si256(), b = a, e = a, f = a;
		for (size_t s = 0; s < nsrc; s++) {
			__m256i m = mat2(c[s]);
			const uint8_t *p = src[s] + i;
			a = _mm256_xor_si256(a, AFF2(LD(p), m));
			b = _mm256_xor_si256(b, AFF2(LD(p + 32), m));
			e = _mm256_xor_si256(e, AFF2(LD(p + 64), m));
			f = _mm256_xor_si256(f, AFF2(LD(p + 96), m));
		}
		ST(dst + i, a);
		ST(dst + i + 32, b);
		ST(dst + i + 64, e);
		ST(dst + i + 96, f);
	}
	for (; i < n && n >= 32; i += 32) {
		if (i + 32 > n)
			i = n - 32;
		__m256i a = _mm256_setzero_si256();
		for (size_t s = 0; s < nsrc; s++)
			a = _mm256_xor_si256(a, AFF2(LD(src[s] + i), mat2(c[s])));
		ST(dst + i, a);
	}
	if (n < 32) {
		nc__gf_mul_tail(dst, src[0], c[0], n);
		for (size_t s = 1; s < nsrc; s++)
			nc__gf_madd_tail(dst, src[s], c[s], n);
	}
}

/* ---- GFNI on zmm ---------------------------------------------------------- */

#define LD5(p) _mm512_loadu_si512((const void *)(p))
#define ST5(p, v) _mm512_storeu_si512((void *)(p), v)
#define AFF5(x, m) _mm512_gf2p8affine_epi64_epi8(x, m, 0)

static inline T_GFNI5 __m512i mat5(uint8_t c)
{
	return _mm512_set1_epi64((long long)nc__gf_affine[c]);
}

static inline __mmask64 tailmask(size_t r)
{
	return r >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1);
}

T_GFNI5 static void gfni5_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c)
		return;
	/* One vector per iteration measured fastest here (Zen 5: store-bound). */
	__m512i m = mat5(c);
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		ST5(dst + i, _mm512_xor_si512(LD5(dst + i), AFF5(LD5(src + i), m)));
	if (i < n) {
		__mmask64 k = tailmask(n - i);
		__m512i s = _mm512_maskz_loadu_epi8(k, src + i);
		__m512i d = _mm512_maskz_loadu_epi8(k, dst + i);
		_mm512_mask_storeu_epi8(dst + i, k, _mm512_xor_si512(d, AFF5(s, m)));
	}
}

T_GFNI5 static void gfni5_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	__m512i m = mat5(c);
	size_t i = 0;
	for (; i + 256 <= n; i += 256) {
		__m512i a = AFF5(LD5(src + i), m), b = AFF5(LD5(src + i + 64), m);
		__m512i e = AFF5(LD5(src + i + 128), m), f = AFF5(LD5(src + i + 192), m);
		ST5(dst + i, a);
		ST5(dst + i + 64, b);
		ST5(dst + i + 128, e);
		ST5(dst + i + 192, f);
	}
	for (; i + 64 <= n; i += 64)
		ST5(dst + i, AFF5(LD5(src + i), m));
	if (i < n) {
		__mmask64 k = tailmask(n - i);
		_mm512_mask_storeu_epi8(dst + i, k, AFF5(_mm512_maskz_loadu_epi8(k, src + i), m));
	}
}

T_GFNI5 static void gfni5_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c,
			      size_t nsrc, size_t n)
{
	size_t i = 0;
	for (; i + 256 <= n; i += 256) {
		__m512i a = _mm512_setzero_si512(), b = a, e = a, f = a;
		for (size_t s = 0; s < nsrc; s++) {
			__m512i m = mat5(c[s]);
			const uint8_t *p = src[s] + i;
			a = _mm512_xor_si512(a, AFF5(LD5(p), m));
			b = _mm512_xor_si512(b, AFF5(LD5(p + 64), m));
			e = _mm512_xor_si512(e, AFF5(LD5(p + 128), m));
			f = _mm512_xor_si512(f, AFF5(LD5(p + 192), m));
		}
		ST5(dst + i, a);
		ST5(dst + i + 64, b);
		ST5(dst + i + 128, e);
		ST5(dst + i + 192, f);
	}
	for (; i < n; i += 64) {
		__mmask64 k = tailmask(n - i);
		__m512i a = _mm512_setzero_si512();
		for (size_t s = 0; s < nsrc; s++)
			a = _mm512_xor_si512(a, AFF5(_mm512_maskz_loadu_epi8(k, src[s] + i), mat5(c[s])));
		_mm512_mask_storeu_epi8(dst + i, k, a);
	}
}

const struct nc_gf_kernel nc__gf_kernel_avx2 = {
	.name = "avx2", .supported = nc__cpu_avx2,
	.madd = avx2_madd, .mul = avx2_mul, .dot = avx2_dot,
};
const struct nc_gf_kernel nc__gf_kernel_gfni_avx2 = {
	.name = "gfni-avx2", .supported = nc__cpu_gfni_avx2,
	.madd = gfni2_madd, .mul = gfni2_mul, .dot = gfni2_dot,
};
const struct nc_gf_kernel nc__gf_kernel_gfni_avx512 = {
	.name = "gfni-avx512", .supported = nc__cpu_gfni_avx512,
	.madd = gfni5_madd, .mul = gfni5_mul, .dot = gfni5_dot,
};

#else /* not x86: the names exist, the CPU never supports them */

static bool never(void)
{
	return false;
}

const struct nc_gf_kernel nc__gf_kernel_avx2 = { .name = "avx2", .supported = never };
const struct nc_gf_kernel nc__gf_kernel_gfni_avx2 = { .name = "gfni-avx2", .supported = never };
const struct nc_gf_kernel nc__gf_kernel_gfni_avx512 = { .name = "gfni-avx512", .supported = never };

#endif
