// SPDX-License-Identifier: MIT
/*
 * A program of someone else's: built against the installed libvdk with
 * nothing but pkg-config's flags, and run against the installed library.
 * It creates no device: the library refuses a configuration without
 * queues (-EINVAL), if the kernel has VDUSE at all (-ENOENT).
 */
#include <stdio.h>
#include <string.h>

#include <vdk/vdk.h>

int main(void)
{
	struct vdk_dev_cfg cfg;
	struct vdk_vq_stats st;
	struct vdk_dev *dev = NULL;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "vdk-consumer";
	cfg.num_queues = 0;
	ret = vdk_dev_create(&cfg, &dev);
	if (ret >= 0 || dev) {
		fprintf(stderr, "consumer: vdk_dev_create: %d\n", ret);
		return 1;
	}
	if (vdk_sigbus_pages() != 0) {
		fprintf(stderr, "consumer: vdk_sigbus_pages not 0\n");
		return 1;
	}
	printf("consumer: vdk_dev_create: %s (as expected); stats are %zu "
	       "bytes\n", strerror(-ret), sizeof(st));
	return 0;
}
