import { defaultPayloadConverter } from '@temporalio/common';
import assert from 'node:assert/strict';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA, PayloadDecryptionError, TENANT_METADATA } from '../../src/codec/aes-gcm-codec';
import { generatePayloadKeyEntry, parsePayloadKeys } from '../../src/codec/keys';
import { ConfigError, loadConfig } from '../../src/config';

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

describe('payload codec (AES-256-GCM)', () => {
  const oldEntry = generatePayloadKeyEntry('old');
  const newEntry = generatePayloadKeyEntry('new');
  const question = 'What is the salary of Jane Roe, SSN 078-05-1120?';

  it('encrypts the whole payload, names the key, and decrypts it back', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    const plain = defaultPayloadConverter.toPayload({ question });
    const [sealed] = await codec.encode([plain]);
    assert.equal(text(sealed!.metadata!.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(sealed!.metadata![KEY_ID_METADATA]), 'old');
    assert.ok(!Buffer.from(sealed!.data!).includes('Jane Roe'));
    assert.ok(!Buffer.from(sealed!.data!).includes('json/plain'), 'the inner metadata is sealed too');
    const [opened] = await codec.decode([sealed!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), { question });
  });

  it("binds each payload to its workflow's tenant, and decodes for a tenant only what is its own", async () => {
    const owners = { tenantOfWorkflow: async (workflowId: string) => ({ 'run-a': 'tenant-a', 'run-b': 'tenant-b' })[workflowId] };
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!, owners);
    const plain = defaultPayloadConverter.toPayload({ question });
    const [ofA] = await codec.encode([plain], { type: 'workflow', namespace: 'default', workflowId: 'run-a' });
    const [ofB] = await codec.encode([plain], { type: 'activity', namespace: 'default', workflowId: 'run-b', isLocal: false });
    const [unowned] = await codec.encode([plain], { type: 'workflow', namespace: 'default', workflowId: 'not-a-run' });
    assert.equal(text(ofA!.metadata![TENANT_METADATA]), 'tenant-a');
    assert.equal(text(ofB!.metadata![TENANT_METADATA]), 'tenant-b');
    assert.equal(unowned!.metadata![TENANT_METADATA], undefined);

    // Workers (plain decode) read everything; a tenant's decode opens only its own payloads.
    assert.equal((await codec.decode([ofA!, ofB!, unowned!])).length, 3);
    const [a, b, none] = await codec.decodeForTenant([ofA!, ofB!, unowned!], 'tenant-a');
    assert.deepEqual(defaultPayloadConverter.fromPayload(a!), { question });
    assert.equal(b, ofB, "another tenant's payload comes back still sealed");
    assert.equal(none, unowned, 'a payload with no owner comes back still sealed');

    // The tenant is authenticated: relabelling B's payload as A's breaks the tag.
    const relabelled = { ...ofB!, metadata: { ...ofB!.metadata, [TENANT_METADATA]: Buffer.from('tenant-a') } };
    await assert.rejects(codec.decodeForTenant([relabelled], 'tenant-a'), PayloadDecryptionError);
    const stripped = { ...ofB!, metadata: { encoding: ofB!.metadata!.encoding!, [KEY_ID_METADATA]: ofB!.metadata![KEY_ID_METADATA]! } };
    await assert.rejects(codec.decode([stripped]), PayloadDecryptionError);

    // /codec/encode seals for the caller's tenant only.
    const [forA] = await codec.encodeForTenant([plain], 'tenant-a');
    assert.equal(text(forA!.metadata![TENANT_METADATA]), 'tenant-a');
    const [stillSealed] = await codec.decodeForTenant([forA!], 'tenant-b');
    assert.equal(stillSealed, forA);
  });

  it('rotates: the new key encrypts, the old one still decrypts, a dropped key is a clear error', async () => {
    const before = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    const [sealedOld] = await before.encode([defaultPayloadConverter.toPayload(question)]);

    const rotated = new AesGcmPayloadCodec(parsePayloadKeys(`${newEntry},${oldEntry}`)!);
    const [openedOld] = await rotated.decode([sealedOld!]);
    assert.equal(defaultPayloadConverter.fromPayload(openedOld!), question);
    const [sealedNew] = await rotated.encode([defaultPayloadConverter.toPayload(question)]);
    assert.equal(text(sealedNew!.metadata![KEY_ID_METADATA]), 'new');

    const newOnly = new AesGcmPayloadCodec(parsePayloadKeys(newEntry)!);
    await assert.rejects(newOnly.decode([sealedOld!]), (err) => err instanceof PayloadDecryptionError && /key with id "old"/.test(err.message));
  });

  it('rejects tampered ciphertext instead of returning garbage', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(question)]);
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 0xff;
    await assert.rejects(codec.decode([{ ...sealed!, data }]), (err) => err instanceof PayloadDecryptionError && /authentication/.test(err.message));
  });

  it('passes unencrypted payloads through decode, so older histories stay readable', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    const plain = defaultPayloadConverter.toPayload('written before encryption');
    assert.deepEqual(await codec.decode([plain]), [plain]);
  });

  it('validates KEEL_PAYLOAD_KEYS without echoing key material', () => {
    assert.equal(loadConfig({}).KEEL_PAYLOAD_KEYS, undefined);
    assert.equal(loadConfig({ KEEL_PAYLOAD_KEYS: `${newEntry},${oldEntry}` }).KEEL_PAYLOAD_KEYS?.current.id, 'new');
    const short = `k1:${Buffer.alloc(16).toString('base64')}`;
    assert.throws(() => loadConfig({ KEEL_PAYLOAD_KEYS: short }), (err) => err instanceof ConfigError && /KEEL_PAYLOAD_KEYS.*32 bytes/.test(err.message));
    assert.throws(() => loadConfig({ KEEL_PAYLOAD_KEYS: `${oldEntry},${oldEntry}` }), (err) => err instanceof ConfigError && /listed twice/.test(err.message) && !err.message.includes(oldEntry.split(':')[1]!));
    assert.throws(() => loadConfig({ KEEL_PAYLOAD_KEYS: 'no-colon' }), ConfigError);
  });
});
