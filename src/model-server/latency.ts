import type { Response } from 'express';

/**
 * Waits `ms` before a response is written, unless the client disconnects first. Ending the
 * wait on disconnect matters: a cancelled workflow aborts its HTTP call, and the server must
 * not go on holding (or counting as completed) a request nobody is waiting for.
 *
 * Resolves true when the full delay elapsed with the client still connected.
 */
export function waitUnlessClosed(ms: number, res: Response): Promise<boolean> {
  if (res.closed || res.destroyed) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(!res.closed);
    }, ms);
    res.once('close', onClose);
  });
}
