/*
 * The NIC's option ROM through the ROM region: with memory decode on, pread of its first
 * two bytes is the 0x55 0xAA signature. With Memory Space Enable cleared the answer
 * depends on the kernel: 5.8.0 checks the memory-enable state for the ROM as for a BAR
 * (-EIO, the ROM not touched); 5.7 and 5.9+ map the ROM (pci_map_rom) outside that check,
 * its header reads are not decoded (all-ones), the signature check fails: -ENOMEM.
 * Argument: eio | enomem.
 */
#include "vfio-test.h"

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "eio") != 0 && strcmp(argv[1], "enomem") != 0)) {
		fprintf(stderr, "usage: %s eio|enomem\n", argv[0]);
		return 2;
	}
	int want = strcmp(argv[1], "eio") == 0 ? EIO : ENOMEM;
	struct vdev d = vdev_open("0000:03:00.0");
	struct vfio_region_info rom = region_info(d.device, VFIO_PCI_ROM_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	CHECK(rom.size >= 2048 && (rom.flags & VFIO_REGION_INFO_FLAG_READ) && !(rom.flags & VFIO_REGION_INFO_FLAG_WRITE),
	      "the ROM region: %llu bytes, read-only", (unsigned long long)rom.size);
	set_memory_enable(d.device, cfg.offset, 1);
	uint8_t sig[2] = { 0, 0 };
	CHECK(pread(d.device, sig, 2, rom.offset) == 2 && sig[0] == 0x55 && sig[1] == 0xaa, "ROM signature %02x %02x", sig[0], sig[1]);
	set_memory_enable(d.device, cfg.offset, 0);
	errno = 0;
	ssize_t r = pread(d.device, sig, 2, rom.offset);
	CHECK(r == -1 && errno == want, "ROM pread with memory disabled: %s (ret %zd, errno %d)", want == EIO ? "EIO" : "ENOMEM", r, errno);
	return finish();
}
