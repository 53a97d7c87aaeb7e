import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Where the labelled data lives: KEEL_GUARDRAIL_DATA, else `../shared/data` beside the checkout. */
export function sharedDataDir(): string {
  const candidates = [process.env.KEEL_GUARDRAIL_DATA, path.resolve(process.cwd(), '../shared/data'), path.resolve(process.cwd(), '../../shared/data'), '/work/shared/data'];
  const found = candidates.find((c): c is string => c !== undefined && existsSync(c));
  if (!found) throw new Error('labelled data not found: set KEEL_GUARDRAIL_DATA to the folder holding injection/, pii/, groundedness/');
  return found;
}

export function readLabelled<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
