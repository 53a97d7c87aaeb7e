/**
 * Golden datasets: JSON Lines, one object per line. A line `{ "upload": "<path>" }` adds a
 * document to the corpus before any case runs (paths relative to the dataset file); every other
 * line is a case:
 *
 *   { "id": "meal-allowance", "type": "answer", "input": { "question": "…" },
 *     "expect": { "contains": ["forty-two euros"], "grounded": true } }
 *   { "id": "…", "type": "extract", "input": { "document": "handbook.pdf", "schema": { … } },
 *     "expect": { "json": { "meal_allowance": "forty-two euros" } } }
 *
 * `expect` may combine `exact` (the whole answer, case and spacing folded), `contains` (each
 * string, case folded), `json` (each field of the extracted object; strings by containment),
 * `grounded` (the answer cites retrieved context, and only it) and `judge` (a rubric the model
 * grades the answer against, 1–10, when the evaluation runs with a judge).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const EvalExpectation = z
  .object({
    exact: z.string().optional(),
    contains: z.array(z.string().min(1)).optional(),
    json: z.record(z.string(), z.unknown()).optional(),
    grounded: z.boolean().optional(),
    judge: z.string().min(1).optional(),
  })
  .strict()
  .refine((e) => Object.values(e).some((v) => v !== undefined), { message: 'a case must expect something' });
export type EvalExpectation = z.infer<typeof EvalExpectation>;

const CaseId = z.string().regex(/^[\w.-]{1,100}$/);

export const EvalCase = z.discriminatedUnion('type', [
  z.object({ id: CaseId, type: z.literal('answer'), input: z.object({ question: z.string().min(1) }).strict(), options: z.record(z.string(), z.unknown()).optional(), expect: EvalExpectation }).strict(),
  z
    .object({
      id: CaseId,
      type: z.literal('extract'),
      input: z.object({ document: z.string().min(1).optional(), text: z.string().min(1).optional(), schema: z.record(z.string(), z.unknown()) }).strict(),
      options: z.record(z.string(), z.unknown()).optional(),
      expect: EvalExpectation,
    })
    .strict(),
]);
export type EvalCase = z.infer<typeof EvalCase>;

export interface Dataset {
  uploads: string[];
  cases: EvalCase[];
  /** SHA-256 of the file: two evaluations compare case by case only on the same dataset. */
  hash: string;
}

export function parseDataset(source: string): Dataset {
  const uploads: string[] = [];
  const cases: EvalCase[] = [];
  source.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not JSON`);
    }
    const upload = z.object({ upload: z.string().min(1) }).strict().safeParse(value);
    if (upload.success) {
      uploads.push(upload.data.upload);
      return;
    }
    const parsed = EvalCase.safeParse(value);
    if (!parsed.success) throw new Error(`line ${i + 1}: ${parsed.error.issues.map((e) => `${e.path.join('.')}: ${e.message}`).join('; ')}`);
    if (cases.some((c) => c.id === parsed.data.id)) throw new Error(`line ${i + 1}: case id ${parsed.data.id} is used twice`);
    cases.push(parsed.data);
  });
  if (cases.length === 0) throw new Error('the dataset has no cases');
  return { uploads, cases, hash: createHash('sha256').update(source).digest('hex') };
}
