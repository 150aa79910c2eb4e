import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMachine } from '../../src/hw/index.js';
import { EINVAL, ENOSPC, ENOTTY } from '../../src/kernel/errno.js';
import type { FilePos } from '../../src/kernel/fs/file.js';
import { Kernel } from '../../src/kernel/kernel.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { VARIANT_5_8 } from '../../src/kernel/variant/knobs.js';
import type { VfioDevice, VfioDeviceOps } from '../../src/kernel/vfio/device.js';
import { VfioInfoCapChain } from '../../src/kernel/vfio/info-cap.js';
import { VfioIommuType1 } from '../../src/kernel/vfio/type1/type1.js';
import { fetchUser, storeUser } from '../../src/kernel/vfio/uaccess.js';
import { VfioCore } from '../../src/kernel/vfio/vfio.js';
import * as U from '../../src/uapi/vfio.js';
import { Process } from '../../src/user/process.js';
import { unwrap, VfioContainer, VfioErrnoError, VfioGroup } from '../../src/user/vfio-client.js';

interface Seen {
  irqSets: { hdr: U.VfioIrqSet; fds: number[] }[];
  regionInfoArgsz: number[];
  hotResetInfoArgsz: number[];
  config: Uint8Array;
}

/** A scripted bus driver answering the device ioctls the way vfio-pci lays them out. */
function scriptedOps(k: Kernel, seen: Seen): VfioDeviceOps {
  return {
    name: 'vfio-pci',
    // eslint-disable-next-line require-yield
    *open(): Task<number> {
      return 0;
    },
    *release(): Task<void> {},
    *ioctl(_v: VfioDevice, cmd: number, arg: number): Task<number> {
      switch (cmd) {
        case U.VFIO_DEVICE_GET_INFO: {
          const b = yield* fetchUser(k, arg, U.VFIO_DEVICE_INFO_MINSZ);
          if (typeof b === 'number') return b;
          const info = U.decodeDeviceInfo(b);
          return yield* storeUser(k, arg, U.encodeDeviceInfo({ argsz: info.argsz, flags: U.VFIO_DEVICE_FLAGS_PCI | U.VFIO_DEVICE_FLAGS_RESET, numRegions: 9, numIrqs: 5 }));
        }
        case U.VFIO_DEVICE_GET_REGION_INFO: {
          const b = yield* fetchUser(k, arg, U.VFIO_REGION_INFO_MINSZ);
          if (typeof b === 'number') return b;
          const info = U.decodeRegionInfo(b);
          seen.regionInfoArgsz.push(info.argsz);
          if (info.index !== 0) return -EINVAL;
          const caps = new VfioInfoCapChain();
          caps.addCapability(U.encodeCapMsixMappable());
          caps.addCapability(U.encodeCapSparseMmap([{ offset: 0, size: 0x1000 }]));
          info.flags = U.VFIO_REGION_INFO_FLAG_READ | U.VFIO_REGION_INFO_FLAG_WRITE | U.VFIO_REGION_INFO_FLAG_MMAP | U.VFIO_REGION_INFO_FLAG_CAPS;
          info.size = 0x100000n;
          info.offset = 0n;
          if (info.argsz < U.SIZEOF_VFIO_REGION_INFO + caps.size) {
            info.argsz = U.SIZEOF_VFIO_REGION_INFO + caps.size;
            info.capOffset = 0;
          } else {
            caps.shift(U.SIZEOF_VFIO_REGION_INFO);
            const r = yield* storeUser(k, arg + U.SIZEOF_VFIO_REGION_INFO, caps.buf);
            if (r !== 0) return r;
            info.capOffset = U.SIZEOF_VFIO_REGION_INFO;
          }
          return yield* storeUser(k, arg, U.encodeRegionInfo(info));
        }
        case U.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: {
          const b = yield* fetchUser(k, arg, U.VFIO_PCI_HOT_RESET_INFO_MINSZ);
          if (typeof b === 'number') return b;
          const hdr = U.decodePciHotResetInfo(b);
          seen.hotResetInfoArgsz.push(hdr.argsz);
          const devices = [
            { groupId: 4, segment: 0, bus: 1, devfn: 0 },
            { groupId: 5, segment: 0, bus: 2, devfn: 0 },
          ];
          if (hdr.argsz < U.SIZEOF_VFIO_PCI_HOT_RESET_INFO + devices.length * U.SIZEOF_VFIO_PCI_DEPENDENT_DEVICE) {
            const r = yield* storeUser(k, arg, U.encodePciHotResetInfo({ argsz: hdr.argsz, count: devices.length }).subarray(0, 12));
            return r !== 0 ? r : -ENOSPC;
          }
          return yield* storeUser(k, arg, U.encodePciHotResetInfo({ argsz: hdr.argsz, devices }));
        }
        case U.VFIO_DEVICE_SET_IRQS: {
          const b = yield* fetchUser(k, arg, U.VFIO_IRQ_SET_MINSZ);
          if (typeof b === 'number') return b;
          const hdr = U.decodeIrqSet(b);
          let fds: number[] = [];
          if ((hdr.flags & U.VFIO_IRQ_SET_DATA_EVENTFD) !== 0) {
            const d = yield* fetchUser(k, arg + U.VFIO_IRQ_SET_MINSZ, hdr.count * 4);
            if (typeof d === 'number') return d;
            fds = U.decodeEventfdArray(d, hdr.count);
          }
          seen.irqSets.push({ hdr, fds });
          return 0;
        }
        default:
          return -ENOTTY;
      }
    },
    *read(_v: VfioDevice, buf: number, count: number, pos: FilePos): Task<number> {
      if (U.vfioPciOffsetToIndex(pos.value) !== U.VFIO_PCI_CONFIG_REGION_INDEX) return -EINVAL;
      const off = U.vfioPciOffsetInRegion(pos.value);
      const r = yield* storeUser(k, buf, seen.config.slice(off, off + count));
      return r !== 0 ? r : count;
    },
    *write(_v: VfioDevice, buf: number, count: number, pos: FilePos): Task<number> {
      const off = U.vfioPciOffsetInRegion(pos.value);
      const b = yield* fetchUser(k, buf, count);
      if (typeof b === 'number') return b;
      seen.config.set(b, off);
      return count;
    },
    // eslint-disable-next-line require-yield
    *mmap(): Task<number> {
      return -EINVAL;
    },
  };
}

function setup() {
  const hw = createMachine();
  const k = new Kernel(hw, VARIANT_5_8.knobs);
  const core = new VfioCore(k);
  core.registerIommuDriver(new VfioIommuType1(k));
  const seen: Seen = { irqSets: [], regionInfoArgsz: [], hotResetInfoArgsz: [], config: new Uint8Array(256) };
  const fn = hw.fn('0000:01:00.0');
  core.addGroupDev(fn, scriptedOps(k, seen), null);
  const p = Process.create(k, 'qemu');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, fn.iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(U.VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice(fn.name));
  return { p, d, seen };
}

test('client getInfo decodes vfio_device_info', () => {
  const { d } = setup();
  assert.deepEqual(unwrap(d.getInfo()), { argsz: 16, flags: U.VFIO_DEVICE_FLAGS_PCI | U.VFIO_DEVICE_FLAGS_RESET, numRegions: 9, numIrqs: 5 });
});

test('client getRegionInfo grows argsz when the kernel asks for room and parses the capability chain (MSIX_MAPPABLE, sparse mmap)', () => {
  const { d, seen } = setup();
  const ri = unwrap(d.getRegionInfo(0));
  assert.deepEqual(seen.regionInfoArgsz, [32, 32 + 8 + 32]);
  assert.equal(ri.size, 0x100000n);
  assert.equal(ri.msixMappable, true);
  assert.deepEqual(ri.sparseMmap, [{ offset: 0n, size: 0x1000n }]);
  assert.deepEqual(ri.caps.map((c) => c.header.id), [U.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, U.VFIO_REGION_INFO_CAP_SPARSE_MMAP]);
  assert.deepEqual(d.getRegionInfo(3), { ok: false, errno: EINVAL });
});

test('client getHotResetInfo retries after -ENOSPC with room for the reported count', () => {
  const { d, seen } = setup();
  const devs = unwrap(d.getHotResetInfo());
  assert.deepEqual(seen.hotResetInfoArgsz, [12, 12 + 16]);
  assert.deepEqual(devs.map((x) => x.groupId), [4, 5]);
});

test('client setIrqs encodes eventfd arrays and DATA_NONE disables', () => {
  const { d, seen } = setup();
  unwrap(d.setIrqEventfds(U.VFIO_PCI_MSIX_IRQ_INDEX, 0, [7, -1, 9]));
  unwrap(d.disableIrqIndex(U.VFIO_PCI_MSIX_IRQ_INDEX));
  assert.deepEqual(seen.irqSets[0], {
    hdr: { argsz: 32, flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 0, count: 3 },
    fds: [7, -1, 9],
  });
  assert.deepEqual(seen.irqSets[1]?.hdr, { argsz: 20, flags: U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 0, count: 0 });
});

test('client readConfig/writeConfig go through pread/pwrite at the config region offset, little-endian', () => {
  const { d, seen } = setup();
  seen.config.set([0x36, 0x12, 0xe8, 0x11], 0);
  assert.equal(unwrap(d.readConfig(0, 2)), 0x1236);
  assert.equal(unwrap(d.readConfig(0, 4)), 0x11e81236);
  unwrap(d.writeConfig(4, 2, 0x0406));
  assert.deepEqual([...seen.config.subarray(4, 6)], [0x06, 0x04]);
  assert.equal(unwrap(d.readConfig(5, 1)), 0x04);
});

test('unwrap throws VfioErrnoError carrying the errno of a failed call', () => {
  const { d } = setup();
  assert.throws(
    () => unwrap(d.reset(), 'reset'),
    (e: unknown) => e instanceof VfioErrnoError && e.errno === ENOTTY && e.message === 'reset: ENOTTY',
  );
});
