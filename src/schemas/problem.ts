import { z } from 'zod';

/** RFC 9457 problem details, as every rejected request gets them (`application/problem+json`). */
export const Problem = z
  .object({
    type: z.string().meta({ description: 'Stable identifier: `https://keel.dev/problems/<slug>`.' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().meta({ description: 'For humans; never contains secrets or stack traces.' }),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'Validation errors: the failing field paths.' }),
  })
  .catchall(z.unknown())
  .meta({
    id: 'Problem',
    example: {
      type: 'https://keel.dev/problems/validation-error',
      title: 'Invalid request',
      status: 400,
      detail: 'The body is not valid: input.question: must not be empty',
      instance: '/v1/runs',
      errors: [{ path: 'input.question', message: 'must not be empty' }],
    },
  });
export type Problem = z.infer<typeof Problem>;
