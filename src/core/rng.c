#include <string.h>
#include <sys/random.h>

#include "core/core.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void lc_rng_seed(struct lc_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

void lc_rng_seed_os(struct lc_rng *r)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		seed = (uint64_t)lc_now_us() ^ (uint64_t)(uintptr_t)r;
	lc_rng_seed(r, seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lc_rng_next(struct lc_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint32_t lc_rng_below(struct lc_rng *r, uint32_t bound)
{
	/* Lemire's multiply-shift with rejection: unbiased. */
	uint64_t m = (uint64_t)(uint32_t)(lc_rng_next(r) >> 32) * bound;
	uint32_t lo = (uint32_t)m;
	if (lo < bound) {
		uint32_t t = (uint32_t)-bound % bound;
		while (lo < t) {
			m = (uint64_t)(uint32_t)(lc_rng_next(r) >> 32) * bound;
			lo = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

void lc_rng_fill(struct lc_rng *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n >= 8) {
		uint64_t v = lc_rng_next(r);
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = lc_rng_next(r);
		memcpy(p, &v, n);
	}
}
