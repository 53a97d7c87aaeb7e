import { z } from 'zod';
import { storableString } from './strings';
import { GUARDRAIL_LAYERS } from '../guardrails/decision';
import { GuardrailPolicy } from '../guardrails/policy';

export const GuardrailPolicyBody = GuardrailPolicy.meta({ id: 'GuardrailPolicy', description: 'Layers, thresholds and actions; omitted fields take their defaults.' });

export const GuardrailPolicyView = z
  .object({
    policyVersion: z.string().meta({ description: '`<version>@<hash>`, or `default@<hash>` when the tenant has saved none' }),
    version: z.number().int().nullable(),
    policy: GuardrailPolicy,
  })
  .meta({ id: 'GuardrailPolicyView' });

export const GuardrailDecisionView = z
  .object({
    layer: z.enum(GUARDRAIL_LAYERS),
    rule: z.string(),
    score: z.number().optional(),
    action: z.string(),
    latencyMs: z.number(),
    counts: z.record(z.string(), z.number()).optional(),
  })
  .meta({ id: 'GuardrailDecision' });

export const GuardrailCheckRequest = z
  .object({
    text: storableString().min(1).max(100_000),
    direction: z.enum(['input', 'output']).default('input'),
    /** For output checks: the retrieved context the text should be grounded in. */
    context: z.array(storableString().max(100_000)).max(50).default([]),
    /** A policy to try; omitted: the tenant's current one. */
    policy: GuardrailPolicy.optional(),
  })
  .strict()
  .meta({ id: 'GuardrailCheckRequest' });

export const GuardrailCheckResponse = z
  .object({
    policyVersion: z.string(),
    decision: z.enum(['allow', 'modify', 'block']),
    reasons: z.array(z.object({ layer: z.enum(GUARDRAIL_LAYERS), rule: z.string(), score: z.number().optional() })),
    decisions: z.array(GuardrailDecisionView),
    /** The text as a run would pass it on: sanitized, PII masked (placeholders only; nothing is vaulted). */
    text: z.string(),
  })
  .meta({ id: 'GuardrailCheckResponse' });
