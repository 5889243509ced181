import type { SqlDb } from '../db/sqlDb.ts';
import { rowToTenant, TENANT_COLUMNS, type TenantRecord } from './tenantTypes.ts';

export async function listTenants(control: SqlDb): Promise<TenantRecord[]> {
  const { rows } = await control.query(`SELECT ${TENANT_COLUMNS} FROM outbox_tenant ORDER BY id`);
  return rows.map(rowToTenant);
}
