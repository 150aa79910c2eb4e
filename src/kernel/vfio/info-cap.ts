/**
 * Helpers the VFIO core exports to bus and IOMMU drivers (drivers/vfio/vfio.c, 5.8):
 * building capability chains for *_GET_INFO ioctls and validating VFIO_DEVICE_SET_IRQS.
 */
import { EINVAL } from '../errno.js';
import {
  SIZEOF_VFIO_INFO_CAP_HEADER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
  VFIO_IRQ_SET_MINSZ,
  VFIO_INFO_CAP_HEADER,
  decodeInfoCapHeader,
  encodeInfoCapHeader,
  type VfioIrqSet,
} from '../../uapi/vfio.js';

/**
 * struct vfio_info_cap: a capability chain under construction. `next` offsets are
 * relative to the start of the buffer until `shift` rebases them onto the info struct.
 */
export class VfioInfoCapChain {
  buf = new Uint8Array(0);

  get size(): number {
    return this.buf.byteLength;
  }

  /** vfio_info_cap_add (drivers/vfio/vfio.c, 5.8): append a zeroed capability of `size` bytes; returns its offset. */
  add(size: number, id: number, version: number): number {
    const off = this.buf.byteLength;
    const nb = new Uint8Array(off + size);
    nb.set(this.buf, 0);
    encodeInfoCapHeader({ id, version, next: 0 }, nb, off);
    // link the previous tail to the new capability
    if (off > 0) {
      let tail = 0;
      for (let n = decodeInfoCapHeader(nb, tail).next; n !== 0; n = decodeInfoCapHeader(nb, tail).next) tail = n;
      VFIO_INFO_CAP_HEADER.encode({ next: off }, nb, tail);
    }
    this.buf = nb;
    return off;
  }

  /** vfio_info_add_capability (drivers/vfio/vfio.c, 5.8): append a fully encoded capability (header included; its next is rewritten). */
  addCapability(cap: Uint8Array): number {
    const off = this.add(Math.max(cap.byteLength, SIZEOF_VFIO_INFO_CAP_HEADER), 0, 0);
    const next = decodeInfoCapHeader(this.buf, off).next;
    this.buf.set(cap, off);
    VFIO_INFO_CAP_HEADER.encode({ next }, this.buf, off);
    return off;
  }

  /** vfio_info_cap_shift (drivers/vfio/vfio.c, 5.8): make every next offset relative to an info struct of `offset` bytes placed before the chain. */
  shift(offset: number): void {
    if (this.buf.byteLength === 0) return;
    let cur = 0;
    for (;;) {
      const next = decodeInfoCapHeader(this.buf, cur).next;
      if (next === 0) break;
      VFIO_INFO_CAP_HEADER.encode({ next: next + offset }, this.buf, cur);
      cur = next;
    }
  }
}

/**
 * vfio_set_irqs_validate_and_prepare (drivers/vfio/vfio.c, 5.8): check a
 * VFIO_DEVICE_SET_IRQS header against the device's IRQ counts and compute the size of
 * the data that follows it. Returns -EINVAL or the data size in bytes (>= 0).
 */
export function vfioSetIrqsValidateAndPrepare(hdr: VfioIrqSet, numIrqs: number, maxIrqType: number): number {
  const minsz = VFIO_IRQ_SET_MINSZ;
  if (
    hdr.argsz < minsz ||
    hdr.index >= maxIrqType ||
    hdr.count >= 0xffffffff - hdr.start ||
    (hdr.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) !== 0
  ) {
    return -EINVAL;
  }
  if (hdr.start >= numIrqs || hdr.start + hdr.count > numIrqs) return -EINVAL;
  let size: number;
  switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      size = 0;
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = 1;
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = 4;
      break;
    default:
      return -EINVAL;
  }
  if (size !== 0 && hdr.argsz - minsz < hdr.count * size) return -EINVAL;
  return hdr.count * size;
}
