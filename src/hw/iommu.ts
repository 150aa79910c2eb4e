import type { EventStream } from '../events/stream.js';
import { IOMMU_READ, IOMMU_WRITE, PAGE_SIZE, type IommuHw } from './api.js';

interface Pte {
  readonly pfn: number;
  readonly prot: number;
}

/** Why a translation failed (reported in `iommu.fault` events). */
export type IommuFaultReason = 'no-domain' | 'not-mapped' | 'permission';

/** Result of translating one IOVA page. */
export type Translation = { ok: true; pfn: number; prot: number } | { ok: false; reason: IommuFaultReason };

/**
 * The IOMMU: domains with a page table each (iova page number → {pfn, prot}), and
 * an attachment of IOMMU groups to domains. DMA from a function is translated
 * through the domain its group is attached to; a group that is not attached is
 * blocked (DMA remapping on, no context entry).
 */
export class Iommu implements IommuHw {
  private nextDomain = 1;
  private readonly domains = new Map<number, Map<number, Pte>>();
  private readonly groupDomain = new Map<number, number>();

  /** VT-d second-level large page support: 2 MiB and 1 GiB (SLLPS = 2 levels). */
  readonly superpageBitmap = (1n << 21n) | (1n << 30n);

  constructor(
    private readonly events: EventStream,
    readonly addressWidth = 48,
  ) {}

  createDomain(): number {
    const id = this.nextDomain++;
    this.domains.set(id, new Map());
    return id;
  }

  destroyDomain(domain: number): void {
    this.domains.delete(domain);
    for (const [g, d] of this.groupDomain) if (d === domain) this.groupDomain.delete(g);
  }

  attachGroup(domain: number, group: number): void {
    if (!this.domains.has(domain)) return;
    this.groupDomain.set(group, domain);
  }

  detachGroup(group: number): void {
    this.groupDomain.delete(group);
  }

  /** The domain a group is attached to, or null. */
  domainOfGroup(group: number): number | null {
    return this.groupDomain.get(group) ?? null;
  }

  map(domain: number, iova: number, pfn: number, pages: number, prot: number): boolean {
    const pt = this.domains.get(domain);
    if (pt === undefined || pages <= 0 || iova % PAGE_SIZE !== 0) return false;
    const first = iova / PAGE_SIZE;
    for (let i = 0; i < pages; i++) if (pt.has(first + i)) return false;
    for (let i = 0; i < pages; i++) pt.set(first + i, { pfn: pfn + i, prot });
    this.events.emit({ kind: 'iommu.map', domain, iova, pfn, pages, prot });
    return true;
  }

  unmap(domain: number, iova: number, pages: number): number {
    const pt = this.domains.get(domain);
    if (pt === undefined || pages <= 0) return 0;
    const first = Math.floor(iova / PAGE_SIZE);
    let n = 0;
    for (let i = 0; i < pages; i++) if (pt.delete(first + i)) n++;
    this.events.emit({ kind: 'iommu.unmap', domain, iova, pages });
    return n;
  }

  lookup(domain: number, iova: number): { pfn: number; prot: number } | null {
    const pte = this.domains.get(domain)?.get(Math.floor(iova / PAGE_SIZE));
    return pte === undefined ? null : { pfn: pte.pfn, prot: pte.prot };
  }

  /** Every mapped page of every domain: its domain, IOVA page number and pfn (diagnostics, property checks). */
  forEachMapping(f: (domain: number, iovaPage: number, pfn: number) => void): void {
    for (const [d, pt] of this.domains) for (const [page, pte] of pt) f(d, page, pte.pfn);
  }

  /** Number of mapped pages in a domain (diagnostics). */
  mappedPages(domain: number): number {
    return this.domains.get(domain)?.size ?? 0;
  }

  /** Translate the page containing `iova` for a DMA from `group`. */
  translate(group: number, iova: number, write: boolean): Translation {
    const d = this.groupDomain.get(group);
    if (d === undefined) return { ok: false, reason: 'no-domain' };
    const pte = this.domains.get(d)?.get(Math.floor(iova / PAGE_SIZE));
    if (pte === undefined) return { ok: false, reason: 'not-mapped' };
    const need = write ? IOMMU_WRITE : IOMMU_READ;
    if ((pte.prot & need) === 0) return { ok: false, reason: 'permission' };
    return { ok: true, pfn: pte.pfn, prot: pte.prot };
  }
}
