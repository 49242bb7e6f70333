/*
 * GF(2^8) over 0x11D: the log/exp reference, the per-constant tables of the
 * SIMD kernels, CPU feature detection and the dispatch table.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "nc/internal.h"
#include "nc/nc.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define NC_X86 1
#endif

/* exp has 512 entries so that exp[log a + log b] needs no reduction. */
static uint8_t gf_exp[512];
static uint8_t gf_log[256];
uint8_t nc__gf_split[256][32] __attribute__((aligned(64)));
uint64_t nc__gf_affine[256] __attribute__((aligned(64)));

static const struct nc_gf_kernel *best;
static _Atomic(const struct nc_gf_kernel *) active;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static unsigned cpu_bits;
enum { CPU_AVX2 = 1, CPU_GFNI = 2, CPU_AVX512BW = 4, CPU_ZMM_OS = 8 };

static void cpu_detect(void)
{
#ifdef NC_X86
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	bool osxsave = c & (1u << 27), avx = c & (1u << 28);
	if (!osxsave || !avx)
		return; /* no OS-managed YMM state: no AVX of any kind */
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	if ((lo & 0x6) != 0x6)
		return; /* XMM and YMM state not enabled by the OS */
	bool zmm = (lo & 0xe6) == 0xe6; /* plus opmask, ZMM_Hi256, Hi16_ZMM */
	if (__get_cpuid_max(0, NULL) < 7)
		return;
	__cpuid_count(7, 0, a, b, c, d);
	if (b & (1u << 5))
		cpu_bits |= CPU_AVX2;
	if (c & (1u << 8))
		cpu_bits |= CPU_GFNI;
	if (zmm && (b & (1u << 16)) && (b & (1u << 30)))
		cpu_bits |= CPU_AVX512BW | CPU_ZMM_OS;
#endif
}

bool nc__cpu_avx2(void)
{
	nc__gf_init();
	return cpu_bits & CPU_AVX2;
}

bool nc__cpu_gfni_avx2(void)
{
	nc__gf_init();
	return (cpu_bits & (CPU_AVX2 | CPU_GFNI)) == (CPU_AVX2 | CPU_GFNI);
}

bool nc__cpu_gfni_avx512(void)
{
	nc__gf_init();
	return (cpu_bits & (CPU_AVX512BW | CPU_GFNI)) == (CPU_AVX512BW | CPU_GFNI);
}

/* ---- reference ---------------------------------------------------------- */

uint8_t nc_gf_mul(uint8_t a, uint8_t b)
{
	if (!a || !b)
		return 0;
	return gf_exp[gf_log[a] + gf_log[b]];
}

uint8_t nc_gf_inv(uint8_t a)
{
	if (!a)
		return 0;
	return gf_exp[255 - gf_log[a]];
}

uint8_t nc_gf_div(uint8_t a, uint8_t b)
{
	if (!a || !b)
		return 0;
	return gf_exp[gf_log[a] + 255 - gf_log[b]];
}

static void ref_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c)
		return;
	const uint8_t *e = gf_exp + gf_log[c];
	for (size_t i = 0; i < n; i++)
		if (src[i])
			dst[i] ^= e[gf_log[src[i]]];
}

static void ref_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c) {
		memset(dst, 0, n);
		return;
	}
	const uint8_t *e = gf_exp + gf_log[c];
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] ? e[gf_log[src[i]]] : 0;
}

static void ref_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c, size_t nsrc,
		    size_t n)
{
	if (!nsrc) {
		memset(dst, 0, n);
		return;
	}
	ref_mul(dst, src[0], c[0], n);
	for (size_t i = 1; i < nsrc; i++)
		ref_madd(dst, src[i], c[i], n);
}

static bool always(void)
{
	return true;
}

static const struct nc_gf_kernel kernel_ref = {
	.name = "ref", .supported = always, .madd = ref_madd, .mul = ref_mul, .dot = ref_dot,
};

static const struct nc_gf_kernel *const kernels[] = {
	&kernel_ref,
	&nc__gf_kernel_isal,
	&nc__gf_kernel_avx2,
	&nc__gf_kernel_gfni_avx2,
	&nc__gf_kernel_gfni_avx512,
};
#define NKERNELS (sizeof kernels / sizeof kernels[0])

/* ---- tables and dispatch ------------------------------------------------- */

static void init_tables(void)
{
	unsigned x = 1;
	for (unsigned i = 0; i < 255; i++) {
		gf_exp[i] = (uint8_t)x;
		gf_log[x] = (uint8_t)i;
		x <<= 1;
		if (x & 0x100)
			x ^= NC_GF_POLY;
	}
	for (unsigned i = 255; i < 512; i++)
		gf_exp[i] = gf_exp[i - 255];
	gf_log[0] = 0; /* never used: callers test for 0 */

	for (unsigned c = 0; c < 256; c++) {
		for (unsigned i = 0; i < 16; i++) {
			nc__gf_split[c][i] = nc_gf_mul((uint8_t)c, (uint8_t)i);
			nc__gf_split[c][16 + i] = nc_gf_mul((uint8_t)c, (uint8_t)(i << 4));
		}
		/* Column j of M_c is c * x^j; row i collects bit i of every column. */
		uint64_t m = 0;
		for (unsigned i = 0; i < 8; i++) {
			unsigned row = 0;
			for (unsigned j = 0; j < 8; j++)
				row |= ((nc_gf_mul((uint8_t)c, (uint8_t)(1u << j)) >> i) & 1u) << j;
			m |= (uint64_t)row << (8 * (7 - i));
		}
		nc__gf_affine[c] = m;
	}
}

/*
 * Preference, from measurements on Zen 5 (see the benchmark): GFNI on zmm;
 * else ISA-L where it has AVX-512 (vpshufb on zmm beats GFNI on ymm); else
 * GFNI on ymm; else our AVX2 split tables (which has the many-source dot);
 * else ISA-L (its SSE paths); else the reference. Reads cpu_bits directly:
 * it runs inside the one-time initialisation.
 */
static const struct nc_gf_kernel *choose(void)
{
#ifdef NC_X86
	if ((cpu_bits & (CPU_AVX512BW | CPU_GFNI)) == (CPU_AVX512BW | CPU_GFNI))
		return &nc__gf_kernel_gfni_avx512;
	if (cpu_bits & CPU_AVX512BW)
		return &nc__gf_kernel_isal;
	if ((cpu_bits & (CPU_AVX2 | CPU_GFNI)) == (CPU_AVX2 | CPU_GFNI))
		return &nc__gf_kernel_gfni_avx2;
	if (cpu_bits & CPU_AVX2)
		return &nc__gf_kernel_avx2;
	return &nc__gf_kernel_isal;
#else
	return &kernel_ref;
#endif
}

static void init_all(void)
{
	init_tables();
	cpu_detect();
	best = choose();
	atomic_store_explicit(&active, best, memory_order_release);
}

void nc__gf_init(void)
{
	pthread_once(&init_once, init_all);
}

/* Fill the tables at load time so that the scalar functions need no check. */
__attribute__((constructor)) static void gf_constructor(void)
{
	nc__gf_init();
}

static inline const struct nc_gf_kernel *kern(void)
{
	const struct nc_gf_kernel *k = atomic_load_explicit(&active, memory_order_acquire);
	if (__builtin_expect(k == NULL, 0)) {
		nc__gf_init();
		k = atomic_load_explicit(&active, memory_order_acquire);
	}
	return k;
}

void nc_gf_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	kern()->madd(dst, src, c, n);
}

void nc_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	kern()->mul(dst, src, c, n);
}

void nc_gf_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c, size_t nsrc, size_t n)
{
	kern()->dot(dst, src, c, nsrc, n);
}

const struct nc_gf_kernel *const *nc_gf_kernels(size_t *count)
{
	nc__gf_init();
	if (count)
		*count = NKERNELS;
	return kernels;
}

const struct nc_gf_kernel *nc_gf_kernel_active(void)
{
	return kern();
}

int nc_gf_kernel_use(const char *name)
{
	nc__gf_init();
	if (!name) {
		atomic_store_explicit(&active, best, memory_order_release);
		return 0;
	}
	for (size_t i = 0; i < NKERNELS; i++) {
		if (strcmp(kernels[i]->name, name))
			continue;
		if (!kernels[i]->supported())
			return LC_ENOTSUP;
		atomic_store_explicit(&active, kernels[i], memory_order_release);
		return 0;
	}
	return LC_ENOENT;
}
