/** `n word` with the word in the plural unless n is 1: plural(1, 'execution') is '1 execution'. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
