import type { RequestHandler } from 'express';
import { problems, sendProblem } from './problem';

/**
 * Answers `503 request-timeout` when a request takes longer than `ms`, so a client never hangs on
 * a stuck dependency. The handler is not interrupted: a write it was about to make may still land,
 * which is why the budget sits well above any normal request (they take milliseconds).
 */
export function requestTimeout(ms: number): RequestHandler {
  return (req, res, next) => {
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      req.log?.warn({ timeoutMs: ms }, 'request timed out');
      sendProblem(res, problems.timeout(ms), req.originalUrl);
    }, ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    res.on('finish', clear);
    res.on('close', clear);
    next();
  };
}
