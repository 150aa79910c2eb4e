/**
 * The files the UI server may read and write: the scenario files and folders given on the
 * command line, and the package's examples. A file given by name may be saved; a file
 * found in a given folder (or an example) is read-only; a symlink in a folder that leads
 * outside it is refused. Paths from requests are resolved here and nowhere else.
 */
import { lstatSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { FileJson } from './protocol.js';
import { readText } from '../cli/args.js';

/** A file the server knows, by its id. */
interface Entry {
  readonly id: string;
  readonly name: string;
  /** The real path (symlinks resolved). */
  readonly path: string;
  readonly writable: boolean;
  readonly example: boolean;
  /** The folder it was found in (its real path), null for a file given by name. */
  readonly root: string | null;
}

/** `child` is `parent` or lies under it (both real, absolute paths). */
export function isInside(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r) && r.split(sep)[0] !== '..');
}

/** A given path that cannot be served: thrown by FileRegistry.add with the reason. */
export class FileRefused extends Error {}

export class FileRegistry {
  private readonly entries: Entry[] = [];

  /** Register the package's examples folder (read-only). */
  addExamples(dir: string): void {
    this.addFolder(dir, true);
  }

  /** Register a path from the command line: a file (writable) or a folder (its .yaml files, read-only). */
  add(path: string): void {
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new FileRefused(`no such file or folder '${path}'`);
    }
    if (st.isDirectory()) this.addFolder(path, false);
    else if (st.isFile()) this.push({ name: path, path: realpathSync(path), writable: true, example: false, root: null });
    else throw new FileRefused(`'${path}' is neither a file nor a folder`);
  }

  private addFolder(dir: string, example: boolean): void {
    const root = realpathSync(dir);
    const walk = (d: string, depth: number): void => {
      for (const name of readdirSync(d).sort()) {
        const p = join(d, name);
        const lst = lstatSync(p);
        let real: string;
        try {
          real = realpathSync(p);
        } catch {
          continue; // a dangling symlink
        }
        // a symlink leading outside the folder is refused (not listed, not served)
        if (lst.isSymbolicLink() && !isInside(root, real)) continue;
        const st = statSync(real);
        if (st.isDirectory()) {
          if (depth < 4) walk(p, depth + 1);
        } else if (st.isFile() && (name.endsWith('.yaml') || name.endsWith('.yml'))) {
          this.push({ name: example ? `examples/${relative(dir, p)}` : join(dir, relative(dir, p)), path: real, writable: false, example, root });
        }
      }
    };
    walk(dir, 0);
  }

  /**
   * Register an entry. An example's id is its name (`examples/h2-fault-races-disable.yaml`),
   * the same on every machine running this version, so a share URL naming one opens there
   * whatever files that `vfio-sim ui` was given; a given file's id is its position (`f3`).
   */
  private push(e: Omit<Entry, 'id'>): void {
    if (this.entries.some((x) => x.path === e.path && x.writable === e.writable)) return;
    this.entries.push({ ...e, id: e.example ? e.name : `f${this.entries.length}` });
  }

  list(): FileJson[] {
    return this.entries.map((e) => ({ id: e.id, name: e.name, writable: e.writable, example: e.example }));
  }

  /** The given scenarios (not the examples). */
  given(): FileJson[] {
    return this.list().filter((f) => !f.example);
  }

  private entry(id: string): Entry | null {
    return this.entries.find((e) => e.id === id) ?? null;
  }

  /** The file's name as shown, or null for an unknown id. */
  nameOf(id: string): string | null {
    return this.entry(id)?.name ?? null;
  }

  /** The id of the file at real path `path`, or null. */
  idOfPath(path: string): string | null {
    return this.entries.find((e) => e.path === path)?.id ?? null;
  }

  /** The real path of a registered file, or null. */
  pathOf(id: string): string | null {
    return this.entry(id)?.path ?? null;
  }

  /**
   * The text of file `id`, or null when the id is unknown or the file no longer lies where
   * it was registered (a symlink changed to lead outside its folder).
   */
  read(id: string): string | null {
    const e = this.entry(id);
    if (e === null) return null;
    let real: string;
    try {
      real = realpathSync(e.path);
    } catch {
      return null;
    }
    if (e.root !== null && !isInside(e.root, real)) return null;
    const t = readText(real);
    return 'text' in t ? t.text : null;
  }

  /** Save `text` to file `id`; an error message when it may not be written. */
  save(id: string, text: string): string | null {
    const e = this.entry(id);
    if (e === null) return `unknown file '${id}'`;
    if (!e.writable) return `'${e.name}' is read-only: only files given on the command line by name can be saved (${e.example ? 'an example' : 'found in a given folder'})`;
    writeFileSync(e.path, text);
    return null;
  }
}

