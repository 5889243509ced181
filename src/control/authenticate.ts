import { createHash, timingSafeEqual } from 'node:crypto';

export interface NamedToken {
  name: string;
  token: string;
  /** Only these tenants (run --multi-tenant); absent: every tenant. */
  tenants?: readonly string[];
}

/**
 * Who is asking: a token's holder (with the tenants it may see, null for all),
 * nobody (no token sent or none configured), or a wrong token.
 */
export type Caller = { kind: 'token'; actor: string; tenants: readonly string[] | null } | { kind: 'anonymous' } | { kind: 'rejected' };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Match `Authorization: Bearer <token>` against the configured tokens. Every
 * token is compared (digests, in constant time), so neither which one matched
 * nor any token's length shows in the timing. With no tokens configured every
 * caller is anonymous: reads are open, mutations are refused by the router.
 */
export function createAuthenticator(tokens: readonly NamedToken[]): (authorization: string | undefined) => Caller {
  const known = tokens.map((t) => ({ name: t.name, digest: digest(t.token), tenants: t.tenants ?? null }));
  return (authorization) => {
    if (known.length === 0) return { kind: 'anonymous' };
    // The scheme is case-insensitive (RFC 7235); the token is not.
    const match = /^bearer +(\S+) *$/i.exec(authorization ?? '');
    const given = digest(match?.[1] ?? '');
    let found: (typeof known)[number] | undefined;
    for (const k of known) if (timingSafeEqual(given, k.digest) && found === undefined) found = k;
    return found === undefined ? { kind: 'rejected' } : { kind: 'token', actor: found.name, tenants: found.tenants };
  };
}

/** Whether a caller may see or act on a tenant: anonymous callers and unscoped tokens see every tenant. */
export function mayAccessTenant(caller: Exclude<Caller, { kind: 'rejected' }>, tenant: string): boolean {
  return caller.kind !== 'token' || caller.tenants === null || caller.tenants.includes(tenant);
}
