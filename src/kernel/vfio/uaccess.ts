/**
 * User-memory helpers for VFIO ioctl handlers, on top of the mm layer's
 * copy_from_user / copy_to_user (which return the number of bytes NOT copied).
 */
import { EFAULT, EINVAL } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { copyFromUser, copyToUser } from '../mm/index.js';
import type { Task } from '../sched/task.js';

const PAGE_SIZE = 4096;

/** copy_from_user (include/linux/uaccess.h, 5.8): `len` bytes at `addr`; the bytes, or -EFAULT if any byte could not be read. */
export function* fetchUser(k: Kernel, addr: number, len: number): Task<Uint8Array | number> {
  const buf = new Uint8Array(len);
  if (len === 0) return buf;
  return (yield* copyFromUser(k, addr, buf)) === 0 ? buf : -EFAULT;
}

/** copy_to_user (include/linux/uaccess.h, 5.8): 0, or -EFAULT if any byte could not be written. */
export function* storeUser(k: Kernel, addr: number, data: Uint8Array): Task<number> {
  if (data.byteLength === 0) return 0;
  return (yield* copyToUser(k, addr, data)) === 0 ? 0 : -EFAULT;
}

/** get_user (arch/x86/include/asm/uaccess.h, 5.8): an int (s32) at `addr`. */
export function* getUserS32(k: Kernel, addr: number): Task<{ ok: true; value: number } | { ok: false; err: number }> {
  const b = yield* fetchUser(k, addr, 4);
  if (typeof b === 'number') return { ok: false, err: b };
  return { ok: true, value: new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true) };
}

/**
 * strndup_user (mm/util.c, 5.8): copy a NUL-terminated string of at most `n` bytes
 * (terminator included) from user memory. -EFAULT if unreadable, -EINVAL if no NUL
 * within `n` bytes.
 */
export function* strndupUser(k: Kernel, addr: number, n: number): Task<string | number> {
  // the string's bytes so far, page chunk by page chunk
  const parts: Uint8Array[] = [];
  let total = 0;
  let a = addr;
  while (total < n) {
    const chunk = Math.min(PAGE_SIZE - (a % PAGE_SIZE), n - total);
    const buf = new Uint8Array(chunk);
    const left = yield* copyFromUser(k, a, buf);
    const got = buf.subarray(0, chunk - left);
    const nul = got.indexOf(0);
    if (nul >= 0) {
      parts.push(got.subarray(0, nul));
      return UTF8.decode(parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts));
    }
    if (left !== 0) return -EFAULT;
    parts.push(got);
    total += chunk;
    a += chunk;
  }
  return -EINVAL;
}

const UTF8 = new TextDecoder();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
