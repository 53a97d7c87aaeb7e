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
    // Literal values: they are in every stored history, so they may never change.
    assert.equal(ENCRYPTED_ENCODING, 'binary/encrypted');
    assert.equal(KEY_ID_METADATA, 'encryption-key-id');
    assert.deepEqual(Object.keys(sealed!.metadata!).sort(), ['encoding', 'encryption-key-id']);
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

  it('round-trips an empty payload and several at once, each with its own IV', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    // An empty payload seals to exactly IV + tag (28 bytes): the shortest valid ciphertext.
    const [emptySealed] = await codec.encode([{}]);
    assert.equal(emptySealed!.data!.length, 28);
    const [emptyOpened] = await codec.decode([emptySealed!]);
    assert.deepEqual(emptyOpened!.metadata ?? {}, {});
    assert.equal(emptyOpened!.data?.length ?? 0, 0);
    const plain = defaultPayloadConverter.toPayload(question);
    const sealed = await codec.encode([plain, plain]);
    assert.equal(sealed.length, 2);
    assert.ok(!Buffer.from(sealed[0]!.data!).equals(Buffer.from(sealed[1]!.data!)), 'the same plaintext must not seal to the same bytes');
    const opened = await codec.decode(sealed);
    assert.deepEqual(opened.map((p) => defaultPayloadConverter.fromPayload(p)), [question, question]);
  });

  it('refuses encrypted payloads that name no key, are truncated, or carry a swapped tag', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(oldEntry)!);
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(question)]);
    const noKeyId = { metadata: { encoding: sealed!.metadata!.encoding! }, data: sealed!.data! };
    await assert.rejects(codec.decode([noKeyId]), (err) => err instanceof PayloadDecryptionError && err.name === 'PayloadDecryptionError' && err.message === 'No payload key with id "(none)" is configured');
    for (const length of [0, 27]) {
      const truncated = { ...sealed!, data: Buffer.from(sealed!.data!).subarray(0, length) };
      await assert.rejects(codec.decode([truncated]), (err) => err instanceof PayloadDecryptionError && err.message === 'Encrypted payload is truncated');
    }
    await assert.rejects(codec.decode([{ metadata: sealed!.metadata! }]), (err) => err instanceof PayloadDecryptionError && /truncated/.test(err.message));
    const data = Buffer.from(sealed!.data!);
    data[data.length - 1] = data[data.length - 1]! ^ 0x01;
    await assert.rejects(codec.decode([{ ...sealed!, data }]), (err) => err instanceof PayloadDecryptionError && err.message === 'Encrypted payload failed authentication with key "old"');
    // The same bytes under another key with the same id: authentication fails, nothing decodes.
    const impostor = new AesGcmPayloadCodec(parsePayloadKeys(generatePayloadKeyEntry('old'))!);
    await assert.rejects(impostor.decode([sealed!]), PayloadDecryptionError);
  });

  it('parses key lists: trimmed, empty entries skipped, ids checked, keys exactly 32 bytes', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    assert.equal(parsePayloadKeys(''), undefined);
    assert.equal(parsePayloadKeys(' , ,'), undefined);
    const ring = parsePayloadKeys(` a.b_c-1:${key} ,, k2:${Buffer.alloc(32, 9).toString('base64')}`)!;
    assert.equal(ring.current.id, 'a.b_c-1');
    assert.deepEqual(ring.current.key, Buffer.alloc(32, 7));
    assert.deepEqual([...ring.byId.keys()], ['a.b_c-1', 'k2']);
    assert.deepEqual(ring.byId.get('k2'), Buffer.alloc(32, 9));
    assert.equal(parsePayloadKeys(`${'x'.repeat(64)}:${key}`)?.current.id, 'x'.repeat(64));
    for (const bad of [`:${key}`, key, `${'x'.repeat(65)}:${key}`, `k 1:${key}`, `k/1:${key}`]) {
      assert.throws(() => parsePayloadKeys(bad), (err: Error) => /^entry 1 needs the form <key id>:<base64 key>/.test(err.message) && !err.message.includes(key), bad);
    }
    assert.throws(() => parsePayloadKeys(`ok:${key},:${key}`), /^Error: entry 2 needs/);
    assert.throws(() => parsePayloadKeys(`k:${Buffer.alloc(33).toString('base64')}`), (err: Error) => err.message === 'key "k" must be 32 bytes (AES-256), base64-encoded; it is 33 bytes');
    assert.throws(() => parsePayloadKeys(`k:${key},j:${key},k:${key}`), (err: Error) => err.message === 'key id "k" is listed twice');
  });

  it('generates entries that parse, named by date unless given an id', () => {
    const entry = generatePayloadKeyEntry();
    assert.match(entry, /^k\d{8}:[A-Za-z0-9+/]{43}=$/);
    assert.equal(entry.slice(1, 9), new Date().toISOString().slice(0, 10).replaceAll('-', ''));
    assert.equal(parsePayloadKeys(entry)?.current.key.length, 32);
    assert.ok(generatePayloadKeyEntry('mine').startsWith('mine:'));
    assert.notEqual(generatePayloadKeyEntry('a'), generatePayloadKeyEntry('a'));
  });
});
