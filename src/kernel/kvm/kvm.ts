/**
 * Just enough KVM (virt/kvm/kvm_main.c, virt/kvm/eventfd.c, 5.8) for the lock chains of
 * the design's history (spec §3.4): `kvm->lock`, `vcpu->mutex`, a vcpu ioctl that copies
 * to and from user memory under `vcpu->mutex` (so a BAR-mapped buffer faults into
 * vfio-pci), a KVM device whose release takes `kvm->lock` then every `vcpu->mutex`
 * (kvmppc_xive_release), and irqfds registered as irqbypass consumers whose add_producer
 * takes `kvm->lock` (kvmppc_irq_bypass_add_producer_hv, the POWER host of Qian Cai's
 * report; x86's takes no KVM mutex there). No guest runs.
 */
import {
  decodeKvmCreateDevice, decodeKvmIrqfd, KVM_CREATE_DEVICE_LAYOUT, KVM_API_VERSION, KVM_CREATE_DEVICE, KVM_CREATE_DEVICE_TEST, KVM_CREATE_VCPU,
  KVM_CREATE_VM, KVM_DEV_TYPE_VFIO, KVM_DEV_TYPE_XIVE, KVM_GET_API_VERSION, KVM_GET_REGS, KVM_IRQFD, KVM_IRQFD_FLAG_DEASSIGN,
  KVM_IRQFD_FLAG_RESAMPLE, KVM_MAX_VCPUS, KVM_SET_REGS, SIZEOF_KVM_CREATE_DEVICE, SIZEOF_KVM_IRQFD, SIZEOF_KVM_REGS,
} from '../../uapi/kvm.js';
import { EBADF, EBUSY, EEXIST, EFAULT, EINVAL, EIO, ENODEV, ENOTTY } from '../errno.js';
import { registerDevice } from '../fs/devfs.js';
import { type EventfdCtx, eventfdCtxFdget, eventfdCtxPut } from '../fs/eventfd.js';
import { KFile, type FileOperations } from '../fs/file.js';
import { irqBypass, type IrqBypassConsumer, type IrqBypassProducer } from '../irqbypass/irqbypass.js';
import type { Kernel } from '../kernel.js';
import type { Mutex } from '../locking/mutex.js';
import { copyFromUser, copyToUser } from '../mm/index.js';
import type { MmStructRef } from '../mm/types.js';
import { threadProcess } from '../proc.js';
import type { Task } from '../sched/task.js';
import { SideTable } from '../../util/side-table.js';

const O_RDWR = 2;

/** struct kvm_vcpu */
export class KvmVcpu {
  readonly mutex: Mutex;
  /** struct kvm_regs as KVM_GET_REGS returns it. */
  readonly regs = new Uint8Array(SIZEOF_KVM_REGS);

  constructor(k: Kernel, readonly kvm: Kvm, readonly vcpuId: number) {
    this.mutex = k.mutex('&vcpu->mutex', `vcpu_mutex:vm${kvm.id}/${vcpuId}`);
  }
}

/** A KVM device (struct kvm_device) created with KVM_CREATE_DEVICE. */
export interface KvmDevice {
  readonly type: number;
  readonly kvm: Kvm;
}

/** struct kvm_kernel_irqfd: an eventfd routed to a GSI; an irqbypass consumer keyed by the eventfd. */
export class KvmKernelIrqfd implements IrqBypassConsumer {
  readonly name: string;
  producer: IrqBypassProducer | null = null;

  constructor(readonly kvm: Kvm, readonly eventfd: EventfdCtx, readonly gsi: number) {
    this.name = `irqfd:vm${kvm.id}/gsi${gsi}`;
  }

  get token(): object {
    return this.eventfd;
  }

  /** kvm_arch_irq_bypass_add_producer → kvmppc_irq_bypass_add_producer_hv (arch/powerpc/kvm/book3s_hv.c, 5.8): kvm->lock around the passthrough mapping. */
  *addProducer(prod: IrqBypassProducer): Task<number> {
    const fn = 'kvmppc_irq_bypass_add_producer_hv';
    yield* this.kvm.lock.lock(fn);
    this.producer = prod;
    yield* this.kvm.lock.unlock(fn);
    return 0;
  }

  /** kvm_arch_irq_bypass_del_producer → kvmppc_irq_bypass_del_producer_hv (arch/powerpc/kvm/book3s_hv.c, 5.8) */
  *delProducer(_prod: IrqBypassProducer): Task<void> {
    const fn = 'kvmppc_irq_bypass_del_producer_hv';
    yield* this.kvm.lock.lock(fn);
    this.producer = null;
    yield* this.kvm.lock.unlock(fn);
  }
}

/** struct kvm */
export class Kvm {
  readonly lock: Mutex;
  readonly vcpus: KvmVcpu[] = [];
  readonly irqfds: KvmKernelIrqfd[] = [];
  readonly devices: KvmDevice[] = [];
  /** users_count: the VM fd plus one per vcpu and device fd. */
  users = 1;

  constructor(k: Kernel, readonly id: number, readonly mm: MmStructRef) {
    this.lock = k.mutex('&kvm->lock', `kvm_lock:vm${id}`);
  }
}

/**
 * The file operations of KVM's files carry their module: the functions are shared by
 * every kernel and find the module through the file (`file.fops.kvm`), not in a closure,
 * so that a copy of the whole System (the explorer's snapshots, src/check/snapshot.ts)
 * reaches its own.
 */
interface KvmFops extends FileOperations {
  readonly kvm: KvmModule;
}

function kvmFops(kvm: KvmModule, ops: FileOperations): KvmFops {
  return { kvm, ...ops };
}

function kvmOf(f: KFile): KvmModule {
  return (f.fops as KvmFops).kvm;
}

/** The KVM module of one kernel: /dev/kvm and its file operations. */
export class KvmModule {
  private nextVm = 1;
  readonly vms: Kvm[] = [];
  private readonly devFops: FileOperations;
  private readonly vmFops: FileOperations;
  private readonly vcpuFops: FileOperations;
  private readonly kvmDeviceFops: FileOperations;

  constructor(readonly k: Kernel) {
    this.devFops = kvmFops(this, KvmModule.DEV_FOPS);
    this.vmFops = kvmFops(this, KvmModule.VM_FOPS);
    this.vcpuFops = kvmFops(this, KvmModule.VCPU_FOPS);
    this.kvmDeviceFops = kvmFops(this, KvmModule.DEVICE_FOPS);
    registerDevice(k, '/dev/kvm', KvmModule.devOpen, this);
  }

  // The file operations are shared by every kernel and find their module through the
  // file (see KvmFops).
  private static readonly DEV_FOPS: FileOperations = {
    unlockedIoctl: (f, cmd, arg) => kvmOf(f).devIoctl(cmd, arg),
  };

  private static readonly VM_FOPS: FileOperations = {
    unlockedIoctl: (f, cmd, arg) => kvmOf(f).vmIoctl(f.privateData as Kvm, cmd, arg),
    release: (f) => kvmOf(f).put(f.privateData as Kvm),
  };

  private static readonly VCPU_FOPS: FileOperations = {
    unlockedIoctl: (f, cmd, arg) => kvmOf(f).vcpuIoctl(f.privateData as KvmVcpu, cmd, arg),
    release: (f) => kvmOf(f).put((f.privateData as KvmVcpu).kvm),
  };

  private static readonly DEVICE_FOPS: FileOperations = {
    unlockedIoctl: () => noIoctl(),
    release: (f) => kvmOf(f).deviceRelease(f.privateData as KvmDevice),
  };

  /** misc_open (drivers/char/misc.c, 5.8): /dev/kvm's open (kvm_chardev_ops has none), for the module registered with the node. */
  // eslint-disable-next-line require-yield
  private static *devOpen(_k: Kernel, flags: number, m: KvmModule): Task<KFile | number> {
    return new KFile('/dev/kvm', m.devFops, flags);
  }

  private installFd(f: KFile): number {
    const proc = threadProcess(this.k.sched.current);
    return proc === null ? -EBADF : proc.files.install(f);
  }

  /** kvm_dev_ioctl (virt/kvm/kvm_main.c, 5.8) */
  // eslint-disable-next-line require-yield
  private *devIoctl(cmd: number, arg: number): Task<number> {
    switch (cmd) {
      case KVM_GET_API_VERSION:
        return arg !== 0 ? -EINVAL : KVM_API_VERSION;
      case KVM_CREATE_VM: {
        // kvm_dev_ioctl_create_vm: the machine type must be 0 on x86
        if (arg !== 0) return -EINVAL;
        const proc = threadProcess(this.k.sched.current);
        if (proc === null) return -EBADF;
        const kvm = new Kvm(this.k, this.nextVm++, proc.mm);
        const f = new KFile(`anon_inode:kvm-vm`, this.vmFops, O_RDWR);
        f.privateData = kvm;
        const fd = this.installFd(f);
        if (fd >= 0) this.vms.push(kvm);
        return fd;
      }
      default:
        return -EINVAL;
    }
  }

  /** kvm_vm_ioctl (virt/kvm/kvm_main.c, 5.8): -EIO from a process other than the VM's creator. */
  private *vmIoctl(kvm: Kvm, cmd: number, arg: number): Task<number> {
    const proc = threadProcess(this.k.sched.current);
    if (proc === null || proc.mm !== kvm.mm) return -EIO;
    switch (cmd) {
      case KVM_CREATE_VCPU:
        return yield* this.createVcpu(kvm, arg);
      case KVM_IRQFD: {
        const b = new Uint8Array(SIZEOF_KVM_IRQFD);
        if ((yield* copyFromUser(this.k, arg, b)) !== 0) return -EFAULT;
        return yield* this.irqfd(kvm, decodeKvmIrqfd(b));
      }
      case KVM_CREATE_DEVICE: {
        const b = new Uint8Array(SIZEOF_KVM_CREATE_DEVICE);
        if ((yield* copyFromUser(this.k, arg, b)) !== 0) return -EFAULT;
        const cd = decodeKvmCreateDevice(b);
        const r = yield* this.createDevice(kvm, cd.type, cd.flags);
        if (r < 0) return r;
        KVM_CREATE_DEVICE_LAYOUT.encode({ fd: r }, b);
        if ((yield* copyToUser(this.k, arg, b)) !== 0) return -EFAULT;
        return 0;
      }
      default:
        return -ENOTTY;
    }
  }

  /** kvm_vm_ioctl_create_vcpu (virt/kvm/kvm_main.c, 5.8) */
  private *createVcpu(kvm: Kvm, id: number): Task<number> {
    const fn = 'kvm_vm_ioctl_create_vcpu';
    if (id >= KVM_MAX_VCPUS || id < 0) return -EINVAL;
    yield* kvm.lock.lock(fn);
    let ret: number;
    if (kvm.vcpus.length >= KVM_MAX_VCPUS) ret = -EINVAL;
    else if (kvm.vcpus.some((v) => v.vcpuId === id)) ret = -EEXIST;
    else {
      const vcpu = new KvmVcpu(this.k, kvm, id);
      const f = new KFile(`anon_inode:kvm-vcpu:${id}`, this.vcpuFops, O_RDWR);
      f.privateData = vcpu;
      ret = this.installFd(f);
      if (ret >= 0) {
        kvm.vcpus.push(vcpu);
        kvm.users++;
      }
    }
    yield* kvm.lock.unlock(fn);
    return ret;
  }

  /** kvm_ioctl_create_device (virt/kvm/kvm_main.c, 5.8): XIVE and VFIO device types. */
  private *createDevice(kvm: Kvm, type: number, flags: number): Task<number> {
    const fn = 'kvm_ioctl_create_device';
    if (type !== KVM_DEV_TYPE_XIVE && type !== KVM_DEV_TYPE_VFIO) return -ENODEV;
    if ((flags & KVM_CREATE_DEVICE_TEST) !== 0) return 0;
    yield* kvm.lock.lock(fn);
    if (kvm.devices.some((d) => d.type === type)) {
      yield* kvm.lock.unlock(fn);
      return -EBUSY; // one instance per VM (kvm_vfio_create / kvmppc_xive_create)
    }
    const dev: KvmDevice = { type, kvm };
    kvm.devices.push(dev);
    yield* kvm.lock.unlock(fn);
    const f = new KFile(`anon_inode:kvm-${type === KVM_DEV_TYPE_XIVE ? 'xive' : 'vfio'}`, this.kvmDeviceFops, O_RDWR);
    f.privateData = dev;
    const fd = this.installFd(f);
    if (fd >= 0) kvm.users++;
    return fd;
  }

  /**
   * kvm_device_release → kvmppc_xive_release (arch/powerpc/kvm/book3s_xive_native.c,
   * 5.8): kvm->lock, then each vcpu->mutex in turn — the kvm->lock → vcpu->mutex edge.
   */
  private *deviceRelease(dev: KvmDevice): Task<void> {
    const kvm = dev.kvm;
    if (dev.type === KVM_DEV_TYPE_XIVE) {
      const fn = 'kvmppc_xive_release';
      yield* kvm.lock.lock(fn);
      for (const v of kvm.vcpus) {
        yield* v.mutex.lock(fn);
        yield* v.mutex.unlock(fn);
      }
      yield* kvm.lock.unlock(fn);
    }
    const i = kvm.devices.indexOf(dev);
    if (i >= 0) kvm.devices.splice(i, 1);
    yield* this.put(kvm);
  }

  /** kvm_irqfd (virt/kvm/eventfd.c, 5.8): assign or deassign an irqfd. */
  private *irqfd(kvm: Kvm, a: { fd: number; gsi: number; flags: number }): Task<number> {
    if ((a.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE)) !== 0) return -EINVAL;
    if ((a.flags & KVM_IRQFD_FLAG_DEASSIGN) !== 0) {
      const proc = threadProcess(this.k.sched.current);
      if (proc === null) return -EBADF;
      const ctx = eventfdCtxFdget(proc, a.fd);
      if (typeof ctx === 'number') return ctx;
      eventfdCtxPut(ctx);
      const irqfd = kvm.irqfds.find((q) => q.eventfd === ctx && q.gsi === a.gsi);
      if (irqfd !== undefined) yield* this.irqfdShutdown(irqfd);
      return 0;
    }
    if ((a.flags & KVM_IRQFD_FLAG_RESAMPLE) !== 0) return -EINVAL; // resampling irqfds are not modelled
    return yield* this.irqfdAssign(kvm, a.fd, a.gsi);
  }

  /** kvm_irqfd_assign (virt/kvm/eventfd.c, 5.8): -EBUSY if the eventfd already feeds an irqfd of this VM. */
  private *irqfdAssign(kvm: Kvm, fd: number, gsi: number): Task<number> {
    const proc = threadProcess(this.k.sched.current);
    if (proc === null) return -EBADF;
    const ctx = eventfdCtxFdget(proc, fd);
    if (typeof ctx === 'number') return ctx;
    yield { op: 'irqfd', obj: `irqfds:vm${kvm.id}`, access: 'w' }; // kvm->irqfds.lock (spinlock)
    if (kvm.irqfds.some((q) => q.eventfd === ctx)) {
      eventfdCtxPut(ctx);
      return -EBUSY;
    }
    const irqfd = new KvmKernelIrqfd(kvm, ctx, gsi);
    kvm.irqfds.push(irqfd);
    // irq_bypass_register_consumer: a failure is only logged (pr_info) by kvm_irqfd_assign
    yield* irqBypass(this.k).registerConsumer(irqfd);
    return 0;
  }

  /** irqfd_shutdown (virt/kvm/eventfd.c, 5.8) */
  private *irqfdShutdown(irqfd: KvmKernelIrqfd): Task<void> {
    const kvm = irqfd.kvm;
    const i = kvm.irqfds.indexOf(irqfd);
    if (i < 0) return;
    kvm.irqfds.splice(i, 1);
    yield* irqBypass(this.k).unregisterConsumer(irqfd);
    eventfdCtxPut(irqfd.eventfd);
  }

  /** kvm_put_kvm → kvm_destroy_vm (virt/kvm/kvm_main.c, 5.8): on the last user, shut down irqfds. */
  private *put(kvm: Kvm): Task<void> {
    kvm.users--;
    if (kvm.users > 0) return;
    for (const q of kvm.irqfds.slice()) yield* this.irqfdShutdown(q);
    const i = this.vms.indexOf(kvm);
    if (i >= 0) this.vms.splice(i, 1);
  }

  /**
   * kvm_vcpu_ioctl (virt/kvm/kvm_main.c, 5.8): -EIO from another process; every ioctl runs
   * under vcpu->mutex, and KVM_GET_REGS / KVM_SET_REGS copy the registers to / from the
   * user's buffer while holding it — the vcpu->mutex → mmap_lock edge when that copy faults.
   */
  private *vcpuIoctl(vcpu: KvmVcpu, cmd: number, arg: number): Task<number> {
    const fn = 'kvm_vcpu_ioctl';
    const proc = threadProcess(this.k.sched.current);
    if (proc === null || proc.mm !== vcpu.kvm.mm) return -EIO;
    yield* vcpu.mutex.lock(fn);
    let r: number;
    switch (cmd) {
      case KVM_GET_REGS:
        r = (yield* copyToUser(this.k, arg, vcpu.regs.slice())) !== 0 ? -EFAULT : 0;
        break;
      case KVM_SET_REGS: {
        const b = new Uint8Array(SIZEOF_KVM_REGS);
        if ((yield* copyFromUser(this.k, arg, b)) !== 0) r = -EFAULT;
        else {
          vcpu.regs.set(b);
          r = 0;
        }
        break;
      }
      default:
        r = -EINVAL; // kvm_arch_vcpu_ioctl's default
    }
    yield* vcpu.mutex.unlock(fn);
    return r;
  }
}

/** kvm_device_ioctl (virt/kvm/kvm_main.c, 5.8): reduced to -ENOTTY; a KVM device fd has no ioctls in this model. */
// eslint-disable-next-line require-yield
function* noIoctl(): Task<number> {
  return -ENOTTY;
}

const modules = new SideTable<Kernel, KvmModule>('modules');

/** Load KVM into kernel `k` (registers /dev/kvm); idempotent. */
export function kvmInit(k: Kernel): KvmModule {
  let m = modules.get(k);
  if (m === undefined) {
    m = new KvmModule(k);
    modules.set(k, m);
  }
  return m;
}
