/* I420 frames: allocation, copy, comparison, resampling and PSNR. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "video/video.h"

static void plane_dims(const struct video_frame *f, int p, int *w, int *h)
{
	*w = p ? (f->width + 1) / 2 : f->width;
	*h = p ? (f->height + 1) / 2 : f->height;
}

int video_frame_alloc(struct video_frame *f, int w, int h)
{
	if (w <= 0 || h <= 0 || w > VIDEO_MAX_DIM || h > VIDEO_MAX_DIM)
		return LC_ERANGE;
	size_t cw = (size_t)(w + 1) / 2, ch = (size_t)(h + 1) / 2;
	size_t need = (size_t)w * h + 2 * cw * ch;
	if (f->mem && f->width == w && f->height == h) {
		/* keep the buffer */
	} else {
		free(f->mem);
		f->mem = malloc(need);
		if (!f->mem) {
			memset(f, 0, sizeof *f);
			return LC_ENOMEM;
		}
	}
	void *mem = f->mem;
	memset(f, 0, sizeof *f);
	f->mem = mem;
	f->width = w;
	f->height = h;
	f->plane[0] = mem;
	f->plane[1] = f->plane[0] + (size_t)w * h;
	f->plane[2] = f->plane[1] + cw * ch;
	f->stride[0] = w;
	f->stride[1] = f->stride[2] = (int)cw;
	return 0;
}

void video_frame_free(struct video_frame *f)
{
	free(f->mem);
	memset(f, 0, sizeof *f);
}

int video_frame_copy(struct video_frame *dst, const struct video_frame *src)
{
	int rc = video_frame_alloc(dst, src->width, src->height);
	if (rc)
		return rc;
	for (int p = 0; p < 3; p++) {
		int w, h;
		plane_dims(src, p, &w, &h);
		for (int y = 0; y < h; y++)
			memcpy(dst->plane[p] + (size_t)y * dst->stride[p],
			       src->plane[p] + (size_t)y * src->stride[p], (size_t)w);
	}
	dst->pts_us = src->pts_us;
	dst->wall_us = src->wall_us;
	dst->number = src->number;
	dst->segment = src->segment;
	dst->index = src->index;
	dst->layer = src->layer;
	return 0;
}

bool video_frame_equal(const struct video_frame *a, const struct video_frame *b)
{
	if (a->width != b->width || a->height != b->height)
		return false;
	for (int p = 0; p < 3; p++) {
		int w, h;
		plane_dims(a, p, &w, &h);
		for (int y = 0; y < h; y++)
			if (memcmp(a->plane[p] + (size_t)y * a->stride[p],
				   b->plane[p] + (size_t)y * b->stride[p], (size_t)w))
				return false;
	}
	return true;
}

/* Box-filter downscale of one plane: each output pixel is the mean of the
 * source area it covers (fractional edges weighted), in 1/256 units. */
static void plane_down(uint8_t *d, int ds, int dw, int dh, const uint8_t *s, int ss, int sw, int sh)
{
	/* Fixed point: positions in units of 1/(dw) of a source pixel. */
	for (int oy = 0; oy < dh; oy++) {
		int64_t y0 = (int64_t)oy * sh, y1 = (int64_t)(oy + 1) * sh; /* in units of 1/dh */
		for (int ox = 0; ox < dw; ox++) {
			int64_t x0 = (int64_t)ox * sw, x1 = (int64_t)(ox + 1) * sw;
			uint64_t acc = 0, wsum = 0;
			for (int64_t sy = y0 / dh; sy < sh && sy * dh < y1; sy++) {
				int64_t a = sy * dh > y0 ? sy * dh : y0;
				int64_t b = (sy + 1) * dh < y1 ? (sy + 1) * dh : y1;
				int64_t wy = b - a;
				for (int64_t sx = x0 / dw; sx < sw && sx * dw < x1; sx++) {
					int64_t c = sx * dw > x0 ? sx * dw : x0;
					int64_t e = (sx + 1) * dw < x1 ? (sx + 1) * dw : x1;
					uint64_t wgt = (uint64_t)(wy * (e - c));
					acc += wgt * s[sy * ss + sx];
					wsum += wgt;
				}
			}
			d[(size_t)oy * ds + ox] = (uint8_t)((acc + wsum / 2) / wsum);
		}
	}
}

/* Bilinear upscale with pixel centres aligned. */
static void plane_up(uint8_t *d, int ds, int dw, int dh, const uint8_t *s, int ss, int sw, int sh)
{
	for (int oy = 0; oy < dh; oy++) {
		/* source y = (oy + 0.5) * sh / dh - 0.5, in 1/256 */
		int64_t fy = ((2 * (int64_t)oy + 1) * sh * 256) / (2 * dh) - 128;
		if (fy < 0)
			fy = 0;
		int y0 = (int)(fy >> 8), wy = (int)(fy & 255);
		int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
		if (y0 >= sh)
			y0 = y1 = sh - 1;
		for (int ox = 0; ox < dw; ox++) {
			int64_t fx = ((2 * (int64_t)ox + 1) * sw * 256) / (2 * dw) - 128;
			if (fx < 0)
				fx = 0;
			int x0 = (int)(fx >> 8), wx = (int)(fx & 255);
			int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
			if (x0 >= sw)
				x0 = x1 = sw - 1;
			int top = s[y0 * ss + x0] * (256 - wx) + s[y0 * ss + x1] * wx;
			int bot = s[y1 * ss + x0] * (256 - wx) + s[y1 * ss + x1] * wx;
			d[(size_t)oy * ds + ox] = (uint8_t)((top * (256 - wy) + bot * wy + 32768) >> 16);
		}
	}
}

void video_frame_scale(struct video_frame *dst, const struct video_frame *src)
{
	for (int p = 0; p < 3; p++) {
		int sw, sh, dw, dh;
		plane_dims(src, p, &sw, &sh);
		plane_dims(dst, p, &dw, &dh);
		if (sw == dw && sh == dh) {
			for (int y = 0; y < dh; y++)
				memcpy(dst->plane[p] + (size_t)y * dst->stride[p],
				       src->plane[p] + (size_t)y * src->stride[p], (size_t)dw);
		} else if (dw <= sw && dh <= sh) {
			plane_down(dst->plane[p], dst->stride[p], dw, dh, src->plane[p], src->stride[p], sw, sh);
		} else {
			plane_up(dst->plane[p], dst->stride[p], dw, dh, src->plane[p], src->stride[p], sw, sh);
		}
	}
	dst->pts_us = src->pts_us;
	dst->wall_us = src->wall_us;
	dst->number = src->number;
}

int video_sse_add(struct video_sse *acc, const struct video_frame *a, const struct video_frame *b)
{
	if (a->width != b->width || a->height != b->height)
		return LC_EINVAL;
	for (int p = 0; p < 3; p++) {
		int w, h;
		plane_dims(a, p, &w, &h);
		uint64_t sse = 0;
		for (int y = 0; y < h; y++) {
			const uint8_t *pa = a->plane[p] + (size_t)y * a->stride[p];
			const uint8_t *pb = b->plane[p] + (size_t)y * b->stride[p];
			for (int x = 0; x < w; x++) {
				int d = pa[x] - pb[x];
				sse += (uint64_t)(d * d);
			}
		}
		acc->sse[p] += sse;
		acc->count[p] += (uint64_t)w * h;
	}
	acc->frames++;
	return 0;
}

double video_sse_psnr(const struct video_sse *acc, int plane)
{
	uint64_t sse = 0, n = 0;
	for (int p = 0; p < 3; p++) {
		if (plane >= 0 && p != plane)
			continue;
		sse += acc->sse[p];
		n += acc->count[p];
	}
	if (!n)
		return 0;
	if (!sse)
		return 99.0;
	double mse = (double)sse / (double)n;
	double db = 10.0 * log10(255.0 * 255.0 / mse);
	return db > 99.0 ? 99.0 : db;
}

double video_psnr_y(const struct video_frame *a, const struct video_frame *b)
{
	struct video_sse acc = { 0 };
	if (video_sse_add(&acc, a, b))
		return 0;
	return video_sse_psnr(&acc, 0);
}
