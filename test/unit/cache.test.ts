import assert from 'node:assert/strict';
import { parseCacheControl } from '../../src/cache';
import { falseHitReason } from '../../src/cache/guards';
import { exactKey, normaliseQuestion, partitionKey, type CacheScope } from '../../src/cache/key';
import { unmaskedPii } from '../../src/cache/pii';
import { Sealer } from '../../src/cache/sealed';
import { VectorPartition } from '../../src/cache/vector-partition';
import { AesGcmPayloadCodec } from '../../src/codec/aes-gcm-codec';
import { generatePayloadKeyEntry, parsePayloadKeys } from '../../src/codec/keys';

const scope: CacheScope = {
  tenantId: '00000000-0000-4000-8000-000000000001', runType: 'answer', model: 'gpt-4o-mini', promptVersion: 'answer-v2',
  params: { temperature: 0 }, corpusVersion: 3, retrieval: { topK: 5, embeddingModel: 'multilingual-e5-small' }, policyVersion: null, epoch: 0,
};

function unit(values: number[]): number[] {
  const norm = Math.hypot(...values);
  return values.map((v) => v / norm);
}

/** A deterministic pseudo-random unit vector (mulberry32). */
function randomUnit(seed: number, dims: number): number[] {
  let s = seed;
  return unit(Array.from({ length: dims }, () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }));
}

describe('cache keys', () => {
  it('hash the scope and the normalised question, never holding its text', () => {
    const key = exactKey(scope, 'What is the refund policy?');
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(exactKey(scope, '  What is the\u200B refund   policy? '), key, 'whitespace and invisible characters do not change the key');
    assert.notEqual(exactKey(scope, 'what is the refund policy?'), key, 'case is kept: the model sees it');
    assert.equal(normaliseQuestion('a\n\n b'), 'a b');
  });

  it('change with every part of the scope', () => {
    const key = exactKey(scope, 'q');
    const variants: CacheScope[] = [
      { ...scope, tenantId: '00000000-0000-4000-8000-000000000002' }, { ...scope, model: 'gpt-4o' }, { ...scope, promptVersion: 'answer-v3' },
      { ...scope, params: { temperature: 0.7 } }, { ...scope, corpusVersion: 4 }, { ...scope, policyVersion: 'p1' }, { ...scope, epoch: 1 },
      { ...scope, retrieval: { topK: 8, embeddingModel: 'multilingual-e5-small' } },
    ];
    for (const v of variants) {
      assert.notEqual(exactKey(v, 'q'), key);
      assert.notEqual(partitionKey(v, 'multilingual-e5-small'), partitionKey(scope, 'multilingual-e5-small'));
    }
  });
});

describe('false-hit guards', () => {
  it('refuse questions that differ in a number, a date, a negation or a named entity', () => {
    assert.equal(falseHitReason('What is the refund policy for orders over $50?', 'What is the refund policy for orders over $500?'), 'number');
    assert.equal(falseHitReason('Do teams of two get a discount?', 'Do teams of three get a discount?'), 'number');
    assert.equal(falseHitReason('Is the office open on Monday?', 'Is the office open on Sunday?'), 'date');
    assert.equal(falseHitReason('Can contractors access the VPN?', "Can't contractors access the VPN?"), 'negation');
    assert.equal(falseHitReason('Is the API rate limited?', 'Is the API not rate limited?'), 'negation');
    assert.equal(falseHitReason('What is the capital of France?', 'What is the capital of Germany?'), 'entity');
    assert.equal(falseHitReason('How do I deploy to AWS?', 'How do I deploy to Azure?'), 'entity');
  });

  it('let paraphrases through', () => {
    assert.equal(falseHitReason('How do I reset my password?', 'What is the way to reset my password?'), undefined);
    assert.equal(falseHitReason('Diffusers are diffusion models in PyTorch.', 'PyTorch has cutting-edge diffusers.'), undefined);
    assert.equal(falseHitReason('Tasks provide demos for ML tasks.', 'Tasks furnishes demos for Machine Learning projects.'), undefined);
    assert.equal(falseHitReason('A collection of JS libraries.', 'A set of JavaScript libraries.'), undefined);
    assert.equal(falseHitReason('It works in two steps: 1) download, 2) generate.', 'It is a two-step process: download, then generate.'), undefined);
  });

  it('refuse an opposite word, an ordinal or a different code name', () => {
    assert.equal(falseHitReason('How do I enable two-factor authentication?', 'How do I disable two-factor authentication?'), 'negation');
    assert.equal(falseHitReason('Can guests join the call without an account?', 'Can guests join the call with an account?'), 'negation');
    assert.equal(falseHitReason('How do I lock the screen?', 'How do I unlock the screen?'), 'negation');
    assert.equal(falseHitReason('Is the old endpoint still supported?', 'Is the old endpoint no longer supported?'), 'negation');
    assert.equal(falseHitReason('How much is the late fee after the third reminder?', 'How much is the late fee after the second reminder?'), 'number');
    assert.equal(falseHitReason('What does `add_column` do to the table?', 'What does `append_column` do to the table?'), 'identifier');
    assert.equal(falseHitReason('Use `logging.get_verbosity()` to read the level.', 'Use `logging.set_verbosity()` to read the level.'), 'identifier');
  });

  it('let reworded negations, counts and names through when the rest is reworded too', () => {
    // "not the same" → "different": the questions share little wording, so the negation alone does not refuse.
    assert.equal(falseHitReason(
      'Specifying a version that is different from your local version of the lib might cause compatibility issues.',
      'Using a version of the lib that is not the same as your local version could lead to compatibility problems.',
    ), undefined);
    assert.equal(falseHitReason('A model decides whether a pair of sentences mean the same thing.', 'A classifier is trained to tell if two sentences have an identical meaning.'), undefined);
    assert.equal(falseHitReason('You can find the INSTALLATIO page in the docs.', 'The docs contain the INSTALLATION page.'), undefined);
    assert.equal(falseHitReason('The purpose of the datasets.AutomaticSpeechRecognition class is speech recognition.', 'The AutomaticSpeechRecognition class does speech recognition.'), undefined);
    assert.equal(falseHitReason('Is the office open on Monday?', 'Is the office open on Mondays?'), undefined);
    assert.equal(falseHitReason('A dataset builder class has a constructor.', 'The dataset builder class has a constructor method.'), undefined, '"constructor" is no number');
    assert.equal(falseHitReason('Define a BuilderConfig subclass, e.g. for features.', 'A BuilderConfig subclass defines, for example, features.'), undefined, '"e.g." is no code name');
  });

  it('still refuse a flipped negation or an added count when the wording is the same', () => {
    assert.equal(falseHitReason('Do interns get health insurance?', 'Do interns not get health insurance?'), 'negation');
    assert.equal(falseHitReason('Do teams get a group discount?', 'Do teams of three get a group discount?'), 'number');
    assert.equal(falseHitReason('How do I reset a password?', 'How do I reset a password older than 90 days?'), 'number');
  });
});

describe('VectorPartition', () => {
  it('finds the nearest entry above the threshold among many, and skips expired ones', () => {
    const dims = 64;
    const partition = new VectorPartition(dims);
    for (let i = 0; i < 5000; i++) partition.add(`e${i}`, randomUnit(i + 1, dims), Date.now() + 60_000);
    const target = randomUnit(4242, dims);
    const near = unit(target.map((v, j) => v + (j % 7 === 0 ? 0.02 : 0)));
    const [best] = partition.search(near, 0.9, Date.now());
    assert.equal(best?.entryId, 'e4241');
    assert.ok(best.similarity > 0.99);
    assert.deepEqual(partition.search(randomUnit(999_999, dims), 0.9, Date.now()), [], 'nothing above the threshold is no match');
    partition.add('e4241', randomUnit(4242, dims), Date.now() - 1);
    assert.deepEqual(partition.search(near, 0.9, Date.now()), [], 'expired entries never match');
  });
});

describe('Sealer', () => {
  it('encrypts values with the payload keys and reads them back', async () => {
    const keys = parsePayloadKeys(generatePayloadKeyEntry('k1'))!;
    const sealer = new Sealer(new AesGcmPayloadCodec(keys));
    const value = { question: 'What is Jane Roe\'s salary?', answer: 'secret answer' };
    const sealed = await sealer.seal(value);
    assert.ok(!sealed.toString('latin1').includes('Jane Roe'), 'no clear text in Redis');
    assert.deepEqual(await sealer.unseal(sealed), value);
    const otherKeys = parsePayloadKeys(generatePayloadKeyEntry('k2'))!;
    await assert.rejects(new Sealer(new AesGcmPayloadCodec(otherKeys)).unseal(sealed), { name: 'PayloadDecryptionError' });
  });
});

describe('cache governance helpers', () => {
  it('parses Cache-Control', () => {
    assert.deepEqual(parseCacheControl(undefined), { lookup: true, store: true });
    assert.deepEqual(parseCacheControl('No-Cache'), { lookup: false, store: true });
    assert.deepEqual(parseCacheControl('max-age=0, no-store'), { lookup: true, store: false });
  });

  it('spots unmasked PII but not masked placeholders', () => {
    assert.equal(unmaskedPii('Write to jane.doe@example.com'), 'email');
    assert.equal(unmaskedPii('Card 4111 1111 1111 1111'), 'card');
    assert.equal(unmaskedPii('SSN 123-45-6789'), 'ssn');
    assert.equal(unmaskedPii('Call (555) 123-4567'), 'phone');
    assert.equal(unmaskedPii('Write to [EMAIL] about the 2024 budget of 1,000,000 EUR'), undefined);
  });
});
