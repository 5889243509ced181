import type pg from 'pg';
import { rowToTenant, TENANT_COLUMNS, type TenantRecord } from './tenantTypes.ts';

export async function listTenants(control: pg.Pool | pg.ClientBase): Promise<TenantRecord[]> {
  const { rows } = await control.query(`SELECT ${TENANT_COLUMNS} FROM outbox_tenant ORDER BY id`);
  return rows.map(rowToTenant);
}
