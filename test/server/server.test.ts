/**
 * The model server over its socket, driven by a TypeScript client speaking the protocol
 * (docs/SERVER-PROTOCOL.md): requests are served through Libc (the kernel's errnos come
 * back), malformed requests get an errno and leave the server serving, a client that
 * dies mid-request leaves the others served and its model process released as exit(2)
 * releases it (fds closed: the group can be opened again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelServer, type ServerOptions } from '../../src/server/server.js';
import { HelloKind, Op } from '../../src/server/protocol.js';
import { EBUSY, EINVAL, EIO, ENOENT, ENOSYS, EBADF } from '../../src/kernel/errno.js';
import {
  VFIO_DEVICE_RESET, VFIO_GET_API_VERSION, VFIO_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU, vfioPciIndexToOffset,
} from '../../src/uapi/vfio.js';
import { MAP_FIXED, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';

/** A protocol client: one connection, one request at a time. */
class Client {
  private buf = Buffer.alloc(0);
  private waiting: ((b: Buffer) => void) | null = null;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
  }
  static open(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  private pump(): void {
    if (this.waiting === null || this.buf.length < 4) return;
    const len = this.buf.readUInt32LE(0);
    if (this.buf.length < 4 + len) return;
    const frame = this.buf.subarray(4, 4 + len);
    this.buf = this.buf.subarray(4 + len);
    const w = this.waiting;
    this.waiting = null;
    w(frame);
  }
  /** Send raw bytes, wait for one reply: ret and payload. */
  raw(bytes: Buffer): Promise<{ ret: bigint; data: Buffer }> {
    return new Promise((resolve) => {
      this.waiting = (f) => {
        const nsig = f.readUInt32LE(8);
        resolve({ ret: f.readBigInt64LE(0), data: f.subarray(12 + nsig * 16) });
      };
      this.sock.write(bytes);
      this.pump();
    });
  }
  call(op: number, payload: Buffer = Buffer.alloc(0)): Promise<{ ret: bigint; data: Buffer }> {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(4 + payload.length, 0);
    h.writeUInt32LE(op, 4);
    return this.raw(Buffer.concat([h, payload]));
  }
  async hello(): Promise<bigint> {
    const p = Buffer.alloc(12);
    p.writeUInt32LE(HelloKind.PROCESS, 0);
    return (await this.call(Op.HELLO, Buffer.concat([p, Buffer.from('client')]))).ret;
  }
  async open(path: string): Promise<number> {
    const p = Buffer.alloc(4);
    p.writeUInt32LE(2, 0); // O_RDWR
    return Number((await this.call(Op.OPEN, Buffer.concat([p, Buffer.from(path)]))).ret);
  }
  async ioctl(fd: number, cmd: number, struct: Buffer | null, value = 0n): Promise<{ ret: bigint; data: Buffer }> {
    const p = Buffer.alloc(24);
    p.writeInt32LE(fd, 0);
    p.writeUInt32LE(cmd, 4);
    p.writeUInt32LE(struct === null ? 0 : 1, 8);
    p.writeBigUInt64LE(value, 16);
    return this.call(Op.IOCTL, struct === null ? p : Buffer.concat([p, struct]));
  }
}

async function withServer(fn: (s: ModelServer, path: string) => Promise<void>, opts: ServerOptions = { variant: '5.8' }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-server-'));
  const path = join(dir, 'sock');
  const s = new ModelServer(opts);
  await s.listen(path);
  try {
    await fn(s, path);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

test('requests are served through Libc: open, ioctl by value and by struct, the kernel\'s errnos', async () => {
  await withServer(async (_s, path) => {
    const c = await Client.open(path);
    assert.equal(await c.hello(), 1n);
    const ctr = await c.open('/dev/vfio/vfio');
    assert.ok(ctr >= 0);
    // VFIO_GET_API_VERSION (vfio_fops_unl_ioctl): 0
    assert.equal((await c.ioctl(ctr, VFIO_GET_API_VERSION, null)).ret, 0n);
    assert.equal(await c.open('/dev/vfio/nope'), -ENOENT);
    const grp = await c.open('/dev/vfio/4');
    assert.ok(grp >= 0, `group 4 (edu 0000:01:00.0) opens (${grp})`);
    // VFIO_GROUP_GET_STATUS copies argsz/flags back: viable (1), no container (0)
    const st = Buffer.alloc(8);
    st.writeUInt32LE(8, 0);
    const r = await c.ioctl(grp, VFIO_GROUP_GET_STATUS, st);
    assert.equal(r.ret, 0n);
    assert.equal(r.data.readUInt32LE(4), 1);
    // a short argsz: EINVAL from vfio_group_fops_unl_ioctl's minsz check
    st.writeUInt32LE(4, 0);
    assert.equal((await c.ioctl(grp, VFIO_GROUP_GET_STATUS, st)).ret, BigInt(-EINVAL));
    assert.equal((await c.call(Op.CLOSE, Buffer.from([99, 0, 0, 0]))).ret, BigInt(-EBADF));
    c.sock.destroy();
  });
});

test('malformed requests get an errno and the connection goes on: a short payload EINVAL, an unknown op ENOSYS, a request before HELLO EIO', async () => {
  await withServer(async (_s, path) => {
    const early = await Client.open(path);
    assert.equal((await early.open('/dev/vfio/vfio')), -5);
    early.sock.destroy();
    const c = await Client.open(path);
    await c.hello();
    assert.equal((await c.call(Op.PREAD, Buffer.from([1, 0]))).ret, BigInt(-EINVAL));
    assert.equal((await c.call(Op.LOAD, Buffer.alloc(12))).ret, BigInt(-EINVAL), 'a zero access size');
    assert.equal((await c.call(999)).ret, BigInt(-ENOSYS));
    assert.ok((await c.open('/dev/vfio/vfio')) >= 0, 'the connection still serves');
    c.sock.destroy();
  });
});

test('a client dying mid-request leaves the server serving the others, and its process is released as exit releases it', async () => {
  await withServer(async (s, path) => {
    const a = await Client.open(path);
    await a.hello();
    const ga = await a.open('/dev/vfio/4');
    assert.ok(ga >= 0);
    const b = await Client.open(path);
    await b.hello();
    // the group is held by a: a second open is EBUSY (vfio_group_fops_open)
    assert.equal(await b.open('/dev/vfio/4'), -EBUSY);
    // a sends half a frame and dies
    a.sock.write(Buffer.from([40, 0, 0, 0, Op.OPEN, 0]));
    a.sock.destroy();
    await until(() => s.liveProcesses === 1);
    assert.equal(s.liveProcesses, 1, 'a\'s model process was released');
    assert.equal(s.stats.abandoned, 1);
    // exit closed a's group fd: b can open the group now
    assert.ok((await b.open('/dev/vfio/4')) >= 0);
    // a frame longer than the protocol allows closes only that connection
    const c = await Client.open(path);
    await c.hello();
    c.sock.write(Buffer.from([0xff, 0xff, 0xff, 0x7f]));
    await new Promise((r) => c.sock.once('close', r));
    assert.ok((await b.open('/dev/vfio/vfio')) >= 0, 'b is still served');
    b.sock.destroy();
  });
});

/** The edu device opened through VFIO by client `c` (QEMU's sequence), memory decode on, BAR0 mapped at `at`: the device fd. */
async function openEdu(c: Client, at: bigint): Promise<number> {
  const ctr = await c.open('/dev/vfio/vfio');
  const grp = await c.open('/dev/vfio/4');
  const ctrFd = Buffer.alloc(4);
  ctrFd.writeInt32LE(ctr, 0);
  assert.equal((await c.ioctl(grp, VFIO_GROUP_SET_CONTAINER, ctrFd)).ret, 0n);
  assert.equal((await c.ioctl(ctr, VFIO_SET_IOMMU, null, BigInt(VFIO_TYPE1_IOMMU))).ret, 0n);
  const dev = Number((await c.ioctl(grp, VFIO_GROUP_GET_DEVICE_FD, Buffer.from('0000:01:00.0\0'))).ret);
  assert.ok(dev >= 0, `device fd (${dev})`);
  // PCI_COMMAND |= MEM through the config region
  const cfg = BigInt(vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX));
  const pw = Buffer.alloc(18);
  pw.writeInt32LE(dev, 0);
  pw.writeBigUInt64LE(cfg + 4n, 8);
  pw.writeUInt16LE(0x0002, 16);
  assert.equal((await c.call(Op.PWRITE, pw)).ret, 2n);
  const mm = Buffer.alloc(48);
  mm.writeBigUInt64LE(at, 0);
  mm.writeBigUInt64LE(4096n, 8);
  mm.writeUInt32LE(PROT_READ | PROT_WRITE, 16);
  mm.writeUInt32LE(MAP_SHARED | MAP_FIXED, 20);
  mm.writeInt32LE(dev, 24);
  assert.equal((await c.call(Op.MMAP, mm)).ret, at);
  return dev;
}

function load32(c: Client, at: bigint): Promise<{ ret: bigint; data: Buffer }> {
  const q = Buffer.alloc(12);
  q.writeBigUInt64LE(at, 0);
  q.writeUInt32LE(4, 8);
  return c.call(Op.LOAD, q);
}

const lockState = async (c: Client, name: string): Promise<number> => Number((await c.call(Op.LOCK_STATE, Buffer.from(name))).ret);

test('a thread blocked in the model does not block the others: while one connection\'s VFIO_DEVICE_RESET holds memory_lock (its FLR sleep parked on the host clock), another thread of the process is served, and its fault waits for the lock and then sees the device (5.8: vfio_pci_zap_and_down_write_memory_lock, vfio_pci_mmap_fault)', async () => {
  await withServer(async (_s, path) => {
    const a = await Client.open(path);
    const token = await a.hello();
    const bar = 0x7f0000000000n;
    const dev = await openEdu(a, bar);
    assert.equal(Number(BigInt.asUintN(32, (await load32(a, bar)).data.readBigUInt64LE(0))), 0x010000ed);
    const b = await Client.open(path);
    const h = Buffer.alloc(12);
    h.writeUInt32LE(HelloKind.THREAD, 0);
    h.writeUInt32LE(Number(token), 4);
    assert.equal((await b.call(Op.HELLO, Buffer.concat([h, Buffer.from('loader')]))).ret, token);
    const ml = 'memory_lock:0000:01:00.0';
    assert.equal(await lockState(b, ml), 0, 'memory_lock free before the reset');
    assert.equal(await lockState(b, 'no_such_lock'), -ENOENT);
    // a's reset runs in the model; its reply comes when it is done
    let resetDone = false;
    const reset = a.ioctl(dev, VFIO_DEVICE_RESET, null).then((r) => {
      resetDone = true;
      return r;
    });
    let st = -1;
    for (let i = 0; i < 400 && (st = await lockState(b, ml)) !== 2; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(st, 2, 'b is served while a\'s reset holds memory_lock for write');
    assert.equal(resetDone, false, 'the reset is still running');
    // the reset zapped the mapping: b's load faults and waits for memory_lock, then maps the BAR (the reset restored MEM)
    const l = await load32(b, bar);
    assert.equal(l.ret, 0n, 'no signal');
    assert.equal(Number(BigInt.asUintN(32, l.data.readBigUInt64LE(0))), 0x010000ed);
    assert.equal((await reset).ret, 0n);
    assert.equal(await lockState(b, ml), 0);
    a.sock.destroy();
    b.sock.destroy();
  }, { variant: '5.8', clock: 'host' });
});

/** Another connection of the process `token` (HELLO THREAD). */
async function joinThread(path: string, token: bigint, name: string): Promise<Client> {
  const c = await Client.open(path);
  const h = Buffer.alloc(12);
  h.writeUInt32LE(HelloKind.THREAD, 0);
  h.writeUInt32LE(Number(token), 4);
  assert.equal((await c.call(Op.HELLO, Buffer.concat([h, Buffer.from(name)]))).ret, token);
  return c;
}

for (const variant of ['5.8', '5.13']) {
  test(`two threads' faults on one BAR mapping wait for a reset and then run together: under ${variant} ${variant === '5.8' ? 'the second remap_pfn_range finds the PTEs present, a kernel BUG kills that thread (spec H1): its connection gets EIO from then on, the others are served' : 'the second fault finds the vma listed and does not remap (6a45ece4c9af): both see the device'}`, async () => {
    await withServer(async (s, path) => {
      const a = await Client.open(path);
      const token = await a.hello();
      const bar = 0x7f0000000000n;
      const dev = await openEdu(a, bar);
      const b = await joinThread(path, token, 'b');
      const c = await joinThread(path, token, 'c');
      const ml = 'memory_lock:0000:01:00.0';
      const reset = a.ioctl(dev, VFIO_DEVICE_RESET, null);
      let st = -1;
      for (let i = 0; i < 400 && (st = await lockState(b, ml)) !== 2; i++) await new Promise((r) => setTimeout(r, 1));
      assert.equal(st, 2, 'the reset holds memory_lock');
      const lb = load32(b, bar);
      // c's load is sent once b's fault waits for memory_lock (its request is taken first)
      for (let i = 0; i < 400 && s.sys.kernel.sched.blocked().length === 0; i++) await new Promise((r) => setTimeout(r, 1));
      const lc = load32(c, bar);
      const [rb, rc] = await Promise.all([lb, lc]);
      assert.equal((await reset).ret, 0n);
      const ok = (r: { ret: bigint; data: Buffer }): boolean => r.ret === 0n && Number(BigInt.asUintN(32, r.data.readBigUInt64LE(0))) === 0x010000ed;
      if (variant === '5.8') {
        assert.ok(ok(rb), 'the first fault maps the BAR');
        assert.equal(rc.ret, BigInt(-EIO), 'the second thread died in the kernel: EIO');
        assert.equal(s.stats.lost.length, 1);
        assert.match(s.stats.lost[0] ?? '', /kernel BUG in remap_pte_range: BUG_ON\(!pte_none\(\*pte\)\)/);
        assert.equal((await lockState(c, ml)), -EIO, 'every later request of the dead thread\'s connection: EIO');
        assert.equal(s.stats.stopped, null, 'the machine goes on');
        assert.ok(ok(await load32(b, bar)), 'the other threads are served');
        assert.ok((await a.open('/dev/vfio/vfio')) >= 0);
      } else {
        assert.ok(ok(rb) && ok(rc), 'both faults see the device');
        assert.deepEqual(s.stats.lost, []);
      }
      for (const x of [a, b, c]) x.sock.destroy();
    }, { variant, clock: 'host' });
  });
}
