import type { SimEvent } from './event.js';

const ERRNO: Record<number, string> = { 1: 'EPERM', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 14: 'EFAULT', 16: 'EBUSY', 19: 'ENODEV', 22: 'EINVAL', 25: 'ENOTTY', 28: 'ENOSPC' };

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

function ret(r: number | string): string {
  if (typeof r === 'string') return r;
  return r < 0 ? `-${ERRNO[-r] ?? `E${-r}`}` : String(r);
}

/** One line of text for an event: `[seq] t<tid> <what happened>`. */
export function formatEvent(ev: SimEvent): string {
  return `[${ev.seq}] t${ev.tid} ${describe(ev)}`;
}

/** The part of formatEvent after the thread: a plain-language description of the event. */
export function describe(ev: SimEvent): string {
  switch (ev.kind) {
    case 'lock.acquire': return `${ev.fn}: took ${ev.lock} (${ev.mode === 'r' ? 'read' : 'write'}${ev.trylock ? ', trylock' : ''})`;
    case 'lock.contended': return `${ev.fn}: waits for ${ev.lock} (${ev.mode === 'r' ? 'read' : 'write'})`;
    case 'lock.trylock-failed': return `${ev.fn}: trylock of ${ev.lock} failed`;
    case 'lock.release': return `${ev.fn}: released ${ev.lock}`;
    case 'lock.downgrade': return `${ev.fn}: downgraded ${ev.lock} (write -> read)`;
    case 'thread.start': return `thread ${ev.name} starts`;
    case 'thread.exit': return `thread ${ev.name} exits`;
    case 'sleep': return `${ev.fn}: sleeps ${ev.ms} ms`;
    case 'mmap': return `mmap(${hex(ev.start)}, ${hex(ev.len)}) of ${ev.file ?? 'anonymous memory'} = ${ret(ev.ret)}`;
    case 'munmap': return `munmap(${hex(ev.start)}, ${hex(ev.len)})`;
    case 'fault': return `page fault at ${hex(ev.addr)} (${ev.write ? 'write' : 'read'}, ${ev.user ? 'user' : 'kernel'}) -> ${ev.result}`;
    case 'mm.vm-flags': return `${ev.fn}: vm_flags of vma ${hex(ev.start)}-${hex(ev.end)} (mm${ev.mm}) changed with mmap_lock held for ${ev.lock}`;
    case 'pte.install': return `${ev.fn}: PTEs installed ${hex(ev.start)}-${hex(ev.end)} -> pfn ${hex(ev.pfn)}`;
    case 'pte.zap': return `${ev.fn}: PTEs zapped ${hex(ev.start)}-${hex(ev.end)} (${ev.present} present)`;
    case 'vma.open': return `${ev.fn}: vm_ops.open ${hex(ev.start)}-${hex(ev.end)}`;
    case 'vma.close': return `${ev.fn}: vm_ops.close ${hex(ev.start)}-${hex(ev.end)}`;
    case 'fork': return `fork: pid ${ev.parentPid} -> child pid ${ev.childPid}`;
    case 'cfg.write': return `config write ${ev.dev} @${hex(ev.offset)}/${ev.size} = ${hex(ev.value)} (${ev.origin})`;
    case 'cfg.read': return `config read ${ev.dev} @${hex(ev.offset)}/${ev.size} = ${hex(ev.value)} (${ev.origin})`;
    case 'mmio': return `${ev.initiator === 'dma' ? `DMA from ${ev.requester ?? '?'}` : 'CPU'} ${ev.dir === 'r' ? 'read' : 'write'} ${ev.dev} BAR${ev.bar}+${hex(ev.offset)}/${ev.size} ${ev.dir === 'r' ? '->' : '<-'} ${hex(ev.value)}`;
    case 'pio': return `port ${ev.dir === 'r' ? 'read' : 'write'} ${ev.dev} BAR${ev.bar}+${hex(ev.offset)}/${ev.size} = ${hex(ev.value)}`;
    case 'rom.read': return `ROM read ${ev.dev} +${hex(ev.offset)}/${ev.size}`;
    case 'dma': return `DMA ${ev.dir === 'r' ? 'read' : 'write'} by ${ev.dev} iova ${hex(ev.iova)} len ${ev.len} -> ${ev.target}: ${ev.result}`;
    case 'iommu.fault': return `IOMMU fault: ${ev.dev} iova ${hex(ev.iova)} (${ev.write ? 'write' : 'read'}): ${ev.reason}`;
    case 'iommu.map': return `IOMMU domain ${ev.domain}: map iova ${hex(ev.iova)} -> pfn ${hex(ev.pfn)} x${ev.pages}`;
    case 'iommu.unmap': return `IOMMU domain ${ev.domain}: unmap iova ${hex(ev.iova)} x${ev.pages}`;
    case 'platform.error': return `PLATFORM ERROR: Unsupported Request, ${ev.initiator === 'dma' ? `DMA from ${ev.requester ?? '?'}` : 'CPU'} ${ev.dir === 'r' ? 'read' : 'write'} of ${hex(ev.addr)} (${ev.target ?? 'no device'} not decoding) [${ev.severity}]`;
    case 'machine.halt': return `MACHINE HALTED: ${ev.reason}`;
    case 'reset': return `reset ${ev.dev} via ${ev.method}: ${ev.phase}`;
    case 'power': return `power ${ev.dev}: ${ev.from} -> ${ev.to}`;
    case 'msi': return `MSI from ${ev.dev} vector ${ev.vector}: ${ev.delivered ? 'delivered' : 'pending/masked'}`;
    case 'irq': return `irq ${ev.irq} (${ev.dev} vector ${ev.vector})`;
    case 'bug': return `kernel BUG in ${ev.fn}: ${ev.message}`;
    case 'warn': return `kernel WARNING in ${ev.fn}: ${ev.message}`;
    case 'printk': return `kernel ${ev.level}: ${ev.line}${ev.stack === true ? ' (stack dump follows)' : ''}`;
    case 'lockdep': return `lockdep: WARNING: ${ev.title}: ${ev.classes.join(' --> ')}${ev.debugLocksOff ? ' (turning off the locking correctness validator)' : ''}`;
    case 'vfio.zap': return `${ev.fn}: zapped ${ev.vmas} vma(s) of ${ev.dev}`;
    case 'vfio.vma-track': return `vfio-pci ${ev.dev}: vma ${hex(ev.start)}-${hex(ev.end)} ${ev.op === 'add' ? 'added to' : 'removed from'} vma_list`;
    case 'vfio.blocked': return `vfio-pci ${ev.dev}: ${ev.path} blocked, ${ev.lowPower === true ? 'device in runtime low power' : 'memory disabled'}${ev.errno !== 0 ? ` (-${ERRNO[ev.errno] ?? ev.errno})` : ' (SIGBUS)'}`;
    case 'vfio.pm': return `vfio-pci ${ev.dev}: runtime PM ${ev.op} (${ev.state})`;
    case 'syscall': return `${ev.name}(${ev.args}) = ${ret(ev.ret)}`;
    case 'signal': return `${ev.sig} (${ev.code}) at ${hex(ev.addr)} delivered to pid ${ev.pid}`;
    case 'note': return ev.text;
    case 'scenario.step': return ev.phase === 'start' ? `${ev.thread} step ${ev.step}: ${ev.text}` : `${ev.thread} step ${ev.step} -> ${ev.text}${ev.verdict === 'none' ? '' : ` [expectation ${ev.verdict}]`}`;
  }
}
