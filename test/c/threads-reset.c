/*
 * Two threads on one device, synchronised through the model so that the outcome is
 * deterministic: the resetter issues VFIO_DEVICE_RESET; the main thread waits until the
 * model says that the reset holds memory_lock for write (vfio_sim_lock_state, the shim's
 * debugging entry point) and only then lets the loader touch the BAR mapping. The reset
 * zapped the mapping first (vfio_pci_zap_and_down_write_memory_lock), so the load faults
 * and vfio_pci_mmap_fault waits for memory_lock; once the reset is over — it restored the
 * command register, MEM included (pci_dev_restore) — the fault maps the BAR and the load
 * sees the identification register, not SIGBUS. Under 5.8 and 6.12 alike.
 *
 * On a real host (no shim) vfio_sim_lock_state is absent: the program then only checks
 * that a load racing a reset sees the device.
 */
#include "vfio-test.h"
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

static struct vdev d;
static volatile uint32_t *bar;
static int reset_ret = -1, reset_errno;
static uint32_t loaded;
static int lock_after_load = -1;
static int (*lock_state)(const char *);
static const char *const LOCK = "memory_lock:0000:01:00.0";
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;

static void *resetter(void *arg)
{
	(void)arg;
	reset_ret = ioctl(d.device, VFIO_DEVICE_RESET);
	reset_errno = errno;
	return NULL;
}

static void *loader(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&go_lock);
	while (!go)
		pthread_cond_wait(&go_cond, &go_lock);
	pthread_mutex_unlock(&go_lock);
	loaded = bar[0];
	if (lock_state)
		lock_after_load = lock_state(LOCK);
	return NULL;
}

int main(void)
{
	d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);
	bar = map_region(d.device, bar0, "BAR0");
	CHECK(bar[0] == 0x010000ed, "before the reset the mapping shows the identification register");
	*(void **)&lock_state = dlsym(RTLD_DEFAULT, "vfio_sim_lock_state");

	pthread_t a, b;
	MUST(pthread_create(&b, NULL, loader, NULL) == 0, "pthread_create");
	MUST(pthread_create(&a, NULL, resetter, NULL) == 0, "pthread_create");
	if (lock_state) {
		/* wait (at most 10 s) until the reset holds memory_lock for write */
		int st = -1;
		for (int i = 0; i < 10000 && (st = lock_state(LOCK)) != 2; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		MUST(st == 2, "the reset holds memory_lock for write (state %d)", st);
		printf("ok   the reset holds memory_lock for write; the loader starts\n");
	}
	pthread_mutex_lock(&go_lock);
	go = 1;
	pthread_cond_signal(&go_cond);
	pthread_mutex_unlock(&go_lock);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	CHECK(reset_ret == 0, "VFIO_DEVICE_RESET succeeded (%d, errno %d)", reset_ret, reset_errno);
	CHECK(loaded == 0x010000ed, "the load during the reset waited and then saw the device (0x%08x), no SIGBUS: the reset restored MEM", loaded);
	if (lock_state)
		CHECK(lock_after_load == 0, "when the load returned, memory_lock was free again (state %d): the fault waited for the reset", lock_after_load);
	CHECK(cfg_command(d.device, cfg.offset) & 2, "the command register has MEM set after the reset");
	return finish();
}
