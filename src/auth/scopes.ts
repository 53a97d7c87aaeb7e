import { z } from 'zod';

/**
 * What a key may do. Scopes are explicit, none implies another: an `admin` key that should also
 * start runs carries `runs:write` too, so a leaked key-management key cannot spend model budget.
 * A key creates keys only with scopes it holds (`POST /v1/admin/keys` answers 403 otherwise).
 */
export const SCOPES = ['runs:write', 'runs:read', 'documents:write', 'operator', 'admin'] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;
