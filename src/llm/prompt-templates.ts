/**
 * Prompt templates live as files in `prompts/` (KEEL_PROMPTS_DIR): `<id>.md` is a prompt,
 * `<id>@<variant>.md` a named variant of it (a release candidate, see src/trace/release.ts).
 * A prompt's version is a hash of its file's bytes, so an edited file is a new version on the
 * next model call — no registry to update, no restart — and every ledger attempt records the
 * version it sent.
 *
 * Format: `[system]`, `[user]` or `[assistant]` on a line of its own starts a message; the lines
 * up to the next such line are its content. `{{name}}` is filled by the prompt builder
 * (src/llm/prompt.ts) with text it has already enclosed; an unknown name is an error.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { PROJECT_ROOT } from '../dev/temporal-cli';

export type PromptRole = 'system' | 'user' | 'assistant';

export interface PromptRef {
  /** The prompt's id: its file name without `.md` (and without `@variant`). */
  id: string;
  /** The variant's name, or null for the prompt itself. */
  variant: string | null;
  /** First 16 hex digits of the SHA-256 of the file. */
  version: string;
}

export interface PromptTemplate extends PromptRef {
  messages: Array<{ role: PromptRole; content: string }>;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const ROLE_LINE = /^\[(system|user|assistant)\]$/;

/** KEEL_PROMPTS_DIR, relative to the project root unless absolute. */
export function promptsDir(dir = 'prompts'): string {
  return isAbsolute(dir) ? dir : join(PROJECT_ROOT, dir);
}

export function promptVersion(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 16);
}

export function parseTemplate(ref: Omit<PromptRef, 'version'>, source: string): PromptTemplate {
  const messages: PromptTemplate['messages'] = [];
  for (const line of source.split('\n')) {
    const role = ROLE_LINE.exec(line.trimEnd());
    if (role) messages.push({ role: role[1] as PromptRole, content: '' });
    else if (messages.length > 0) {
      const last = messages[messages.length - 1]!;
      last.content = last.content === '' ? line : `${last.content}\n${line}`;
    }
  }
  if (messages.length === 0) throw new Error(`Prompt ${ref.id} has no [system], [user] or [assistant] section`);
  for (const m of messages) m.content = m.content.replace(/\n+$/, '');
  return { ...ref, version: promptVersion(source), messages };
}

const cache = new Map<string, { mtimeMs: number; size: number; template: PromptTemplate }>();

/**
 * The template of a prompt (or of one of its variants). Files are read again when they change
 * (mtime or size), so the cost per call is one `stat`.
 */
export function loadPrompt(id: string, variant: string | null = null, dir?: string): PromptTemplate {
  if (!NAME.test(id) || (variant !== null && !NAME.test(variant))) throw new Error(`Not a prompt name: ${id}@${variant}`);
  const file = join(promptsDir(dir), variant ? `${id}@${variant}.md` : `${id}.md`);
  const stat = statSync(file);
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit.template;
  const template = parseTemplate({ id, variant }, readFileSync(file, 'utf8'));
  cache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, template });
  return template;
}

/** Fills `{{name}}` placeholders; every placeholder must have a value. */
export function fillTemplate(template: PromptTemplate, values: Record<string, string>): Array<{ role: PromptRole; content: string }> {
  return template.messages.map((m) => ({
    role: m.role,
    content: m.content.replace(/\{\{([a-z_]+)\}\}/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`Prompt ${template.id} uses {{${name}}}, which its builder does not fill`);
      return value;
    }),
  }));
}
