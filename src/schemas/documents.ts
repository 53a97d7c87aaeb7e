import { z } from 'zod';
import { JsonObject, NO_NUL, ResourceName, visibleText } from './strings';

const DocumentStatus = z.enum(['processing', 'ready', 'failed']);

/** The text fields of an upload, as the handler checks them after streaming the body. */
export const UploadFields = z
  .object({
    name: visibleText(300).optional().meta({ description: "The document's name; the file's name when omitted." }),
    documentId: z.uuid().optional().meta({ description: 'Adds a new version to this document instead of creating one.' }),
  })
  .strict();

/** What `POST /v1/documents` documents for its `multipart/form-data` body; the handler reads it with busboy. */
export const DocumentUploadForm = UploadFields.extend({
  file: z.string().min(1).regex(NO_NUL).meta({
    contentMediaType: 'application/octet-stream',
    description:
      'The file, at most `KEEL_MAX_UPLOAD_BYTES` and not empty: PDF or DOCX (recognised by their bytes), or UTF-8 text without NUL ' +
      '(HTML, Markdown, CSV, JSON or plain text, chosen by the part\'s media type and file name; text declared as JSON must parse). ' +
      'Other bytes are refused with `415`. Reading the text (no text in it, a corrupt PDF) happens in the ingest run, which then fails.',
  }),
}).meta({ id: 'DocumentUpload' });

export const DocumentParams = z.object({ id: z.uuid() }).strict();
export const ListDocumentsQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }).strict();

export const DocumentUploaded = z
  .object({
    id: z.uuid(),
    versionId: z.uuid(),
    ingestRunId: z.string(),
    status: z.literal('processing'),
    links: z.object({ self: z.string(), ingestRun: z.string() }),
  })
  .meta({ id: 'DocumentUploaded' });

export const DocumentDeduplicated = z
  .object({
    id: z.uuid(),
    versionId: z.uuid(),
    ingestRunId: z.string(),
    status: DocumentStatus,
    deduplicated: z.literal(true).meta({ description: 'These bytes were uploaded before: nothing new was stored or started.' }),
  })
  .meta({ id: 'DocumentDeduplicated' });

export const DocumentSummary = z
  .object({ id: z.uuid(), name: z.string(), status: DocumentStatus, currentVersionId: z.uuid().nullable(), createdAt: z.string() })
  .meta({ id: 'DocumentSummary' });
export const DocumentList = z.object({ data: z.array(DocumentSummary) }).meta({ id: 'DocumentList' });

export const DocumentVersionView = z
  .object({
    id: z.uuid(),
    version: z.number().int(),
    sha256: z.string(),
    mediaType: z.string(),
    sizeBytes: z.number().int(),
    status: DocumentStatus,
    pages: z.number().int().nullable(),
    chunks: z.number().int().nullable(),
    ingestRunId: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'DocumentVersion' });

export const DocumentView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    status: DocumentStatus,
    error: z.object({ type: z.string(), message: z.string() }).nullable().meta({ description: 'Why the first version could not be read, when `status` is `failed`.' }),
    currentVersionId: z.uuid().nullable(),
    pages: z.number().int().nullable(),
    chunks: z.number().int().nullable(),
    versions: z.array(DocumentVersionView),
    createdAt: z.string(),
  })
  .meta({ id: 'Document' });

export const DocumentDeleted = z
  .object({ id: z.uuid(), deleted: z.literal(true), corpusVersion: z.number().int() })
  .meta({ id: 'DocumentDeleted' });

export const SchemaParams = z.object({ name: ResourceName }).strict();
export const RegisterSchemaRequest = z
  .object({ schema: JsonObject.meta({ description: 'A JSON Schema (draft 2020-12) for extraction runs; one Ajv cannot compile is refused with `422`.' }) })
  .strict()
  .meta({ id: 'RegisterSchemaRequest' });
export const ExtractionSchemaView = z
  .object({ name: z.string(), schema: z.record(z.string(), z.unknown()) })
  .meta({ id: 'ExtractionSchema' });
