/*
 * What the kernel answers to bad input and to the variable-length ioctls: a garbage
 * struct pointer is EFAULT, an argsz below the struct's minimum is EINVAL, a closed fd
 * where a container fd belongs is EBADF and an open non-VFIO fd there EINVAL, an unknown
 * ioctl ENOTTY; VFIO_DEVICE_GET_PCI_HOT_RESET_INFO with room for no device is ENOSPC and
 * says how many there are, and succeeds with that room; VFIO_DEVICE_PCI_HOT_RESET with
 * the affected group's fd resets, with another group's fd it is EINVAL; pwrite to the ROM is EINVAL;
 * VFIO_DEVICE_RESET resets and the BAR answers after it.
 */
#include "vfio-test.h"

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");

	errno = 0;
	CHECK(ioctl(d.device, VFIO_DEVICE_GET_REGION_INFO, (void *)16) == -1 && errno == EFAULT, "garbage struct pointer: EFAULT (errno %d)", errno);
	struct vfio_region_info ri = { .argsz = 8, .index = VFIO_PCI_BAR0_REGION_INDEX };
	errno = 0;
	CHECK(ioctl(d.device, VFIO_DEVICE_GET_REGION_INFO, &ri) == -1 && errno == EINVAL, "argsz 8 (short): EINVAL (errno %d)", errno);
	errno = 0;
	CHECK(ioctl(d.device, _IO(VFIO_TYPE, VFIO_BASE + 60)) == -1 && errno == ENOTTY, "unknown VFIO ioctl: ENOTTY (errno %d)", errno);

	/* a second group: its container fd checked by the kernel */
	char link[256];
	ssize_t n = readlink("/sys/bus/pci/devices/0000:02:00.0/iommu_group", link, sizeof(link) - 1);
	MUST(n > 0, "readlink the second edu's iommu_group");
	link[n] = 0;
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));
	int g2 = open(path, O_RDWR);
	MUST(g2 >= 0, "open %s", path);
	int closed = dup(0);
	close(closed);
	errno = 0;
	CHECK(ioctl(g2, VFIO_GROUP_SET_CONTAINER, &closed) == -1 && errno == EBADF, "SET_CONTAINER with a closed fd: EBADF (errno %d)", errno);
	int p[2];
	MUST(pipe(p) == 0, "pipe");
	errno = 0;
	CHECK(ioctl(g2, VFIO_GROUP_SET_CONTAINER, &p[0]) == -1 && errno == EINVAL, "SET_CONTAINER with a pipe: EINVAL (errno %d)", errno);
	errno = 0;
	CHECK(ioctl(g2, VFIO_GROUP_SET_CONTAINER, (void *)16) == -1 && errno == EFAULT, "SET_CONTAINER with a garbage pointer: EFAULT (errno %d)", errno);
	errno = 0;
	CHECK(ioctl(g2, VFIO_GROUP_GET_DEVICE_FD, "0000:02:00.0") == -1 && errno == EINVAL, "GET_DEVICE_FD before the group has a container: EINVAL (errno %d)", errno);
	int c2 = dup(d.container);
	CHECK(ioctl(g2, VFIO_GROUP_SET_CONTAINER, &c2) == 0, "SET_CONTAINER with a dup of the container fd");
	int dev2 = ioctl(g2, VFIO_GROUP_GET_DEVICE_FD, "0000:02:00.0");
	CHECK(dev2 >= 0, "second device opened");

	/* hot reset info: the ENOSPC retry */
	struct vfio_pci_hot_reset_info hi = { .argsz = sizeof(hi) };
	errno = 0;
	int r = ioctl(d.device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hi);
	CHECK(r == -1 && errno == ENOSPC && hi.count >= 1, "hot reset info with no room: ENOSPC, count %u", hi.count);
	size_t sz = sizeof(hi) + hi.count * sizeof(struct vfio_pci_dependent_device);
	struct vfio_pci_hot_reset_info *h = calloc(1, sz);
	h->argsz = (uint32_t)sz;
	CHECK(ioctl(d.device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, h) == 0, "hot reset info with room for %u", hi.count);
	CHECK(h->devices[0].segment == 0 && h->devices[0].bus == 1 && h->devices[0].devfn == 0, "affected device 0000:%02x:%02x.%d, group %u",
	      h->devices[0].bus, h->devices[0].devfn >> 3, h->devices[0].devfn & 7, h->devices[0].group_id);
	CHECK((int)h->devices[0].group_id == d.groupno, "its group is the device's");

	/* the hot reset itself: the group fds of every affected device (one here) */
	size_t rsz = sizeof(struct vfio_pci_hot_reset) + sizeof(int32_t);
	struct vfio_pci_hot_reset *hr = calloc(1, rsz);
	hr->argsz = (uint32_t)rsz;
	hr->count = 1;
	hr->group_fds[0] = d.group;
	CHECK(ioctl(d.device, VFIO_DEVICE_PCI_HOT_RESET, hr) == 0, "VFIO_DEVICE_PCI_HOT_RESET with the device's group fd");
	hr->group_fds[0] = g2;
	errno = 0;
	CHECK(ioctl(d.device, VFIO_DEVICE_PCI_HOT_RESET, hr) == -1 && errno == EINVAL, "hot reset naming another device's group: EINVAL (errno %d)", errno);

	/* ROM: read-only */
	struct vfio_region_info rom = region_info(d.device, VFIO_PCI_ROM_REGION_INDEX);
	uint8_t b = 0;
	errno = 0;
	CHECK(pwrite(d.device, &b, 1, rom.offset) == -1 && errno == EINVAL, "pwrite to the ROM region: EINVAL (errno %d)", errno);

	/* reset */
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	MUST(ioctl(d.device, VFIO_DEVICE_GET_INFO, &di) == 0, "VFIO_DEVICE_GET_INFO");
	if (di.flags & VFIO_DEVICE_FLAGS_RESET) {
		CHECK(ioctl(d.device, VFIO_DEVICE_RESET) == 0, "VFIO_DEVICE_RESET");
		uint32_t id = 0;
		CHECK(pread(d.device, &id, 4, bar0.offset) == 4 && id == 0x010000ed, "BAR0 answers after the reset (0x%08x)", id);
	}
	errno = 0;
	CHECK(ioctl(12345, VFIO_DEVICE_RESET) == -1 && errno == EBADF, "ioctl on a closed fd: EBADF (errno %d)", errno);
	return finish();
}
