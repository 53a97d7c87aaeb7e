/**
 * Where uploaded files live. Workflows and activities pass keys; only the API (on upload and
 * download) and ingest activities touch the bytes. Keys always begin with the tenant id, so
 * one tenant's objects never share a prefix with another's.
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ObjectStore {
  /** Idempotent: writing the same key again with the same bytes is a no-op in effect. */
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Throws ObjectNotFoundError when there is no such object. */
  get(key: string): Promise<Buffer>;
  head(key: string): Promise<ObjectInfo | undefined>;
  delete(key: string): Promise<void>;
  readonly kind: 'local' | 's3';
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No object at ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Content-addressed key for a tenant's upload: the same bytes always land on the same object. */
export function contentKey(tenantId: string, sha256: string): string {
  return `tenants/${tenantId}/objects/sha256/${sha256.slice(0, 2)}/${sha256}`;
}
