import { describe, expect, it } from 'vitest';
import { createFairGate } from '../../../src/runtime/fairGate.ts';

describe('fair gate', () => {
  it('never lets more than the limit in at once', async () => {
    const gate = createFairGate(2);
    const t = gate.forTenant('a', 1);
    const r1 = await t.acquire();
    const r2 = await t.acquire();
    let third = false;
    const p3 = t.acquire().then((r) => {
      third = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(third).toBe(false);
    expect(gate.inFlight()).toBe(2);
    r1();
    r1(); // a second release of one turn is ignored
    const r3 = await p3;
    expect(gate.inFlight()).toBe(2);
    r2();
    r3();
    expect(gate.inFlight()).toBe(0);
  });

  it('takes waiting tenants in turn, by weight, so a tenant with a long queue cannot starve one with a single batch', async () => {
    const gate = createFairGate(1);
    const order: string[] = [];
    const hold = await gate.forTenant('busy', 1).acquire();
    const waits: Promise<void>[] = [];
    const enqueue = (tenant: string, weight: number, n: number) => {
      const handle = gate.forTenant(tenant, weight);
      for (let i = 0; i < n; i++) waits.push(handle.acquire().then((release) => (order.push(tenant), release())));
    };
    enqueue('busy', 1, 5);
    enqueue('heavy', 2, 4);
    enqueue('quiet', 1, 1);
    hold();
    await Promise.all(waits);
    expect(order).toEqual(['busy', 'heavy', 'heavy', 'quiet', 'busy', 'heavy', 'heavy', 'busy', 'busy', 'busy']);
  });
});
