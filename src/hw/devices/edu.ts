/**
 * QEMU's educational PCI device (hw/misc/edu.c, docs/specs/edu.rst), modelled with
 * the public defineDevice API.
 *
 * Registers (BAR0, 1 MiB): 0x00 identification 0x010000ed (RO); 0x04 liveness (reads
 * the bitwise NOT of the last value written); 0x08 factorial (write n, read n!
 * mod 2^32); 0x20 status (0x01 computing, RO; 0x80 raise interrupt 0x1 after a
 * factorial); 0x24 interrupt status (RO); 0x60 interrupt raise (ORs the value into
 * the interrupt status and signals); 0x64 interrupt acknowledge (clears bits);
 * 0x80 DMA source, 0x88 DMA destination, 0x90 DMA count, 0x98 DMA command (bit 0
 * start, bit 1 direction: 0 = RAM→EDU, 1 = EDU→RAM, bit 2 raise interrupt 0x100
 * when done). The 4 KiB DMA buffer is at device address 0x40000.
 *
 * Access sizes as in edu.c: offsets below 0x80 only 4-byte accesses; 0x80 and
 * above 4 or 8 bytes; anything else reads all-ones and ignores writes. Unknown
 * registers read all-ones.
 *
 * The DMA engine runs as in QEMU: writing the command register with the start bit arms
 * a timer 100 ms of virtual time later (timer_mod on QEMU_CLOCK_VIRTUAL at the current
 * millisecond + 100), and the transfer happens when it expires (edu_dma_timer): the start
 * bit reads set until then, and the program may do anything meanwhile (clear MEM, reset,
 * unmap the IOVA). On a booted machine the expiry is a step of its own hardware thread,
 * `dma@<function>`, that the scheduler interleaves with the threads (Scheduler.deviceClock).
 * A DMA read that fails (IOMMU fault, bus master off) fills the buffer with zeros, as
 * QEMU's pci_dma_read leaves it (a failed translation reads the unassigned region: 0).
 *
 * Deliberate differences from QEMU, for determinism: the factorial is computed
 * immediately (status 0x01 is never observed set). A DMA whose
 * buffer range falls outside 0x40000..0x40fff is not performed (QEMU only logs it
 * and overruns its buffer); it still completes (start bit clears, interrupt raised).
 *
 * edu.c has no reset handler: none of this state is reset by FLR, bus reset or a
 * PM transition. Only the PCI-visible state (command, BAR, MSI, INTx status) resets.
 */
import type { DeviceTimer, DeviceTimerTarget } from '../clock.js';
import { defineDevice, type DeviceBehavior, type DeviceContext, type DeviceDefinition } from '../device.js';
import { optionRomImage } from './option-rom.js';

export const EDU_VENDOR_ID = 0x1234;
export const EDU_DEVICE_ID = 0x11e8;
export const EDU_BAR0_SIZE = 1024 * 1024;

export const EDU_REG_ID = 0x00;
export const EDU_REG_LIVENESS = 0x04;
export const EDU_REG_FACTORIAL = 0x08;
export const EDU_REG_STATUS = 0x20;
export const EDU_REG_IRQ_STATUS = 0x24;
export const EDU_REG_IRQ_RAISE = 0x60;
export const EDU_REG_IRQ_ACK = 0x64;
export const EDU_REG_DMA_SRC = 0x80;
export const EDU_REG_DMA_DST = 0x88;
export const EDU_REG_DMA_COUNT = 0x90;
export const EDU_REG_DMA_CMD = 0x98;

export const EDU_ID_VALUE = 0x010000ed;
/** EDU_ID_VALUE as the bigint a register read returns (made once: it never changes). */
const EDU_ID_BIG = BigInt(EDU_ID_VALUE);
export const EDU_STATUS_COMPUTING = 0x01;
export const EDU_STATUS_IRQFACT = 0x80;
export const EDU_FACT_IRQ = 0x00000001;
export const EDU_DMA_IRQ = 0x00000100;
export const EDU_DMA_RUN = 0x1;
export const EDU_DMA_DIR_TO_RAM = 0x2;
export const EDU_DMA_IRQ_EN = 0x4;
export const EDU_DMA_START = 0x40000;
export const EDU_DMA_SIZE = 4096;
/** How long after the command write the DMA timer expires (edu.c: timer_mod(now_ms + 100)). */
export const EDU_DMA_DELAY_MS = 100;
/** edu's default dma_mask: bus addresses are clamped to 28 bits. */
export const EDU_DMA_MASK = (1 << 28) - 1;

const ONES64 = 0xffff_ffff_ffff_ffffn;

/** The edu device state (exposed for tests and diagnostics). */
export class EduState implements DeviceBehavior, DeviceTimerTarget {
  addr4 = 0;
  fact = 0;
  status = 0;
  irqStatus = 0;
  dmaSrc = 0n;
  dmaDst = 0n;
  dmaCnt = 0n;
  dmaCmd = 0n;
  private dmaBytes: Uint8Array | null = null;

  /** The 4 KiB DMA buffer (allocated on first use: most machines never run a DMA). */
  get dmaBuf(): Uint8Array {
    if (this.dmaBytes === null) this.dmaBytes = new Uint8Array(EDU_DMA_SIZE);
    return this.dmaBytes;
  }

  /** edu's dma_timer (QEMU_CLOCK_VIRTUAL, ms): armed by a command write, runs the transfer. */
  private readonly dmaTimer: DeviceTimer;

  constructor(private readonly ctx: DeviceContext) {
    this.dmaTimer = ctx.newTimer('dma', this);
  }

  /** edu_raise_irq (hw/misc/edu.c, QEMU master 06b40d25) */
  private raiseIrq(val: number): void {
    this.irqStatus = (this.irqStatus | val) >>> 0;
    if (this.irqStatus !== 0) this.ctx.raiseIrq(0);
  }

  /** edu_lower_irq (hw/misc/edu.c, QEMU master 06b40d25) */
  private lowerIrq(val: number): void {
    this.irqStatus = (this.irqStatus & ~val) >>> 0;
    if (this.irqStatus === 0) this.ctx.lowerIrq(0);
  }

  /** edu_mmio_read (hw/misc/edu.c, QEMU master 06b40d25) */
  mmioRead(_bar: number, addr: number, size: number): bigint {
    if (addr < 0x80 && size !== 4) return ONES64;
    if (addr >= 0x80 && size !== 4 && size !== 8) return ONES64;
    switch (addr) {
      case EDU_REG_ID:
        return EDU_ID_BIG;
      case EDU_REG_LIVENESS:
        return BigInt(this.addr4);
      case EDU_REG_FACTORIAL:
        return BigInt(this.fact);
      case EDU_REG_STATUS:
        return BigInt(this.status);
      case EDU_REG_IRQ_STATUS:
        return BigInt(this.irqStatus);
      case EDU_REG_DMA_SRC:
        return this.dmaSrc;
      case EDU_REG_DMA_DST:
        return this.dmaDst;
      case EDU_REG_DMA_COUNT:
        return this.dmaCnt;
      case EDU_REG_DMA_CMD:
        return this.dmaCmd;
      default:
        return ONES64;
    }
  }

  /** edu_mmio_write (hw/misc/edu.c, QEMU master 06b40d25) */
  mmioWrite(_bar: number, addr: number, size: number, value: bigint): void {
    if (addr < 0x80 && size !== 4) return;
    if (addr >= 0x80 && size !== 4 && size !== 8) return;
    const v32 = Number(value & 0xffff_ffffn);
    const running = (this.dmaCmd & BigInt(EDU_DMA_RUN)) !== 0n;
    switch (addr) {
      case EDU_REG_LIVENESS:
        this.addr4 = ~v32 >>> 0;
        break;
      case EDU_REG_FACTORIAL:
        if ((this.status & EDU_STATUS_COMPUTING) !== 0) break;
        this.fact = v32;
        this.computeFactorial();
        break;
      case EDU_REG_STATUS:
        if ((v32 & EDU_STATUS_IRQFACT) !== 0) this.status |= EDU_STATUS_IRQFACT;
        else this.status &= ~EDU_STATUS_IRQFACT;
        break;
      case EDU_REG_IRQ_RAISE:
        this.raiseIrq(v32);
        break;
      case EDU_REG_IRQ_ACK:
        this.lowerIrq(v32);
        break;
      case EDU_REG_DMA_SRC:
        if (!running) this.dmaSrc = value;
        break;
      case EDU_REG_DMA_DST:
        if (!running) this.dmaDst = value;
        break;
      case EDU_REG_DMA_COUNT:
        if (!running) this.dmaCnt = value;
        break;
      case EDU_REG_DMA_CMD:
        if ((value & BigInt(EDU_DMA_RUN)) === 0n || running) break;
        this.dmaCmd = value;
        this.armDma();
        break;
      default:
        break;
    }
  }

  /** edu_fact_thread (hw/misc/edu.c, QEMU master 06b40d25), run to completion at once. */
  private computeFactorial(): void {
    this.status |= EDU_STATUS_COMPUTING;
    let n = this.fact;
    let ret = 1;
    while (n > 0 && ret !== 0) { // a zero product stays zero: stop (a write of 0xffffffff would loop 2^32 times)
      ret = Math.imul(ret, n) >>> 0;
      n--;
    }
    this.fact = ret >>> 0;
    this.status &= ~EDU_STATUS_COMPUTING;
    if ((this.status & EDU_STATUS_IRQFACT) !== 0) this.raiseIrq(EDU_FACT_IRQ);
  }

  /** dma_rw's timer_mod (hw/misc/edu.c, QEMU 7.2): the transfer runs 100 ms of virtual time from the current millisecond. */
  private armDma(): void {
    const nowMs = Math.floor(this.ctx.nowNs / 1_000_000);
    this.ctx.armTimer(this.dmaTimer, (nowMs + EDU_DMA_DELAY_MS) * 1_000_000);
  }

  /** The DMA timer expired (DeviceTimerTarget). */
  timerExpired(timer: DeviceTimer): void {
    if (timer === this.dmaTimer) this.dmaRun();
  }

  /** edu_dma_timer (hw/misc/edu.c, QEMU master 06b40d25). */
  private dmaRun(): void {
    const cmd = this.dmaCmd;
    if ((cmd & BigInt(EDU_DMA_RUN)) === 0n) return;
    const cnt = this.dmaCnt;
    const toRam = (cmd & BigInt(EDU_DMA_DIR_TO_RAM)) !== 0n;
    const bufAddr = toRam ? this.dmaSrc : this.dmaDst;
    const busAddr = Number((toRam ? this.dmaDst : this.dmaSrc) & BigInt(EDU_DMA_MASK));
    const start = BigInt(EDU_DMA_START);
    const inRange = bufAddr >= start && cnt <= BigInt(EDU_DMA_SIZE) && bufAddr + cnt <= start + BigInt(EDU_DMA_SIZE);
    if (!inRange) {
      this.ctx.log(`EDU: DMA range 0x${bufAddr.toString(16)}+0x${cnt.toString(16)} out of bounds (0x40000-0x40fff); not performed`);
    } else if (cnt > 0n) {
      const off = Number(bufAddr - start);
      const n = Number(cnt);
      if (toRam) {
        this.ctx.dmaWrite(busAddr, this.dmaBuf.slice(off, off + n));
      } else {
        // pci_dma_read's result is not checked: a failed read (IOMMU fault, bus master
        // off) leaves what the unassigned region reads, zeros, in the buffer
        const data = this.ctx.dmaRead(busAddr, n);
        if (data !== null) this.dmaBuf.set(data, off);
        else this.dmaBuf.fill(0, off, off + n);
      }
    }
    this.dmaCmd &= ~BigInt(EDU_DMA_RUN);
    if ((this.dmaCmd & BigInt(EDU_DMA_IRQ_EN)) !== 0n) this.raiseIrq(EDU_DMA_IRQ);
  }

  /** edu.c registers no reset handler: device state survives every reset. */
  reset(): void {
    // Nothing: QEMU's edu keeps addr4, fact, status, irq_status, dma registers and dma_buf.
  }
}

/** The edu device definition: conventional PCI, BAR0 1 MiB 32-bit, MSI (1 vector, 64-bit), INTA. */
export const EDU_DEVICE: DeviceDefinition = defineDevice({
  model: 'edu',
  vendorId: EDU_VENDOR_ID,
  deviceId: EDU_DEVICE_ID,
  revision: 0x10,
  classCode: 0x00ff00,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
  interruptPin: 1,
  bars: [{ index: 0, kind: 'mem', size: EDU_BAR0_SIZE }],
  caps: { msi: { vectors: 1, addr64: true } },
  behavior: (ctx) => new EduState(ctx),
});

/** The option ROM image the qemu-q35 preset gives edu (`romfile=`): 2 KiB, 0x55 0xAA, PCIR for 1234:11e8. */
export const EDU_ROM_IMAGE_SIZE = 2048;
/** Largest ROM BAR eduWithRom accepts (16 MiB: the ROM BAR's address field). */
export const EDU_ROM_MAX = 16 * 1024 * 1024;

/** True for a ROM BAR size eduWithRom accepts: a power of two from 2 KiB to 16 MiB. */
export function isEduRomSize(size: number): boolean {
  return Number.isSafeInteger(size) && size >= EDU_ROM_IMAGE_SIZE && size <= EDU_ROM_MAX && (size & (size - 1)) === 0;
}

const eduRomDefs = new Map<number, DeviceDefinition>();

/**
 * edu as `-device edu,romfile=FILE` builds it (QEMU pci_add_option_rom): an expansion ROM
 * BAR of `romSize` bytes holding a 2 KiB option-ROM image (0x55 0xAA, a PCIR structure for
 * 1234:11e8, last image), zeros past the image (QEMU's ROM block is zero-filled). Everything
 * else is EDU_DEVICE. One definition per size (machines reuse its templates).
 */
export function eduWithRom(romSize: number = EDU_ROM_IMAGE_SIZE): DeviceDefinition {
  if (!isEduRomSize(romSize)) throw new Error(`edu: ROM size 0x${romSize.toString(16)} is not a power of two from 2 KiB to 16 MiB`);
  let d = eduRomDefs.get(romSize);
  if (d === undefined) {
    const s = EDU_DEVICE.spec;
    const image = optionRomImage({ vendorId: s.vendorId, deviceId: s.deviceId, classCode: s.classCode, size: EDU_ROM_IMAGE_SIZE, text: 'vfio-sim edu option ROM' });
    d = defineDevice({ ...s, rom: { size: romSize, image, fill: 0 } });
    eduRomDefs.set(romSize, d);
  }
  return d;
}
