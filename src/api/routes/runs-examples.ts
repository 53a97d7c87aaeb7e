/** Examples for the OpenAPI document; kept apart so the route file stays about behaviour. */
const id = '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80';
const links = { self: `/v1/runs/${id}`, temporalUi: `http://localhost:8233/namespaces/default/workflows/${id}` };
const summary = {
  id,
  type: 'answer',
  status: 'completed',
  model: 'gpt-4o-mini',
  createdAt: '2026-01-05T10:00:00.000Z',
  startedAt: '2026-01-05T10:00:00.120Z',
  completedAt: '2026-01-05T10:00:01.480Z',
  links,
};

export const runExamples = {
  create: { type: 'answer', input: { question: 'What does Keel do?' }, options: { temperature: 0.2 } },
  created: { id, status: 'queued', links },
  cached: {
    id, status: 'completed', cached: true, links,
    cache: { kind: 'exact', originalRunId: '0193e0c2-7b1a-7c3d-9e4f-5a6b7c8d9e0f', ageSeconds: 42 },
    result: { answer: 'Keel runs AI work as durable Temporal workflows.', model: 'gpt-4o-mini', cache: { kind: 'exact', originalRunId: '0193e0c2-7b1a-7c3d-9e4f-5a6b7c8d9e0f', ageSeconds: 42 } },
  },
  view: {
    ...summary,
    input: { question: 'What does Keel do?' },
    options: { model: 'gpt-4o-mini', temperature: 0.2 },
    result: { answer: 'Keel runs AI work as durable Temporal workflows.', model: 'gpt-4o-mini' },
    error: null,
    cache: null,
    steps: [
      {
        step: 'generate',
        attempts: [
          {
            attempt: 1, status: 'completed', startedAt: '2026-01-05T10:00:00.200Z', endedAt: '2026-01-05T10:00:01.400Z',
            latencyMs: 1200, model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 64, costUsd: 0.00016, error: null, workflowRunId: '5b1f0c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
          },
        ],
      },
    ],
  },
  list: { data: [summary], nextCursor: null },
};
