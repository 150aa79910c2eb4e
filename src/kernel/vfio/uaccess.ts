/**
 * User-memory helpers for VFIO ioctl handlers, on top of the mm layer's
 * copy_from_user / copy_to_user (which return the number of bytes NOT copied).
 */
import { EFAULT, EINVAL } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { copyFromUser, copyToUser } from '../mm/index.js';
import type { Task } from '../sched/task.js';

const PAGE_SIZE = 4096;

/** copy_from_user of `len` bytes at `addr`: the bytes, or -EFAULT if any byte could not be read. */
export function* fetchUser(k: Kernel, addr: number, len: number): Task<Uint8Array | number> {
  const buf = new Uint8Array(len);
  if (len === 0) return buf;
  const left = yield* copyFromUser(k, addr, buf);
  return left === 0 ? buf : -EFAULT;
}

/** copy_to_user: 0, or -EFAULT if any byte could not be written. */
export function* storeUser(k: Kernel, addr: number, data: Uint8Array): Task<number> {
  if (data.byteLength === 0) return 0;
  const left = yield* copyToUser(k, addr, data);
  return left === 0 ? 0 : -EFAULT;
}

/** get_user of an int (s32) at `addr`. */
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
  const bytes: number[] = [];
  let a = addr;
  while (bytes.length < n) {
    const chunk = Math.min(PAGE_SIZE - (a % PAGE_SIZE), n - bytes.length);
    const buf = new Uint8Array(chunk);
    const left = yield* copyFromUser(k, a, buf);
    const got = chunk - left;
    for (let i = 0; i < got; i++) {
      const c = buf[i] ?? 0;
      if (c === 0) return new TextDecoder().decode(Uint8Array.from(bytes));
      bytes.push(c);
    }
    if (left !== 0) return -EFAULT;
    a += chunk;
  }
  return -EINVAL;
}
