import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ObjectNotFoundError } from '../src/storage';
import { S3ObjectStore } from '../src/storage/s3';
import { startS3Server, type S3Server } from './support/s3-server';
import { eventually, http, startStack, type TestStack } from './support/stack';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('object storage on a real S3-compatible server', function () {
  this.timeout(120_000);
  let s3: S3Server;
  let stack: TestStack;
  const bucket = 'keel-test';

  before(async () => {
    s3 = await startS3Server();
    const admin = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
    stack = await startStack({
      label: 's3',
      env: {
        KEEL_S3_BUCKET: bucket,
        KEEL_S3_ENDPOINT: s3.endpoint,
        KEEL_S3_ACCESS_KEY_ID: credentials.accessKeyId,
        KEEL_S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    });
  });
  after(async () => {
    await stack?.stop();
    await s3?.stop();
  });

  it('puts, heads, gets and deletes objects, and reports a missing one', async () => {
    const store = new S3ObjectStore({ bucket, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, ...credentials });
    const key = 'tenants/t1/objects/sha256/ab/abc';
    await store.put(key, Buffer.from('hello s3'), 'text/plain');
    assert.deepEqual(await store.head(key), { key, size: 8 });
    assert.equal((await store.get(key)).toString(), 'hello s3');
    await store.delete(key);
    assert.equal(await store.head(key), undefined);
    await assert.rejects(store.get(key), (err: unknown) => err instanceof ObjectNotFoundError && err.key === key);
    store.destroy();
  });

  it('uploads to S3, ingests from S3 and serves the content back', async () => {
    assert.equal(stack.store.kind, 's3');
    const pdf = await readFile(path.join(__dirname, 'fixtures/documents/handbook.pdf'));
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pdf)], { type: 'application/pdf' }), 'handbook.pdf');
    const res = await http<{ id: string; versionId: string; ingestRunId: string }>(stack, 'POST', '/v1/documents', { form });
    const up = res.body;
    assert.equal(res.status, 202);

    const version = await stack.db.documentVersion.findUniqueOrThrow({ where: { id: up.versionId } });
    assert.match(version.objectKey, new RegExp(`^tenants/${stack.tenantId}/objects/sha256/`));
    assert.deepEqual(await stack.store.head(version.objectKey), { key: version.objectKey, size: pdf.length });

    const run = await eventually(async () => {
      const r = await http<{ status: string; result: { pages: number } | null }>(stack, 'GET', `/v1/runs/${up.ingestRunId}`);
      return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
    }, 'ingest to finish', 60_000);
    assert.equal(run.status, 'completed');
    assert.equal(run.result?.pages, 4);

    const content = await fetch(`${stack.baseUrl}/v1/documents/${up.id}/content`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    assert.ok(Buffer.from(await content.arrayBuffer()).equals(pdf));

    assert.equal((await http(stack, 'DELETE', `/v1/documents/${up.id}`)).status, 200);
    assert.equal(await stack.store.head(version.objectKey), undefined, 'the object went with the document');
  });
});
