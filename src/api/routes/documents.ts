import type { Client } from '@temporalio/client';
import busboy from 'busboy';
import { Router, type Request } from 'express';
import { createHash, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { checkSchema, schemaLimitsFromConfig } from '../../extraction/schema-guard';
import type { Config } from '../../config';
import { redactRetrievedText, settleDeadVersion } from '../../documents/cleanup';
import { detectDocumentType, UnsupportedContentError } from '../../documents/media-type';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { contentKey, type ObjectStore } from '../../storage';
import {
  DocumentDeduplicated, DocumentDeleted, DocumentList, DocumentParams, DocumentUploaded, DocumentUploadForm, DocumentView,
  ExtractionSchemaView, ListDocumentsQuery, RegisterSchemaRequest, SchemaParams, UploadFields,
} from '../../schemas/documents';
import { visibleText } from '../../schemas/strings';
import { requireAuth } from '../auth';
import { defineRoute } from '../define-route';
import { runOperationLinks } from '../links';
import { HttpProblem, problems } from '../problem';
import { tenantOnFailure } from '../run-policy';
import type { RunService } from '../../runs';

export interface DocumentsDeps {
  db: Db;
  temporal: Client;
  runs: RunService;
  config: Config;
  store: ObjectStore;
}

interface Upload {
  bytes: Buffer;
  fileName: string;
  mediaType: string;
  fields: Record<string, string>;
}

/**
 * Reads one `file` part (and small text fields) from a multipart body, enforcing the size limit
 * while streaming. Every way a body can go wrong (cut before the closing boundary, a malformed
 * part, the client going away, too many parts) settles the promise once with a 400 problem:
 * busboy reports a truncated body as an `error` on the file stream as well as on the parser,
 * and an unhandled stream error would take the whole API process down.
 */
function readUpload(req: Request, maxBytes: number): Promise<Upload> {
  return new Promise((resolve, reject) => {
    if (!req.is('multipart/form-data')) {
      reject(new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Upload documents as multipart/form-data with the file in a `file` field.'));
      return;
    }
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096, parts: 20 } });
    } catch (err) {
      reject(problems.validation([{ path: 'body', message: err instanceof Error ? err.message : 'not multipart' }], 'body'));
      return;
    }
    const fields: Record<string, string> = {};
    let file: Omit<Upload, 'fields'> | undefined;
    let failure: HttpProblem | undefined;
    let settled = false;
    let pending: Promise<void> = Promise.resolve();
    const fail = (problem: HttpProblem) => {
      if (settled) return;
      settled = true;
      // Stop parsing, and read the rest of the body into the void so the answer can be sent.
      req.unpipe(bb);
      req.resume();
      reject(problem);
    };
    const malformed = (err: unknown) =>
      fail(problems.validation([{ path: 'body', message: err instanceof Error ? err.message : 'malformed multipart body' }], 'body'));
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) failure ??= problems.validation([{ path: name, message: 'is longer than 4096 bytes' }], 'form');
      fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      stream.on('error', malformed);
      if (name !== 'file' || file) {
        stream.resume();
        return;
      }
      const parts: Buffer[] = [];
      pending = new Promise((done) => {
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('limit', () => {
          failure = problems.tooLarge(maxBytes);
        });
        stream.on('close', () => {
          file = { bytes: Buffer.concat(parts), fileName: info.filename ?? 'document', mediaType: info.mimeType };
          done();
        });
      });
    });
    const tooMany = (what: string) => () => {
      failure ??= problems.validation([{ path: 'body', message: `has too many ${what}` }], 'body');
    };
    bb.on('partsLimit', tooMany('parts'));
    bb.on('filesLimit', tooMany('files'));
    bb.on('fieldsLimit', tooMany('fields'));
    bb.on('error', malformed);
    req.on('error', malformed);
    req.on('aborted', () => malformed(new Error('the client aborted the upload')));
    bb.on('close', () => {
      void pending.then(() => {
        if (settled) return;
        if (failure) return fail(failure);
        if (!file) return fail(problems.validation([{ path: 'file', message: 'is required' }], 'body'));
        if (file.bytes.length === 0) return fail(problems.validation([{ path: 'file', message: 'is empty' }], 'body'));
        settled = true;
        resolve({ ...file, fields });
      });
    });
    req.pipe(bb);
  });
}

/** Another upload of the same bytes revived the dead version first. */
class LostRevivalRace extends Error {}

const exampleDocId = '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80';
const exampleVersionId = '5b7c1e2a-9d3f-4e6a-8b1c-2d3e4f5a6b7c';
const exampleRunId = '0193a0f2-7d00-7a1b-8c2d-3e4f5a6b7c8d';
const exampleVersion = {
  id: exampleVersionId, version: 1, sha256: 'a3f5…', mediaType: 'application/pdf', sizeBytes: 48213, status: 'ready',
  pages: 12, chunks: 57, ingestRunId: exampleRunId, createdAt: '2026-01-05T10:00:00.000Z',
};
const travelSchema = { type: 'object', properties: { destination: { type: 'string' }, nights: { type: 'integer' } }, required: ['destination'] };

/** From an upload to its document and to its ingest run. */
const uploadLinks = {
  GetDocument: { method: 'get', path: '/v1/documents/:id', parameters: { id: '$response.body#/id' }, description: 'Follow the document while it is ingested.' },
  GetDocumentContent: { method: 'get', path: '/v1/documents/:id/content', parameters: { id: '$response.body#/id' }, description: 'Download what was stored.' },
  DeleteDocument: { method: 'delete', path: '/v1/documents/:id', parameters: { id: '$response.body#/id' }, description: 'Delete it.' },
  ...runOperationLinks('/ingestRunId', 'Ingest'),
} as const;

export function documentsRouter(deps: DocumentsDeps): Router {
  const { db, temporal, runs, config, store } = deps;
  const router = Router();

  const versionView = (v: { id: string; version: number; sha256: string; mediaType: string; sizeBytes: number; status: string; pageCount: number | null; chunkCount: number | null; ingestRunId: string; createdAt: Date }) => ({
    id: v.id,
    version: v.version,
    sha256: v.sha256,
    mediaType: v.mediaType,
    sizeBytes: v.sizeBytes,
    status: v.status,
    pages: v.pageCount,
    chunks: v.chunkCount,
    ingestRunId: v.ingestRunId,
    createdAt: v.createdAt.toISOString(),
  });

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/documents', tags: ['documents'], scope: 'documents:write',
      summary: 'Upload a document',
      description: 'Stores the file and starts its ingest run. The same bytes again (in this tenant) answer `200` with the existing version and start nothing — unless the ingest of that version closed without success (failed, cancelled, terminated): then they are ingested again, as the same document and version, by a new run (`202`). The size limit is enforced while the body streams in.',
      multipart: { schema: DocumentUploadForm, example: { file: '<bytes of travel-policy.pdf>', name: 'Travel policy' } },
      responses: {
        202: {
          description: 'Stored; the ingest run is started.', schema: DocumentUploaded, headers: { Location: 'The document.' }, links: uploadLinks,
          example: { id: exampleDocId, versionId: exampleVersionId, ingestRunId: exampleRunId, status: 'processing', links: { self: `/v1/documents/${exampleDocId}`, ingestRun: `/v1/runs/${exampleRunId}` } },
        },
        200: {
          description: 'These bytes were uploaded before: the existing version.', schema: DocumentDeduplicated, links: uploadLinks,
          example: { id: exampleDocId, versionId: exampleVersionId, ingestRunId: exampleRunId, status: 'ready', deduplicated: true },
        },
      },
      problems: [{ status: 404, description: "`documentId` names no document of your tenant (`not-found`)." }],
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      const upload = await readUpload(req, config.KEEL_MAX_UPLOAD_BYTES);
      const fields = UploadFields.safeParse(upload.fields);
      if (!fields.success) throw problems.validation(fields.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })), 'form');
      let detected;
      try {
        detected = await detectDocumentType(upload.bytes, { mediaType: upload.mediaType, fileName: upload.fileName });
      } catch (err) {
        if (err instanceof UnsupportedContentError) throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', err.message);
        throw err;
      }
      const sha256 = createHash('sha256').update(upload.bytes).digest('hex');
      const deduplicated = (v: { documentId: string; id: string; ingestRunId: string; status: string }) =>
        res.status(200).json({ id: v.documentId, versionId: v.id, ingestRunId: v.ingestRunId, status: v.status, deduplicated: true });
      const existing = await db.documentVersion.findUnique({ where: { tenantId_sha256: { tenantId, sha256 } } });
      // A version whose ingest closed without success (failed, cancelled, terminated) is no
      // dedupe target: the same bytes are ingested again, as the same version, by a new run.
      const dead = existing ? await settleDeadVersion({ db, temporal }, existing) : false;
      if (existing && !dead) {
        deduplicated(existing);
        return;
      }
      if (fields.data.documentId && !existing) {
        const doc = await db.document.findFirst({ where: { id: fields.data.documentId, tenantId } });
        if (!doc) throw problems.notFound(`Document ${fields.data.documentId}`);
      }

      const key = contentKey(tenantId, sha256);
      // The object first: a row never points at bytes that are not there. A leftover object
      // from a failed request is harmless; the same upload reuses it.
      await store.put(key, upload.bytes, detected.mediaType);
      const documentId = existing?.documentId ?? fields.data.documentId ?? randomUUID();
      const versionId = existing?.id ?? randomUUID();
      const runId = uuidv7();
      // A file name Postgres cannot store (NUL, a lone surrogate) or one of only blanks names nothing.
      const name = fields.data.name ?? (visibleText(300).safeParse(upload.fileName).data || 'document');
      const runRow = { id: runId, tenantId, type: 'ingest', status: 'queued', input: { documentId, versionId, name, mediaType: detected.mediaType, sha256 }, inputHash: sha256, options: {} };
      try {
        await db.$transaction(async (tx) => {
          if (existing) {
            // Conditional on the dead run, so of two uploads racing to revive it one wins.
            const claimed = await tx.documentVersion.updateMany({
              where: { id: existing.id, tenantId, ingestRunId: existing.ingestRunId, status: 'failed' },
              data: { ingestRunId: runId, status: 'processing' },
            });
            if (claimed.count === 0) throw new LostRevivalRace();
            await tx.document.updateMany({ where: { id: documentId, tenantId, currentVersionId: null }, data: { status: 'processing', error: Prisma.DbNull } });
            await tx.run.create({ data: runRow });
            return;
          }
          if (!fields.data.documentId) await tx.document.create({ data: { id: documentId, tenantId, name, status: 'processing' } });
          const last = await tx.documentVersion.aggregate({ where: { documentId }, _max: { version: true } });
          await tx.documentVersion.create({
            data: {
              id: versionId, documentId, tenantId, version: (last._max.version ?? 0) + 1, sha256, objectKey: key,
              mediaType: detected.mediaType, sizeBytes: upload.bytes.length, status: 'processing', ingestRunId: runId,
            },
          });
          await tx.run.create({ data: runRow });
        });
      } catch (err) {
        // A concurrent upload of the same bytes won the race: answer as the duplicate it is.
        if ((err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') || err instanceof LostRevivalRace) {
          const winner = await db.documentVersion.findUnique({ where: { tenantId_sha256: { tenantId, sha256 } } });
          if (winner) {
            deduplicated(winner);
            return;
          }
        }
        throw err;
      }
      const onFailure = await tenantOnFailure(db, tenantId);
      await runs.startRecorded(
        { type: 'ingest', input: { runId, tenantId, documentId, versionId, onFailure } },
        { tenantId, onFailure, summary: `Keel ingest of document ${documentId} for tenant ${tenantId}` },
        // A re-upload of a version whose ingest was abandoned keeps the version (marked failed again).
        (d) => d.$transaction(
          existing
            ? [d.run.deleteMany({ where: { id: runId } }), d.documentVersion.updateMany({ where: { id: versionId, ingestRunId: runId }, data: { status: 'failed' } })]
            : [d.run.deleteMany({ where: { id: runId } }), fields.data.documentId ? d.documentVersion.deleteMany({ where: { id: versionId } }) : d.document.deleteMany({ where: { id: documentId } })],
        ),
      );
      res.status(202).location(`/v1/documents/${documentId}`).json({
        id: documentId, versionId, ingestRunId: runId, status: 'processing',
        links: { self: `/v1/documents/${documentId}`, ingestRun: `/v1/runs/${runId}` },
      });
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/documents', tags: ['documents'], scope: 'runs:read',
      summary: "List your tenant's documents",
      description: 'Newest first.',
      query: ListDocumentsQuery,
      responses: {
        200: {
          description: 'The documents.', schema: DocumentList,
          example: { data: [{ id: exampleDocId, name: 'Travel policy', status: 'ready', currentVersionId: exampleVersionId, createdAt: '2026-01-05T10:00:00.000Z' }] },
        },
      },
    },
    async (req, res, { query }) => {
      const { tenantId } = requireAuth(req);
      const docs = await db.document.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: query.limit });
      res.json({ data: docs.map((d) => ({ id: d.id, name: d.name, status: d.status, currentVersionId: d.currentVersionId, createdAt: d.createdAt.toISOString() })) });
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/documents/:id', tags: ['documents'], scope: 'runs:read',
      summary: 'Get a document',
      description: 'Its status (`processing`, `ready`, `failed`), the current version\'s pages and chunks, and every version.',
      params: DocumentParams,
      responses: {
        200: {
          description: 'The document.', schema: DocumentView,
          example: { id: exampleDocId, name: 'Travel policy', status: 'ready', error: null, currentVersionId: exampleVersionId, pages: 12, chunks: 57, versions: [exampleVersion], createdAt: '2026-01-05T10:00:00.000Z' },
        },
      },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const read = () => db.document.findFirst({ where: { id: params.id, tenantId }, include: { versions: { orderBy: { version: 'asc' } } } });
      let doc = await read();
      if (!doc) throw problems.notFound(`Document ${params.id}`);
      // An ingest terminated from outside runs no cleanup of its own: settle it as it is read.
      const settled = await Promise.all(doc.versions.filter((v) => v.status === 'processing').map((v) => settleDeadVersion({ db, temporal }, v)));
      if (settled.some(Boolean)) doc = (await read()) ?? doc;
      const current = doc.versions.find((v) => v.id === doc.currentVersionId) ?? doc.versions.at(-1);
      res.json({
        id: doc.id,
        name: doc.name,
        status: doc.status,
        error: doc.error ?? null,
        currentVersionId: doc.currentVersionId,
        pages: current?.pageCount ?? null,
        chunks: current?.chunkCount ?? null,
        versions: doc.versions.map(versionView),
        createdAt: doc.createdAt.toISOString(),
      });
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/documents/:id/content', tags: ['documents'], scope: 'runs:read',
      summary: "Download a document's current version",
      description: 'The bytes as uploaded, with the media type Keel detected, as an attachment.',
      params: DocumentParams,
      responses: {
        200: {
          description: 'The file.',
          headers: { 'Content-Disposition': '`attachment; filename="<name>"`.' },
          raw: {
            binary: true,
            mediaTypes: {
              'application/pdf': {},
              'application/vnd.openxmlformats-officedocument.wordprocessingml.document': {},
              'text/html': {},
              'text/markdown': {},
              'text/plain': { example: 'Employees book economy class for flights under six hours.' },
              'text/csv': {},
              'application/json': {},
            },
          },
        },
      },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const doc = await db.document.findFirst({ where: { id: params.id, tenantId }, include: { versions: { orderBy: { version: 'desc' } } } });
      const version = doc?.versions.find((v) => v.id === doc.currentVersionId) ?? doc?.versions[0];
      if (!doc || !version) throw problems.notFound(`Document ${params.id}`);
      const bytes = await store.get(version.objectKey);
      res.status(200).type(version.mediaType).set('Content-Disposition', `attachment; filename="${doc.name.replace(/[^\w.-]/g, '_')}"`).send(bytes);
    },
  );

  defineRoute(
    router,
    {
      method: 'delete', path: '/v1/documents/:id', tags: ['documents'], scope: 'documents:write',
      summary: 'Delete a document',
      description: 'Removes the document, its versions, chunks and stored files, and bumps the corpus version so cached answers that cited it are not reused.',
      params: DocumentParams,
      responses: { 200: { description: 'Deleted.', schema: DocumentDeleted, example: { id: exampleDocId, deleted: true, corpusVersion: 7 } } },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const doc = await db.document.findFirst({ where: { id: params.id, tenantId }, include: { versions: true } });
      if (!doc) throw problems.notFound(`Document ${params.id}`);
      // Rows first (cascading to versions, pages and chunks), then the objects: a crash in
      // between leaves an unreferenced object, never a searchable chunk without its file.
      // The ledger keeps what retrieval steps returned (so a retry need not run them again);
      // the deleted document's text goes from it in the same transaction (redactRetrievedText).
      const [, , corpus] = await db.$transaction([
        db.document.delete({ where: { id: doc.id } }),
        redactRetrievedText(db, tenantId, doc.id),
        db.corpusVersion.upsert({ where: { tenantId }, create: { tenantId, version: 1 }, update: { version: { increment: 1 } } }),
      ]);
      await Promise.allSettled(doc.versions.map((v) => store.delete(v.objectKey)));
      res.status(200).json({ id: doc.id, deleted: true, corpusVersion: corpus.version });
    },
  );

  defineRoute(
    router,
    {
      method: 'put', path: '/v1/schemas/:name', tags: ['documents'], scope: 'documents:write',
      summary: 'Register an extraction schema',
      description: 'Creates or replaces the JSON Schema that extraction runs name with `schema: "<name>"`, in your tenant only.',
      params: SchemaParams,
      body: RegisterSchemaRequest, bodyExample: { schema: travelSchema },
      responses: {
        200: {
          description: 'The schema as stored.', schema: ExtractionSchemaView, example: { name: 'travel', schema: travelSchema },
          links: { GetSchema: { method: 'get', path: '/v1/schemas/:name', parameters: { name: '$response.body#/name' } } },
        },
      },
      problems: [{ status: 422, description: '`schema` is JSON but not a JSON Schema Ajv can compile (`unprocessable-content`).' }],
    },
    async (req, res, { params, body }) => {
      const { tenantId } = requireAuth(req);
      const error = checkSchema(body.schema, schemaLimitsFromConfig(config));
      if (error) throw problems.unprocessable([{ path: `schema${error.path}`, message: error.message }], 'body');
      const schema = body.schema as Prisma.InputJsonObject;
      await db.extractionSchema.upsert({
        where: { tenantId_name: { tenantId, name: params.name } },
        create: { tenantId, name: params.name, schema },
        update: { schema },
      });
      res.status(200).json({ name: params.name, schema: body.schema });
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/schemas/:name', tags: ['documents'], scope: 'runs:read',
      summary: 'Get an extraction schema',
      params: SchemaParams,
      responses: { 200: { description: 'The schema.', schema: ExtractionSchemaView, example: { name: 'travel', schema: travelSchema } } },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const row = await db.extractionSchema.findUnique({ where: { tenantId_name: { tenantId, name: params.name } } });
      if (!row) throw problems.notFound(`Schema ${params.name}`);
      res.json({ name: row.name, schema: row.schema });
    },
  );

  return router;
}
