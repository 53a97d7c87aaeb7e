import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { REDACT_PATHS } from '../../src/logger';

describe('logger redaction', () => {
  it('censors credentials and user text wherever a careless log call puts them', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    const secret = 'keel_abcdefghijkl_0123456789abcdef0123456789abcdef';
    log.info({ req: { headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret } } }, 'request');
    log.info({ input: { question: 'my SSN is 078-05-1120' }, run: { question: 'Jane Roe salary' }, question: 'top-level PII' }, 'run');
    log.info({ client: { apiKey: secret }, apiKey: secret, authorization: secret }, 'client');
    for (const leaked of [secret, '078-05-1120', 'Jane Roe', 'top-level PII']) assert.equal(out.includes(leaked), false, leaked);
    assert.equal(out.split('\n').filter(Boolean).length, 3);
    assert.match(out, /\[redacted\]/);
  });
});
