/**
 * The model server's wire protocol (docs/SERVER-PROTOCOL.md): length-prefixed binary
 * frames over a Unix stream socket, little-endian, one request and one response at a
 * time per connection. A connection is one thread of a model process.
 *
 * Request:  u32 length (of what follows) | u32 op | payload
 * Response: u32 length (of what follows) | s64 ret | u32 nSignals |
 *           nSignals x { s32 fd, u32 0, u64 count } | payload
 *
 * `ret` is what the system call returns (a value or -errno). The signal list tells the
 * shim which of the program's own eventfds the model signalled while serving the request
 * (the program's fd and the count to add).
 */

/** Request codes. */
export const Op = {
  /** u32 kind (HelloKind), u32 token, u32 host pid, name bytes → token of the model process. */
  HELLO: 1,
  /** u32 flags, path bytes → fd. */
  OPEN: 2,
  /** s32 fd → 0. */
  CLOSE: 3,
  /** s32 fd, u32 count → bytes read; payload: the bytes. */
  READ: 4,
  /** s32 fd, data → bytes written. */
  WRITE: 5,
  /** s32 fd, u32 count, u64 offset → bytes read; payload: the bytes. */
  PREAD: 6,
  /** s32 fd, u32 0, u64 offset, data → bytes written. */
  PWRITE: 7,
  /** s32 fd, u32 cmd, u32 kind (IoctlArg), u32 0, u64 value, struct bytes → ret; payload: the struct bytes after the call. */
  IOCTL: 8,
  /** u64 addr, u64 len, u32 prot, u32 flags, s32 fd, u32 0, u64 offset → address. */
  MMAP: 9,
  /** u64 addr, u64 len → 0. */
  MUNMAP: 10,
  /** u64 addr, u32 size → 0 and payload u64 value, or 1 and payload AccessSignal. */
  LOAD: 11,
  /** u64 addr, u32 size, u32 0, u64 value → 0, or 1 and payload AccessSignal. */
  STORE: 12,
  /** u32 bufsiz, path bytes → length; payload: the link target. */
  READLINK: 13,
  /** s32 program fd (an eventfd of the program) → the model eventfd standing for it. */
  EVENTFD_BIND: 14,
  /** → token of the child model process (the child then says HELLO with HelloKind.FORK_CHILD). */
  FORK: 15,
  /** path → a directory stream's handle (opendir(3) in the model process). */
  OPENDIR: 16,
  /** u32 handle → 1 and payload u64 d_ino, u8 d_type, name; 0 at the end (readdir(3)). */
  READDIR: 17,
  /** u32 handle → 0 (closedir(3)). */
  CLOSEDIR: 18,
  /** u32 format (0: klogctl's `<level>[time] text` lines, 1: /dev/kmsg records) → length; payload: the model's kernel log (its last MAX_TRANSFER bytes). */
  KLOG: 19,
  /** → the model kernel's taint flags (/proc/sys/kernel/tainted). */
  TAINTED: 20,
  /** lock name bytes (as the model's lock events name it, e.g. `memory_lock:0000:01:00.0`) → 0 free, 1 held for read, 2 held for write; -ENOENT for a lock never taken. A debugging request, not a system call. */
  LOCK_STATE: 21,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** What a HELLO connects. */
export const HelloKind = {
  /** A new process (the program's first thread). */
  PROCESS: 0,
  /** Another thread of the process `token`. */
  THREAD: 1,
  /** The child of a FORK, `token` as FORK returned it. */
  FORK_CHILD: 2,
} as const;

/** How an IOCTL passes its argument. */
export const IoctlArg = {
  /** An integer argument (VFIO_SET_IOMMU's type, VFIO_CHECK_EXTENSION's extension, none). */
  VALUE: 0,
  /** A pointer to the struct bytes sent (copied in, called, copied back). */
  POINTER: 1,
} as const;

/** LOAD/STORE `ret` when the access raised a signal; the payload is u32 signo, s32 si_code, u64 si_addr. */
export const ACCESS_SIGNAL = 1;

/** Linux x86-64 signal numbers and si_codes the model raises. */
export const SIGNO = { SIGBUS: 7, SIGSEGV: 11 } as const;
export const SI_CODE = { SEGV_MAPERR: 1, SEGV_ACCERR: 2, BUS_ADRERR: 2 } as const;

/** Bytes before a request's payload (length, op) and a response's signal list (length, ret, count). */
export const REQUEST_HEADER = 8;
export const RESPONSE_HEADER = 16;

/** The largest request or response frame accepted (a larger length is a protocol error: the connection is closed). */
export const MAX_FRAME = 16 * 1024 * 1024;

/** Bytes one READ/PREAD/IOCTL may move (the server's buffer in the model process); a larger count is served short. */
export const MAX_TRANSFER = 1024 * 1024;

/** Name of each op, for reports and errors. */
export const OP_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]));
