/** Shared helpers for the hardware tests (not a test file itself). */
import { EventStream } from '../../src/events/stream.js';
import type { EventKind, EventOf } from '../../src/events/event.js';
import { createMachine, defaultMachineSpec, type Machine, type MachineSpec } from '../../src/hw/index.js';

export const EDU1 = '0000:01:00.0';
export const EDU2 = '0000:02:00.0';
export const NIC = '0000:03:00.0';

export function machine(over: Partial<MachineSpec> = {}): Machine {
  return createMachine({ ...defaultMachineSpec(), ...over }, new EventStream());
}

/** Events of one kind emitted after sequence number `after`. */
export function eventsOf<K extends EventKind>(m: Machine, kind: K, after = 0): EventOf<K>[] {
  return m.events.since(after).filter((e): e is EventOf<K> => e.kind === kind);
}

/** Enable memory decode (and optionally bus master) the way pci_enable_device would. */
export function enable(m: Machine, name: string, master = false): void {
  const f = m.fn(name);
  f.cfgWrite(4, 2, f.cfgRead(4, 2) | 0x2 | 0x1 | (master ? 0x4 : 0));
}

export function bar(m: Machine, name: string, i: number): number {
  const r = m.fn(name).resource(i);
  if (r === null) throw new Error(`no BAR ${i}`);
  return r.start;
}

export const MS = 1_000_000;
