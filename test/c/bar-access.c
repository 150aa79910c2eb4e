/*
 * The open sequence, BAR0 mmap'd and poked through volatile pointers of each size, then
 * Memory Space Enable cleared through the config region: on a kernel with the 5.8 fix the
 * next access is SIGBUS (caught with sigsetjmp) and pread of the BAR is -EIO; on 5.7 the
 * access reaches the device, which does not decode it (all-ones), and pread succeeds.
 * Arguments: blocks | reaches, then optionally `unhandled`: no SIGBUS handler (the
 * signal ends the program).
 */
#include "vfio-test.h"

#define EDU "0000:01:00.0"

static sigjmp_buf env;
static volatile sig_atomic_t got_sig, got_code;
static void *volatile got_addr;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	siglongjmp(env, 1);
}

int main(int argc, char **argv)
{
	int blocks = expect_blocking(argc, argv);
	struct vdev d = vdev_open(EDU);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	MUST(ioctl(d.device, VFIO_DEVICE_GET_INFO, &di) == 0, "VFIO_DEVICE_GET_INFO");
	CHECK(di.flags & VFIO_DEVICE_FLAGS_PCI, "device is PCI (flags 0x%x, %u regions, %u irqs)", di.flags, di.num_regions, di.num_irqs);
	CHECK(di.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1, "num_regions %u", di.num_regions);

	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	CHECK(bar0.size == 1 << 20, "BAR0 is 1 MiB (size 0x%llx)", (unsigned long long)bar0.size);
	CHECK(bar0.flags & VFIO_REGION_INFO_FLAG_MMAP, "BAR0 is mmap-able");

	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSI_IRQ_INDEX };
	MUST(ioctl(d.device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0, "VFIO_DEVICE_GET_IRQ_INFO");
	CHECK(irq.count >= 1, "MSI has %u vector(s)", irq.count);

	set_memory_enable(d.device, cfg.offset, 1);
	volatile uint8_t *bar = map_region(d.device, bar0, "BAR0");

	uint32_t id = *(volatile uint32_t *)(bar + 0x00);
	CHECK(id == 0x010000ed, "32-bit load: edu identification 0x%08x", id);
	/* edu answers 4-byte accesses below 0x80 and 4- or 8-byte ones above: narrower reads are all-ones (QEMU's edu_mmio_read) */
	uint8_t b = *(volatile uint8_t *)bar;
	CHECK(b == 0xff, "8-bit load: edu ignores it, all-ones (0x%02x)", b);
	uint16_t h = *(volatile uint16_t *)(bar + 2);
	CHECK(h == 0xffff, "16-bit load: all-ones (0x%04x)", h);
	*(volatile uint32_t *)(bar + 0x04) = 0x12345678; /* liveness: reads back inverted */
	uint32_t live = *(volatile uint32_t *)(bar + 0x04);
	CHECK(live == (uint32_t)~0x12345678u, "32-bit store of an immediate, liveness reads 0x%08x", live);
	uint32_t n = (uint32_t)argc + 3; /* 5: a register operand */
	*(volatile uint32_t *)(bar + 0x08) = n;
	uint32_t f = *(volatile uint32_t *)(bar + 0x08);
	CHECK(f == 120, "factorial of %u through a register store: %u", n, f);
	uint64_t src = 0x40000ull + (uint64_t)argc * 0x1000; /* DMA source address register: 64-bit */
	*(volatile uint64_t *)(bar + 0x80) = src;
	uint64_t q = *(volatile uint64_t *)(bar + 0x80);
	CHECK(q == src, "64-bit store and load of the DMA source register: 0x%llx", (unsigned long long)q);
	*(volatile uint64_t *)(bar + 0x88) = 0x41000;
	CHECK(*(volatile uint64_t *)(bar + 0x88) == 0x41000, "64-bit store of an immediate");
	int32_t s8 = *(volatile int8_t *)(bar + 0x00);
	CHECK(s8 == -1, "sign-extending 8-bit load of all-ones: %d", s8);
	uint32_t z16 = *(volatile uint16_t *)(bar + 0x00);
	CHECK(z16 == 0xffff, "zero-extending 16-bit load: 0x%x", z16);

	/* clear Memory Space Enable behind the mapping's back */
	set_memory_enable(d.device, cfg.offset, 0);
	struct sigaction sa = { .sa_sigaction = on_bus, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (!(argc > 2 && strcmp(argv[2], "unhandled") == 0))
		sigaction(SIGBUS, &sa, NULL);
	volatile uint32_t v = 0;
	if (sigsetjmp(env, 1) == 0)
		v = *(volatile uint32_t *)(bar + 0x00);
	if (blocks) {
		CHECK(got_sig == SIGBUS, "load with memory disabled: SIGBUS (got signal %d)", (int)got_sig);
		CHECK(got_code == BUS_ADRERR, "si_code BUS_ADRERR (%d)", (int)got_code);
		CHECK(got_addr == (void *)bar, "si_addr is the access (%p)", got_addr);
	} else {
		CHECK(got_sig == 0, "load with memory disabled: no signal (got %d)", (int)got_sig);
		CHECK(v == 0xffffffff, "the device does not decode: all-ones (0x%08x)", (uint32_t)v);
	}
	uint32_t pv = 0;
	ssize_t pr = pread(d.device, &pv, 4, bar0.offset);
	if (blocks)
		CHECK(pr == -1 && errno == EIO, "pread of BAR0 with memory disabled: EIO (ret %zd errno %d)", pr, errno);
	else
		CHECK(pr == 4 && pv == 0xffffffff, "pread of BAR0 with memory disabled: 4 bytes, all-ones (ret %zd, 0x%08x)", pr, pv);

	set_memory_enable(d.device, cfg.offset, 1);
	CHECK(*(volatile uint32_t *)bar == 0x010000ed, "memory enabled again: the load reaches the device");
	MUST(munmap((void *)bar, bar0.size) == 0, "munmap");
	return finish();
}
