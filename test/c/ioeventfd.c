/*
 * VFIO_DEVICE_IOEVENTFD: a write of data to a BAR register, done by the kernel when the
 * program signals an eventfd. Registered on edu's factorial register with data 5, a
 * write(2) to the eventfd makes the device compute 5! = 120, read back through the
 * mapping; glibc's eventfd_write(3), which bypasses the interposed write, does the same.
 * A second registration of the same (offset, data, size) is EEXIST; size 3 is EINVAL.
 */
#include "vfio-test.h"
#include <sys/eventfd.h>

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);
	volatile uint32_t *bar = map_region(d.device, bar0, "BAR0");
	int efd = eventfd(0, EFD_NONBLOCK);
	MUST(efd >= 0, "eventfd");
	struct vfio_device_ioeventfd io = { .argsz = sizeof(io), .flags = VFIO_DEVICE_IOEVENTFD_32,
					    .offset = bar0.offset + 0x08, .data = 5, .fd = efd };
	CHECK(ioctl(d.device, VFIO_DEVICE_IOEVENTFD, &io) == 0, "VFIO_DEVICE_IOEVENTFD on the factorial register, data 5");
	errno = 0;
	CHECK(ioctl(d.device, VFIO_DEVICE_IOEVENTFD, &io) == -1 && errno == EEXIST, "the same registration again: EEXIST (errno %d)", errno);
	struct vfio_device_ioeventfd bad = io;
	bad.flags = 3;
	errno = 0;
	CHECK(ioctl(d.device, VFIO_DEVICE_IOEVENTFD, &bad) == -1 && errno == EINVAL, "two sizes at once: EINVAL (errno %d)", errno);
	CHECK(bar[2] != 120, "before the signal the factorial register is not 120 (%u)", bar[2]);
	uint64_t one = 1;
	CHECK(write(efd, &one, 8) == 8, "signal the eventfd");
	CHECK(bar[2] == 120, "the kernel wrote 5 to the register: 5! = %u", bar[2]);
	bar[2] = 3;
	CHECK(bar[2] == 6, "the program's own store: 3! = %u", bar[2]);
	CHECK(eventfd_write(efd, 1) == 0, "signal the eventfd with eventfd_write(3)");
	CHECK(bar[2] == 120, "eventfd_write reached the kernel too: it wrote 5 again, 5! = %u", bar[2]);
	return finish();
}
