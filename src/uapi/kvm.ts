/**
 * The sliver of the KVM uAPI (include/uapi/linux/kvm.h, 5.8, x86-64 layouts) the lock
 * chains of the design's history need: VM and vcpu creation, a vcpu ioctl that copies
 * to and from user memory, irqfd, and device creation.
 */
import { _IO, _IOC, IOC_READ, IOC_WRITE } from './ioctl.js';
import { uapiStruct } from './layout.js';

export const KVMIO = 0xae;
export const KVM_API_VERSION = 12;

/** struct kvm_regs (arch/x86/include/uapi/asm/kvm.h): 18 u64 registers. */
export const KVM_REGS = uapiStruct('kvm_regs', 144, [
  ['rax', 'rax', 0, 'u64'], ['rbx', 'rbx', 8, 'u64'], ['rcx', 'rcx', 16, 'u64'], ['rdx', 'rdx', 24, 'u64'],
  ['rsi', 'rsi', 32, 'u64'], ['rdi', 'rdi', 40, 'u64'], ['rsp', 'rsp', 48, 'u64'], ['rbp', 'rbp', 56, 'u64'],
  ['r8', 'r8', 64, 'u64'], ['r9', 'r9', 72, 'u64'], ['r10', 'r10', 80, 'u64'], ['r11', 'r11', 88, 'u64'],
  ['r12', 'r12', 96, 'u64'], ['r13', 'r13', 104, 'u64'], ['r14', 'r14', 112, 'u64'], ['r15', 'r15', 120, 'u64'],
  ['rip', 'rip', 128, 'u64'], ['rflags', 'rflags', 136, 'u64'],
]);
/** struct kvm_irqfd { __u32 fd, gsi, flags, resamplefd; __u8 pad[16]; } */
export const KVM_IRQFD_LAYOUT = uapiStruct('kvm_irqfd', 32, [
  ['fd', 'fd', 0, 'u32'],
  ['gsi', 'gsi', 4, 'u32'],
  ['flags', 'flags', 8, 'u32'],
  ['resamplefd', 'resamplefd', 12, 'u32'],
], '__u8 pad[16] (at 16)');
/** struct kvm_create_device { __u32 type, fd, flags; } */
export const KVM_CREATE_DEVICE_LAYOUT = uapiStruct('kvm_create_device', 12, [
  ['type', 'type', 0, 'u32'],
  ['fd', 'fd', 4, 'u32'],
  ['flags', 'flags', 8, 'u32'],
]);
/** sizeof(struct kvm_regs) on x86-64: 18 u64 registers. */
export const SIZEOF_KVM_REGS = KVM_REGS.size;
/** sizeof(struct kvm_irqfd): fd, gsi, flags, resamplefd, pad[16]. */
export const SIZEOF_KVM_IRQFD = KVM_IRQFD_LAYOUT.size;
/** sizeof(struct kvm_create_device): type, fd, flags. */
export const SIZEOF_KVM_CREATE_DEVICE = KVM_CREATE_DEVICE_LAYOUT.size;

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
  return KVM_IRQFD_LAYOUT.encode({ fd: s.fd, gsi: s.gsi, flags: s.flags ?? 0, resamplefd: s.resamplefd ?? 0 });
}

/** The fds are __u32 in the struct; the kernel uses them as ints (fdget), so they decode signed. */
export function decodeKvmIrqfd(b: Uint8Array): KvmIrqfd {
  const r = KVM_IRQFD_LAYOUT.decode(b);
  return { fd: r.fd | 0, gsi: r.gsi, flags: r.flags, resamplefd: r.resamplefd | 0 };
}

export interface KvmCreateDevice {
  type: number;
  fd: number;
  flags: number;
}

export function encodeKvmCreateDevice(s: { type: number; flags?: number }): Uint8Array {
  return KVM_CREATE_DEVICE_LAYOUT.encode({ type: s.type, flags: s.flags ?? 0 });
}

export function decodeKvmCreateDevice(b: Uint8Array): KvmCreateDevice {
  const r = KVM_CREATE_DEVICE_LAYOUT.decode(b);
  return { type: r.type, fd: r.fd | 0, flags: r.flags };
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
