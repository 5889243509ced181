/** The label a tenant's series carry beyond the cap. */
export const OTHER_TENANTS = '_other';

export interface TenantLabels {
  /** The `tenant` label of this tenant's series: its id, or "_other" beyond the cap. */
  of(id: string): string;
}

/**
 * Caps the `tenant` label's cardinality (OUTBOX_RELAY_TENANT_METRICS_CAP): the
 * first `cap` tenants this process serves keep their id as the label, every
 * later one is counted under tenant="_other". A label never changes while the
 * process lives: a counter that moved from "_other" to its own series would
 * drop to zero and count twice. The relay starts tenants in id order, so after
 * a restart the first `cap` tenants by id are the named ones.
 */
export function createTenantLabels(cap: number): TenantLabels {
  const named = new Set<string>();
  return {
    of(id) {
      if (named.has(id)) return id;
      if (named.size < cap) {
        named.add(id);
        return id;
      }
      return OTHER_TENANTS;
    },
  };
}
