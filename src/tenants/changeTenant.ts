import type { SqlDb } from '../db/sqlDb.ts';
import { NotFoundError } from '../errors.ts';

export type TenantChange = 'pause' | 'resume' | 'remove';

/**
 * Pause, resume or remove a registered tenant. A running multi-tenant relay
 * sees the change at its next registry read (one heartbeat). Removing only
 * unregisters: the tenant's databases are left as they are.
 */
export async function changeTenant(control: SqlDb, id: string, change: TenantChange): Promise<void> {
  const result =
    change === 'remove'
      ? await control.query('DELETE FROM outbox_tenant WHERE id = $1', [id])
      : await control.query('UPDATE outbox_tenant SET paused = $2, updated_at = now() WHERE id = $1', [id, change === 'pause']);
  if (!result.rowCount) throw new NotFoundError('UNKNOWN_TENANT', `no tenant ${JSON.stringify(id.slice(0, 80))} is registered`);
}
