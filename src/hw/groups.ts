/**
 * IOMMU group derivation from the topology, following Linux's pci_device_group.
 */
import type { PciFunction } from './pci-function.js';
import * as R from './regs.js';

/** pci_acs_enabled (drivers/pci/pci.c, 5.8), with ACS taken as enabled wherever the capability has the flags (Linux enables it at enumeration). */
function acsEnabled(f: PciFunction): boolean {
  const t = f.tpl;
  if (t.pcieType === null) return false;
  switch (t.pcieType) {
    case R.PCI_EXP_TYPE_DOWNSTREAM:
    case R.PCI_EXP_TYPE_ROOT_PORT:
      return (t.acsCap & R.REQ_ACS_FLAGS) === R.REQ_ACS_FLAGS;
    case R.PCI_EXP_TYPE_ENDPOINT:
    case R.PCI_EXP_TYPE_UPSTREAM:
    case R.PCI_EXP_TYPE_LEG_END:
    case R.PCI_EXP_TYPE_RC_END: {
      if (!isMultiFunction(f)) return true;
      // Multi-function devices only need RR/CR/UF isolation between their functions.
      const need = R.PCI_ACS_RR | R.PCI_ACS_CR | R.PCI_ACS_UF;
      return (t.acsCap & need) === need;
    }
    default:
      return false;
  }
}

/** pci_acs_path_enabled (drivers/pci/pci.c, 5.8): ACS on `start` and every bridge above it. */
function acsPathEnabled(start: PciFunction): boolean {
  for (let p: PciFunction | null = start; p !== null; p = p.upstream) if (!acsEnabled(p)) return false;
  return true;
}

function isMultiFunction(f: PciFunction): boolean {
  return (f.tpl.cs.r8(R.PCI_HEADER_TYPE) & R.PCI_HEADER_TYPE_MFD) !== 0;
}

/**
 * pci_device_group (drivers/iommu/iommu.c, 5.8): assign `iommuGroup` to every
 * function. `order` is the order devices are added to the IOMMU (pci_bus_add_devices:
 * a bus's devices, then the buses below), so upstream bridges are grouped first.
 * Returns the number of groups.
 */
export function assignIommuGroups(order: readonly PciFunction[], all: readonly PciFunction[]): number {
  let next = 0;
  const grouped = (f: PciFunction): number | null => (f.iommuGroup >= 0 ? f.iommuGroup : null);
  for (const dev of order) {
    dev.iommuGroup = groupFor(dev, all, grouped) ?? next++;
  }
  return next;
}

function groupFor(start: PciFunction, all: readonly PciFunction[], grouped: (f: PciFunction) => number | null): number | null {
  // 1. pci_for_each_dma_alias: the function, then bridges that take ownership of its requester ID.
  let pdev = start;
  for (let tmp = start.upstream; tmp !== null; tmp = tmp.upstream) {
    const type = tmp.tpl.pcieType;
    if (type === R.PCI_EXP_TYPE_ROOT_PORT || type === R.PCI_EXP_TYPE_UPSTREAM || type === R.PCI_EXP_TYPE_DOWNSTREAM) continue;
    // PCIe-to-PCI bridge or a conventional PCI bridge: requests below carry its ID.
    pdev = tmp;
    const g = grouped(tmp);
    if (g !== null) return g;
  }
  // 2. Up to the point where ACS isolates peer-to-peer traffic.
  for (let self = pdev.upstream; self !== null; self = self.upstream) {
    if (acsPathEnabled(self)) break;
    pdev = self;
    const g = grouped(self);
    if (g !== null) return g;
  }
  // 3. get_pci_function_alias_group: non-isolated functions of the same multi-function slot.
  if (isMultiFunction(pdev) && !acsEnabled(pdev)) {
    for (const o of all) {
      if (o === pdev || o.bus !== pdev.bus || o.dev !== pdev.dev || o.upstream !== pdev.upstream) continue;
      if (acsEnabled(o)) continue;
      const g = grouped(o);
      if (g !== null) return g;
    }
  }
  return grouped(pdev);
}
