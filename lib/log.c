/* SPDX-License-Identifier: MIT */
/* Diagnostics through the application's callback; never printed here. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(struct vdk_dev *dev, int level, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	dev->log(dev->log_opaque, level, msg);
}

void vdk__log(struct vdk_dev *dev, int level, const char *fmt, ...)
{
	va_list ap;

	if (!dev->log || level > dev->log_level)
		return;
	va_start(ap, fmt);
	emit(dev, level, fmt, ap);
	va_end(ap);
}

void vdk__log_limited(struct vdk_dev *dev, int level, const char *fmt, ...)
{
	struct vdk__ratelimit *rl = &dev->rl;
	unsigned int suppressed = 0;
	bool print;
	uint64_t now;
	va_list ap;

	if (!dev->log || level > dev->log_level)
		return;
	now = now_ns();
	pthread_mutex_lock(&rl->lock);
	if (now - rl->window_start > VDK_LOG_WINDOW_NS) {
		suppressed = rl->suppressed;
		rl->window_start = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	print = rl->printed < VDK_LOG_BURST;
	if (print)
		rl->printed++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&rl->lock);

	if (suppressed)
		vdk__log(dev, level, "%s: %u similar messages suppressed",
			 dev->name, suppressed);
	if (!print)
		return;
	va_start(ap, fmt);
	emit(dev, level, fmt, ap);
	va_end(ap);
}
