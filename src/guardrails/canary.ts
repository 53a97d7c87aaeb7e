import { randomBytes } from 'node:crypto';

/**
 * Per-run secrets for the prompt: the boundary that encloses untrusted text (spotlighting by
 * delimiting — the user cannot close a block whose name they do not know) and the canary
 * planted in the system prompt (its appearance in an answer means the prompt leaked).
 */
export interface Enclosure {
  boundary: string;
  canary: string;
}

export function newEnclosure(): Enclosure {
  return { boundary: randomBytes(6).toString('hex'), canary: `KEEL-CANARY-${randomBytes(8).toString('hex')}` };
}
