import type { Client } from '@temporalio/client';
import busboy from 'busboy';
import { Router, type Request } from 'express';
import { createHash, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { checkSchema } from '../../activities/extract';
import type { Config } from '../../config';
import { detectDocumentType, UnsupportedContentError } from '../../documents/media-type';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { SearchAttr, TaskQueue, type IngestWorkflowInput } from '../../shared';
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

export interface DocumentsDeps {
  db: Db;
  temporal: Client;
  config: Config;
  store: ObjectStore;
}

interface Upload {
  bytes: Buffer;
  fileName: string;
  mediaType: string;
  fields: Record<string, string>;
}

/** Reads one `file` part (and small text fields) from a multipart body, enforcing the size limit while streaming. */
function readUpload(req: Request, maxBytes: number): Promise<Upload> {
  return new Promise((resolve, reject) => {
    if (!req.is('multipart/form-data')) {
      reject(new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Upload documents as multipart/form-data with the file in a `file` field.'));
      return;
    }
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096 } });
    } catch (err) {
      reject(problems.validation([{ path: 'body', message: err instanceof Error ? err.message : 'not multipart' }], 'body'));
      return;
    }
    const fields: Record<string, string> = {};
    let file: Omit<Upload, 'fields'> | undefined;
    let failure: HttpProblem | undefined;
    let pending: Promise<void> = Promise.resolve();
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
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
    bb.on('error', (err) => reject(problems.validation([{ path: 'body', message: err instanceof Error ? err.message : 'malformed multipart body' }], 'body')));
    bb.on('close', () => {
      void pending.then(() => {
        if (failure) return reject(failure);
        if (!file) return reject(problems.validation([{ path: 'file', message: 'is required' }], 'body'));
        if (file.bytes.length === 0) return reject(problems.validation([{ path: 'file', message: 'is empty' }], 'body'));
        resolve({ ...file, fields });
      });
    });
    req.pipe(bb);
  });
}

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
  const { db, temporal, config, store } = deps;
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
      description: 'Stores the file and starts its ingest run. The same bytes again (in this tenant) answer `200` with the existing version and start nothing. The size limit is enforced while the body streams in.',
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
      const existing = await db.documentVersion.findUnique({ where: { tenantId_sha256: { tenantId, sha256 } } });
      if (existing) {
        res.status(200).json({ id: existing.documentId, versionId: existing.id, ingestRunId: existing.ingestRunId, status: existing.status, deduplicated: true });
        return;
      }
      if (fields.data.documentId) {
        const doc = await db.document.findFirst({ where: { id: fields.data.documentId, tenantId } });
        if (!doc) throw problems.notFound(`Document ${fields.data.documentId}`);
      }

      const key = contentKey(tenantId, sha256);
      // The object first: a row never points at bytes that are not there. A leftover object
      // from a failed request is harmless; the same upload reuses it.
      await store.put(key, upload.bytes, detected.mediaType);
      const documentId = fields.data.documentId ?? randomUUID();
      const versionId = randomUUID();
      const runId = uuidv7();
      // A file name Postgres cannot store (NUL, a lone surrogate) or one of only blanks names nothing.
      const name = fields.data.name ?? (visibleText(300).safeParse(upload.fileName).data || 'document');
      try {
        await db.$transaction(async (tx) => {
          if (!fields.data.documentId) await tx.document.create({ data: { id: documentId, tenantId, name, status: 'processing' } });
          const last = await tx.documentVersion.aggregate({ where: { documentId }, _max: { version: true } });
          await tx.documentVersion.create({
            data: {
              id: versionId, documentId, tenantId, version: (last._max.version ?? 0) + 1, sha256, objectKey: key,
              mediaType: detected.mediaType, sizeBytes: upload.bytes.length, status: 'processing', ingestRunId: runId,
            },
          });
          await tx.run.create({
            data: {
              id: runId, tenantId, type: 'ingest', status: 'queued',
              input: { documentId, versionId, name, mediaType: detected.mediaType, sha256 },
              inputHash: sha256, options: {},
            },
          });
        });
      } catch (err) {
        // A concurrent upload of the same bytes won the race: answer as the duplicate it is.
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
          const winner = await db.documentVersion.findUnique({ where: { tenantId_sha256: { tenantId, sha256 } } });
          if (winner) {
            res.status(200).json({ id: winner.documentId, versionId: winner.id, ingestRunId: winner.ingestRunId, status: winner.status, deduplicated: true });
            return;
          }
        }
        throw err;
      }
      const input: IngestWorkflowInput = { runId, tenantId, documentId, versionId };
      try {
        await temporal.workflow.start('ingest', {
          taskQueue: TaskQueue.workflows,
          workflowId: runId,
          args: [input],
          typedSearchAttributes: [
            { key: SearchAttr.tenant, value: tenantId },
            { key: SearchAttr.runType, value: 'ingest' },
            { key: SearchAttr.status, value: 'queued' },
          ],
          staticSummary: `Keel ingest of document ${documentId} for tenant ${tenantId}`,
        });
      } catch (err) {
        await db.$transaction([
          db.run.deleteMany({ where: { id: runId } }),
          fields.data.documentId ? db.documentVersion.deleteMany({ where: { id: versionId } }) : db.document.deleteMany({ where: { id: documentId } }),
        ]).catch(() => undefined);
        req.log.error({ err, runId }, 'could not start ingest workflow');
        throw problems.unavailable('The workflow service is unavailable; nothing was started. Try again shortly.');
      }
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
      const doc = await db.document.findFirst({ where: { id: params.id, tenantId }, include: { versions: { orderBy: { version: 'asc' } } } });
      if (!doc) throw problems.notFound(`Document ${params.id}`);
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
      const [, corpus] = await db.$transaction([
        db.document.delete({ where: { id: doc.id } }),
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
      const error = checkSchema(body.schema);
      if (error) throw problems.unprocessable([{ path: 'schema', message: `is not a valid JSON Schema: ${error}` }], 'body');
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
