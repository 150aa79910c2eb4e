/*
 * VFIO_IOMMU_MAP_DMA of the program's own anonymous memory and of a BAR mapping (peer to
 * peer), then VFIO_IOMMU_UNMAP_DMA, which reports the bytes unmapped. The type1 backend
 * pins the pages behind the program's addresses; a mapping of the BAR with memory enabled
 * is a PFNMAP vma whose pfns type1 follows. Mapping an IOVA twice is EEXIST; an unaligned
 * size is EINVAL.
 */
#include "vfio-test.h"

int main(void)
{
	struct vdev d = vdev_open("0000:01:00.0");
	struct vfio_region_info bar0 = region_info(d.device, VFIO_PCI_BAR0_REGION_INDEX);
	struct vfio_region_info cfg = region_info(d.device, VFIO_PCI_CONFIG_REGION_INDEX);
	set_memory_enable(d.device, cfg.offset, 1);

	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	CHECK(ioctl(d.container, VFIO_IOMMU_GET_INFO, &info) == 0 && (info.flags & VFIO_IOMMU_INFO_PGSIZES), "VFIO_IOMMU_GET_INFO: page sizes 0x%llx", (unsigned long long)info.iova_pgsizes);

	size_t len = 2 * 4096;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MUST(mem != MAP_FAILED, "mmap anonymous");
	memset(mem, 0x5a, len);
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
						.vaddr = (uintptr_t)mem, .iova = 0x100000, .size = len };
	CHECK(ioctl(d.container, VFIO_IOMMU_MAP_DMA, &map) == 0, "MAP_DMA of anonymous memory at IOVA 0x100000");
	errno = 0;
	CHECK(ioctl(d.container, VFIO_IOMMU_MAP_DMA, &map) == -1 && errno == EEXIST, "the same IOVA again: EEXIST (errno %d)", errno);
	struct vfio_iommu_type1_dma_map odd = map;
	odd.iova = 0x200000;
	odd.size = 100;
	errno = 0;
	CHECK(ioctl(d.container, VFIO_IOMMU_MAP_DMA, &odd) == -1 && errno == EINVAL, "a size that is not a page multiple: EINVAL (errno %d)", errno);

	void *bar = map_region(d.device, bar0, "BAR0");
	struct vfio_iommu_type1_dma_map p2p = { .argsz = sizeof(p2p), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
						.vaddr = (uintptr_t)bar, .iova = 0x10000000, .size = 4096 };
	CHECK(ioctl(d.container, VFIO_IOMMU_MAP_DMA, &p2p) == 0, "MAP_DMA of the BAR mapping (peer to peer)");

	struct vfio_iommu_type1_dma_unmap un = { .argsz = sizeof(un), .iova = 0x100000, .size = len };
	CHECK(ioctl(d.container, VFIO_IOMMU_UNMAP_DMA, &un) == 0 && un.size == len, "UNMAP_DMA reports %llu bytes", (unsigned long long)un.size);
	CHECK(mem[0] == 0x5a && mem[len - 1] == 0x5a, "the program's memory is untouched");
	return finish();
}
