/*
 * video_psnr: quality and bitrate of every ladder layer of the VP9 SVC
 * encode of a source, for the lab.
 *
 *   video_psnr [--input pattern|FILE.y4m] [--size WxH] [--fps N]
 *              [--seconds N] [--layer L|all] [--kbps A,B,C] [--speed N]
 *              [--ladder S0T1,S0T2,...] [--ilp 0|1|2] [--threads N]
 *
 * For each layer (operating point = layers 0..L): resolution, frame rate,
 * bitrate, Y-PSNR at the layer's own size (source downscaled with a box
 * filter), Y-PSNR and all-plane PSNR upscaled (bilinear) to the source size
 * with the last frame held at lower frame rates, and decode speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "video/video.h"

static void usage(void)
{
	fprintf(stderr, "usage: video_psnr [--input pattern|FILE.y4m] [--size WxH] [--fps N] "
			"[--seconds N] [--layer L|all] [--kbps A,B,C] [--speed N] "
			"[--ladder S0T1,...] [--ilp 0|1|2] [--threads N]\n");
	exit(2);
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *input = "pattern", *kbps = NULL, *ladder = NULL;
	int w = 1280, h = 720, fps = 30, layer = -1, speed = -1, ilp = -1, threads = 1;
	double seconds = 10;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--input"))
			input = v;
		else if (!strcmp(a, "--size")) {
			if (sscanf(v, "%dx%d", &w, &h) != 2)
				usage();
		} else if (!strcmp(a, "--fps"))
			fps = atoi(v);
		else if (!strcmp(a, "--seconds"))
			seconds = atof(v);
		else if (!strcmp(a, "--layer"))
			layer = strcmp(v, "all") ? atoi(v) : -1;
		else if (!strcmp(a, "--kbps"))
			kbps = v;
		else if (!strcmp(a, "--speed"))
			speed = atoi(v);
		else if (!strcmp(a, "--ladder"))
			ladder = v;
		else if (!strcmp(a, "--ilp"))
			ilp = atoi(v);
		else if (!strcmp(a, "--threads"))
			threads = atoi(v);
		else
			usage();
	}
	struct video_src_cfg sc;
	video_src_cfg_default(&sc);
	if (strcmp(input, "pattern")) {
		sc.kind = VIDEO_SRC_Y4M;
		sc.path = input;
	}
	sc.width = w;
	sc.height = h;
	sc.fps_num = fps;
	struct video_src *src = NULL;
	char err[160] = "";
	int rc = video_src_open(&src, &sc, err, sizeof err);
	if (rc) {
		fprintf(stderr, "video_psnr: %s\n", err);
		return 1;
	}
	int fn, fd;
	video_src_info(src, &w, &h, &fn, &fd);
	struct video_enc_cfg ec;
	video_enc_cfg_default(&ec, w, h, fn, fd);
	if (kbps && sscanf(kbps, "%d,%d,%d", &ec.kbps[0], &ec.kbps[1], &ec.kbps[2]) != ec.spatial) {
		fprintf(stderr, "video_psnr: --kbps needs %d cumulative values\n", ec.spatial);
		return 2;
	}
	if (speed >= 0)
		ec.speed = speed;
	if (ilp >= 0)
		ec.inter_layer_pred = ilp;
	ec.threads = threads;
	if (ladder && video_ladder_parse(&ec.ladder, ladder)) {
		fprintf(stderr, "video_psnr: bad ladder '%s'\n", ladder);
		return 2;
	}
	struct video_enc *enc = NULL;
	if ((rc = video_enc_new(&enc, &ec))) {
		fprintf(stderr, "video_psnr: encoder: %s\n", lc_strerror(rc));
		return 1;
	}
	struct video_eval *ev = NULL;
	if ((rc = video_eval_new(&ev, ec.ladder.n)))
		return 1;
	struct video_frame *seg_src = calloc((size_t)ec.seg_frames, sizeof *seg_src);
	long total = (long)(seconds * fn / fd + 0.5);
	int in_seg = 0;
	double enc_cpu = 0;
	for (long i = 0; i <= total; i++) {
		struct video_segment *seg = NULL;
		if (i < total) {
			if ((rc = video_src_read(src, &seg_src[in_seg]))) {
				fprintf(stderr, "video_psnr: %s\n", video_src_error(src));
				break;
			}
			double c0 = cpu_now();
			rc = video_enc_push(enc, &seg_src[in_seg], &seg);
			enc_cpu += cpu_now() - c0;
			if (rc < 0)
				break;
			in_seg++;
		} else if (video_enc_flush(enc, &seg) != 1) {
			break;
		}
		if (seg) {
			if ((rc = video_eval_segment(ev, seg, seg_src, in_seg)))
				fprintf(stderr, "video_psnr: eval: %s\n", lc_strerror(rc));
			video_segment_free(seg);
			in_seg = 0;
		}
	}
	printf("input %s %dx%d %d/%d fps, %.1f s, %dx%d layers, kbps", input, w, h, fn, fd, seconds,
	       ec.spatial, ec.temporal);
	for (int s = 0; s < ec.spatial; s++)
		printf("%s%d", s ? "/" : " ", ec.kbps[s]);
	printf(", speed %d, encode %.1f fps of CPU time\n", ec.speed, (double)total / enc_cpu);
	printf("%-5s %-5s %-9s %6s %8s %10s %10s %10s %9s\n", "layer", "op", "size", "fps", "kbps",
	       "Y-PSNR", "Y-PSNR@top", "PSNR@top", "dec fps");
	for (int l = 0; l < ec.ladder.n; l++) {
		if (layer >= 0 && l != layer)
			continue;
		struct video_eval_layer r;
		video_eval_result(ev, l, &r);
		char size[32], op[16];
		snprintf(size, sizeof size, "%dx%d", r.width, r.height);
		snprintf(op, sizeof op, "S%dT%d", ec.ladder.op[l].s, ec.ladder.op[l].t);
		printf("L%-4d %-5s %-9s %6.2f %8.1f %10.2f %10.2f %10.2f %9.0f%s\n", l, op, size, r.fps,
		       r.kbps, video_sse_psnr(&r.native, 0), video_sse_psnr(&r.full, 0),
		       video_sse_psnr(&r.full, -1), r.dec_cpu_s > 0 ? r.frames / r.dec_cpu_s : 0,
		       r.errors ? "  DECODE ERRORS" : "");
	}
	for (int i = 0; i < ec.seg_frames; i++)
		video_frame_free(&seg_src[i]);
	free(seg_src);
	video_eval_free(ev);
	video_enc_free(enc);
	video_src_close(src);
	return 0;
}
