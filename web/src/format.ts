// Number formatting shared by the panes.
export const hex = (n: number): string => `0x${n.toString(16)}`;

/** The PCI command register's bits that matter here. */
export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;

export function commandBits(cmd: number): string {
  const bits: string[] = [];
  bits.push(cmd & PCI_COMMAND_MEMORY ? 'MEM' : 'mem');
  bits.push(cmd & PCI_COMMAND_IO ? 'IO' : 'io');
  bits.push(cmd & PCI_COMMAND_MASTER ? 'MASTER' : 'master');
  return bits.join(' ');
}
