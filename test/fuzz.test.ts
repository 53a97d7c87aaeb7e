import assert from 'node:assert/strict';
import { SCOPES } from '../src/auth/scopes';
import { fuzzApi, sendAndCheck } from './support/fuzz';
import { ResponseChecker, type OpenApiDoc } from './support/openapi-check';
import { startStack, type TestStack } from './support/stack';

const RUNS = Number(process.env.KEEL_FUZZ_RUNS ?? 300);

describe('fuzz: malformed requests derived from the OpenAPI document', function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(async () => {
    // No workers: an accepted run stays queued, so anything written is visible and countable.
    stack = await startStack({ label: 'fuzz', workers: false, env: { KEEL_RATE_LIMIT_PER_MINUTE: '1000000', KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000000' } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('checks what was sent: dot segments resolved by the client land on another route, answered as that route documents', async () => {
    // Found by `npm run fuzz` (seeds 3 and 10): these went out as `DELETE /v1/admin/keys/` and
    // `POST /v1/runs/retry`, whose 405s were held against the `{id}` operations they never reached.
    const fuzzer = await stack.addTenant('fuzzer-dots', [...SCOPES]);
    const checker = new ResponseChecker((await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as OpenApiDoc);
    const auth = { authorization: `Bearer ${fuzzer.apiKey}` };
    const cases: Array<[string, string, number]> = [
      ['DELETE', '/v1/admin/keys/.', 405],
      ['POST', '/v1/runs/./retry', 405],
      ['GET', '/v1/runs/%2E', 200],
      ['GET', '/v1/runs/..', 404],
      ['GET', '/v1/documents/./', 200],
    ];
    for (const [method, path, status] of cases) {
      assert.equal(await sendAndCheck(stack.baseUrl, checker, { method, path, headers: auth }), status, `${method} ${path}`);
    }
  });

  it(`answers ${RUNS} fuzzed requests with no 5xx, problem+json for every rejection, and writes only what it accepted`, async () => {
    const fuzzer = await stack.addTenant('fuzzer', [...SCOPES]);
    const keysBefore = await stack.db.apiKey.count();
    const result = await fuzzApi({ baseUrl: stack.baseUrl, apiKey: fuzzer.apiKey, runs: RUNS });
    assert.equal(result.requests, RUNS);
    const rejected = Object.entries(result.byStatus).filter(([s]) => Number(s) >= 400).reduce((n, [, c]) => n + c, 0);
    assert.ok(rejected > RUNS / 2, `only ${rejected} of ${RUNS} were rejected: the fuzzer is not reaching validation (${JSON.stringify(result.byStatus)})`);
    assert.ok(Object.keys(result.byStatus).length >= 4, JSON.stringify(result.byStatus));
    assert.equal(await stack.db.run.count({ where: { tenantId: fuzzer.tenantId } }), result.accepted['POST /v1/runs'] ?? 0);
    assert.equal(await stack.db.apiKey.count(), keysBefore + (result.accepted['POST /v1/admin/keys'] ?? 0));
    const alive = await fetch(`${stack.baseUrl}/healthz`);
    assert.equal(alive.status, 200);
  });
});
