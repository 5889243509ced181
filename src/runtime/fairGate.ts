/**
 * Turns across tenants: at most `limit` batches in flight in the process, and
 * when tenants wait, weighted round-robin between them — each waiting tenant
 * gets up to `weight` turns per round, in the order tenants started waiting.
 *
 * Why: every tenant has its own drainer, so without a gate a tenant with a
 * large backlog keeps `concurrency` batches in flight back to back, and with
 * many busy tenants the process holds tenants × concurrency batches at once
 * (MongoDB writes, memory). With the gate a tenant that posts one event now
 * and then waits at most one round — about one batch of each busy tenant —
 * never behind a whole backlog.
 */
export interface FairGate {
  /** One tenant's handle; `acquire()` resolves to the release of one turn. */
  forTenant(tenant: string, weight: number): { acquire(): Promise<() => void> };
  /** Batches in flight now (tests, metrics). */
  inFlight(): number;
}

interface Waiting {
  weight: number;
  credit: number;
  queue: Array<() => void>;
}

export function createFairGate(limit: number): FairGate {
  let active = 0;
  // Insertion order is the round-robin order; a tenant leaves when its queue empties.
  const waiting = new Map<string, Waiting>();

  const grantNext = () => {
    while (active < limit && waiting.size > 0) {
      const [tenant, entry] = waiting.entries().next().value as [string, Waiting];
      const grant = entry.queue.shift() as () => void;
      entry.credit--;
      waiting.delete(tenant);
      // Back of the round once its credit is spent; otherwise it keeps its place.
      if (entry.queue.length > 0) {
        if (entry.credit <= 0) {
          entry.credit = entry.weight;
          waiting.set(tenant, entry);
        } else {
          const rest = [...waiting];
          waiting.clear();
          waiting.set(tenant, entry);
          for (const [k, v] of rest) waiting.set(k, v);
        }
      }
      active++;
      grant();
    }
  };

  const release = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      grantNext();
    };
  };

  return {
    inFlight: () => active,
    forTenant(tenant, weight) {
      return {
        acquire() {
          if (active < limit && waiting.size === 0) {
            active++;
            return Promise.resolve(release());
          }
          return new Promise<() => void>((resolve) => {
            let entry = waiting.get(tenant);
            if (!entry) {
              entry = { weight, credit: weight, queue: [] };
              waiting.set(tenant, entry);
            }
            entry.queue.push(() => resolve(release()));
            grantNext();
          });
        },
      };
    },
  };
}
