import type { Response } from 'express';
import type { z } from 'zod';

/** The error envelope the OpenAI API uses, which the SDK turns into typed errors. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(message: string, type: string, code: string | null = null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

export function sendError(res: Response, status: number, body: OpenAIErrorBody): void {
  res.status(status).json(body);
}

export function sendInvalidRequest(res: Response, error: z.ZodError): void {
  const first = error.issues[0];
  const param = first && first.path.length > 0 ? first.path.map(String).join('.') : null;
  const message = error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
  sendError(res, 400, errorBody(`Invalid request: ${message}`, 'invalid_request_error', null, param));
}

/** Failures of express's body parser (bad JSON, too large) answered the way the real API would. */
export function sendBodyError(res: Response, err: unknown): void {
  const type = typeof err === 'object' && err !== null && 'type' in err ? err.type : undefined;
  if (type === 'entity.too.large') {
    sendError(res, 413, errorBody('Request body is too large.', 'invalid_request_error', 'request_too_large'));
    return;
  }
  sendError(
    res,
    400,
    errorBody(
      'We could not parse the JSON body of your request. Please send valid JSON with Content-Type: application/json.',
      'invalid_request_error',
    ),
  );
}
