/**
 * The sliver of the KVM uAPI (include/uapi/linux/kvm.h, 5.8, x86-64 layouts) the lock
 * chains of the design's history need: VM and vcpu creation, a vcpu ioctl that copies
 * to and from user memory, irqfd, and device creation.
 */
import { _IO, _IOC, IOC_READ, IOC_WRITE, LeView } from './ioctl.js';

export const KVMIO = 0xae;
export const KVM_API_VERSION = 12;

/** sizeof(struct kvm_regs) on x86-64: 18 u64 registers. */
export const SIZEOF_KVM_REGS = 144;
/** sizeof(struct kvm_irqfd): fd, gsi, flags, resamplefd, pad[16]. */
export const SIZEOF_KVM_IRQFD = 32;
/** sizeof(struct kvm_create_device): type, fd, flags. */
export const SIZEOF_KVM_CREATE_DEVICE = 12;

export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
export const KVM_IRQFD = _IOC(IOC_WRITE, KVMIO, 0x76, SIZEOF_KVM_IRQFD);
export const KVM_GET_REGS = _IOC(IOC_READ, KVMIO, 0x81, SIZEOF_KVM_REGS);
export const KVM_SET_REGS = _IOC(IOC_WRITE, KVMIO, 0x82, SIZEOF_KVM_REGS);
export const KVM_CREATE_DEVICE = _IOC(IOC_READ | IOC_WRITE, KVMIO, 0xe0, SIZEOF_KVM_CREATE_DEVICE);

export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
export const KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;
export const KVM_CREATE_DEVICE_TEST = 1;

/** enum kvm_device_type */
export const KVM_DEV_TYPE_VFIO = 4;
export const KVM_DEV_TYPE_XIVE = 9;

export const KVM_MAX_VCPUS = 288;

export interface KvmIrqfd {
  fd: number;
  gsi: number;
  flags: number;
  resamplefd: number;
}

export function encodeKvmIrqfd(s: Partial<KvmIrqfd> & { fd: number; gsi: number }): Uint8Array {
  const b = new Uint8Array(SIZEOF_KVM_IRQFD);
  const v = new LeView(b);
  v.setU32(0, s.fd >>> 0);
  v.setU32(4, s.gsi >>> 0);
  v.setU32(8, s.flags ?? 0);
  v.setU32(12, (s.resamplefd ?? 0) >>> 0);
  return b;
}

export function decodeKvmIrqfd(b: Uint8Array): KvmIrqfd {
  const v = new LeView(b);
  return { fd: v.s32(0), gsi: v.u32(4), flags: v.u32(8), resamplefd: v.s32(12) };
}

export interface KvmCreateDevice {
  type: number;
  fd: number;
  flags: number;
}

export function encodeKvmCreateDevice(s: { type: number; flags?: number }): Uint8Array {
  const b = new Uint8Array(SIZEOF_KVM_CREATE_DEVICE);
  const v = new LeView(b);
  v.setU32(0, s.type);
  v.setU32(8, s.flags ?? 0);
  return b;
}

export function decodeKvmCreateDevice(b: Uint8Array): KvmCreateDevice {
  const v = new LeView(b);
  return { type: v.u32(0), fd: v.s32(4), flags: v.u32(8) };
}

/** Names of the KVM ioctls, for traces. */
export const KVM_IOCTL_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_GET_API_VERSION, 'KVM_GET_API_VERSION'],
  [KVM_CREATE_VM, 'KVM_CREATE_VM'],
  [KVM_CREATE_VCPU, 'KVM_CREATE_VCPU'],
  [KVM_IRQFD, 'KVM_IRQFD'],
  [KVM_GET_REGS, 'KVM_GET_REGS'],
  [KVM_SET_REGS, 'KVM_SET_REGS'],
  [KVM_CREATE_DEVICE, 'KVM_CREATE_DEVICE'],
]);
