/**
 * Which code this process runs: KEEL_BUILD_ID when set (compose images carry it as a build
 * argument; `npm start` sets it for its children), else the git commit of the checkout, with
 * `-dirty` when files differ from it, else `unknown`. Read once per process; recorded with every
 * run (API) and every ledger attempt (worker) so an output can be traced to the code that made it.
 */
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from './dev/temporal-cli';

let cached: string | undefined;

function fromGit(): string | undefined {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
    const sha = git('rev-parse', '--short=12', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? sha : `${sha}-dirty`;
  } catch {
    return undefined;
  }
}

export function buildId(): string {
  cached ??= process.env.KEEL_BUILD_ID || fromGit() || 'unknown';
  return cached;
}
