/*
 * Finding the device as a program does on a host: list /sys/bus/pci/devices with
 * opendir/readdir, read each function's vendor, device and class with fopen/fscanf,
 * readlink its driver and iommu_group; /dev/iommu is absent (ENOENT, a kernel built without
 * iommufd) so the program falls back to the group interface.
 */
#include "vfio-test.h"
#include <dirent.h>

static unsigned read_hex(const char *bdf, const char *attr)
{
	char path[256];
	unsigned v = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return ~0u;
	if (fscanf(f, "%x", &v) != 1)
		v = ~0u;
	fclose(f);
	return v;
}

static int link_base(const char *bdf, const char *attr, char *out, size_t n)
{
	char path[256], link[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	ssize_t r = readlink(path, link, sizeof(link) - 1);
	if (r < 0)
		return -1;
	link[r] = 0;
	snprintf(out, n, "%s", basename(link));
	return 0;
}

int main(void)
{
	errno = 0;
	CHECK(open("/dev/iommu", O_RDWR) == -1 && errno == ENOENT, "/dev/iommu: ENOENT (errno %d)", errno);
	DIR *d = opendir("/sys/bus/pci/devices");
	MUST(d != NULL, "opendir /sys/bus/pci/devices");
	int functions = 0, edus = 0;
	char first[256] = "";
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		functions++;
		unsigned vendor = read_hex(e->d_name, "vendor"), device = read_hex(e->d_name, "device");
		unsigned class = read_hex(e->d_name, "class");
		char drv[64] = "(none)", grp[16] = "?";
		link_base(e->d_name, "driver", drv, sizeof(drv));
		link_base(e->d_name, "iommu_group", grp, sizeof(grp));
		printf("     %s %04x:%04x class %06x driver %s group %s\n", e->d_name, vendor, device, class, drv, grp);
		if (vendor == 0x1234 && device == 0x11e8) {
			CHECK(strcmp(drv, "vfio-pci") == 0, "edu %s is bound to vfio-pci", e->d_name);
			CHECK(class == 0x00ff00, "edu's class 0x%06x", class);
			if (edus++ == 0)
				snprintf(first, sizeof(first), "%s", e->d_name);
		}
	}
	closedir(d);
	CHECK(functions >= 3, "%d functions listed", functions);
	CHECK(edus == 2, "two edu devices (%d)", edus);
	CHECK(strcmp(first, "0000:01:00.0") == 0, "the first edu is 0000:01:00.0 (%s)", first);
	if (edus > 0) {
		struct vdev v = vdev_open(first);
		CHECK(v.device >= 0, "the device found through sysfs opens through its group %d", v.groupno);
	}
	return finish();
}
