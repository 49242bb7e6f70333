/* Operating-point quality: decode each ladder layer of a segment on its own
 * decoder and compare with the source (see video.h for the two measures). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/internal.h"

struct eval_state {
	struct video_dec *dec;
	struct video_eval_layer r;
	uint64_t bytes;
	struct video_frame *frames;  /* decoded, by index within the segment */
	bool *have;
	int cap;
};

struct video_eval {
	int n;
	double seconds;
	struct eval_state l[VIDEO_MAX_LAYERS];
	struct video_frame scaled, up;
};

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int video_eval_new(struct video_eval **out, int n_layers)
{
	*out = NULL;
	if (n_layers < 1 || n_layers > VIDEO_MAX_LAYERS)
		return LC_ERANGE;
	struct video_eval *ev = calloc(1, sizeof *ev);
	if (!ev)
		return LC_ENOMEM;
	ev->n = n_layers;
	for (int l = 0; l < n_layers; l++) {
		int rc = video_dec_new(&ev->l[l].dec, 1);
		if (rc) {
			video_eval_free(ev);
			return rc;
		}
	}
	*out = ev;
	return 0;
}

void video_eval_free(struct video_eval *ev)
{
	if (!ev)
		return;
	for (int l = 0; l < ev->n; l++) {
		video_dec_free(ev->l[l].dec);
		for (int i = 0; i < ev->l[l].cap; i++)
			video_frame_free(&ev->l[l].frames[i]);
		free(ev->l[l].frames);
		free(ev->l[l].have);
	}
	video_frame_free(&ev->scaled);
	video_frame_free(&ev->up);
	free(ev);
}

static void keep_frame(const struct video_frame *f, void *arg)
{
	struct eval_state *st = arg;
	if (f->index < 0 || f->index >= st->cap)
		return;
	if (!video_frame_copy(&st->frames[f->index], f))
		st->have[f->index] = true;
}

int video_eval_segment(struct video_eval *ev, const struct video_segment *seg,
		       const struct video_frame *src, int n)
{
	const struct video_seg_desc *d = &seg->desc;
	if (d->n_layers != ev->n || n != d->n_frames)
		return LC_EINVAL;
	const uint8_t *p[VIDEO_MAX_LAYERS];
	size_t len[VIDEO_MAX_LAYERS];
	for (int l = 0; l < VIDEO_MAX_LAYERS; l++) {
		p[l] = seg->payload[l].data;
		len[l] = seg->payload[l].len;
	}
	ev->seconds += d->duration_us / 1e6;
	uint64_t cum = 0;
	for (int l = 0; l < ev->n; l++) {
		struct eval_state *st = &ev->l[l];
		cum += d->layer[l].size;
		st->bytes += cum;
		st->r.width = d->layer[l].width;
		st->r.height = d->layer[l].height;
		st->r.fps = (double)d->layer[l].fps_num / d->layer[l].fps_den;
		if (st->cap < n) {
			struct video_frame *nf = realloc(st->frames, (size_t)n * sizeof *nf);
			if (!nf)
				return LC_ENOMEM;
			memset(nf + st->cap, 0, (size_t)(n - st->cap) * sizeof *nf);
			st->frames = nf;
			bool *nh = realloc(st->have, (size_t)n);
			if (!nh)
				return LC_ENOMEM;
			st->have = nh;
			st->cap = n;
		}
		memset(st->have, 0, (size_t)st->cap);
		int used;
		double c0 = cpu_now();
		int rc = video_dec_segment(st->dec, d, p, len, l, keep_frame, st, &used);
		st->r.dec_cpu_s += cpu_now() - c0;
		if (rc)
			st->r.errors++;
		int last = -1;
		for (int i = 0; i < n; i++) {
			if (st->have[i]) {
				last = i;
				st->r.frames++;
				const struct video_frame *df = &st->frames[i];
				if ((rc = video_frame_alloc(&ev->scaled, df->width, df->height)))
					return rc;
				video_frame_scale(&ev->scaled, &src[i]);
				video_sse_add(&st->r.native, df, &ev->scaled);
			}
			if (last < 0)
				continue; /* nothing shown yet */
			const struct video_frame *df = &st->frames[last];
			if ((rc = video_frame_alloc(&ev->up, src[i].width, src[i].height)))
				return rc;
			video_frame_scale(&ev->up, df);
			video_sse_add(&st->r.full, &ev->up, &src[i]);
		}
	}
	return 0;
}

int video_eval_result(const struct video_eval *ev, int l, struct video_eval_layer *out)
{
	if (l < 0 || l >= ev->n)
		return LC_ERANGE;
	*out = ev->l[l].r;
	out->kbps = ev->seconds > 0 ? (double)ev->l[l].bytes * 8 / ev->seconds / 1000 : 0;
	return 0;
}
