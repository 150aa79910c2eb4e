/**
 * A typed KVM client (what a VMM's KVM layer does), on the typed client's conventions
 * (src/user/vfio-client.ts): every method returns `Result<T>`, `{ ok, value }` or
 * `{ ok: false, errno }`.
 */
import {
  decodeKvmCreateDevice, encodeKvmCreateDevice, encodeKvmIrqfd, KVM_CREATE_DEVICE, KVM_CREATE_VCPU, KVM_CREATE_VM,
  KVM_GET_API_VERSION, KVM_GET_REGS, KVM_IRQFD, KVM_IRQFD_FLAG_DEASSIGN, KVM_SET_REGS, SIZEOF_KVM_REGS,
} from '../uapi/kvm.js';
import type { Process } from './process.js';
import { err, ok, libcSyscalls, rawIoctl, type VfioResult } from './vfio-client.js';

/** An open /dev/kvm. */
export class KvmSystem {
  private constructor(readonly proc: Process, readonly fd: number) {}

  /** open("/dev/kvm", O_RDWR) */
  static open(proc: Process): VfioResult<KvmSystem> {
    const fd = libcSyscalls(proc).open('/dev/kvm', 0o2);
    return fd < 0 ? err(fd) : ok(new KvmSystem(proc, fd));
  }

  /** KVM_GET_API_VERSION (12) */
  apiVersion(): VfioResult<number> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, KVM_GET_API_VERSION, 0);
    return r < 0 ? err(r) : ok(r);
  }

  /** KVM_CREATE_VM */
  createVm(): VfioResult<KvmVm> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, KVM_CREATE_VM, 0);
    return r < 0 ? err(r) : ok(new KvmVm(this.proc, r));
  }
}

/** A VM fd. */
export class KvmVm {
  constructor(readonly proc: Process, readonly fd: number) {}

  /** KVM_CREATE_VCPU */
  createVcpu(id: number): VfioResult<KvmVcpuHandle> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, KVM_CREATE_VCPU, id);
    return r < 0 ? err(r) : ok(new KvmVcpuHandle(this.proc, r, id));
  }

  /** KVM_IRQFD: route eventfd `eventfd` to `gsi` (or remove that route with `deassign`). */
  irqfd(eventfd: number, gsi: number, deassign = false): VfioResult<void> {
    const r = rawIoctl(this.proc, this.fd, KVM_IRQFD, encodeKvmIrqfd({ fd: eventfd, gsi, flags: deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0 }));
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /** KVM_CREATE_DEVICE: the new device fd (e.g. KVM_DEV_TYPE_XIVE). */
  createDevice(type: number): VfioResult<number> {
    const r = rawIoctl(this.proc, this.fd, KVM_CREATE_DEVICE, encodeKvmCreateDevice({ type }));
    return r.ret < 0 ? err(r.ret) : ok(decodeKvmCreateDevice(r.bytes).fd);
  }
}

/** A vcpu fd. */
export class KvmVcpuHandle {
  constructor(readonly proc: Process, readonly fd: number, readonly id: number) {}

  /** KVM_GET_REGS into user memory at `addr` (any address: a BAR mapping makes the copy fault into vfio-pci). */
  getRegsAt(addr: number): VfioResult<void> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, KVM_GET_REGS, addr);
    return r < 0 ? err(r) : ok(undefined);
  }

  /** KVM_SET_REGS from user memory at `addr`. */
  setRegsAt(addr: number): VfioResult<void> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, KVM_SET_REGS, addr);
    return r < 0 ? err(r) : ok(undefined);
  }

  /** KVM_GET_REGS into a scratch buffer: the 144-byte struct kvm_regs. */
  getRegs(): VfioResult<Uint8Array> {
    const r = rawIoctl(this.proc, this.fd, KVM_GET_REGS, new Uint8Array(SIZEOF_KVM_REGS));
    return r.ret < 0 ? err(r.ret) : ok(r.bytes);
  }
}
