import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, type PayloadOwners } from './aes-gcm-codec';
import type { PayloadKeyRing } from './keys';

/** Bundled into the workflow code too, so workers and clients agree on how failures are encoded. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter every Temporal client and worker in Keel uses. With payload keys, payloads
 * (including failure messages and stacks, see failure-converter.ts) are encrypted before they
 * reach Temporal, bound to the tenant `owners` names for their workflow (see aes-gcm-codec.ts).
 * Without keys they are stored as Temporal's plain JSON.
 */
export function keelDataConverter(keys: PayloadKeyRing | undefined, owners?: PayloadOwners): DataConverter {
  return {
    failureConverterPath: FAILURE_CONVERTER_PATH,
    ...(keys ? { payloadCodecs: [new AesGcmPayloadCodec(keys, owners)] } : {}),
  };
}
