/** The mm subsystem: re-exports of every mm module. */
export * from './types.js';
export * from './mm.js';
export * from './memory.js';
export * from './gup.js';
export * from './mmap.js';
export * from './access.js';
export * from './address-space.js';
export * from './pfn-insert.js';
