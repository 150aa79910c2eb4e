/*
 * fork with a BAR mapping: the child inherits the mapping (vfio-pci's vma is copied, its
 * fds too), reads the device through it and writes a register the parent then reads.
 * When the child has exited, the parent's mapping and fds still work.
 */
#include "vfio-test.h"
#include <sys/wait.h>

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);
	volatile uint32_t *bar = map_region(d.device, bar0, "BAR0");
	CHECK(bar[0] == 0x010000ed, "parent reads the identification register");
	fflush(stdout);
	pid_t pid = fork();
	MUST(pid >= 0, "fork");
	if (pid == 0) {
		int ok = bar[0] == 0x010000ed;
		bar[2] = 4; /* factorial of 4 */
		uint16_t cmd = cfg_command(d.device, cfg.offset);
		_exit(ok && (cmd & 2) ? 0 : 1);
	}
	int st = 0;
	MUST(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child read the device through the inherited mapping and fd (status 0x%x)", st);
	CHECK(bar[2] == 24, "the parent reads the factorial the child asked for: %u", bar[2]);
	uint32_t id = 0;
	CHECK(pread(d.device, &id, 4, bar0.offset) == 4 && id == 0x010000ed, "the parent's device fd still works");
	return finish();
}
