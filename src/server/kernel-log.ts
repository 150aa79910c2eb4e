/**
 * [model] The kernel's voice for programs under `exec`: the model's kernel log in the
 * layout dmesg shows (`[    2.034567] vfio-pci 0000:01:00.0: ...`, WARNING splats, lockdep
 * reports, DMAR fault lines for IOMMU faults) and its taint flags, as klogctl(2),
 * /dev/kmsg and /proc/sys/kernel/tainted give them. Built from the event stream.
 */
import type { SimEvent } from '../events/event.js';
import type { PrintkLevel } from '../events/event.js';

/** Log levels as numbers (KERN_EMERG 0 ... KERN_DEBUG 7). */
const LEVEL: Readonly<Record<PrintkLevel, number>> = { emerg: 0, alert: 1, crit: 2, err: 3, warn: 4, notice: 5, info: 6, debug: 7 };
/** Taint bits (include/linux/panic.h): TAINT_DIE 'D' after a BUG, TAINT_WARN 'W' after a WARNING. */
export const TAINT_DIE = 1 << 7;
export const TAINT_WARN = 1 << 9;
/** Records kept (the oldest are dropped, as the kernel's ring buffer drops them). */
const MAX_RECORDS = 20_000;

/**
 * DMAR's fault reason for a model IOMMU fault (drivers/iommu/intel/dmar.c, dma_remap_fault_reasons):
 * no context entry 0x02; a missing or read-only PTE 0x05 for a write, 0x06 for a read.
 */
function dmarReason(reason: string, write: boolean): string {
  if (reason === 'no-domain') return '[fault reason 0x02] Present bit in context entry is clear';
  return write ? '[fault reason 0x05] PTE Write access is not set' : '[fault reason 0x06] PTE Read access is not set';
}

interface LogRecord {
  readonly level: number;
  readonly seq: number;
  readonly usec: number;
  readonly text: string;
}

export class KernelLog {
  private readonly records: LogRecord[] = [];
  private seq = 0;
  /** The taint flags (/proc/sys/kernel/tainted). */
  tainted = 0;

  constructor(private readonly nowNs: () => number) {}

  private add(level: number, text: string): void {
    for (const line of text.split('\n')) this.records.push({ level, seq: this.seq++, usec: Math.floor(this.nowNs() / 1000), text: line });
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
  }

  /** An event listener. */
  readonly onEvent = (ev: SimEvent): void => {
    switch (ev.kind) {
      case 'printk':
        this.add(LEVEL[ev.level], ev.line);
        if (ev.stack === true) this.add(LEVEL[ev.level], `Call Trace:\n ${ev.fn}`);
        return;
      case 'warn':
        this.add(4, `------------[ cut here ]------------\n${ev.message}\nWARNING: CPU: 0 PID: ${ev.tid} at ${ev.fn}\n---[ end trace ]---`);
        this.tainted |= TAINT_WARN;
        return;
      case 'bug':
        this.add(0, `------------[ cut here ]------------\nkernel BUG at ${ev.fn}!\n${ev.message}`);
        this.tainted |= TAINT_DIE;
        return;
      case 'lockdep':
        this.add(4, ev.text.replace(/\n+$/, ''));
        return;
      case 'iommu.fault': {
        const bdf = ev.dev.replace(/^0000:/, '');
        // dmar_fault_do_one's line as 5.16+ prints it (older kernels: '[DMA Write] Request device [01:00.0] PASID ffffffff fault addr ...')
        this.add(3, `DMAR: [DMA ${ev.write ? 'Write' : 'Read'} NO_PASID] Request device [${bdf}] fault addr 0x${ev.iova.toString(16)} ${dmarReason(ev.reason, ev.write)}`);
        return;
      }
      default:
        return;
    }
  };

  /** The log as klogctl(SYSLOG_ACTION_READ_ALL) gives it: `<level>[seconds] text` lines. */
  syslogText(): string {
    return this.records.map((r) => `<${r.level}>[${(r.usec / 1e6).toFixed(6).padStart(12)}] ${r.text}\n`).join('');
  }

  /** The log as /dev/kmsg's records: `level,seq,usec,-;text`. */
  kmsgText(): string {
    return this.records.map((r) => `${r.level},${r.seq},${r.usec},-;${r.text}\n`).join('');
  }
}
