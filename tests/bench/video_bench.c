/*
 * video_bench: the cost and quality of the scalable video pipeline.
 *
 *  1. Encode speed of the default 3x3 SVC ladder on the test scene at
 *     640x360 and 1280x720, 1 and 2 encoder threads: frames per second of
 *     process CPU time (the machine is shared, so CPU time, not wall time,
 *     is the measure; wall fps is shown too), best of N runs.
 *  2. Per layer (operating point = layers 0..l): bitrate, Y-PSNR at the
 *     layer's size and upscaled to full size, decode fps.
 *  3. Reference in the same run: the same frames encoded single-layer
 *     (1 spatial x 1 temporal) at the top bitrate, at the SVC's speed
 *     setting and at speed 7 (about the CPU of the SVC encode at 720p); the
 *     SVC cost is the better single-layer Y-PSNR minus the top layer's.
 *
 *   video_bench [--seconds N] [--reps N]
 *
 * Ends with RESULT enc720_core_pct=<% of one core to encode 720p30 in real
 * time, 1 thread> svc_cost_db=<dB at 720p> psnr_top_db=<720p top layer>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/video.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct speed {
	double cpu_fps, wall_fps;
};

/* Encode `frames` frames of the scene; time only the encoder calls. */
static int encode_speed(const struct video_enc_cfg *cfg, const struct video_frame *src, int frames,
			struct speed *sp)
{
	struct video_enc *e = NULL;
	int rc = video_enc_new(&e, cfg);
	if (rc)
		return rc;
	double cpu = 0, wall = 0;
	for (int i = 0; i < frames; i++) {
		struct video_segment *seg = NULL;
		double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
		rc = video_enc_push(e, &src[i], &seg);
		cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		wall += clock_s(CLOCK_MONOTONIC) - w0;
		video_segment_free(seg);
		if (rc < 0)
			break;
	}
	video_enc_free(e);
	sp->cpu_fps = frames / cpu;
	sp->wall_fps = frames / wall;
	return rc < 0 ? rc : 0;
}

struct quality {
	int n;
	struct video_eval_layer l[VIDEO_MAX_LAYERS];
};

static int encode_quality(const struct video_enc_cfg *cfg, const struct video_frame *src, int frames,
			  struct quality *q)
{
	struct video_enc *e = NULL;
	struct video_eval *ev = NULL;
	int rc = video_enc_new(&e, cfg);
	if (rc)
		return rc;
	if ((rc = video_eval_new(&ev, cfg->ladder.n))) {
		video_enc_free(e);
		return rc;
	}
	int start = 0;
	for (int i = 0; i <= frames && !rc; i++) {
		struct video_segment *seg = NULL;
		if (i < frames) {
			if (video_enc_push(e, &src[i], &seg) < 0)
				rc = LC_EIO;
		} else if (video_enc_flush(e, &seg) != 1) {
			break;
		}
		if (seg) {
			rc = video_eval_segment(ev, seg, &src[start], seg->desc.n_frames);
			start += seg->desc.n_frames;
			video_segment_free(seg);
		}
	}
	q->n = cfg->ladder.n;
	for (int l = 0; l < q->n; l++)
		video_eval_result(ev, l, &q->l[l]);
	video_eval_free(ev);
	video_enc_free(e);
	return rc;
}

static struct video_frame *render(int w, int h, int frames)
{
	struct video_frame *src = calloc((size_t)frames, sizeof *src);
	if (!src)
		return NULL;
	for (int i = 0; i < frames; i++) {
		if (video_frame_alloc(&src[i], w, h))
			return NULL;
		video_pattern_draw(&src[i], (uint64_t)i, 30, 1, 1700000000000000LL + (int64_t)i * 33333);
		src[i].number = (uint64_t)i;
		src[i].pts_us = (int64_t)i * 33333;
	}
	return src;
}

static void free_frames(struct video_frame *src, int frames)
{
	for (int i = 0; i < frames; i++)
		video_frame_free(&src[i]);
	free(src);
}

int main(int argc, char **argv)
{
	int seconds = 4, reps = 3;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
	}
	static const int sizes[2][2] = { { 640, 360 }, { 1280, 720 } };
	double core_pct720 = 0, cost720 = 0, top720 = 0;
	for (int k = 0; k < 2; k++) {
		int w = sizes[k][0], h = sizes[k][1], frames = seconds * 30;
		struct video_frame *src = render(w, h, frames);
		if (!src) {
			fprintf(stderr, "video_bench: out of memory\n");
			return 1;
		}
		struct video_enc_cfg cfg;
		video_enc_cfg_default(&cfg, w, h, 30, 1);
		printf("== %dx%d 30 fps test scene, %d s, %dx%d layers, kbps %d/%d/%d, speed %d\n", w, h,
		       seconds, cfg.spatial, cfg.temporal, cfg.kbps[0], cfg.kbps[1], cfg.kbps[2], cfg.speed);
		double svc1_fps = 1;
		printf("%-28s %10s %10s %12s\n", "encode (best of runs)", "fps (CPU)", "fps (wall)",
		       "core % @30");
		for (int threads = 1; threads <= 2; threads++) {
			struct speed best = { 0 };
			cfg.threads = threads;
			for (int r = 0; r < reps; r++) {
				struct speed sp;
				if (encode_speed(&cfg, src, frames, &sp))
					return 1;
				if (sp.cpu_fps > best.cpu_fps)
					best.cpu_fps = sp.cpu_fps;
				if (sp.wall_fps > best.wall_fps)
					best.wall_fps = sp.wall_fps;
			}
			char name[64];
			snprintf(name, sizeof name, "SVC 3x3, %d thread%s", threads, threads > 1 ? "s" : "");
			printf("%-28s %10.1f %10.1f %12.1f\n", name, best.cpu_fps, best.wall_fps,
			       100.0 * 30 / best.cpu_fps);
			if (threads == 1)
				svc1_fps = best.cpu_fps;
			if (k == 1 && threads == 1)
				core_pct720 = 100.0 * 30 / best.cpu_fps;
		}
		cfg.threads = 1;
		/* Single-layer references: at the SVC's speed, and at speed 7, which
		 * costs about the CPU of the SVC encode at 720p; the better one is the
		 * reference for the SVC cost (what one would run instead). */
		struct video_enc_cfg single[2];
		struct speed ssp[2] = { { 0 }, { 0 } };
		struct quality qs[2];
		int n_single = cfg.speed == 7 ? 1 : 2;
		for (int v = 0; v < n_single; v++) {
			single[v] = cfg;
			single[v].spatial = 1;
			single[v].temporal = 1;
			single[v].kbps[0] = cfg.kbps[cfg.spatial - 1];
			single[v].kbps[1] = single[v].kbps[2] = 0;
			single[v].speed = v ? 7 : cfg.speed;
			video_ladder_default(&single[v].ladder, 1, 1);
			for (int r = 0; r < reps; r++) {
				struct speed sp;
				if (encode_speed(&single[v], src, frames, &sp))
					return 1;
				if (sp.cpu_fps > ssp[v].cpu_fps)
					ssp[v] = sp;
			}
			char name[64];
			snprintf(name, sizeof name, "single layer, speed %d", single[v].speed);
			printf("%-28s %10.1f %10.1f %12.1f\n", name, ssp[v].cpu_fps, ssp[v].wall_fps,
			       100.0 * 30 / ssp[v].cpu_fps);
		}

		struct quality q;
		if (encode_quality(&cfg, src, frames, &q))
			return 1;
		for (int v = 0; v < n_single; v++)
			if (encode_quality(&single[v], src, frames, &qs[v]))
				return 1;
		printf("%-8s %-5s %-9s %6s %8s %8s %10s %9s\n", "layer", "op", "size", "fps", "kbps",
		       "Y-PSNR", "Y-PSNR@top", "dec fps");
		for (int l = 0; l < q.n; l++) {
			const struct video_eval_layer *r = &q.l[l];
			char size[32], op[16];
			snprintf(size, sizeof size, "%dx%d", r->width, r->height);
			snprintf(op, sizeof op, "S%dT%d", cfg.ladder.op[l].s, cfg.ladder.op[l].t);
			printf("L%-7d %-5s %-9s %6.2f %8.1f %8.2f %10.2f %9.0f%s\n", l, op, size, r->fps, r->kbps,
			       video_sse_psnr(&r->native, 0), video_sse_psnr(&r->full, 0),
			       r->dec_cpu_s > 0 ? r->frames / r->dec_cpu_s : 0, r->errors ? " ERRORS" : "");
		}
		const struct video_eval_layer *top = &q.l[q.n - 1];
		double svc = video_sse_psnr(&top->full, 0), ref = 0;
		int best = 0;
		for (int v = 0; v < n_single; v++) {
			const struct video_eval_layer *one = &qs[v].l[0];
			double p = video_sse_psnr(&one->full, 0);
			char name[16];
			snprintf(name, sizeof name, "single%d", single[v].speed);
			printf("%-8s %-5s %-9s %6.2f %8.1f %8.2f %10.2f %9.0f\n", name, "-", "", one->fps,
			       one->kbps, video_sse_psnr(&one->native, 0), p,
			       one->dec_cpu_s > 0 ? one->frames / one->dec_cpu_s : 0);
			if (p > ref) {
				ref = p;
				best = v;
			}
		}
		printf("SVC cost at the top layer: %.2f dB against single layer speed %d (%.1f vs %.1f kbps); "
		       "SVC encode takes %.2fx the CPU of that single layer\n\n", ref - svc, single[best].speed,
		       top->kbps, qs[best].l[0].kbps, ssp[best].cpu_fps / svc1_fps);
		if (k == 1) {
			cost720 = ref - svc;
			top720 = svc;
		}
		free_frames(src, frames);
	}
	printf("RESULT enc720_core_pct=%.1f svc_cost_db=%.2f psnr_top_db=%.2f\n", core_pct720, cost720, top720);
	return 0;
}
