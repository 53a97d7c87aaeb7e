import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayloadKeyRing } from './keys';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
/** The tenant a payload belongs to, authenticated as AES-GCM associated data: changing it breaks the tag. */
export const TENANT_METADATA = 'keel-tenant';

/** Who owns a workflow's payloads: Keel's run row, whose id is the workflow id (see owners.ts). */
export interface PayloadOwners {
  tenantOfWorkflow(workflowId: string): Promise<string | undefined>;
}

const associatedData = (tenantId: string) => utf8(`keel-tenant:${tenantId}`);

const IV_BYTES = 12;
const TAG_BYTES = 16;
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class PayloadDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

/**
 * Encrypts every Temporal payload with AES-256-GCM before it leaves the process, so histories,
 * the Web UI and anyone with server access see ciphertext. The whole payload (metadata and data)
 * is serialized and sealed; only the encoding, the key id and the owning tenant stay readable.
 *
 * The tenant comes from the SDK's serialization context (the workflow id every payload belongs to,
 * mapped to its run's tenant by `owners`) and is bound to the ciphertext as associated data, so
 * the `/codec` route can decode for a caller only what was sealed for the caller's tenant.
 * Payloads with no known owner (no context, a workflow that is not a Keel run, or written before
 * tenants were bound) are sealed without one: workers read them, the route does not.
 * Payloads that are not encrypted pass through decode unchanged.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(
    private readonly keys: PayloadKeyRing,
    private readonly owners?: PayloadOwners,
  ) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const workflowId = context?.workflowId;
    const tenantId = workflowId !== undefined && this.owners ? await this.owners.tenantOfWorkflow(workflowId) : undefined;
    return this.seal(payloads, tenantId);
  }

  /** Seals for a given tenant: the `/codec/encode` route, for the caller's tenant only. */
  async encodeForTenant(payloads: Payload[], tenantId: string): Promise<Payload[]> {
    return this.seal(payloads, tenantId);
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.open(payload));
  }

  /**
   * Decodes the payloads sealed for `tenantId`; every other encrypted payload (another tenant's,
   * or one with no owner) comes back as it came, still sealed, as Temporal's codec protocol allows.
   * A payload claiming the caller's tenant that fails authentication is an error.
   */
  async decodeForTenant(payloads: Payload[], tenantId: string): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
      return text(payload.metadata?.[TENANT_METADATA]) === tenantId ? this.open(payload) : payload;
    });
  }

  private seal(payloads: Payload[], tenantId: string | undefined): Payload[] {
    const { id, key } = this.keys.current;
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      if (tenantId !== undefined) cipher.setAAD(associatedData(tenantId));
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id), ...(tenantId !== undefined ? { [TENANT_METADATA]: utf8(tenantId) } : {}) },
        data: sealed,
      };
    });
  }

  private open(payload: Payload): Payload {
    if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    const key = id === undefined ? undefined : this.keys.byId.get(id);
    if (!key) throw new PayloadDecryptionError(`No payload key with id "${id ?? '(none)'}" is configured`);
    const sealed = Buffer.from(payload.data ?? new Uint8Array());
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('Encrypted payload is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const tenantId = text(payload.metadata?.[TENANT_METADATA]);
    if (tenantId !== undefined) decipher.setAAD(associatedData(tenantId));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`Encrypted payload failed authentication with key "${id}"`);
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
