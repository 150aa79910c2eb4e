/**
 * The uAPI layout tables (src/uapi/layout.ts) against the kernel's own: every struct's
 * sizeof and every field's offset as gcc computes them from the Linux uapi headers
 * (include/uapi/linux/vfio.h and kvm.h of Linux 6.1, x86-64; printed by a C program
 * with sizeof/offsetof and pasted below). vfio_device_info grew cap_offset in 5.13
 * (sizeof 20 then); the model is 5.8's 16-byte struct, whose fields sit at the same offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type FieldSpec, type StructLayout, UAPI_STRUCTS, defineStruct } from '../../src/uapi/layout.js';
import {
  decodeDmaMap, decodeRegionInfo, encodeDmaMap, encodeRegionInfo, VFIO_DEVICE_GET_REGION_INFO, VFIO_GET_API_VERSION,
  VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_TYPE1_DMA_MAP, VFIO_REGION_INFO,
} from '../../src/uapi/vfio.js';
import { KVM_CREATE_DEVICE, KVM_GET_REGS, KVM_IRQFD } from '../../src/uapi/kvm.js';

/** `S struct sizeof` and `F struct field offsetof` lines, from gcc on x86-64. */
const KERNEL = `
  S vfio_info_cap_header 8
  F vfio_info_cap_header id 0
  F vfio_info_cap_header version 2
  F vfio_info_cap_header next 4
  S vfio_group_status 8
  F vfio_group_status argsz 0
  F vfio_group_status flags 4
  S vfio_device_info 20
  F vfio_device_info argsz 0
  F vfio_device_info flags 4
  F vfio_device_info num_regions 8
  F vfio_device_info num_irqs 12
  S vfio_region_info 32
  F vfio_region_info argsz 0
  F vfio_region_info flags 4
  F vfio_region_info index 8
  F vfio_region_info cap_offset 12
  F vfio_region_info size 16
  F vfio_region_info offset 24
  S vfio_region_sparse_mmap_area 16
  F vfio_region_sparse_mmap_area offset 0
  F vfio_region_sparse_mmap_area size 8
  S vfio_region_info_cap_sparse_mmap 16
  F vfio_region_info_cap_sparse_mmap nr_areas 8
  F vfio_region_info_cap_sparse_mmap reserved 12
  F vfio_region_info_cap_sparse_mmap areas 16
  S vfio_region_info_cap_type 16
  F vfio_region_info_cap_type type 8
  F vfio_region_info_cap_type subtype 12
  S vfio_irq_info 16
  F vfio_irq_info argsz 0
  F vfio_irq_info flags 4
  F vfio_irq_info index 8
  F vfio_irq_info count 12
  S vfio_irq_set 20
  F vfio_irq_set argsz 0
  F vfio_irq_set flags 4
  F vfio_irq_set index 8
  F vfio_irq_set start 12
  F vfio_irq_set count 16
  F vfio_irq_set data 20
  S vfio_pci_dependent_device 8
  F vfio_pci_dependent_device group_id 0
  F vfio_pci_dependent_device segment 4
  F vfio_pci_dependent_device bus 6
  F vfio_pci_dependent_device devfn 7
  S vfio_pci_hot_reset_info 12
  F vfio_pci_hot_reset_info argsz 0
  F vfio_pci_hot_reset_info flags 4
  F vfio_pci_hot_reset_info count 8
  F vfio_pci_hot_reset_info devices 12
  S vfio_pci_hot_reset 12
  F vfio_pci_hot_reset argsz 0
  F vfio_pci_hot_reset flags 4
  F vfio_pci_hot_reset count 8
  F vfio_pci_hot_reset group_fds 12
  S vfio_device_ioeventfd 32
  F vfio_device_ioeventfd argsz 0
  F vfio_device_ioeventfd flags 4
  F vfio_device_ioeventfd offset 8
  F vfio_device_ioeventfd data 16
  F vfio_device_ioeventfd fd 24
  S vfio_device_feature 8
  F vfio_device_feature argsz 0
  F vfio_device_feature flags 4
  F vfio_device_feature data 8
  S vfio_device_low_power_entry_with_wakeup 8
  F vfio_device_low_power_entry_with_wakeup wakeup_eventfd 0
  F vfio_device_low_power_entry_with_wakeup reserved 4
  S vfio_iommu_type1_info 24
  F vfio_iommu_type1_info argsz 0
  F vfio_iommu_type1_info flags 4
  F vfio_iommu_type1_info iova_pgsizes 8
  F vfio_iommu_type1_info cap_offset 16
  S vfio_iova_range 16
  F vfio_iova_range start 0
  F vfio_iova_range end 8
  S vfio_iommu_type1_info_cap_iova_range 16
  F vfio_iommu_type1_info_cap_iova_range nr_iovas 8
  F vfio_iommu_type1_info_cap_iova_range reserved 12
  F vfio_iommu_type1_info_cap_iova_range iova_ranges 16
  S vfio_iommu_type1_info_cap_migration 32
  F vfio_iommu_type1_info_cap_migration flags 8
  F vfio_iommu_type1_info_cap_migration pgsize_bitmap 16
  F vfio_iommu_type1_info_cap_migration max_dirty_bitmap_size 24
  S vfio_iommu_type1_dma_map 32
  F vfio_iommu_type1_dma_map argsz 0
  F vfio_iommu_type1_dma_map flags 4
  F vfio_iommu_type1_dma_map vaddr 8
  F vfio_iommu_type1_dma_map iova 16
  F vfio_iommu_type1_dma_map size 24
  S vfio_iommu_type1_dma_unmap 24
  F vfio_iommu_type1_dma_unmap argsz 0
  F vfio_iommu_type1_dma_unmap flags 4
  F vfio_iommu_type1_dma_unmap iova 8
  F vfio_iommu_type1_dma_unmap size 16
  F vfio_iommu_type1_dma_unmap data 24
  S vfio_bitmap 24
  F vfio_bitmap pgsize 0
  F vfio_bitmap size 8
  F vfio_bitmap data 16
  S kvm_regs 144
  F kvm_regs rax 0
  F kvm_regs r8 64
  F kvm_regs rip 128
  F kvm_regs rflags 136
  S kvm_irqfd 32
  F kvm_irqfd fd 0
  F kvm_irqfd gsi 4
  F kvm_irqfd flags 8
  F kvm_irqfd resamplefd 12
  F kvm_irqfd pad 16
  S kvm_create_device 12
  F kvm_create_device type 0
  F kvm_create_device fd 4
  F kvm_create_device flags 8
`;

/** Structs whose sizeof in the 6.1 headers differs from 5.8's (the model's), with 5.8's value. */
const SIZE_5_8: Record<string, number> = { vfio_device_info: 16 };

const sizes = new Map<string, number>();
const offsets = new Map<string, Map<string, number>>();
for (const line of KERNEL.trim().split('\n')) {
  const [kind, st, a, b] = line.trim().split(/\s+/);
  if (kind === 'S') sizes.set(st as string, Number(a));
  else {
    const m = offsets.get(st as string) ?? new Map<string, number>();
    m.set(a as string, Number(b));
    offsets.set(st as string, m);
  }
}

test('every uAPI struct the kernel declares has a layout table, and sizeof matches the kernel (vfio_region_info 32, vfio_iommu_type1_dma_map 32, ...)', () => {
  for (const [name, size] of sizes) {
    const l = UAPI_STRUCTS.get(name);
    assert.ok(l !== undefined, `no layout table for struct ${name}`);
    assert.equal(l.size, SIZE_5_8[name] ?? size, `sizeof(struct ${name})`);
  }
  assert.equal(UAPI_STRUCTS.get('vfio_region_info')?.size, 32);
  assert.equal(UAPI_STRUCTS.get('vfio_iommu_type1_dma_map')?.size, 32);
  assert.equal(UAPI_STRUCTS.get('vfio_iommu_type1_dma_unmap')?.size, 24);
  assert.equal(UAPI_STRUCTS.get('vfio_device_ioeventfd')?.size, 32);
});

test('every field offset in the layout tables is the kernel offsetof', () => {
  for (const [name, fields] of offsets) {
    const l: StructLayout | undefined = UAPI_STRUCTS.get(name);
    assert.ok(l !== undefined, name);
    for (const [field, off] of fields) {
      const f: FieldSpec | undefined = l.fields.find((x) => x.cName === field || x.cName === `header.${field}`);
      if (f === undefined) {
        // a flexible array member or padding: it starts where the table says the fixed part ends
        assert.ok(l.tail !== null, `struct ${name}: field ${field} missing from the table`);
        assert.ok(l.tail.includes(field), `struct ${name}: tail '${l.tail}' should be ${field}`);
        assert.equal(off, field === 'pad' ? 16 : l.size, `offsetof(struct ${name}, ${field})`);
        continue;
      }
      assert.equal(f.offset, off, `offsetof(struct ${name}, ${field})`);
    }
  }
});

test('ioctl numbers are the kernel _IO/_IOWR values', () => {
  assert.equal(VFIO_GET_API_VERSION, 0x3b64);
  assert.equal(VFIO_DEVICE_GET_REGION_INFO, 0x3b6c);
  assert.equal(VFIO_IOMMU_MAP_DMA, 0x3b71);
  assert.equal(KVM_IRQFD, 0x4020ae76);
  assert.equal(KVM_GET_REGS, 0x8090ae81);
  assert.equal(KVM_CREATE_DEVICE, 0xc00caee0);
});

test('encoding puts each field at its table offset, little-endian, and decoding reads it back', () => {
  const b = encodeRegionInfo({ argsz: 32, index: 7, flags: 3, capOffset: 0x20, size: 0x1000n, offset: 7n << 40n });
  const dv = new DataView(b.buffer);
  assert.equal(b.byteLength, 32);
  assert.equal(dv.getUint32(8, true), 7);
  assert.equal(dv.getUint32(12, true), 0x20);
  assert.equal(dv.getBigUint64(16, true), 0x1000n);
  assert.equal(dv.getBigUint64(24, true), 7n << 40n);
  assert.deepEqual(decodeRegionInfo(b), { argsz: 32, flags: 3, index: 7, capOffset: 0x20, size: 0x1000n, offset: 7n << 40n });
  const m = encodeDmaMap({ flags: 3, vaddr: 0x7f0000001000n, size: 0x2000n, iova: 0x10000n });
  assert.equal(new DataView(m.buffer).getBigUint64(VFIO_IOMMU_TYPE1_DMA_MAP.offsetof('iova'), true), 0x10000n);
  assert.deepEqual(decodeDmaMap(m), { argsz: 32, flags: 3, vaddr: 0x7f0000001000n, iova: 0x10000n, size: 0x2000n });
  // a short buffer decodes the missing fields as 0, never throws
  assert.equal(VFIO_REGION_INFO.decode(b.subarray(0, 12)).size, 0n);
});

test('a layout table with a misaligned, overlapping or oversized field is refused when declared', () => {
  assert.throws(() => defineStruct('bad1', 16, [['a', 'a', 0, 'u32'], ['b', 'b', 4, 'u64']] as const), /not 8-byte aligned/);
  assert.throws(() => defineStruct('bad2', 8, [['a', 'a', 0, 'u32'], ['b', 'b', 2, 'u16']] as const), /overlaps/);
  assert.throws(() => defineStruct('bad3', 8, [['a', 'a', 0, 'u64'], ['b', 'b', 8, 'u32']] as const), /past sizeof/);
  assert.throws(() => defineStruct('bad4', 12, [['a', 'a', 0, 'u64']] as const), /multiple of its alignment/);
});

test('describe() prints the table as the C declaration with offsets', () => {
  assert.equal(
    VFIO_IOMMU_TYPE1_DMA_MAP.describe(),
    'struct vfio_iommu_type1_dma_map {\n  /*   0 */ __u32 argsz;\n  /*   4 */ __u32 flags;\n  /*   8 */ __u64 vaddr;\n  /*  16 */ __u64 iova;\n  /*  24 */ __u64 size;\n}; /* sizeof 32 */',
  );
});
