/** Examples for the traceability routes' OpenAPI document. */
const runId = '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80';
const workflowRunId = '5b1f0c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
const modelConfig = { id: 'gpt-4o-mini@1a2b3c4d', model: 'gpt-4o-mini', endpoint: 'https://api.openai.com', price: { input: 0.15, output: 0.6 } };
const prompt = { id: 'answer', variant: null, version: '3f9a1c0d2e4b5a69' };
const ui = `http://localhost:8233/namespaces/default/workflows/${runId}`;

const policyVersion = {
  version: 2,
  candidate: { prompts: { answer: 'concise' } },
  percent: 20,
  actor: 'key:6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  reason: 'try the concise answer prompt on a fifth of traffic',
  createdAt: '2026-01-05T10:00:00.000Z',
};

export const traceExamples = {
  trace: {
    id: runId,
    type: 'answer',
    status: 'completed',
    createdAt: '2026-01-05T10:00:00.000Z',
    startedAt: '2026-01-05T10:00:00.120Z',
    completedAt: '2026-01-05T10:00:01.400Z',
    input: { question: 'How long is the refund window?' },
    options: { model: 'gpt-4o-mini' },
    result: { answer: 'Refunds are accepted within 30 days of purchase. [c1]', model: 'gpt-4o-mini' },
    error: null,
    versions: {
      apiBuild: '7d9d1bf0a1b2',
      workerBuilds: ['7d9d1bf0a1b2'],
      modelConfigs: [modelConfig],
      prompts: [prompt],
      release: { policyVersion: 2, arm: 'stable', percent: 20 },
      corpusVersion: 4,
      guardrailPolicyVersion: null,
    },
    executions: [{ workflowRunId, temporalUi: `${ui}/${workflowRunId}/history` }],
    steps: [
      {
        step: 'generate',
        activityId: '4',
        attempts: [
          {
            attempt: 1, status: 'completed', workflowRunId, startedAt: '2026-01-05T10:00:00.300Z', endedAt: '2026-01-05T10:00:01.300Z',
            latencyMs: 1000, model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 41, costUsd: 0.000146, error: null,
            lineage: { build: '7d9d1bf0a1b2', prompts: [prompt], modelConfig, params: { temperature: 0.2 } },
          },
        ],
      },
    ],
    retrieved: [{ chunkId: 'c1', documentId: '2b7e1f3a-0c4d-4e5f-8a9b-1c2d3e4f5a6b', versionId: '9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f', page: 3, score: 0.032787, lexicalRank: 1, vectorRank: 1 }],
    strategy: null,
    totals: { attempts: 5, tokensIn: 830, tokensOut: 41, costUsd: 0.000146 },
    audit: [],
    links: { self: `/v1/runs/${runId}`, temporalUi: ui },
  },
  drift: {
    windowDays: 7,
    sigma: 3,
    versions: [
      {
        version: `${modelConfig.id} answer:${prompt.version}`,
        days: [
          { day: '2026-01-04', attempts: 412, latencyMs: 910.4, costUsd: 0.000151, failureRate: 0.0024 },
          { day: '2026-01-05', attempts: 398, latencyMs: 2730.9, costUsd: 0.000149, failureRate: 0.0025 },
        ],
        drifting: [{ metric: 'latencyMs', day: '2026-01-05', value: 2730.9, mean: 905.2, stddev: 40.3, z: 45.3 }],
      },
    ],
    runs: [{ day: '2026-01-05', runs: 400, failureRate: 0.0025, blockRate: 0.01 }],
  },
  policy: { current: policyVersion, history: [policyVersion, { ...policyVersion, version: 1, percent: 0, reason: 'rollback' }] },
};
