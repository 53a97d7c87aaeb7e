import type { RequestHandler } from 'express';
import type { Scope } from '../auth/scopes';
import { problems } from './problem';

/**
 * Per-route authorization: `router.post(path, requireScope('operator'), route(...))`, or the
 * `scope` field of `defineRoute`. Runs after `authenticate`, so the caller's tenant is known; a
 * missing scope is about the caller's own key, so it is a 403, unlike another tenant's resource,
 * which is always a 404.
 */
export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!req.auth) next(problems.unauthorized());
    else if (!req.auth.scopes.includes(scope)) next(problems.insufficientScope(scope));
    else next();
  };
}
