/** Public surface of the hardware layer. */
export * from './api.js';
export * from './regs.js';
export { ConfigSpace } from './config-space.js';
export { Clock, DeviceTimer, type DeviceTimerTarget } from './clock.js';
export { Ram, RAM_FIRST_ALLOC_PFN } from './ram.js';
export { Iommu, type IommuFaultReason, type Translation } from './iommu.js';
export {
  defineDevice,
  isPow2,
  type BarSpec,
  type BehaviorFactory,
  type CapsSpec,
  type DeviceBehavior,
  type DeviceContext,
  type DeviceDefinition,
  type DeviceSpec,
  type MsiCapSpec,
  type MsixCapSpec,
  type ResetKind,
  type RomSpec,
} from './device.js';
export { PciFunction, type BarWindow, type FunctionHost, type ResetMethod } from './pci-function.js';
export type { BarInfo, BridgeKind, FunctionTemplate } from './template.js';
export {
  createMachine,
  defaultMachineSpec,
  endpoint,
  multiFunction,
  pciBridge,
  pciePciBridge,
  rootPort,
  DEFAULT_RAM_SIZE,
  Machine,
  type BridgeFunctionSpec,
  type EndpointFunctionSpec,
  type FunctionSpec,
  type IommuGroupInfo,
  type MachineSpec,
  type SlotSpec,
} from './machine.js';
export * from './devices/edu.js';
export * from './devices/nic.js';
export * from './devices/gpu.js';
export { optionRomImage, OPTION_ROM_PCIR_OFFSET, type OptionRomImageSpec } from './devices/option-rom.js';
export {
  qemuQ35MachineSpec,
  QEMU_INTEL_IOMMU_AW_BITS,
  Q35_VGA_DEVICE,
  Q35_E1000E_DEVICE,
  Q35_ICH9_LPC_DEVICE,
  Q35_ICH9_AHCI_DEVICE,
  Q35_ICH9_SMBUS_DEVICE,
  type QemuQ35Options,
} from './qemu-q35.js';
