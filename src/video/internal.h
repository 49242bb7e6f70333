/* Declarations shared between the files of src/video (not public). */
#ifndef LC_VIDEO_INTERNAL_H
#define LC_VIDEO_INTERNAL_H

#include "video/video.h"

struct video_v4l2;
int video__v4l2_open(struct video_v4l2 **out, const char *path, int w, int h, int fps_num,
		     int fps_den, char *err, size_t errlen);
int video__v4l2_read(struct video_v4l2 *c, struct video_frame *f, char *err, size_t errlen);
void video__v4l2_info(const struct video_v4l2 *c, int *w, int *h, int *fps_num, int *fps_den);
void video__v4l2_close(struct video_v4l2 *c);

/* Convert packed YUYV (4:2:2) to I420 (chroma rows averaged in pairs). */
void video__yuyv_to_i420(struct video_frame *f, const uint8_t *src, size_t stride);

/* Incremental payload building (segment.c). */
void video__payload_begin(struct lc_buf *b, uint8_t layer);
int video__payload_add(struct lc_buf *b, uint16_t index, uint8_t s, uint8_t t, const uint8_t *data,
		       size_t len);

#endif
