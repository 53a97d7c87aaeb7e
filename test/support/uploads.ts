/** Document uploads as the tests make them: multipart through http(), so every answer is checked against the OpenAPI document. */
import { http, type TestStack } from './stack';

export interface UploadBody {
  id: string;
  versionId: string;
  ingestRunId: string;
  status: string;
  deduplicated?: boolean;
}

export async function uploadDocument(
  stack: Pick<TestStack, 'baseUrl' | 'apiKey'>,
  bytes: Buffer,
  fileName: string,
  type: string,
  fields: Record<string, string> = {},
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), fileName);
  const res = await http<UploadBody & { type?: string; detail?: string }>(stack, 'POST', '/v1/documents', { form });
  return { status: res.status, contentType: res.headers.get('content-type'), body: res.body };
}
