/**
 * MSI and MSI-X delivery end to end on every variant: vfio-pci's SET_IRQS programs the
 * device's message (address 0xfee00000 window, data = the irq), the device raises its
 * interrupt, the x86 interrupt controller dispatches the message to vfio_msihandler,
 * which signals the eventfd the user registered: a read of the eventfd returns 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, type RunResult } from '../../src/scenario/index.js';
import { variantNames } from '../../src/scenario/variant.js';
import { load, MAIN_OPENS_EDU0 } from '../scenario/helpers.js';

function run(variant: string, body: string): RunResult {
  return runScenario(load(`name: irq delivery\nvariant: '${variant}'\n${body}`), { schedule: 'rr' });
}

function failures(r: RunResult): string {
  return JSON.stringify(r.steps.filter((s) => s.verdict === 'failed').map((s) => [s.index, s.text, s.why]));
}

/** edu: MSI through SET_IRQS, bus master set, then the IRQ_RAISE register (0x60). */
const EDU_MSI = `${MAIN_OPENS_EDU0}          - mmap: { fd: dev, region: bar0 }
            as: bar
          - eventfd:
            as: efd0
          - command: { fd: dev, set: [mem, master] }
          - ioctl: { fd: dev, cmd: SET_IRQS, index: msi, eventfds: [efd0] }
            expect: ok
          - eventfd_read: efd0
            expect: -EAGAIN
          - store: { at: bar+0x60, value: 1 }
          - eventfd_read: efd0
            expect: 1
`;

/** edu: MSI enabled while MEM is clear; MEM set again afterwards; then the device raises. */
const EDU_MSI_MEM_CLEAR = `${MAIN_OPENS_EDU0}          - mmap: { fd: dev, region: bar0 }
            as: bar
          - eventfd:
            as: efd0
          - command: { fd: dev, set: [master], clear: [mem] }
          - ioctl: { fd: dev, cmd: SET_IRQS, index: msi, eventfds: [efd0] }
            expect: ok
          - command: { fd: dev, set: [mem] }
          - store: { at: bar+0x60, value: 1 }
          - eventfd_read: efd0
            expect: 1
`;

/** nic: MSI-X vector 0 through SET_IRQS; RX_EN then RX_DOORBELL raises vector 0. */
const NIC_MSIX = `processes:
  - name: qemu
    threads:
      - name: main
        steps:
          - open_device: nic0
            as: dev
          - mmap: { fd: dev, region: bar0 }
            as: bar
          - eventfd:
            as: efd0
          - eventfd:
            as: efd1
          - command: { fd: dev, set: [mem, master] }
          - ioctl: { fd: dev, cmd: SET_IRQS, index: msix, eventfds: [efd0, efd1] }
            expect: ok
          - store: { at: bar, value: 1 }
          - store: { at: bar+0x30, value: 1 }
          - eventfd_read: efd0
            expect: 1
          - eventfd_read: efd1
            expect: -EAGAIN
`;

const irqs = (r: RunResult): number => r.events.filter((e) => e.kind === 'irq').length;

for (const v of variantNames()) {
  test(`${v}: edu's MSI (SET_IRQS msi, device raises) signals the eventfd: it reads 1`, () => {
    const r = run(v, EDU_MSI);
    assert.equal(r.end.kind, 'done');
    assert.ok(r.ok, failures(r));
    assert.equal(irqs(r), 1, 'one irq dispatched by the interrupt controller');
  });

  test(`${v}: MSI enabled while MEM is clear, MEM set again, then the device raises: the eventfd reads 1`, () => {
    const r = run(v, EDU_MSI_MEM_CLEAR);
    assert.equal(r.end.kind, 'done');
    assert.ok(r.ok, failures(r));
    assert.equal(irqs(r), 1);
  });

  test(`${v}: nic's MSI-X vector 0 (SET_IRQS msix) signals only its own eventfd with count 1`, () => {
    const r = run(v, NIC_MSIX);
    assert.equal(r.end.kind, 'done');
    assert.ok(r.ok, failures(r));
    assert.equal(irqs(r), 1);
  });
}
