/*
 * V4L2 camera capture: memory-mapped streaming I/O, YUYV or YU12 (I420),
 * YUYV converted to I420. The camera paces the stream; a frame that does
 * not arrive within 2 s is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "video/internal.h"

#define CAM_BUFFERS 4

struct video_v4l2 {
	int fd;
	uint32_t fourcc;
	int width, height, fps_num, fps_den;
	uint32_t bytesperline;
	unsigned n_buf;
	struct { void *p; size_t len; } buf[CAM_BUFFERS];
	bool streaming;
};

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

void video__yuyv_to_i420(struct video_frame *f, const uint8_t *src, size_t stride)
{
	const int w = f->width, h = f->height;
	for (int y = 0; y < h; y++) {
		const uint8_t *s = src + (size_t)y * stride;
		uint8_t *d = f->plane[0] + (size_t)y * f->stride[0];
		for (int x = 0; x < w; x++)
			d[x] = s[2 * x];
	}
	for (int y = 0; y < (h + 1) / 2; y++) {
		const uint8_t *s0 = src + (size_t)(2 * y) * stride;
		const uint8_t *s1 = 2 * y + 1 < h ? s0 + stride : s0;
		uint8_t *u = f->plane[1] + (size_t)y * f->stride[1];
		uint8_t *v = f->plane[2] + (size_t)y * f->stride[2];
		for (int x = 0; x < (w + 1) / 2; x++) {
			/* each 4-byte group Y0 U Y1 V holds two pixels */
			u[x] = (uint8_t)((s0[4 * x + 1] + s1[4 * x + 1] + 1) / 2);
			v[x] = (uint8_t)((s0[4 * x + 3] + s1[4 * x + 3] + 1) / 2);
		}
	}
}

void video__v4l2_close(struct video_v4l2 *c)
{
	if (!c)
		return;
	if (c->streaming) {
		enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		xioctl(c->fd, VIDIOC_STREAMOFF, &type);
	}
	for (unsigned i = 0; i < c->n_buf; i++)
		if (c->buf[i].p && c->buf[i].p != MAP_FAILED)
			munmap(c->buf[i].p, c->buf[i].len);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static int try_format(struct video_v4l2 *c, uint32_t fourcc, int w, int h)
{
	struct v4l2_format fmt = { 0 };
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	fmt.fmt.pix.width = (uint32_t)w;
	fmt.fmt.pix.height = (uint32_t)h;
	fmt.fmt.pix.pixelformat = fourcc;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	if (xioctl(c->fd, VIDIOC_S_FMT, &fmt) < 0 || fmt.fmt.pix.pixelformat != fourcc)
		return -1;
	/* YUYV pairs pixels: an odd width has no whole last pair. */
	if (fourcc == V4L2_PIX_FMT_YUYV && (fmt.fmt.pix.width & 1))
		return -1;
	c->fourcc = fourcc;
	c->width = (int)fmt.fmt.pix.width;
	c->height = (int)fmt.fmt.pix.height;
	c->bytesperline = fmt.fmt.pix.bytesperline;
	if (fourcc == V4L2_PIX_FMT_YUYV && c->bytesperline < (uint32_t)c->width * 2)
		c->bytesperline = (uint32_t)c->width * 2;
	if (fourcc == V4L2_PIX_FMT_YUV420 && c->bytesperline < (uint32_t)c->width)
		c->bytesperline = (uint32_t)c->width;
	return 0;
}

int video__v4l2_open(struct video_v4l2 **out, const char *path, int w, int h, int fps_num,
		     int fps_den, char *err, size_t errlen)
{
	struct video_v4l2 *c = calloc(1, sizeof *c);
	if (!c)
		return LC_ENOMEM;
	int rc = LC_EIO;
	c->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (c->fd < 0) {
		seterr(err, errlen, "v4l2: %s: %s", path, strerror(errno));
		rc = errno == ENOENT ? LC_ENOENT : LC_EIO;
		goto fail;
	}
	struct v4l2_capability cap = { 0 };
	if (xioctl(c->fd, VIDIOC_QUERYCAP, &cap) < 0) {
		seterr(err, errlen, "v4l2: %s: not a V4L2 device (%s)", path, strerror(errno));
		rc = LC_ENOTSUP;
		goto fail;
	}
	uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
		seterr(err, errlen, "v4l2: %s: no video capture with streaming I/O", path);
		rc = LC_ENOTSUP;
		goto fail;
	}
	if (w <= 0 || h <= 0) {
		w = 1280;
		h = 720;
	}
	if (try_format(c, V4L2_PIX_FMT_YUV420, w, h) && try_format(c, V4L2_PIX_FMT_YUYV, w, h)) {
		seterr(err, errlen, "v4l2: %s: neither YU12 nor YUYV is offered", path);
		rc = LC_ENOTSUP;
		goto fail;
	}
	c->fps_num = fps_num > 0 ? fps_num : 30;
	c->fps_den = fps_den > 0 ? fps_den : 1;
	struct v4l2_streamparm parm = { 0 };
	parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	parm.parm.capture.timeperframe.numerator = (uint32_t)c->fps_den;
	parm.parm.capture.timeperframe.denominator = (uint32_t)c->fps_num;
	if (xioctl(c->fd, VIDIOC_S_PARM, &parm) == 0 && parm.parm.capture.timeperframe.numerator &&
	    parm.parm.capture.timeperframe.denominator) {
		c->fps_num = (int)parm.parm.capture.timeperframe.denominator;
		c->fps_den = (int)parm.parm.capture.timeperframe.numerator;
	}
	struct v4l2_requestbuffers req = { 0 };
	req.count = CAM_BUFFERS;
	req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	req.memory = V4L2_MEMORY_MMAP;
	if (xioctl(c->fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 2) {
		seterr(err, errlen, "v4l2: %s: cannot get mmap buffers", path);
		rc = LC_EIO;
		goto fail;
	}
	c->n_buf = req.count > CAM_BUFFERS ? CAM_BUFFERS : req.count;
	for (unsigned i = 0; i < c->n_buf; i++) {
		struct v4l2_buffer b = { 0 };
		b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		b.memory = V4L2_MEMORY_MMAP;
		b.index = i;
		if (xioctl(c->fd, VIDIOC_QUERYBUF, &b) < 0) {
			seterr(err, errlen, "v4l2: QUERYBUF: %s", strerror(errno));
			goto fail;
		}
		c->buf[i].len = b.length;
		c->buf[i].p = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
		if (c->buf[i].p == MAP_FAILED) {
			c->buf[i].p = NULL;
			seterr(err, errlen, "v4l2: mmap: %s", strerror(errno));
			goto fail;
		}
		if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) {
			seterr(err, errlen, "v4l2: QBUF: %s", strerror(errno));
			goto fail;
		}
	}
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	if (xioctl(c->fd, VIDIOC_STREAMON, &type) < 0) {
		seterr(err, errlen, "v4l2: STREAMON: %s", strerror(errno));
		goto fail;
	}
	c->streaming = true;
	*out = c;
	return 0;
fail:
	video__v4l2_close(c);
	return rc;
}

void video__v4l2_info(const struct video_v4l2 *c, int *w, int *h, int *fps_num, int *fps_den)
{
	*w = c->width;
	*h = c->height;
	*fps_num = c->fps_num;
	*fps_den = c->fps_den;
}

int video__v4l2_read(struct video_v4l2 *c, struct video_frame *f, char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int r;
	do
		r = poll(&pfd, 1, 2000);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		seterr(err, errlen, "v4l2: no frame within 2 s");
		return LC_ETIMEDOUT;
	}
	if (r < 0) {
		seterr(err, errlen, "v4l2: poll: %s", strerror(errno));
		return LC_EIO;
	}
	struct v4l2_buffer b = { 0 };
	b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	b.memory = V4L2_MEMORY_MMAP;
	if (xioctl(c->fd, VIDIOC_DQBUF, &b) < 0) {
		seterr(err, errlen, "v4l2: DQBUF: %s", strerror(errno));
		return errno == EAGAIN ? LC_EAGAIN : LC_EIO;
	}
	int rc = 0;
	if (b.index >= c->n_buf) {
		seterr(err, errlen, "v4l2: driver returned buffer %u", b.index);
		return LC_EIO;
	}
	const uint8_t *src = c->buf[b.index].p;
	size_t have = b.bytesused ? b.bytesused : c->buf[b.index].len;
	if (have > c->buf[b.index].len)
		have = c->buf[b.index].len;
	rc = video_frame_alloc(f, c->width, c->height);
	if (!rc) {
		if (c->fourcc == V4L2_PIX_FMT_YUYV) {
			if (have < (size_t)c->bytesperline * (size_t)c->height) {
				seterr(err, errlen, "v4l2: short frame (%zu bytes)", have);
				rc = LC_ETRUNC;
			} else {
				video__yuyv_to_i420(f, src, c->bytesperline);
			}
		} else {
			size_t bpl = c->bytesperline, cbpl = (bpl + 1) / 2;
			size_t ch = (size_t)(c->height + 1) / 2, cw = (size_t)(c->width + 1) / 2;
			if (have < bpl * (size_t)c->height + 2 * cbpl * ch) {
				seterr(err, errlen, "v4l2: short frame (%zu bytes)", have);
				rc = LC_ETRUNC;
			} else {
				const uint8_t *u = src + bpl * (size_t)c->height, *v = u + cbpl * ch;
				for (int y = 0; y < c->height; y++)
					memcpy(f->plane[0] + (size_t)y * f->stride[0], src + bpl * y, (size_t)c->width);
				for (size_t y = 0; y < ch; y++) {
					memcpy(f->plane[1] + y * f->stride[1], u + cbpl * y, cw);
					memcpy(f->plane[2] + y * f->stride[2], v + cbpl * y, cw);
				}
			}
		}
	}
	if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0 && !rc) {
		seterr(err, errlen, "v4l2: QBUF: %s", strerror(errno));
		rc = LC_EIO;
	}
	return rc;
}
