/**
 * edu's DMA engine as QEMU builds it, through whole scenarios: the transfer runs from a
 * device timer 100 ms of model time after the command write (a hardware thread the
 * scheduler interleaves with the program's threads), and a DMA read that the IOMMU
 * faults leaves zeros in the device's buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimEvent } from '../../src/events/event.js';
import { runScenario, type RunResult } from '../../src/scenario/index.js';
import { exploreScenario } from '../../src/scenario/explore.js';
import { load } from './helpers.js';

const EDU0 = '0000:01:00.0';

/** Setup shared by the scenarios: edu0 open, its BAR0 mapped, one page of RAM mapped for DMA at IOVA 0x100000 holding 0x11223344556677. */
const SETUP = `    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
      - mmap: { anonymous: true, length: 4096 }
        as: ram
      - store: { at: ram, size: 8, value: 0x11223344556677 }
      - ioctl: { fd: dev.container, cmd: MAP_DMA, vaddr: ram, iova: 0x100000 }
        expect: ok
      - command: { fd: dev, set: [master] }
`;

function stepResult(r: RunResult, thread: string, index: number): string {
  const s = r.steps.find((x) => x.thread === thread && x.index === index);
  assert.ok(s !== undefined, `no step ${thread}#${index}`);
  return `${s.status}: ${s.result}`;
}

const ofKind = <K extends SimEvent['kind']>(r: RunResult, k: K): Extract<SimEvent, { kind: K }>[] => r.events.filter((e): e is Extract<SimEvent, { kind: K }> => e.kind === k);

test('edu DMA: the start bit reads set right after the command write; a driver polling with 10 ms sleeps sees the engine idle after 100 ms of model time, the transfer happening during the last sleep', () => {
  const s = load(`name: edu dma timing
processes:
  - name: qemu
${SETUP}      - edu_dma: { at: bar, src: 0x100000, dst: 0x40000, count: 8 }
      - load: { at: bar+0x98, size: 4 }
        expect: 1
      - edu_dma: { fd: dev, src: 0x40000, dst: 0x100008, count: 8, to_ram: true, wait: true }
      - load: { at: ram+8, size: 8 }
        expect: 0
      - edu_dma: { fd: dev, src: 0x40000, dst: 0x100008, count: 8, to_ram: true, wait: true }
      - load: { at: ram+8, size: 8 }
        expect: 0x11223344556677
`);
  const r = runScenario(s);
  assert.equal(r.expectations.failed, 0, r.steps.map((x) => `${x.thread}#${x.index} ${x.status}: ${x.result}`).join('\n'));
  // the first DMA (no wait) was still in flight when the second command was written: the
  // engine ignores a command while it runs, so the wait polls the first one's completion
  assert.match(stepResult(r, 'qemu', 9), /idle after 100 ms/);
  assert.match(stepResult(r, 'qemu', 11), /idle after 100 ms/);
  const sleeps = ofKind(r, 'sleep').filter((e) => e.fn === 'hrtimer_nanosleep');
  assert.equal(sleeps.length, 20, '10 polls of 10 ms per wait');
  const dmas = ofKind(r, 'dma').filter((e) => e.dev === EDU0);
  assert.deepEqual(dmas.map((d) => [d.dir, d.iova, d.result]), [['r', 0x100000, 'ok'], ['w', 0x100008, 'ok']], 'the command written while the first DMA ran was dropped (edu.c dma_rw)');
  const lastSleep = sleeps[9];
  const firstDma = dmas[0];
  assert.ok(lastSleep !== undefined && firstDma !== undefined);
  assert.ok(firstDma.seq > lastSleep.seq, 'the transfer came during the 10th sleep, after the 9th poll still saw the start bit');
  assert.notEqual(firstDma.tid, r.threads.find((t) => t.name === 'qemu')?.tid, 'the transfer is a step of the device, not of the polling thread');
});

test('edu DMA read that the IOMMU faults (IOVA unmapped) fills the device buffer with zeros and records the IOMMU fault', () => {
  const s = load(`name: edu dma faulted read
processes:
  - name: qemu
${SETUP}      - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8, wait: true }
      - ioctl: { fd: dev.container, cmd: UNMAP_DMA, iova: 0x100000, size: 0x1000 }
        expect: ok
      - events: iommu.fault
      - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8, wait: true }
        expect: ok
      - events: iommu.fault
        expect: 1
      - mmap: { anonymous: true, length: 4096 }
        as: ram2
      - store: { at: ram2, size: 8, value: "0xeeeeeeeeeeeeeeee" }
      - ioctl: { fd: dev.container, cmd: MAP_DMA, vaddr: ram2, iova: 0x200000 }
        expect: ok
      - edu_dma: { fd: dev, src: 0x40000, dst: 0x200000, count: 8, to_ram: true, wait: true }
        expect: ok
      - load: { at: ram2, size: 8 }
        expect: 0
`);
  const r = runScenario(s);
  assert.equal(r.expectations.failed, 0, r.steps.map((x) => `${x.thread}#${x.index} ${x.status}: ${x.result}`).join('\n'));
  const faults = ofKind(r, 'iommu.fault');
  assert.deepEqual(faults.map((f) => [f.dev, f.iova, f.write]), [[EDU0, 0x100000, false]]);
});

/** Two threads: one starts a DMA and waits for it, the other clears MEM. */
const RACE = load(`name: edu dma in flight across a MEM clear
processes:
  - name: qemu
${SETUP}    threads:
      - name: dma
        steps:
          - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8, wait: true }
      - name: clr
        steps:
          - clear_mem: dev
`);

/** Sequence numbers of: the command write arming the DMA, the MEM clear, the transfer (-1: none). */
function order(r: RunResult): { arm: number; clear: number; xfer: number } {
  const arm = r.events.find((e) => e.kind === 'mmio' && e.dev === EDU0 && e.dir === 'w' && e.offset === 0x98)?.seq ?? -1;
  const from = r.events.find((e) => e.kind === 'scenario.step' && e.thread === 'clr' && e.phase === 'start')?.seq ?? Infinity;
  const clear = r.events.find((e) => e.kind === 'cfg.write' && e.seq > from && e.dev === EDU0 && e.offset === 4 && (e.value & 2) === 0)?.seq ?? -1;
  const xfer = r.events.find((e) => e.kind === 'dma' && e.dev === EDU0)?.seq ?? -1;
  return { arm, clear, xfer };
}

test('explore covers the edu DMA armed before a MEM clear and transferred after it (the device timer is interleaved like a thread), and the ones transferred before it', () => {
  const late = (r: RunResult): string | null => {
    const o = order(r);
    return o.arm >= 0 && o.clear > o.arm && o.xfer > o.clear ? 'the DMA armed before the MEM clear transferred after it' : null;
  };
  const early = (r: RunResult): string | null => {
    const o = order(r);
    return o.xfer >= 0 && o.clear > o.xfer ? 'the DMA transferred before the MEM clear' : null;
  };
  const res = exploreScenario(RACE, { properties: [{ name: 'late-dma', check: late }, { name: 'early-dma', check: early }], only: ['late-dma', 'early-dma'], noShrink: true, maxPreemptions: 1 });
  assert.equal(res.search.complete, true);
  const names = res.search.counterexamples.map((c) => c.property).sort();
  assert.deepEqual(names, ['early-dma', 'late-dma']);
  // the world copied after the setup (its clock, the armed timers, the hardware threads) explores as the rebuilt one does
  const rebuilt = exploreScenario(RACE, { properties: [{ name: 'late-dma', check: late }, { name: 'early-dma', check: early }], only: ['late-dma', 'early-dma'], noShrink: true, noReplays: true, maxPreemptions: 1, snapshot: false });
  assert.deepEqual(rebuilt.search.outcomes, res.search.outcomes);
  assert.equal(rebuilt.search.stats.executions, res.search.stats.executions);
  // the late one, replayed from its token by runScenario, is that interleaving again, bit for bit
  const cx = res.counterexamples.find((c) => c.cx.property === 'late-dma');
  assert.ok(cx !== undefined && cx.run !== null);
  const again = runScenario(RACE, { replay: cx.cx.token });
  assert.notEqual(late(again), null);
  const strip = (r: RunResult): string => JSON.stringify(r.events, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  assert.equal(strip(again), strip(cx.run));
  assert.ok(again.events.some((e) => e.kind === 'sleep' && e.fn === 'hrtimer_nanosleep') || again.events.some((e) => e.kind === 'sleep' && e.fn === 'do_idle'), 'time passed to reach the deadline');
});

test('the same schedule gives the same events with the edu DMA timer thread (random schedules, each seed twice)', () => {
  const strip = (r: RunResult): string => JSON.stringify(r.events, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  for (let seed = 1; seed <= 12; seed++) {
    const a = runScenario(RACE, { schedule: 'random', seed });
    const b = runScenario(RACE, { schedule: 'random', seed });
    assert.equal(strip(a), strip(b), `seed ${seed}`);
    assert.equal(runScenario(RACE, { replay: a.token }).token, a.token);
  }
});

test('explore orders the edu DMA timer against a concurrent UNMAP_DMA: both the faulted and the completed transfer are reached', () => {
  const s = load(`name: edu dma against an unmap
processes:
  - name: qemu
${SETUP}    threads:
      - name: dma
        steps:
          - edu_dma: { at: bar, src: 0x100000, dst: 0x40000, count: 8, wait: true }
      - name: unmap
        steps:
          - ioctl: { fd: dev.container, cmd: UNMAP_DMA, iova: 0x100000, size: 0x1000 }
`);
  const result = (want: 'ok' | 'iommu-fault') => (r: RunResult): string | null => (r.events.some((e) => e.kind === 'dma' && e.dev === EDU0 && e.result === want) ? `the transfer: ${want}` : null);
  const res = exploreScenario(s, { properties: [{ name: 'transferred', check: result('ok') }, { name: 'faulted', check: result('iommu-fault') }], only: ['transferred', 'faulted'], noShrink: true, noReplays: true, maxPreemptions: 1 });
  assert.equal(res.search.complete, true);
  assert.deepEqual(res.search.counterexamples.map((c) => c.property).sort(), ['faulted', 'transferred']);
});

test('a thread blocked in eventfd read for the edu DMA interrupt is woken by the transfer 100 ms later: the CPUs idle until the device timer (no false deadlock)', () => {
  const s = load(`name: edu dma interrupt
processes:
  - name: qemu
${SETUP}      - eventfd: { nonblock: false }
        as: efd
      - ioctl: { fd: dev, cmd: SET_IRQS, index: msi, eventfds: [efd] }
        expect: ok
      - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8, irq: true }
      - eventfd_read: efd
        expect: 1
`);
  const r = runScenario(s);
  assert.equal(r.end.kind, 'done');
  assert.equal(r.expectations.failed, 0, r.steps.map((x) => `${x.thread}#${x.index} ${x.status}: ${x.result}`).join('\n'));
  const idle = ofKind(r, 'sleep').filter((e) => e.fn === 'do_idle');
  assert.equal(idle.length, 1, 'the CPUs idled once, until the DMA deadline');
  const dma = ofKind(r, 'dma').find((e) => e.dev === EDU0);
  const irq = ofKind(r, 'irq').find((e) => e.dev === EDU0);
  assert.ok(dma !== undefined && irq !== undefined && idle[0] !== undefined);
  assert.ok(idle[0].seq < dma.seq && dma.seq < irq.seq);
});

test('a schedule list may name edu\'s DMA hardware thread (dma@<bdf>): running it before the MEM clear gives the early transfer, after it the late one', () => {
  const body = `processes:
  - name: qemu
${SETUP}      - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8 }
    threads:
      - name: sleeper
        steps:
          - edu_dma: { fd: dev, src: 0x100000, dst: 0x40000, count: 8, wait: true }
      - name: clr
        steps:
          - clear_mem: dev
`;
  const s = load(`name: edu dma named in a schedule\n${body}`);
  // the sleeper polls from the start (its register writes are dropped: the engine runs); how
  // many choices it takes until its sleep passes the deadline (then it waits for the timer):
  const probe = runScenario(s, { schedule: 'sleeper*100000' });
  const m = /^schedule entry 'sleeper' at choice (\d+): sleeper is not runnable \(runnable: clr, dma@0000:01:00\.0\)/.exec(probe.scheduleWarnings[0] ?? '');
  assert.ok(m !== null, probe.scheduleWarnings.join('\n'));
  const n = Number(m[1]) - 1;
  const run = (schedule: string): { xfer: number; clear: number } => {
    const r = runScenario(s, { schedule });
    assert.deepEqual(r.scheduleWarnings, []);
    const from = r.events.find((e) => e.kind === 'scenario.step' && e.thread === 'clr' && e.phase === 'start')?.seq ?? Infinity;
    return {
      xfer: r.events.find((e) => e.kind === 'dma' && e.dev === EDU0)?.seq ?? -1,
      clear: r.events.find((e) => e.kind === 'cfg.write' && e.seq > from && e.dev === EDU0 && e.offset === 4 && (e.value & 2) === 0)?.seq ?? -1,
    };
  };
  const early = run(`sleeper*${n},dma@${EDU0}`);
  assert.ok(early.xfer >= 0 && early.xfer < early.clear, JSON.stringify(early));
  const late = run(`sleeper*${n},clr*100000`);
  assert.ok(late.clear >= 0 && late.xfer > late.clear, JSON.stringify(late));
  // a scenario's own schedule may name it too (the machine's edu devices have one each)
  const own = load(`name: own schedule\nschedule: sleeper*${n},dma@${EDU0}\n${body}`);
  const r = runScenario(own);
  assert.deepEqual(r.scheduleWarnings, []);
  assert.throws(() => runScenario(s, { schedule: 'dma@0000:02:00.1' }), /unknown thread 'dma@0000:02:00\.1'/);
});
