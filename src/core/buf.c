#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void lc_buf_init(struct lc_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void lc_buf_free(struct lc_buf *b)
{
	free(b->data);
	lc_buf_init(b);
}

int lc_buf_reserve(struct lc_buf *b, size_t cap)
{
	if (cap <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < cap) {
		if (ncap > SIZE_MAX / 2)
			return LC_ENOMEM;
		ncap *= 2;
	}
	uint8_t *p = realloc(b->data, ncap);
	if (!p)
		return LC_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int lc_buf_append(struct lc_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (b->len > SIZE_MAX - n)
		return LC_ENOMEM;
	int rc = lc_buf_reserve(b, b->len + n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}
