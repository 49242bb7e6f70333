#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "video/video.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/lc_video_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write a Y4M file of n frames whose bytes are a known function of position. */
static void write_y4m(const char *path, const char *header, int w, int h, int n, size_t cut)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs(header, f);
	size_t fs = (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
	for (int i = 0; i < n; i++) {
		fputs("FRAME\n", f);
		for (size_t b = 0; b < fs; b++)
			fputc((int)((b * 7 + (size_t)i * 13) & 0xff), f);
	}
	fclose(f);
	if (cut)
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
}

static int open_y4m(const char *path, struct video_src **s, char *err, size_t errlen)
{
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.kind = VIDEO_SRC_Y4M;
	c.path = path;
	c.loop = false;
	return video_src_open(s, &c, err, errlen);
}

/* ---- sources ------------------------------------------------------------ */

START_TEST(test_y4m_valid_sizes)
{
	static const int sizes[][2] = { { 16, 16 }, { 320, 180 }, { 33, 17 }, { 1, 1 }, { 640, 360 } };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		int w = sizes[k][0], h = sizes[k][1];
		char path[128], hdr[128];
		snprintf(path, sizeof path, "%s/v%zu.y4m", tmpdir, k);
		snprintf(hdr, sizeof hdr, "YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n", w, h);
		write_y4m(path, hdr, w, h, 3, 0);
		struct video_src *s = NULL;
		char err[160] = "";
		ck_assert_msg(open_y4m(path, &s, err, sizeof err) == 0, "%dx%d: %s", w, h, err);
		int sw, sh, fn, fd;
		video_src_info(s, &sw, &sh, &fn, &fd);
		ck_assert_int_eq(sw, w);
		ck_assert_int_eq(sh, h);
		ck_assert_int_eq(fn, 25);
		ck_assert_int_eq(fd, 1);
		struct video_frame f = { 0 };
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(video_src_read(s, &f), 0);
			ck_assert_int_eq(f.width, w);
			ck_assert_uint_eq(f.number, (uint64_t)i);
			ck_assert_int_eq(f.pts_us, i * 40000);
			/* first luma byte and last V byte as written */
			size_t fs = (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
			ck_assert_uint_eq(f.plane[0][0], (uint8_t)(i * 13));
			uint8_t last = f.plane[2][(size_t)((w + 1) / 2) * ((h + 1) / 2) - 1];
			ck_assert_uint_eq(last, (uint8_t)(((fs - 1) * 7 + (size_t)i * 13) & 0xff));
		}
		ck_assert_int_eq(video_src_read(s, &f), LC_ECLOSED);
		video_src_close(s);

		/* Looping starts again at frame 0 of the file. */
		struct video_src_cfg c;
		video_src_cfg_default(&c);
		c.kind = VIDEO_SRC_Y4M;
		c.path = path;
		c.loop = true;
		ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), 0);
		for (int i = 0; i < 7; i++) {
			ck_assert_int_eq(video_src_read(s, &f), 0);
			ck_assert_uint_eq(f.plane[0][0], (uint8_t)((i % 3) * 13));
			ck_assert_uint_eq(f.number, (uint64_t)i);
		}
		video_src_close(s);
		video_frame_free(&f);
	}
	/* No C field means 4:2:0; no F field means 30 fps. */
	char path[128];
	snprintf(path, sizeof path, "%s/plain.y4m", tmpdir);
	write_y4m(path, "YUV4MPEG2 W8 H6\n", 8, 6, 1, 0);
	struct video_src *s = NULL;
	ck_assert_int_eq(open_y4m(path, &s, NULL, 0), 0);
	int fn;
	video_src_info(s, NULL, NULL, &fn, NULL);
	ck_assert_int_eq(fn, 30);
	video_src_close(s);
}
END_TEST

START_TEST(test_y4m_rejects)
{
	static const struct {
		const char *hdr;
		int rc;
		const char *msg;
	} bad[] = {
		{ "YUV4MPEG W16 H16\n", LC_EPROTO, "bad magic" },
		{ "RIFF1234 W16 H16\n", LC_EPROTO, "bad magic" },
		{ "YUV4MPEG2 H16 F30:1\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16 F30:1\n", LC_EPROTO, "height" },
		{ "YUV4MPEG2 W0 H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16x H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W99999 H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16 H16 C444\n", LC_ENOTSUP, "C444" },
		{ "YUV4MPEG2 W16 H16 C422\n", LC_ENOTSUP, "C422" },
		{ "YUV4MPEG2 W16 H16 C420p10\n", LC_ENOTSUP, "C420p10" },
		{ "YUV4MPEG2 W16 H16 Cmono\n", LC_ENOTSUP, "Cmono" },
		{ "YUV4MPEG2 W16 H16 F30:0\n", LC_EPROTO, "frame rate" },
		{ "YUV4MPEG2 W16 H16 Z9\n", LC_EPROTO, "unknown" },
		{ "YUV4MPEG2 W16 H16", LC_ETRUNC, "truncated" },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		char path[128];
		snprintf(path, sizeof path, "%s/bad%zu.y4m", tmpdir, k);
		FILE *f = fopen(path, "wb");
		fputs(bad[k].hdr, f);
		fclose(f);
		struct video_src *s = NULL;
		char err[160] = "";
		int rc = open_y4m(path, &s, err, sizeof err);
		ck_assert_msg(rc == bad[k].rc, "case %zu: rc %d (%s)", k, rc, err);
		ck_assert_msg(strstr(err, bad[k].msg), "case %zu: message '%s'", k, err);
		ck_assert_ptr_null(s);
	}
	/* Missing file. */
	struct video_src *s = NULL;
	char err[160] = "";
	ck_assert_int_eq(open_y4m("/nonexistent/x.y4m", &s, err, sizeof err), LC_ENOENT);

	/* A truncated frame: two whole frames, then half of one. */
	char path[128];
	snprintf(path, sizeof path, "%s/trunc.y4m", tmpdir);
	const char *hdr = "YUV4MPEG2 W32 H16 F30:1 C420\n";
	size_t fs = 32 * 16 * 3 / 2;
	write_y4m(path, hdr, 32, 16, 3, strlen(hdr) + 2 * (6 + fs) + 6 + fs / 2);
	ck_assert_int_eq(open_y4m(path, &s, err, sizeof err), 0);
	struct video_frame fr = { 0 };
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	ck_assert_ptr_nonnull(strstr(video_src_error(s), "truncated frame"));
	video_src_close(s);
	/* The same through a FILE * that is a pipe (size unknown: fread notices). */
	char cmd[200];
	snprintf(cmd, sizeof cmd, "cat '%s'", path);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(video_src_open_y4m_file(&s, p, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	video_src_close(s);
	pclose(p);
	/* A bad frame marker. */
	const char junk[] = "YUV4MPEG2 W2 H2\nFRAMX\n012345";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, junk, sizeof junk - 1, false, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_EPROTO);
	video_src_close(s);
	/* Huge declared size, tiny input: refused before allocating. */
	const char huge[] = "YUV4MPEG2 W16384 H16384\nFRAME\n0123";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, huge, sizeof huge - 1, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	video_src_close(s);
	/* Looping over a file with no frames ends instead of spinning. */
	const char none[] = "YUV4MPEG2 W2 H2\n";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, none, sizeof none - 1, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ECLOSED);
	video_src_close(s);
	video_frame_free(&fr);
}
END_TEST

START_TEST(test_pattern)
{
	static const int sizes[][2] = { { 1280, 720 }, { 320, 180 }, { 17, 9 }, { 2, 2 } };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		struct video_src_cfg c;
		video_src_cfg_default(&c);
		c.width = sizes[k][0];
		c.height = sizes[k][1];
		c.fps_num = 25;
		struct video_src *s = NULL;
		ck_assert_int_eq(video_src_open(&s, &c, NULL, 0), 0);
		struct video_frame a = { 0 }, b = { 0 };
		ck_assert_int_eq(video_src_read(s, &a), 0);
		ck_assert_int_eq(video_src_read(s, &b), 0);
		ck_assert_int_eq(a.width, c.width);
		ck_assert_int_eq(b.pts_us, 40000);
		ck_assert_uint_eq(b.number, 1);
		ck_assert_int_ge(b.wall_us, a.wall_us);
		/* The scene moves: consecutive frames differ. */
		if (c.width >= 64)
			ck_assert(!video_frame_equal(&a, &b));
		/* Deterministic for the same number and time. */
		video_pattern_draw(&a, 5, 25, 1, 1700000000000000LL);
		video_pattern_draw(&b, 5, 25, 1, 1700000000000000LL);
		ck_assert(video_frame_equal(&a, &b));
		video_pattern_draw(&b, 5, 25, 1, 1700000001000000LL);
		if (c.width >= 320)
			ck_assert(!video_frame_equal(&a, &b)); /* the clock shows */
		video_frame_free(&a);
		video_frame_free(&b);
		video_src_close(s);
	}
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.width = 0;
	struct video_src *s = NULL;
	ck_assert_int_eq(video_src_open(&s, &c, NULL, 0), LC_EINVAL);
}
END_TEST

START_TEST(test_text_glyphs)
{
	struct video_frame f = { 0 };
	ck_assert_int_eq(video_frame_alloc(&f, 64, 16), 0);
	memset(f.plane[0], 0, 64 * 16);
	video_draw_text(&f, 0, 0, 1, 255, "1");
	/* '1' is 0x04,0x0C,...,0x0E: row 0 has only column 2 set. */
	ck_assert_uint_eq(f.plane[0][2], 255);
	ck_assert_uint_eq(f.plane[0][1], 0);
	ck_assert_uint_eq(f.plane[0][6 * 64 + 1], 255);
	ck_assert_uint_eq(f.plane[0][6 * 64 + 3], 255);
	/* Off-frame text is clipped, not written out of bounds. */
	video_draw_text(&f, 60, 12, 3, 255, "WWW");
	video_draw_text(&f, -10, -5, 2, 255, "abc");
	video_frame_free(&f);
}
END_TEST

START_TEST(test_v4l2_missing)
{
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.kind = VIDEO_SRC_V4L2;
	c.path = "/dev/video-does-not-exist";
	struct video_src *s = NULL;
	char err[160] = "";
	ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), LC_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "video-does-not-exist"));
	/* A device that is not V4L2. */
	c.path = "/dev/null";
	ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), LC_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err, "not a V4L2 device"));
}
END_TEST

START_TEST(test_scale_psnr)
{
	struct video_frame a = { 0 }, small = { 0 }, back = { 0 };
	ck_assert_int_eq(video_frame_alloc(&a, 64, 32), 0);
	video_pattern_draw(&a, 0, 30, 1, 0);
	ck_assert_int_eq(video_frame_alloc(&small, 16, 8), 0);
	video_frame_scale(&small, &a);
	/* 4:1 box filter: the mean of each 4x4 block. */
	unsigned sum = 0;
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			sum += a.plane[0][y * 64 + 4 + x];
	ck_assert_uint_eq(small.plane[0][1], (sum + 8) / 16);
	ck_assert_int_eq(video_frame_alloc(&back, 64, 32), 0);
	video_frame_scale(&back, &small);
	double p = video_psnr_y(&a, &back);
	ck_assert(p > 5 && p < 60);
	ck_assert(video_psnr_y(&a, &a) == 99.0);
	/* Flat frames upscale exactly. */
	memset(small.plane[0], 77, 16 * 8);
	video_frame_scale(&back, &small);
	ck_assert_uint_eq(back.plane[0][0], 77);
	ck_assert_uint_eq(back.plane[0][64 * 32 - 1], 77);
	/* A known error: every luma sample off by 1 => MSE 1 => 48.13 dB. */
	struct video_frame c = { 0 };
	ck_assert_int_eq(video_frame_copy(&c, &a), 0);
	for (int i = 0; i < 64 * 32; i++)
		c.plane[0][i] ^= 1;
	ck_assert(video_psnr_y(&a, &c) > 48.1 && video_psnr_y(&a, &c) < 48.2);
	video_frame_free(&a);
	video_frame_free(&c);
	video_frame_free(&small);
	video_frame_free(&back);
}
END_TEST

Suite *suite_video(void)
{
	Suite *s = suite_create("video");
	TCase *tc = tcase_create("sources");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_y4m_valid_sizes);
	tcase_add_test(tc, test_y4m_rejects);
	tcase_add_test(tc, test_pattern);
	tcase_add_test(tc, test_text_glyphs);
	tcase_add_test(tc, test_v4l2_missing);
	tcase_add_test(tc, test_scale_psnr);
	suite_add_tcase(s, tc);
	return s;
}
