/**
 * Scenario operations for the KVM sliver (src/kernel/kvm/): open /dev/kvm, create a VM,
 * vcpus and KVM devices, route an eventfd with KVM_IRQFD, and the vcpu ioctls that copy
 * registers to or from user memory under vcpu->mutex (a `buf` inside a BAR mapping makes
 * the copy fault into vfio-pci).
 */
import * as z from 'zod';
import {
  decodeKvmCreateDevice, encodeKvmCreateDevice, encodeKvmIrqfd, KVM_CREATE_DEVICE, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_DEV_TYPE_VFIO, KVM_DEV_TYPE_XIVE,
  KVM_GET_REGS, KVM_IRQFD, KVM_IRQFD_FLAG_DEASSIGN, KVM_SET_REGS,
} from '../uapi/kvm.js';
import { defineOp, type OpDef, refText, short, sys } from './op-def.js';
import { addr, fdRef, type NameRef, obj, uint } from './values.js';

const kvmOpen = defineOp<null>({
  name: 'kvm_open',
  doc: 'open("/dev/kvm"). Names the KVM system fd.',
  args: z.null({ error: 'expected nothing' }),
  binds: 'kvm',
  bare: true,
  describe: () => 'open /dev/kvm',
  *run(ctx) {
    const fd = yield* ctx.p.ops.open('/dev/kvm', 2);
    return fd < 0 ? { errno: -fd } : { ret: fd, bind: { kind: 'kvm', fd } };
  },
});

const createVm = defineOp<{ kvm: NameRef | number }>({
  name: 'create_vm',
  doc: 'KVM_CREATE_VM on a /dev/kvm fd. Names the VM fd.',
  args: short('kvm', fdRef(['kvm', 'fd']), obj({ kvm: fdRef(['kvm', 'fd']) }, 'create_vm'), 'expected a /dev/kvm fd (e.g. kvm) or a mapping {kvm}'),
  binds: 'vm',
  describe: (a) => `KVM_CREATE_VM ${refText(a.kvm)}`,
  *run(ctx, a) {
    const fd = yield* ctx.p.ops.ioctl(ctx.fd(a.kvm), KVM_CREATE_VM, 0);
    return fd < 0 ? { errno: -fd } : { ret: fd, bind: { kind: 'vm', fd } };
  },
});

const createVcpu = defineOp<{ vm: NameRef | number; id?: number }>({
  name: 'create_vcpu',
  doc: 'KVM_CREATE_VCPU (id default 0). Names the vcpu fd.',
  args: short('vm', fdRef(['vm', 'fd']), obj({ vm: fdRef(['vm', 'fd']), id: uint(0xffffffff).optional() }, 'create_vcpu'), 'expected a VM fd (e.g. vm) or a mapping {vm, id}'),
  binds: 'vcpu',
  describe: (a) => `KVM_CREATE_VCPU ${refText(a.vm)} id ${a.id ?? 0}`,
  *run(ctx, a) {
    const fd = yield* ctx.p.ops.ioctl(ctx.fd(a.vm), KVM_CREATE_VCPU, a.id ?? 0);
    return fd < 0 ? { errno: -fd } : { ret: fd, bind: { kind: 'vcpu', fd } };
  },
});

const kvmIrqfd = defineOp<{ vm: NameRef | number; eventfd: NameRef | number; gsi?: number; deassign?: boolean }>({
  name: 'kvm_irqfd',
  doc: 'KVM_IRQFD: route an eventfd to a GSI (an irqbypass consumer, connected to a vfio MSI/MSI-X producer with the same eventfd); `deassign: true` removes it.',
  args: obj({ vm: fdRef(['vm', 'fd']), eventfd: fdRef(['eventfd', 'fd']), gsi: uint(0xffffffff).optional(), deassign: z.boolean().optional() }, 'kvm_irqfd'),
  binds: null,
  describe: (a) => `KVM_IRQFD ${refText(a.vm)} ${refText(a.eventfd)} gsi ${a.gsi ?? 0}${a.deassign === true ? ' deassign' : ''}`,
  *run(ctx, a) {
    const irqfd = encodeKvmIrqfd({ fd: ctx.fd(a.eventfd), gsi: a.gsi ?? 0, flags: a.deassign === true ? KVM_IRQFD_FLAG_DEASSIGN : 0 });
    return sys((yield* ctx.ioctlStruct(ctx.fd(a.vm), KVM_IRQFD, irqfd)).ret);
  },
});

const createDevice = defineOp<{ vm: NameRef | number; type: 'xive' | 'vfio' }>({
  name: 'kvm_create_device',
  doc: 'KVM_CREATE_DEVICE of type `xive` (its release takes kvm->lock, then each vcpu->mutex) or `vfio`. Names the device fd.',
  args: obj({ vm: fdRef(['vm', 'fd']), type: z.enum(['xive', 'vfio'], { error: 'expected a KVM device type: xive or vfio' }) }, 'kvm_create_device'),
  binds: 'fd',
  describe: (a) => `KVM_CREATE_DEVICE ${refText(a.vm)} ${a.type}`,
  *run(ctx, a) {
    const r = yield* ctx.ioctlStruct(ctx.fd(a.vm), KVM_CREATE_DEVICE, encodeKvmCreateDevice({ type: a.type === 'xive' ? KVM_DEV_TYPE_XIVE : KVM_DEV_TYPE_VFIO }));
    if (r.ret < 0) return { errno: -r.ret };
    const fd = decodeKvmCreateDevice(r.bytes).fd;
    return { ret: fd, bind: { kind: 'fd', fd } };
  },
});

function regsOp(name: string, cmd: number, what: string): OpDef<unknown> {
  return defineOp<{ vcpu: NameRef | number; buf?: NameRef | number }>({
    name,
    doc: `${what} under vcpu->mutex, to/from \`buf\` (an address, e.g. inside a BAR mapping; default a scratch buffer).`,
    args: short('vcpu', fdRef(['vcpu', 'fd']), obj({ vcpu: fdRef(['vcpu', 'fd']), buf: addr().optional() }, name), `expected a vcpu fd (e.g. vcpu0) or a mapping {vcpu, buf}`),
    binds: null,
    describe: (a) => `${what} ${refText(a.vcpu)}${a.buf !== undefined ? ` buf ${refText(a.buf)}` : ''}`,
    *run(ctx, a) {
      const buf = a.buf !== undefined ? ctx.addr(a.buf) : yield* ctx.scratch(144);
      if (buf < 0) return { errno: -buf };
      return sys(yield* ctx.p.ops.ioctl(ctx.fd(a.vcpu), cmd, buf));
    },
  }) as OpDef<unknown>;
}

/** The KVM operations, appended to the scenario operation table. */
export const KVM_OPS: readonly OpDef<unknown>[] = [
  kvmOpen as OpDef<unknown>,
  createVm as OpDef<unknown>,
  createVcpu as OpDef<unknown>,
  kvmIrqfd as OpDef<unknown>,
  createDevice as OpDef<unknown>,
  regsOp('kvm_get_regs', KVM_GET_REGS, 'KVM_GET_REGS'),
  regsOp('kvm_set_regs', KVM_SET_REGS, 'KVM_SET_REGS'),
];
