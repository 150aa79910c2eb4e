/*
 * Helpers shared by the C test programs of test/c/ (written for vfio-sim; run with
 * `vfio-sim exec -- ./prog` and also runnable as root on a real host with an edu device
 * bound to vfio-pci). Each program prints what it checks and exits 0 when the kernel
 * behaved as the program asserts, 1 otherwise.
 */
#ifndef VFIO_TEST_H
#define VFIO_TEST_H
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (cond) {                                                  \
			printf("ok   ");                                     \
		} else {                                                     \
			printf("FAIL ");                                     \
			failures++;                                          \
		}                                                            \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
		fflush(stdout);                                              \
	} while (0)

#define MUST(cond, ...)                                                      \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("FAIL ");                                     \
			printf(__VA_ARGS__);                                 \
			printf(" (errno %d: %s)\n", errno, strerror(errno)); \
			exit(1);                                             \
		}                                                            \
	} while (0)

/* An opened device: the container, group and device fds. */
struct vdev {
	int container, group, device;
	int groupno;
};

/* The QEMU/DPDK open sequence for the PCI function `bdf`. */
__attribute__((unused)) static struct vdev vdev_open(const char *bdf)
{
	struct vdev d;
	char path[256], link[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	MUST(n > 0, "readlink %s", path);
	link[n] = 0;
	d.groupno = atoi(basename(link));

	d.container = open("/dev/vfio/vfio", O_RDWR);
	MUST(d.container >= 0, "open /dev/vfio/vfio");
	MUST(ioctl(d.container, VFIO_GET_API_VERSION) == VFIO_API_VERSION, "VFIO_GET_API_VERSION");
	MUST(ioctl(d.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1, "VFIO_CHECK_EXTENSION(TYPE1)");

	snprintf(path, sizeof(path), "/dev/vfio/%d", d.groupno);
	d.group = open(path, O_RDWR);
	MUST(d.group >= 0, "open %s", path);
	struct vfio_group_status st = { .argsz = sizeof(st) };
	MUST(ioctl(d.group, VFIO_GROUP_GET_STATUS, &st) == 0, "VFIO_GROUP_GET_STATUS");
	MUST(st.flags & VFIO_GROUP_FLAGS_VIABLE, "group %d viable", d.groupno);
	MUST(ioctl(d.group, VFIO_GROUP_SET_CONTAINER, &d.container) == 0, "VFIO_GROUP_SET_CONTAINER");
	MUST(ioctl(d.container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) == 0, "VFIO_SET_IOMMU");
	d.device = ioctl(d.group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	MUST(d.device >= 0, "VFIO_GROUP_GET_DEVICE_FD %s", bdf);
	return d;
}

__attribute__((unused)) static struct vfio_region_info region_info(int device, unsigned index)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };
	MUST(ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &ri) == 0, "VFIO_DEVICE_GET_REGION_INFO %u", index);
	return ri;
}

/* The command register through the config region. */
__attribute__((unused)) static uint16_t cfg_command(int device, off_t cfg)
{
	uint16_t v = 0;
	MUST(pread(device, &v, 2, cfg + 4) == 2, "pread command");
	return v;
}

/* Set (on) or clear bits of the command register through the config region. */
__attribute__((unused)) static void set_command_bits(int device, off_t cfg, uint16_t bits, int on)
{
	uint16_t v = cfg_command(device, cfg);
	v = on ? (v | bits) : (v & ~bits);
	MUST(pwrite(device, &v, 2, cfg + 4) == 2, "pwrite command");
}

__attribute__((unused)) static void set_memory_enable(int device, off_t cfg, int on)
{
	set_command_bits(device, cfg, 2, on);
}

/* Memory space and bus mastering on (a device that does DMA or MSI). */
__attribute__((unused)) static void set_memory_and_bus_master(int device, off_t cfg)
{
	set_command_bits(device, cfg, 2 | 4, 1);
}

/* mmap a region of the device read/write and shared, as a driver maps a BAR. */
__attribute__((unused)) static void *map_region(int device, struct vfio_region_info ri, const char *what)
{
	void *p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, ri.offset);
	MUST(p != MAP_FAILED, "mmap %s", what);
	return p;
}

/* The expectation given on the command line: "blocks" (5.8+) or "reaches" (5.7). */
__attribute__((unused)) static int expect_blocking(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "blocks") != 0 && strcmp(argv[1], "reaches") != 0)) {
		fprintf(stderr, "usage: %s blocks|reaches\n", argv[0]);
		exit(2);
	}
	return strcmp(argv[1], "blocks") == 0;
}

static int finish(void)
{
	printf(failures ? "%d check(s) failed\n" : "all checks passed\n", failures);
	return failures ? 1 : 0;
}
#endif
