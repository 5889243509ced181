import { describe, expect, it } from 'vitest';
import { createTenantLabels, OTHER_TENANTS } from '../../../src/runtime/tenantLabels.ts';

describe('createTenantLabels', () => {
  it('names the first `cap` tenants it sees and counts every later one under _other, for good', () => {
    const labels = createTenantLabels(2);
    expect(['a', 'b', 'c'].map((id) => labels.of(id))).toEqual(['a', 'b', OTHER_TENANTS]);
    // Sticky: asking again, or in another order, never moves a tenant between series.
    expect(['c', 'b', 'a', 'd'].map((id) => labels.of(id))).toEqual([OTHER_TENANTS, 'b', 'a', OTHER_TENANTS]);
  });

  it('with cap 0 counts every tenant under _other', () => {
    expect(createTenantLabels(0).of('a')).toBe(OTHER_TENANTS);
  });
});
