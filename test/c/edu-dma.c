/*
 * edu's DMA engine, polled: the program DMA-maps its own memory, programs a transfer from
 * the device's buffer into it and polls the command register until the engine clears
 * its run bit. edu completes a transfer 100 ms after the command (QEMU's edu timer), so
 * the program sees it done after about 100 ms of its own monotonic time. Then the bytes:
 * a transfer from the program's memory into edu's buffer and back into another part of
 * the program's memory copies what the program wrote.
 */
#include "vfio-test.h"
#include <time.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_and_bus_master(d.device, cfg.offset);
	volatile uint32_t *bar = map_region(d.device, bar0, "BAR0");

	uint8_t *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MUST(mem != MAP_FAILED, "mmap anonymous");
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
						.vaddr = (uintptr_t)mem, .iova = 0x100000, .size = 4096 };
	MUST(ioctl(d.container, VFIO_IOMMU_MAP_DMA, &map) == 0, "MAP_DMA");

	volatile uint64_t *r64 = (volatile uint64_t *)bar;
	r64[0x80 / 8] = 0x40000;  /* source: edu's buffer */
	r64[0x88 / 8] = 0x100000; /* destination: the IOVA */
	r64[0x90 / 8] = 64;	  /* count */
	double t0 = now_ms();
	r64[0x98 / 8] = 1 | 2;	  /* run, device to RAM */
	int polls = 0;
	while ((r64[0x98 / 8] & 1) && now_ms() - t0 < 5000) {
		polls++;
		usleep(1000);
	}
	double dt = now_ms() - t0;
	CHECK(!(r64[0x98 / 8] & 1), "the DMA completed (%d polls)", polls);
	CHECK(dt >= 90 && dt < 2000, "after about 100 ms of the program's monotonic time (%.0f ms)", dt);

	/* program memory -> edu's buffer -> program memory */
	for (int i = 0; i < 64; i++)
		mem[i] = (uint8_t)(i * 7 + 1);
	memset(mem + 2048, 0, 64);
	r64[0x80 / 8] = 0x100000;
	r64[0x88 / 8] = 0x40000;
	r64[0x90 / 8] = 64;
	r64[0x98 / 8] = 1; /* run, RAM to device */
	while ((r64[0x98 / 8] & 1) && now_ms() - t0 < 10000)
		usleep(1000);
	r64[0x80 / 8] = 0x40000;
	r64[0x88 / 8] = 0x100000 + 2048;
	r64[0x90 / 8] = 64;
	r64[0x98 / 8] = 1 | 2; /* run, device to RAM */
	while ((r64[0x98 / 8] & 1) && now_ms() - t0 < 10000)
		usleep(1000);
	CHECK(memcmp(mem, mem + 2048, 64) == 0, "edu copied 64 bytes from the program's memory and back into it (%02x %02x .. %02x)", mem[2048], mem[2049], mem[2048 + 63]);
	return finish();
}
