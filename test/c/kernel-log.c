/*
 * The kernel's voice: after edu DMAs to an IOVA nobody mapped, klogctl(READ_ALL) and
 * /dev/kmsg hold the IOMMU's DMAR fault line for the device; a BAR load followed by a
 * pread of the BAR is lockdep's circular dependency on 5.8.0 (bar_rw's memory_lock across
 * copy_to_user) and nothing on later kernels; lockdep does not taint
 * (/proc/sys/kernel/tainted stays 0). Argument: lockdep | no-lockdep.
 */
#include "vfio-test.h"
#include <sys/klog.h>
#include <time.h>

#define SYSLOG_ACTION_READ_ALL 3 /* include/linux/syslog.h; glibc does not export it */

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "lockdep") != 0 && strcmp(argv[1], "no-lockdep") != 0)) {
		fprintf(stderr, "usage: %s lockdep|no-lockdep\n", argv[0]);
		return 2;
	}
	int want_lockdep = strcmp(argv[1], "lockdep") == 0;
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_and_bus_master(d.device, cfg.offset);
	volatile uint64_t *bar = map_region(d.device, bar0, "BAR0");
	uint32_t id = 0;
	MUST(*(volatile uint32_t *)bar == 0x010000ed && pread(d.device, &id, 4, bar0.offset) == 4, "a load, then a pread of BAR0");

	/* edu writes 8 bytes to an IOVA that is not mapped */
	bar[0x80 / 8] = 0x40000;
	bar[0x88 / 8] = 0xdead000;
	bar[0x90 / 8] = 8;
	bar[0x98 / 8] = 1 | 2;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		usleep(2000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((bar[0x98 / 8] & 1) && t.tv_sec - t0.tv_sec < 5);

	static char log[1 << 20];
	int n = klogctl(SYSLOG_ACTION_READ_ALL, log, sizeof(log) - 1);
	MUST(n >= 0, "klogctl(SYSLOG_ACTION_READ_ALL)");
	log[n] = 0;
	CHECK(strstr(log, "DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0xdead000") != NULL, "klogctl: the DMAR fault of edu's write to 0xdead000");
	int has = strstr(log, "WARNING: possible circular locking dependency detected") != NULL;
	CHECK(has == want_lockdep, "klogctl: %s lockdep report", want_lockdep ? "a" : "no");

	FILE *k = fopen("/dev/kmsg", "r");
	MUST(k != NULL, "open /dev/kmsg");
	char line[512];
	int dmar = 0;
	while (fgets(line, sizeof(line), k) != NULL)
		if (strstr(line, ";DMAR: [DMA Write NO_PASID] Request device [01:00.0]") != NULL && line[0] == '3')
			dmar++;
	fclose(k);
	CHECK(dmar == 1, "/dev/kmsg: one DMAR record at level 3 (err) (%d)", dmar);

	FILE *tf = fopen("/proc/sys/kernel/tainted", "r");
	int tainted = -1;
	MUST(tf != NULL && fscanf(tf, "%d", &tainted) == 1, "read /proc/sys/kernel/tainted");
	fclose(tf);
	CHECK(tainted == 0, "not tainted (%d)", tainted);
	return finish();
}
