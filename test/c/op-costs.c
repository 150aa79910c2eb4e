/*
 * What one operation costs through the shim: VFIO_DEVICE_GET_REGION_INFO, a 4-byte pread
 * of BAR0, and a trapped 4-byte load of the mapped BAR0 (a fault, a decode, a socket round
 * trip), each N times (argument, default 2000), in microseconds per operation. It checks
 * every answer too, so it is also a test.
 */
#include "vfio-test.h"
#include <time.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);
	volatile uint32_t *bar = map_region(d.device, bar0, "BAR0");
	int bad = 0;
	double t = now_us();
	for (int i = 0; i < n; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX };
		bad += ioctl(d.device, VFIO_DEVICE_GET_REGION_INFO, &ri) != 0 || ri.size != bar0.size;
	}
	double ioctl_us = (now_us() - t) / n;
	t = now_us();
	for (int i = 0; i < n; i++) {
		uint32_t v = 0;
		bad += pread(d.device, &v, 4, bar0.offset) != 4 || v != 0x010000ed;
	}
	double pread_us = (now_us() - t) / n;
	t = now_us();
	for (int i = 0; i < n; i++)
		bad += bar[0] != 0x010000ed;
	double load_us = (now_us() - t) / n;
	CHECK(bad == 0, "%d x 3 operations answered right", n);
	printf("ioctl(GET_REGION_INFO) %.1f us, pread(4 bytes of BAR0) %.1f us, trapped BAR0 load %.1f us\n", ioctl_us, pread_us, load_us);
	return finish();
}
