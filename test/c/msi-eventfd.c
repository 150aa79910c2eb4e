/*
 * MSI through an eventfd: VFIO_DEVICE_SET_IRQS wires MSI vector 0 to an eventfd of the
 * program; edu raises its interrupt (write to 0x60) and the program's read of the eventfd
 * sees the count; DATA_NONE|ACTION_TRIGGER signals it from the ioctl itself; after
 * DATA_NONE|ACTION_TRIGGER with count 0 (disable), the interrupt no longer reaches it.
 */
#include "vfio-test.h"
#include <sys/eventfd.h>

static uint64_t take(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, 8) != 8)
		return 0;
	return v;
}

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_and_bus_master(d.device, cfg.offset);
	volatile uint32_t *bar = map_region(d.device, bar0, "BAR0");

	int efd = eventfd(0, EFD_NONBLOCK);
	MUST(efd >= 0, "eventfd");
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;
	s->argsz = sizeof(buf);
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->index = VFIO_PCI_MSI_IRQ_INDEX;
	s->start = 0;
	s->count = 1;
	memcpy(s->data, &efd, 4);
	CHECK(ioctl(d.device, VFIO_DEVICE_SET_IRQS, s) == 0, "SET_IRQS: MSI vector 0 -> eventfd");
	CHECK(take(efd) == 0, "no interrupt yet");

	bar[0x60 / 4] = 1; /* raise interrupt 0x1 */
	CHECK(take(efd) == 1, "edu raised its interrupt: the eventfd counts 1");
	bar[0x64 / 4] = 1; /* acknowledge */

	struct vfio_irq_set t = { .argsz = sizeof(t), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  .index = VFIO_PCI_MSI_IRQ_INDEX, .start = 0, .count = 1 };
	CHECK(ioctl(d.device, VFIO_DEVICE_SET_IRQS, &t) == 0, "SET_IRQS DATA_NONE|TRIGGER (a loopback trigger)");
	CHECK(take(efd) == 1, "the trigger signalled the eventfd by the time the ioctl returned");

	struct vfio_irq_set off = { .argsz = sizeof(off), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = VFIO_PCI_MSI_IRQ_INDEX, .start = 0, .count = 0 };
	CHECK(ioctl(d.device, VFIO_DEVICE_SET_IRQS, &off) == 0, "SET_IRQS count 0: MSI disabled");
	bar[0x60 / 4] = 1;
	CHECK(take(efd) == 0, "with MSI disabled the interrupt does not reach the eventfd");
	return finish();
}
