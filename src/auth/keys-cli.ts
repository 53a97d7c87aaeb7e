import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Db } from '../db/client';
import { createApiKey, listApiKeys, revokeApiKey } from './key-admin';
import { Scope, SCOPES } from './scopes';

export const KEYS_USAGE = `Usage:
  npm run keys -- create --tenant <name> --scopes ${SCOPES.join(',')} [--name <label>]
      creates the tenant if it does not exist; prints the key once
  npm run keys -- list --tenant <name>
  npm run keys -- revoke <id|prefix>`;

export class KeysCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeysCliError';
  }
}

/**
 * `npm run keys`: the operator's way to create tenants and manage any tenant's keys (the admin API
 * only manages the caller's own tenant). Output goes to `print`; errors are KeysCliErrors.
 */
export async function runKeysCli(db: Db, argv: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
  });
  const [command, target] = positionals;
  switch (command) {
    case 'create': {
      if (!values.tenant || !values.scopes) throw new KeysCliError(`create needs --tenant and --scopes\n${KEYS_USAGE}`);
      const scopes = values.scopes.split(',').map((s) => s.trim()).filter(Boolean);
      const parsed = Scope.array().min(1).safeParse(scopes);
      if (!parsed.success) throw new KeysCliError(`--scopes must be a comma-separated list of: ${SCOPES.join(', ')}`);
      const tenant = await db.tenant.upsert({ where: { name: values.tenant }, create: { id: randomUUID(), name: values.tenant }, update: {} });
      const created = await createApiKey(db, tenant.id, values.name ?? 'cli', [...new Set(parsed.data)]);
      print(`tenant  ${tenant.name} (${tenant.id})`);
      print(`key id  ${created.id}`);
      print(`scopes  ${created.scopes.join(',')}`);
      print(`key     ${created.key}`);
      print('The key is shown once: only its hash is stored.');
      return;
    }
    case 'list': {
      if (!values.tenant) throw new KeysCliError(`list needs --tenant\n${KEYS_USAGE}`);
      const tenant = await db.tenant.findUnique({ where: { name: values.tenant } });
      if (!tenant) throw new KeysCliError(`no tenant named ${values.tenant}`);
      for (const k of await listApiKeys(db, tenant.id)) {
        print([k.id, `keel_${k.prefix}_…`, k.name, k.scopes.join(','), k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : 'active'].join('\t'));
      }
      return;
    }
    case 'revoke': {
      if (!target) throw new KeysCliError(`revoke needs a key id or prefix\n${KEYS_USAGE}`);
      const revoked = await revokeApiKey(db, undefined, target);
      if (!revoked) throw new KeysCliError(`no key with id or prefix ${target}`);
      print(`revoked ${revoked.id} (keel_${revoked.prefix}_…) at ${revoked.revokedAt ?? ''}`);
      return;
    }
    default:
      throw new KeysCliError(KEYS_USAGE);
  }
}
