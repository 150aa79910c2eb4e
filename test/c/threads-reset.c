/*
 * Two threads on one device: one loads BAR0 through the mapping in a loop while the other
 * resets the device (VFIO_DEVICE_RESET) and reads its config space. Each thread has its
 * own connection to the model, so neither waits for the other's requests; every load
 * sees the identification register (a fault during a reset waits for memory_lock, and a
 * reset restores the command register, so the loads never see memory disabled).
 */
#include "vfio-test.h"
#include <pthread.h>

static struct vdev d;
static volatile uint32_t *bar;
static off_t cfgoff;
static int resets_ok, loads_ok;

static void *resetter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		if (ioctl(d.device, VFIO_DEVICE_RESET) == 0 && (cfg_command(d.device, cfgoff) & 2))
			resets_ok++;
	}
	return NULL;
}

static void *loader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++)
		if (bar[0] == 0x010000ed)
			loads_ok++;
	return NULL;
}

int main(void)
{
	d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	cfgoff = cfg.offset;
	set_memory_enable(d.device, cfg.offset, 1);
	bar = mmap(NULL, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED, d.device, bar0.offset);
	MUST(bar != MAP_FAILED, "mmap BAR0");
	pthread_t a, b;
	MUST(pthread_create(&a, NULL, loader, NULL) == 0, "pthread_create");
	MUST(pthread_create(&b, NULL, resetter, NULL) == 0, "pthread_create");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(loads_ok == 200, "every load through the mapping saw the device (%d of 200)", loads_ok);
	CHECK(resets_ok == 20, "every reset succeeded and left memory enabled (%d of 20)", resets_ok);
	return finish();
}
