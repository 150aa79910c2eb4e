/**
 * The KVM sliver (virt/kvm/kvm_main.c, virt/kvm/eventfd.c, virt/lib/irqbypass.c, 5.8) and
 * the lock chains it closes with vfio-pci (spec §3.4).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_5_8 } from '../../src/kernel/variant/knobs.js';
import { KVM_DEV_TYPE_XIVE, KVM_SET_REGS, KVM_GET_REGS } from '../../src/uapi/kvm.js';
import { encodeIrqSet, VFIO_DEVICE_SET_IRQS, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_PCI_MSIX_IRQ_INDEX } from '../../src/uapi/vfio.js';
import { KvmSystem } from '../../src/user/kvm-client.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { holds, MEMORY_LOCK, NIC, openDevice, runAll, start, stepUntil } from '../claims/helpers.js';

const KVM_LOCK = '&kvm->lock';
const VCPU_MUTEX = '&vcpu->mutex';
const IRQBYPASS_LOCK = 'lock';

test('KVM (5.8): /dev/kvm is API version 12; KVM_CREATE_VCPU refuses a duplicate id (EEXIST) and an id past KVM_MAX_VCPUS (EINVAL)', () => {
  const { p } = openDevice(NIC);
  const kvm = unwrap(KvmSystem.open(p));
  assert.equal(unwrap(kvm.apiVersion()), 12);
  const vm = unwrap(kvm.createVm());
  unwrap(vm.createVcpu(0));
  assert.deepEqual(vm.createVcpu(0), { ok: false, errno: 17 });
  assert.deepEqual(vm.createVcpu(288), { ok: false, errno: 22 });
  assert.deepEqual(vm.createDevice(1234), { ok: false, errno: 19 }, 'ENODEV for an unknown device type');
});

test('kvm_vm_ioctl / kvm_vcpu_ioctl (5.8): a process other than the VM creator (a fork child) gets EIO', () => {
  const { p } = openDevice(NIC);
  const vm = unwrap(unwrap(KvmSystem.open(p)).createVm());
  const vcpu = unwrap(vm.createVcpu(0));
  const child = p.fork();
  assert.ok(typeof child !== 'number');
  assert.equal(child.ioctl(vm.fd, 0xae41, 1), -5, 'KVM_CREATE_VCPU from the child');
  assert.equal(child.ioctl(vcpu.fd, KVM_GET_REGS, child.alloc(256)), -5, 'KVM_GET_REGS from the child');
});

test('KVM_GET_REGS into a BAR mapping (5.8): the copy faults into vfio-pci under vcpu->mutex — vcpu->mutex, mmap_lock, vma_lock, memory_lock in that order', () => {
  const { sys, p, d } = openDevice(NIC);
  const vm = unwrap(unwrap(KvmSystem.open(p)).createVm());
  const vcpu = unwrap(vm.createVcpu(0));
  const bar = unwrap(d.mmapRegion(0, { length: 0x20000, prot: 3 }));
  const seq = sys.events.lastSeq;
  unwrap(vcpu.getRegsAt(bar + 0x1000));
  const order = sys.events.since(seq).filter((e) => e.kind === 'lock.acquire').map((e) => (e.kind === 'lock.acquire' ? e.cls : ''));
  const first = (cls: string): number => order.indexOf(cls);
  assert.ok(first(VCPU_MUTEX) >= 0 && first(VCPU_MUTEX) < first('&mm->mmap_lock'), `order: ${order.join(', ')}`);
  assert.ok(first('&mm->mmap_lock') < first('&vdev->vma_lock'));
  assert.ok(first('&vdev->vma_lock') < first(MEMORY_LOCK));
  assert.equal(sys.events.count('fault') > 0, true);
});

test('KVM_SET_REGS from a BAR mapping while MEM is clear (5.8): the faulting copy fails and the ioctl returns EFAULT', () => {
  const { p, d } = openDevice(NIC);
  const vm = unwrap(unwrap(KvmSystem.open(p)).createVm());
  const vcpu = unwrap(vm.createVcpu(0));
  const bar = unwrap(d.mmapRegion(0, { length: 0x20000, prot: 3 }));
  const cmd = unwrap(d.readConfig(4, 2));
  unwrap(d.writeConfig(4, 2, cmd & ~2));
  assert.equal(p.ioctl(vcpu.fd, KVM_SET_REGS, bar), -14);
});

/** Open the NIC, a VM with one vcpu, an eventfd that is both a KVM irqfd and the MSI-X vector 0 trigger. */
function msixWithIrqfd(variant = VARIANT_5_8.knobs) {
  const o = openDevice(NIC, { variant });
  const vm = unwrap(unwrap(KvmSystem.open(o.p)).createVm());
  const vcpu = unwrap(vm.createVcpu(0));
  const efd = o.p.eventfd(0, 0);
  unwrap(vm.irqfd(efd, 24));
  const buf = o.p.alloc(64);
  o.p.writeBytes(buf, encodeIrqSet({ flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index: VFIO_PCI_MSIX_IRQ_INDEX, start: 0, count: 1 }, new Uint8Array(new Int32Array([efd]).buffer)));
  return { ...o, vm, vcpu, efd, buf };
}

test('irqbypass (5.8, v3): SET_IRQS connects the MSI-X producer to the KVM irqfd consumer; add_producer takes kvm->lock inside the irqbypass lock, with memory_lock already released', () => {
  const { sys, p, d, buf } = msixWithIrqfd();
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_SET_IRQS, buf), 'SET_IRQS');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, KVM_LOCK)), 'kvm->lock taken during SET_IRQS');
  assert.ok(holds(p.kthread, IRQBYPASS_LOCK), 'inside the irqbypass mutex');
  assert.equal(holds(p.kthread, MEMORY_LOCK), false, 'memory_lock not held (v3 moved irqbypass out of it)');
  runAll(sys);
  assert.equal(p.kthread.result, 0);
  assert.equal(sys.kvm.vms[0]?.irqfds[0]?.producer?.name.startsWith('vfio-msix[0]'), true, 'connected');
});

test('irqbypass (patch v2, msiMemoryLock whole-ioctl): add_producer takes kvm->lock while memory_lock is write-held — the edge memory_lock → irqbypass → kvm->lock of Qian Cai\'s report', () => {
  const { sys, p, d, buf } = msixWithIrqfd({ ...VARIANT_5_8.knobs, msiMemoryLock: 'whole-ioctl' });
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_SET_IRQS, buf), 'SET_IRQS');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, KVM_LOCK)));
  assert.ok(holds(p.kthread, MEMORY_LOCK, 'w'), 'memory_lock write-held across the irqbypass registration');
  runAll(sys);
  assert.equal(p.kthread.result, 0);
});

test('KVM device release (kvmppc_xive_release, 5.8): closing a XIVE device fd takes kvm->lock, then each vcpu->mutex', () => {
  const { sys, p } = openDevice(NIC);
  const vm = unwrap(unwrap(KvmSystem.open(p)).createVm());
  unwrap(vm.createVcpu(0));
  unwrap(vm.createVcpu(1));
  const dev = unwrap(vm.createDevice(KVM_DEV_TYPE_XIVE));
  assert.deepEqual(vm.createDevice(KVM_DEV_TYPE_XIVE), { ok: false, errno: 16 }, 'one XIVE device per VM');
  const seq = sys.events.lastSeq;
  assert.equal(p.close(dev), 0);
  const acq = sys.events.since(seq).filter((e) => e.kind === 'lock.acquire').map((e) => (e.kind === 'lock.acquire' ? e.cls : ''));
  assert.deepEqual(acq, [KVM_LOCK, VCPU_MUTEX, VCPU_MUTEX]);
});

test('KVM_IRQFD (5.8): the same eventfd twice is EBUSY; deassign unregisters the irqbypass consumer', () => {
  const { sys, p } = openDevice(NIC);
  const vm = unwrap(unwrap(KvmSystem.open(p)).createVm());
  const efd = p.eventfd(0, 0);
  unwrap(vm.irqfd(efd, 5));
  assert.deepEqual(vm.irqfd(efd, 6), { ok: false, errno: 16 });
  assert.deepEqual(vm.irqfd(9999, 6), { ok: false, errno: 9 });
  unwrap(vm.irqfd(efd, 5, true));
  assert.equal(sys.kvm.vms[0]?.irqfds.length, 0);
});

test('lockdep (patch v2): serial runs through vfio-pci and KVM find the circular dependency irqbypass → kvm->lock → vcpu->mutex → mmap_lock → memory_lock → irqbypass; v3 (5.8) stays clean', () => {
  for (const msiMemoryLock of ['whole-ioctl', 'callouts'] as const) {
    const { sys, p, d, vm, vcpu, buf } = msixWithIrqfd({ ...VARIANT_5_8.knobs, msiMemoryLock });
    assert.equal(sys.kvm.vms[0]?.irqfds.length, 1, 'the KVM irqfd consumer is waiting for its producer');
    const bar = unwrap(d.mmapRegion(0, { length: 0x20000, prot: 3 }));
    unwrap(vcpu.getRegsAt(bar)); // vcpu->mutex → mmap_lock → vma_lock → memory_lock
    const xive = unwrap(vm.createDevice(KVM_DEV_TYPE_XIVE));
    assert.equal(p.close(xive), 0); // kvm->lock → vcpu->mutex
    assert.equal(p.ioctl(d.fd, VFIO_DEVICE_SET_IRQS, buf), 0); // (v2) memory_lock → lock → kvm->lock
    const ld = sys.lockdep;
    assert.ok(ld);
    const circular = ld.reports.filter((r) => r.kind === 'circular');
    if (msiMemoryLock === 'whole-ioctl') {
      assert.equal(circular.length, 1, 'v2: one circular report');
      assert.ok(circular[0]?.text.includes('WARNING: possible circular locking dependency detected'));
      const classes = circular[0]?.classes ?? [];
      // lockdep prints the shortest chain: the fault's out-of-order vma_lock unlock re-validates
      // memory_lock under vcpu->mutex (mmap_lock was a trylock), so mmap_lock may be skipped
      for (const c of [KVM_LOCK, VCPU_MUTEX, MEMORY_LOCK, IRQBYPASS_LOCK]) assert.ok(classes.includes(c), `${c} in the cycle: ${classes.join(' -> ')}`);
    } else {
      assert.equal(ld.reports.length, 0, `v3: lockdep clean, got ${ld.reports.map((r) => r.title).join('; ')}`);
    }
  }
});

test('scenario examples/v2-lockdep-cycle.yaml: lockdep reports the v2 cycle under msiMemoryLock whole-ioctl, and nothing under 5.8 (v3)', async () => {
  const { readFileSync } = await import('node:fs');
  const { loadScenario, runScenario } = await import('../../src/scenario/index.js');
  const text = readFileSync(new URL('../../../examples/v2-lockdep-cycle.yaml', import.meta.url), 'utf8');
  const loaded = loadScenario(text, 'v2-lockdep-cycle.yaml');
  assert.ok(loaded.ok);
  const v2 = runScenario(loaded.scenario, {});
  assert.equal(v2.lockdep.length, 1);
  assert.ok(v2.ok, 'expectations met under the scenario variant (v2 scope)');
  const v3 = runScenario(loaded.scenario, { variant: '5.8' });
  assert.equal(v3.lockdep.length, 0, 'v3 (5.8): lockdep clean');
});
