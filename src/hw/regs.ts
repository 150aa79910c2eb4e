/**
 * PCI configuration-space register offsets and bits (include/uapi/linux/pci_regs.h
 * names, TypeScript casing kept as the kernel's upper-case constants so they grep).
 */

/** The PCI configuration registers themselves (pci_regs.h) live in one table shared with the kernel. */
export * from '../uapi/pci-regs.js';

export const PCI_COMMAND_PARITY = 0x40;
export const PCI_COMMAND_SERR = 0x100;
export const PCI_STATUS_PARITY = 0x100;
export const PCI_STATUS_SIG_TARGET_ABORT = 0x800;
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
export const PCI_STATUS_DETECTED_PARITY = 0x8000;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_HEADER_TYPE_NORMAL = 0;
export const PCI_HEADER_TYPE_BRIDGE = 1;
export const PCI_HEADER_TYPE_MFD = 0x80;
export const PCI_SUBSYSTEM_ID = 0x2e;

/* Type-1 (bridge) header */
export const PCI_PRIMARY_BUS = 0x18;
export const PCI_SECONDARY_BUS = 0x19;
export const PCI_SUBORDINATE_BUS = 0x1a;
export const PCI_SEC_LATENCY_TIMER = 0x1b;
export const PCI_IO_BASE = 0x1c;
export const PCI_SEC_STATUS = 0x1e;
export const PCI_MEMORY_BASE = 0x20;
export const PCI_PREF_MEMORY_BASE = 0x24;
export const PCI_PREF_BASE_UPPER32 = 0x28;
export const PCI_IO_BASE_UPPER16 = 0x30;
export const PCI_ROM_ADDRESS1 = 0x38;

/* Capability ids */
export const PCI_EXT_CAP_ID_ACS = 0x0d;

/* Power management */
export const PCI_PM_CTRL_PME_ENABLE = 0x0100;
export const PCI_PM_CTRL_PME_STATUS = 0x8000;
export const PCI_PM_CAP_D1 = 0x0200;
export const PCI_PM_CAP_D2 = 0x0400;

/* MSI */
export const PCI_MSI_FLAGS_MASKBIT = 0x0100;
export const PCI_MSI_MASK_32 = 12;
export const PCI_MSI_PENDING_32 = 16;
export const PCI_MSI_MASK_64 = 16;
export const PCI_MSI_PENDING_64 = 20;

/* MSI-X */
export const PCI_MSIX_FLAGS_BIRMASK = 0x7;

/* PCI Express capability */
export const PCI_EXP_FLAGS_TYPE = 0x00f0;
export const PCI_EXP_TYPE_ENDPOINT = 0x0;
export const PCI_EXP_TYPE_LEG_END = 0x1;
export const PCI_EXP_TYPE_ROOT_PORT = 0x4;
export const PCI_EXP_TYPE_UPSTREAM = 0x5;
export const PCI_EXP_TYPE_DOWNSTREAM = 0x6;
export const PCI_EXP_TYPE_PCI_BRIDGE = 0x7;
export const PCI_EXP_TYPE_RC_END = 0x9;
export const PCI_EXP_DEVSTA_CED = 0x01;
export const PCI_EXP_DEVSTA_NFED = 0x02;
export const PCI_EXP_DEVSTA_FED = 0x04;
export const PCI_EXP_DEVSTA_URD = 0x08;
export const PCI_EXP_LNKCAP = 12;
export const PCI_EXP_LNKCTL = 16;
export const PCI_EXP_LNKSTA = 18;
/** Size of the v2 PCI Express capability structure. */
export const PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 = 0x3c;

/* ACS extended capability */
export const PCI_ACS_CAP = 4;
export const PCI_ACS_CTRL = 6;
export const PCI_ACS_SV = 0x01;
export const PCI_ACS_TB = 0x02;
export const PCI_ACS_RR = 0x04;
export const PCI_ACS_CR = 0x08;
export const PCI_ACS_UF = 0x10;
/** The flags pci_device_group requires for isolation (REQ_ACS_FLAGS, drivers/iommu/iommu.c). */
export const REQ_ACS_FLAGS = PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF;

/* Expansion ROM image */
export const PCI_ROM_SIGNATURE = 0xaa55;
export const PCI_ROM_PCIR_POINTER = 0x18;

/* Physical address map of the simulated machine */
export const MMIO32_BASE = 0xc000_0000;
export const MMIO32_LIMIT = 0xfebf_ffff;
export const MMIO64_BASE = 0x80_0000_0000;
export const IO_PORT_BASE = 0xc000;
export const IO_PORT_LIMIT = 0xffff;
export const MSI_WINDOW_BASE = 0xfee0_0000;
export const MSI_WINDOW_LIMIT = 0xfeef_ffff;
/** Time a function stays not-ready after FLR or a secondary bus reset (PCIe r4.0 §6.6). */
export const RESET_NOT_READY_NS = 100_000_000;
