import { z } from 'zod';
import { RESUME_ACTIONS, RUN_STATUSES } from '../shared';
import { RunLinks } from './runs';
import { visibleText } from './strings';

/**
 * Operator actions on a run. Each names why, because the reason lands in the audit trail and in
 * the run's Temporal history; terminate and resume must say why, the gentler ones may.
 */
const Reason = visibleText(1000);

export const OptionalReasonRequest = z.object({ reason: Reason.optional() }).strict().optional().default({});
export type OptionalReasonRequest = z.infer<typeof OptionalReasonRequest>;

export const TerminateRequest = z.object({ reason: Reason }).strict();
export type TerminateRequest = z.infer<typeof TerminateRequest>;

export const ResumeRequestBody = z.object({ action: z.enum(RESUME_ACTIONS), reason: Reason }).strict();
export type ResumeRequestBody = z.infer<typeof ResumeRequestBody>;

export const OPERATOR_ACTIONS = ['cancel', 'terminate', 'retry', 'resume'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];

export const OperatorActionResponse = z.object({
  id: z.string(),
  action: z.enum(OPERATOR_ACTIONS),
  status: z.enum(RUN_STATUSES),
  /** The Temporal execution the run is now on (a retry starts a new one under the same id). */
  workflowRunId: z.string().nullable(),
  auditEventId: z.string(),
  links: RunLinks,
});
export type OperatorActionResponse = z.infer<typeof OperatorActionResponse>;

export const AuditEventView = z.object({
  id: z.string(),
  action: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  details: z.unknown(),
  createdAt: z.string(),
});
export type AuditEventView = z.infer<typeof AuditEventView>;

export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1–255 visible ASCII characters');
