import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EAGAIN, EBADF, EINVAL, ENOENT, ENOTTY } from '../../src/kernel/errno.js';
import { devfs } from '../../src/kernel/fs/devfs.js';
import {
  EFD_NONBLOCK,
  EFD_SEMAPHORE,
  EventfdCtx,
  eventfdCtxFdget,
  eventfdSignal,
} from '../../src/kernel/fs/eventfd.js';
import { getFile, KFile } from '../../src/kernel/fs/file.js';
import { O_RDONLY, O_WRONLY } from '../../src/kernel/syscalls.js';
import { Process } from '../../src/user/process.js';
import { makeKernel } from './fake.js';

function setup() {
  const { k } = makeKernel();
  return { k, p: Process.create(k, 'app') };
}

test('eventfd: read returns the counter and resets it; EFD_NONBLOCK read of zero is -EAGAIN', () => {
  const { p } = setup();
  const fd = p.eventfd(3, EFD_NONBLOCK);
  assert.ok(fd >= 0);
  assert.equal(p.eventfdRead(fd), 3n);
  assert.equal(p.eventfdRead(fd), -EAGAIN);
  assert.equal(p.eventfdWrite(fd, 5n), 8);
  assert.equal(p.eventfdWrite(fd, 2n), 8);
  assert.equal(p.eventfdRead(fd), 7n);
  const buf = p.alloc(8);
  assert.equal(p.read(fd, buf, 4), -EINVAL, 'count < 8');
  assert.equal(p.write(fd, buf, 7), -EINVAL);
  assert.ok(p.store(buf, 8, 0xffffffffffffffffn).ok);
  assert.equal(p.write(fd, buf, 8), -EINVAL, 'ULLONG_MAX cannot be written');
  assert.equal(p.eventfd(0, 0x40), -EINVAL, 'unknown flags');
});

test('eventfd semaphore mode reads 1 at a time; eventfd_signal adds and saturates', () => {
  const { k, p } = setup();
  const fd = p.eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
  const ctx = eventfdCtxFdget(p.kproc, fd);
  assert.ok(ctx instanceof EventfdCtx);
  assert.equal(eventfdSignal(ctx, 2), 2);
  assert.equal(p.eventfdRead(fd), 1n);
  assert.equal(p.eventfdRead(fd), 1n);
  assert.equal(p.eventfdRead(fd), -EAGAIN);
  ctx.count = 0xfffffffffffffff0n;
  assert.equal(eventfdSignal(ctx, 100), 15);
  assert.equal(ctx.count, 0xffffffffffffffffn);
  void k;
});

test('eventfd_ctx_fdget: -EBADF for a bad fd, -EINVAL for a file that is not an eventfd', () => {
  const { k, p } = setup();
  assert.equal(eventfdCtxFdget(p.kproc, 9), -EBADF);
  const other = new KFile('other', {}, 2);
  devfs(k).register('/dev/other', function* () {
    return getFile(other);
  });
  const fd = p.open('/dev/other');
  assert.equal(eventfdCtxFdget(p.kproc, fd), -EINVAL);
});

test('a blocking eventfd read sleeps until another thread writes', () => {
  const { k, p } = setup();
  const fd = p.eventfd(0, 0);
  const buf = p.alloc(8);
  const wbuf = p.alloc(8);
  p.store(wbuf, 8, 9n);
  const reader = p;
  const writer = p.thread('writer');
  k.sched.start(reader.kthread, reader.ops.read(fd, buf, 8));
  k.sched.start(writer.kthread, writer.ops.write(fd, wbuf, 8));
  // Run the reader first until it blocks, then the writer.
  const end = k.sched.run((rs) => rs.find((t) => t === reader.kthread) ?? (rs[0] as (typeof rs)[number]));
  assert.equal(end.kind, 'done');
  assert.equal(reader.kthread.result, 8);
  assert.deepEqual(p.load(buf, 8), { ok: true, value: 9n });
});

test('syscall errnos: ENOENT, EBADF, ENOTTY, EINVAL', () => {
  const { k, p } = setup();
  assert.equal(p.open('/dev/nope'), -ENOENT);
  assert.equal(p.close(5), -EBADF);
  const buf = p.alloc(16);
  assert.equal(p.read(5, buf, 8), -EBADF);
  assert.equal(p.pread(5, buf, 8, 0), -EBADF);
  assert.equal(p.pwrite(5, buf, 8, 0), -EBADF);
  assert.equal(p.ioctl(5, 0x3b71, 0), -EBADF);
  const efd = p.eventfd(0, EFD_NONBLOCK);
  assert.equal(p.ioctl(efd, 0x3b71, 0), -ENOTTY, 'no unlocked_ioctl');
  assert.equal(p.pread(efd, buf, 8, -1), -EINVAL, 'negative offset');
  const plain = new KFile('plain', {}, 2);
  devfs(k).register('/dev/plain', function* (_k, flags) {
    return flags === 99 ? -EBADF : getFile(plain);
  });
  const fd = p.open('/dev/plain');
  assert.equal(p.pread(fd, buf, 8, 0), -EINVAL, 'no read op');
  assert.equal(p.pwrite(fd, buf, 8, 0), -EINVAL, 'no write op');
  assert.equal(p.open('/dev/plain', 99), -EBADF, "the driver's open error is returned");
  assert.equal(p.close(fd), 0);
  assert.equal(p.close(fd), -EBADF);
  const ro = new KFile('ro', { *read() { return 0; }, *write() { return 0; } }, O_RDONLY);
  const wo = new KFile('wo', { *read() { return 0; }, *write() { return 0; } }, O_WRONLY);
  devfs(k).register('/dev/ro', function* () {
    return getFile(ro);
  });
  devfs(k).register('/dev/wo', function* () {
    return getFile(wo);
  });
  assert.equal(p.write(p.open('/dev/ro'), buf, 1), -EBADF, 'write on an O_RDONLY file');
  assert.equal(p.read(p.open('/dev/wo'), buf, 1), -EBADF, 'read on an O_WRONLY file');
  const sys = k.events.all().filter((e) => e.kind === 'syscall');
  assert.ok(sys.some((e) => e.kind === 'syscall' && e.name === 'ioctl' && e.ret === -ENOTTY));
});

test('read/write use and advance the file position; pread/pwrite do not', () => {
  const { k, p } = setup();
  const seen: number[] = [];
  const f = new KFile(
    'counter',
    {
      *read(_f, _buf, count, pos) {
        seen.push(pos.value);
        pos.value += count;
        return count;
      },
    },
    2,
  );
  devfs(k).register('/dev/counter', function* () {
    return getFile(f);
  });
  const fd = p.open('/dev/counter');
  const buf = p.alloc(64);
  assert.equal(p.read(fd, buf, 10), 10);
  assert.equal(p.read(fd, buf, 5), 5);
  assert.equal(p.pread(fd, buf, 4, 100), 4);
  assert.equal(p.read(fd, buf, 1), 1);
  assert.deepEqual(seen, [0, 10, 100, 15]);
  assert.equal(f.pos, 16);
});
