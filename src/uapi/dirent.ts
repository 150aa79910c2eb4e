/**
 * struct linux_dirent64 (include/linux/dirent.h; what getdents64(2) writes), as a layout
 * table: d_ino, d_off, d_reclen, d_type, then the NUL-terminated name at offset 19. The
 * C struct's sizeof is 24 (padding after d_name[0]); records are d_reclen bytes, a
 * multiple of 8.
 */
import { defineStruct } from './layout.js';

export const LINUX_DIRENT64 = defineStruct('linux_dirent64', 19 + 5, [
  ['ino', 'd_ino', 0, 'u64'],
  ['off', 'd_off', 8, 's64'],
  ['reclen', 'd_reclen', 16, 'u16'],
  ['type', 'd_type', 18, 'u8'],
], 'char d_name[] (at 19)');

/** offsetof(struct linux_dirent64, d_name) */
export const LINUX_DIRENT64_NAME_OFFSET = 19;
