import type { Client } from '@temporalio/client';
import busboy from 'busboy';
import { Router, type Request } from 'express';
import { createHash, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { checkSchema } from '../../activities/extract';
import type { Config } from '../../config';
import { detectDocumentType, UnsupportedContentError } from '../../documents/media-type';
import type { Db } from '../../db/client';
import { Prisma } from '../../generated/prisma/client';
import { SearchAttr, TaskQueue, type IngestWorkflowInput } from '../../shared';
import { contentKey, type ObjectStore } from '../../storage';
import { requireAuth } from '../auth';
import { HttpProblem, problems } from '../problem';
import { route } from '../validate';

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

const UploadFields = z
  .object({ name: z.string().trim().min(1).max(300).optional(), documentId: z.uuid().optional() })
  .strict();

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

const DocumentParams = z.object({ id: z.uuid() }).strict();
const ListDocumentsQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }).strict();
const SchemaParams = z.object({ name: z.string().regex(/^[\w.-]{1,100}$/, 'letters, digits, _ . - (at most 100)') }).strict();

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

  router.post('/v1/documents', (req, res, next) => {
    void (async () => {
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
      const name = fields.data.name ?? upload.fileName;
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
    })().catch(next);
  });

  router.get(
    '/v1/documents',
    route({ query: ListDocumentsQuery }, async (req, res, { query }) => {
      const { tenantId } = requireAuth(req);
      const docs = await db.document.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: query.limit });
      res.json({ data: docs.map((d) => ({ id: d.id, name: d.name, status: d.status, currentVersionId: d.currentVersionId, createdAt: d.createdAt.toISOString() })) });
    }),
  );

  router.get(
    '/v1/documents/:id',
    route({ params: DocumentParams }, async (req, res, { params }) => {
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
    }),
  );

  router.get(
    '/v1/documents/:id/content',
    route({ params: DocumentParams }, async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const doc = await db.document.findFirst({ where: { id: params.id, tenantId }, include: { versions: { orderBy: { version: 'desc' } } } });
      const version = doc?.versions.find((v) => v.id === doc.currentVersionId) ?? doc?.versions[0];
      if (!doc || !version) throw problems.notFound(`Document ${params.id}`);
      const bytes = await store.get(version.objectKey);
      res.status(200).type(version.mediaType).set('Content-Disposition', `attachment; filename="${doc.name.replace(/[^\w.-]/g, '_')}"`).send(bytes);
    }),
  );

  router.delete(
    '/v1/documents/:id',
    route({ params: DocumentParams }, async (req, res, { params }) => {
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
    }),
  );

  router.put(
    '/v1/schemas/:name',
    route({ params: SchemaParams, body: z.object({ schema: z.record(z.string(), z.unknown()) }).strict() }, async (req, res, { params, body }) => {
      const { tenantId } = requireAuth(req);
      const error = checkSchema(body.schema);
      if (error) throw problems.validation([{ path: 'schema', message: `is not a valid JSON Schema: ${error}` }], 'body');
      const schema = body.schema as Prisma.InputJsonObject;
      await db.extractionSchema.upsert({
        where: { tenantId_name: { tenantId, name: params.name } },
        create: { tenantId, name: params.name, schema },
        update: { schema },
      });
      res.status(200).json({ name: params.name, schema: body.schema });
    }),
  );

  router.get(
    '/v1/schemas/:name',
    route({ params: SchemaParams }, async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const row = await db.extractionSchema.findUnique({ where: { tenantId_name: { tenantId, name: params.name } } });
      if (!row) throw problems.notFound(`Schema ${params.name}`);
      res.json({ name: row.name, schema: row.schema });
    }),
  );

  return router;
}
