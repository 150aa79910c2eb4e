import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOCKDEP_DEFAULT, System } from '../../src/system.js';
import { vfioPciIndexToOffset } from '../../src/uapi/vfio.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { EDU0, openDevice, PROT_RW } from '../claims/helpers.js';
import { expectedText, world } from './helpers.js';

test('lockdep finds the v2 cycle of Qian Cai\'s report (§3.4) from five serial runs and prints the kernel\'s layout', () => {
  // The five classes of the report; the irqbypass core's global mutex is the class
  // lockdep printed as "lock#7". No run deadlocks: each one completes on its own.
  const w = world({ release: '5.7.0-rc6-next-20200521-vfio-sim' });
  const igate = w.mutex('&vdev->igate', 'igate:0000:01:00.0');
  const memory = w.rwsem('&vdev->memory_lock', 'memory_lock:0000:01:00.0');
  const bypass = w.mutex('lock#7', 'irqbypass:lock');
  const kvmLock = w.mutex('&kvm->lock', 'kvm_lock:vm1');
  const vcpu = w.mutex('&vcpu->mutex', 'vcpu_mutex:vm1/0');
  const mmap = w.rwsem('&mm->mmap_lock', 'mmap_lock:mm1');
  const qemu = w.thread('qemu-kvm');
  const cpu0 = w.thread('CPU 0/KVM');

  // v2 held memory_lock across the whole MSI-X part of SET_IRQS, producer registration included.
  const setIrqs = (withConsumer: boolean) =>
    function* () {
      yield* igate.lock('vfio_pci_ioctl');
      yield* memory.downWrite('vfio_pci_set_irqs_ioctl');
      yield* bypass.lock('irq_bypass_register_producer');
      if (withConsumer) {
        // __connect -> kvm_arch_irq_bypass_add_producer -> kvmppc_irq_bypass_add_producer_hv
        yield* kvmLock.lock('kvmppc_irq_bypass_add_producer_hv');
        yield* kvmLock.unlock('kvmppc_irq_bypass_add_producer_hv');
      }
      yield* bypass.unlock('irq_bypass_register_producer');
      yield* memory.upWrite('vfio_pci_set_irqs_ioctl');
      yield* igate.unlock('vfio_pci_ioctl');
    };
  w.run(qemu, 'VFIO_DEVICE_SET_IRQS MSI-X, no irqfd consumer yet', setIrqs(false));
  w.run(cpu0, 'guest touches the BAR mapping', function* () {
    yield* mmap.downRead('do_page_fault');
    yield* memory.downRead('vfio_pci_mmap_fault');
    yield* memory.upRead('vfio_pci_mmap_fault');
    yield* mmap.upRead('do_page_fault');
  });
  w.run(cpu0, 'KVM_RUN returns to userspace', function* () {
    yield* vcpu.lock('kvm_vcpu_ioctl');
    w.ld.mightFault(cpu0, mmap.id, mmap.cls, 'kvm_vcpu_ioctl'); // copy_to_user of the run state
    yield* vcpu.unlock('kvm_vcpu_ioctl');
  });
  w.run(qemu, 'XIVE KVM device release', function* () {
    yield* kvmLock.lock('kvmppc_xive_release');
    yield* vcpu.lock('kvmppc_xive_release');
    yield* vcpu.unlock('kvmppc_xive_release');
    yield* kvmLock.unlock('kvmppc_xive_release');
  });
  assert.equal(w.ld.reports.length, 0, 'no single run shows a problem');
  w.run(qemu, 'VFIO_DEVICE_SET_IRQS MSI-X with a KVM irqfd consumer', setIrqs(true));

  assert.equal(qemu.state, 'idle', 'the run completed: the deadlock did not happen');
  const r = w.ld.reports[0];
  assert.ok(r !== undefined);
  assert.equal(r.kind, 'circular');
  assert.deepEqual(r.classes, ['&kvm->lock', '&vcpu->mutex', '&mm->mmap_lock', '&vdev->memory_lock', 'lock#7']);
  assert.ok(r.text.includes('Chain exists of:\n  &kvm->lock --> &vdev->memory_lock --> lock#7\n'), 'lockdep\'s summary line in the report');
  assert.equal(r.text, expectedText('v2-circular.txt', r.text));
});

test('lockdep (5.8.0): pread into a BAR mmap of the same device takes memory_lock for read twice — H3 reported from one serial run', () => {
  const { sys, p, d } = openDevice(EDU0);
  const ld = sys.lockdep;
  assert.ok(ld !== null, 'lockdep runs by default');
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  // vfio_pci_bar_rw read-holds memory_lock across copy_to_user; the user buffer is the
  // unfaulted BAR mapping, so the copy faults and vfio_pci_mmap_fault takes it again.
  const faults = sys.events.count('fault');
  const n = p.pread(d.fd, bar, 4, vfioPciIndexToOffset(0));
  assert.equal(n, 4, 'no writer was queued: the recursive read went through');
  assert.equal(sys.events.count('fault'), faults + 1, 'copy_to_user faulted the BAR mapping in');
  const r = ld.reports[0];
  assert.ok(r !== undefined);
  assert.equal(r.kind, 'recursive');
  assert.deepEqual(r.classes, ['&vdev->memory_lock']);
  assert.equal(r.step, 'pread');
  assert.equal(ld.debugLocks, false, 'lockdep turned itself off');
  assert.equal(sys.events.count('lockdep'), 1);
  assert.equal(r.text, expectedText('h3-recursive.txt', r.text));
});

test('lockdep (5.8.0): a BAR fault, then an ordinary pread — mmap_lock -> memory_lock (fault) against memory_lock -> mmap_lock (might_fault in copy_to_user)', () => {
  const { sys, p, d } = openDevice(EDU0);
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  assert.equal(sys.lockdep?.reports.length, 0, 'the fault alone is fine');
  const buf = p.alloc(64);
  assert.equal(p.pread(d.fd, buf, 4, vfioPciIndexToOffset(0)), 4);
  const r = sys.lockdep?.reports[0];
  assert.ok(r !== undefined);
  assert.equal(r.kind, 'circular');
  assert.deepEqual(r.classes, ['&mm->mmap_lock', '&vdev->memory_lock']);
  assert.ok(r.text.includes('at: copy_to_user\n'), 'the new lock is might_fault\'s mmap_lock');
  assert.ok(r.text.includes('       vfio_pci_mmap_fault\n       step "load"'), 'the existing dependency was made by the fault');
});

test('lockdep (5.7 baseline): no memory_lock in the BAR paths, so the same runs report nothing', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '5.7' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.equal(p.pread(d.fd, bar, 4, vfioPciIndexToOffset(0)), 4);
  assert.ok(p.load(bar, 4).ok);
  assert.equal(p.pread(d.fd, p.alloc(64), 4, vfioPciIndexToOffset(0)), 4);
  assert.equal(sys.lockdep?.reports.length, 0);
  assert.equal(sys.lockdep?.debugLocks, true);
  assert.ok((sys.lockdep?.stats.validations ?? 0) > 0, 'lockdep did validate chains');
});

test('lockdep is on by default and off with SystemOptions.lockdep = false', () => {
  assert.equal(LOCKDEP_DEFAULT, true);
  assert.notEqual(new System().lockdep, null);
  const { sys, p, d } = openDevice(EDU0, { lockdep: false });
  assert.equal(sys.lockdep, null);
  assert.equal(sys.kernel.validator, null);
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.equal(p.pread(d.fd, bar, 4, vfioPciIndexToOffset(0)), 4);
  assert.equal(sys.events.count('lockdep'), 0);
});
